package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/triggersapi/triggers/client"
	"github.com/triggersapi/triggers/internal/teststore"
)

// TestClient_Stats reads back known numbers from a real server on the
// store under test: events created, acknowledged, leased and dead-lettered
// in the current minute, with and without filters. The server's clock is
// fake so that everything happens in one known minute.
func TestClient_Stats(t *testing.T) {
	t0 := time.Now().UTC().Truncate(time.Minute).Add(10 * time.Second)
	clock := teststore.NewClock(t0)
	s := mustStart(t, 0, clock.Now)
	c := client.New(s.URL, testKey, nil)
	ctx := context.Background()

	jobs := mustCreate(t, c, "jobs", 3)
	clock.Advance(time.Millisecond)
	mustCreate(t, c, "mail", 1)
	poison := mustCreate(t, c, "poison", 1)
	if _, err := c.AckEvent(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	if got := ids(mustReceive(t, c, client.ReceiveOptions{Source: "jobs", MaxEvents: 1, LeaseDuration: time.Minute})); len(got) != 1 || got[0] != jobs[1] {
		t.Fatalf("Receive(jobs) = %v, want %s", got, jobs[1])
	}
	mustReceive(t, c, client.ReceiveOptions{Source: "poison", LeaseDuration: time.Second})
	clock.Advance(2 * time.Second)
	mustReceive(t, c, client.ReceiveOptions{Source: "poison", MaxAttempts: 1}) // dead-letters it
	if ev, err := c.GetEvent(ctx, poison[0]); err != nil || ev.Status != client.StatusDead {
		t.Fatalf("GetEvent(poison) = %+v, %v; want dead", ev, err)
	}
	oldest, err := c.GetEvent(ctx, jobs[1])
	if err != nil {
		t.Fatal(err)
	}

	st, err := c.Stats(ctx, client.StatsOptions{})
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if st.Pending != 3 || st.Leased != 1 || st.Dead != 1 || !st.OldestPendingCreatedAt.Equal(oldest.CreatedAt) ||
		st.OldestPendingAge != clock.Now().Sub(oldest.CreatedAt).Truncate(time.Second) ||
		fmt.Sprint(st.BySource) != "[{jobs 2} {mail 1}]" || st.RequestID == "" || st.RateLimit.Limit == 0 ||
		st.Approximate != (os.Getenv("TRIGGERS_TEST_STORE") == "dynamodb") {
		t.Fatalf("Stats() = %+v", st)
	}
	if len(st.PerMinute) != 60 {
		t.Fatalf("Stats() has %d minutes, want 60", len(st.PerMinute))
	}
	last := st.PerMinute[59]
	if !last.Minute.Equal(t0.Truncate(time.Minute)) || last.Created != 5 || last.Acknowledged != 1 ||
		!st.PerMinute[0].Minute.Equal(last.Minute.Add(-59*time.Minute)) || st.PerMinute[58].Created != 0 {
		t.Fatalf("Stats() minutes: first %+v, last two %+v", st.PerMinute[0], st.PerMinute[58:])
	}

	for _, tc := range []struct {
		opts client.StatsOptions
		want string // pending leased dead by_source
	}{
		{client.StatsOptions{Source: "jobs"}, "2 1 0 [{jobs 2}]"},
		{client.StatsOptions{Source: "poison"}, "0 0 1 []"},
		{client.StatsOptions{EventType: "job"}, "3 1 1 [{jobs 2} {mail 1}]"},
		{client.StatsOptions{Source: "mail", EventType: "job"}, "1 0 0 [{mail 1}]"},
		{client.StatsOptions{EventType: "other"}, "0 0 0 []"},
	} {
		st, err := c.Stats(ctx, tc.opts)
		if err != nil {
			t.Fatalf("Stats(%+v) = %v", tc.opts, err)
		}
		if got := fmt.Sprintf("%d %d %d %v", st.Pending, st.Leased, st.Dead, st.BySource); got != tc.want {
			t.Errorf("Stats(%+v) = %s, want %s", tc.opts, got, tc.want)
		}
		if st.Pending == 0 && (!st.OldestPendingCreatedAt.IsZero() || st.OldestPendingAge != 0) {
			t.Errorf("Stats(%+v): nothing pending, but oldest %v, age %v", tc.opts, st.OldestPendingCreatedAt, st.OldestPendingAge)
		}
	}
}

// TestClient_StatsInvalidOptions: an invalid filter is a VALIDATION_ERROR
// naming it, not retried.
func TestClient_StatsInvalidOptions(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	for field, opts := range map[string]client.StatsOptions{
		"source":     {Source: "a\x00b"},
		"event_type": {EventType: strings.Repeat("e", 101)},
	} {
		_, err := c.Stats(context.Background(), opts)
		var e *client.APIError
		if !errors.As(err, &e) || e.StatusCode != 400 || e.Code != client.CodeValidation || e.FieldErrors()[field] == "" || e.Attempts != 1 {
			t.Errorf("Stats(%q) = %v, want a 400 naming %s, sent once", opts, err, field)
		}
	}
}
