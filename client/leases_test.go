package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/triggersapi/triggers/client"
)

var leaseIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// mustCreate creates n events of source and returns their ids, oldest
// first.
func mustCreate(t *testing.T, c *client.Client, source string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		r, err := c.CreateEvent(context.Background(), client.CreateEventRequest{Source: source, EventType: "job",
			Payload: map[string]int{"n": i}})
		if err != nil {
			t.Fatalf("CreateEvent() = %v", err)
		}
		ids = append(ids, r.EventID)
	}
	return ids
}

// mustReceive receives with opts and fails the test on an error.
func mustReceive(t *testing.T, c *client.Client, opts client.ReceiveOptions) []client.ReceivedEvent {
	t.Helper()
	evs, err := c.Receive(context.Background(), opts)
	if err != nil {
		t.Fatalf("Receive(%+v) = %v", opts, err)
	}
	return evs
}

func ids(evs []client.ReceivedEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventID)
	}
	return out
}

// wantConflict checks that err is a 409 CONFLICT with reason.
func wantConflict(t *testing.T, what string, err error, reason string) {
	t.Helper()
	var e *client.APIError
	if !errors.As(err, &e) || e.StatusCode != 409 || e.Code != client.CodeConflict || e.Reason != reason ||
		client.ConflictReason(err) != reason {
		t.Errorf("%s = %v, want 409 CONFLICT %s", what, err, reason)
	}
}

func TestClient_Leases(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ctx := context.Background()

	t.Run("ReceiveAndAck", func(t *testing.T) {
		created := mustCreate(t, c, "lease-ack", 3)
		before := time.Now()
		evs := mustReceive(t, c, client.ReceiveOptions{Source: "lease-ack", MaxEvents: 2, LeaseDuration: 30 * time.Second})
		if strings.Join(ids(evs), ",") != strings.Join(created[:2], ",") {
			t.Fatalf("Receive() = %v, want the two oldest %v", ids(evs), created[:2])
		}
		for _, e := range evs {
			if !leaseIDRe.MatchString(e.Lease.ID) || e.Attempts != 1 || e.Status != client.StatusPending ||
				e.Lease.ExpiresAt.Before(before.Add(29*time.Second)) || e.Lease.ExpiresAt.After(time.Now().Add(31*time.Second)) ||
				!e.LeaseExpiresAt.Equal(e.Lease.ExpiresAt) || e.Source != "lease-ack" || string(e.Payload) == "" {
				t.Errorf("received %+v, want attempt 1 under a 30 s lease", e)
			}
		}
		if evs[0].Lease.ID == evs[1].Lease.ID {
			t.Error("two leases with one id")
		}
		got, err := c.GetEvent(ctx, evs[0].EventID)
		if err != nil || got.Attempts != 1 || !got.LeaseExpiresAt.Equal(evs[0].Lease.ExpiresAt) || got.Status != client.StatusPending {
			t.Errorf("GetEvent() of a leased event = %+v, %v", got, err)
		}
		if rest := mustReceive(t, c, client.ReceiveOptions{Source: "lease-ack"}); len(rest) != 1 || rest[0].EventID != created[2] {
			t.Errorf("second Receive() = %v, want only %s (the others are leased)", ids(rest), created[2])
		}
		if none := mustReceive(t, c, client.ReceiveOptions{Source: "lease-ack"}); len(none) != 0 {
			t.Errorf("third Receive() = %v, want nothing", ids(none))
		}

		ack, err := c.AckLease(ctx, evs[0].EventID, evs[0].Lease.ID)
		if err != nil || ack.Status != client.StatusAcknowledged || ack.AcknowledgedAt.IsZero() {
			t.Fatalf("AckLease() = %+v, %v", ack, err)
		}
		_, err = c.AckLease(ctx, evs[0].EventID, evs[0].Lease.ID)
		wantConflict(t, "AckLease() again", err, client.ReasonAlreadyAcknowledged)
		if client.IsLeaseLost(err) {
			t.Error("IsLeaseLost(already acknowledged) = true")
		}
		_, err = c.AckLease(ctx, evs[1].EventID, evs[0].Lease.ID) // another event's lease
		wantConflict(t, "AckLease(other lease)", err, client.ReasonLeaseLost)
		if !client.IsLeaseLost(err) {
			t.Errorf("IsLeaseLost(%v) = false", err)
		}
		// The unconditional ack of v1 still acknowledges a leased event.
		if _, err := c.AckEvent(ctx, evs[1].EventID); err != nil {
			t.Errorf("AckEvent(leased) = %v", err)
		}
	})

	t.Run("NackAndExtend", func(t *testing.T) {
		mustCreate(t, c, "lease-nack", 1)
		ev := mustReceive(t, c, client.ReceiveOptions{Source: "lease-nack", LeaseDuration: 10 * time.Second})[0]
		ext, err := c.ExtendLease(ctx, ev.EventID, ev.Lease.ID, time.Minute)
		if err != nil || ext.EventID != ev.EventID || ext.Lease.ID != ev.Lease.ID || !ext.Lease.ExpiresAt.After(ev.Lease.ExpiresAt.Add(40*time.Second)) {
			t.Fatalf("ExtendLease(1 min) = %+v, %v; lease was %+v", ext, err, ev.Lease)
		}
		if got, _ := c.GetEvent(ctx, ev.EventID); !got.LeaseExpiresAt.Equal(ext.Lease.ExpiresAt) {
			t.Errorf("GetEvent().LeaseExpiresAt = %v, want the extension's %v", got.LeaseExpiresAt, ext.Lease.ExpiresAt)
		}

		nack, err := c.Nack(ctx, ev.EventID, ev.Lease.ID, 0)
		if err != nil || nack.Status != client.StatusPending || nack.Attempts != 1 || nack.AvailableAt.IsZero() ||
			nack.AvailableAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("Nack(0) = %+v, %v", nack, err)
		}
		_, err = c.Nack(ctx, ev.EventID, ev.Lease.ID, 0)
		wantConflict(t, "Nack() again", err, client.ReasonLeaseLost)
		_, err = c.AckLease(ctx, ev.EventID, ev.Lease.ID)
		wantConflict(t, "AckLease() after the nack", err, client.ReasonLeaseLost)
		_, err = c.ExtendLease(ctx, ev.EventID, ev.Lease.ID, time.Minute)
		wantConflict(t, "ExtendLease() after the nack", err, client.ReasonLeaseLost)

		again := mustReceive(t, c, client.ReceiveOptions{Source: "lease-nack"})
		if len(again) != 1 || again[0].EventID != ev.EventID || again[0].Attempts != 2 || again[0].Lease.ID == ev.Lease.ID {
			t.Fatalf("Receive() after the nack = %+v, want the event again, attempt 2, a new lease", again)
		}
		nack, err = c.Nack(ctx, ev.EventID, again[0].Lease.ID, time.Hour)
		if err != nil || nack.AvailableAt.Before(time.Now().Add(59*time.Minute)) {
			t.Fatalf("Nack(1 h) = %+v, %v; want available in an hour", nack, err)
		}
		if none := mustReceive(t, c, client.ReceiveOptions{Source: "lease-nack"}); len(none) != 0 {
			t.Errorf("Receive() during the nack delay = %v, want nothing", ids(none))
		}
		// Still pending, in the inbox, not leased.
		page, err := c.Inbox(ctx, client.InboxQuery{Source: "lease-nack"})
		if err != nil || len(page.Events) != 1 || page.Events[0].Attempts != 2 || !page.Events[0].LeaseExpiresAt.IsZero() {
			t.Errorf("Inbox() = %+v, %v; want the event, attempts 2, no lease", page, err)
		}
	})

	t.Run("DeadAndRedrive", func(t *testing.T) {
		id := mustCreate(t, c, "lease-dead", 1)[0]
		ev := mustReceive(t, c, client.ReceiveOptions{Source: "lease-dead", MaxAttempts: 1})[0]
		if _, err := c.Nack(ctx, ev.EventID, ev.Lease.ID, 0); err != nil {
			t.Fatal(err)
		}
		if got := mustReceive(t, c, client.ReceiveOptions{Source: "lease-dead", MaxAttempts: 1}); len(got) != 0 {
			t.Fatalf("Receive(max_attempts 1) of a spent event = %v, want it dead-lettered", ids(got))
		}
		dead, err := c.GetEvent(ctx, id)
		if err != nil || dead.Status != client.StatusDead || dead.DeadAt.IsZero() || dead.Attempts != 1 || !dead.LeaseExpiresAt.IsZero() {
			t.Fatalf("GetEvent() = %+v, %v; want dead after 1 attempt", dead, err)
		}
		page, err := c.Inbox(ctx, client.InboxQuery{Status: client.StatusDead, Source: "lease-dead"})
		if err != nil || len(page.Events) != 1 || page.Events[0].EventID != id || page.Events[0].Status != client.StatusDead {
			t.Errorf("Inbox(dead) = %+v, %v", page, err)
		}
		if page, err := c.Inbox(ctx, client.InboxQuery{Source: "lease-dead"}); err != nil || len(page.Events) != 0 {
			t.Errorf("Inbox(pending) = %+v, %v; want the dead event left out", page, err)
		}
		_, err = c.Inbox(ctx, client.InboxQuery{Status: "gone"})
		var e *client.APIError
		if !errors.As(err, &e) || e.FieldErrors()["status"] == "" {
			t.Errorf("Inbox(status gone) = %v, want a 400 naming status", err)
		}

		red, err := c.Redrive(ctx, id)
		if err != nil || red.EventID != id || red.Status != client.StatusPending || red.Attempts != 0 {
			t.Fatalf("Redrive() = %+v, %v", red, err)
		}
		_, err = c.Redrive(ctx, id)
		wantConflict(t, "Redrive() of a pending event", err, client.ReasonNotDead)
		got := mustReceive(t, c, client.ReceiveOptions{Source: "lease-dead", MaxAttempts: 1})
		if len(got) != 1 || got[0].Attempts != 1 {
			t.Errorf("Receive() after the redrive = %+v, want the event, attempt 1", got)
		}
		_, err = c.Redrive(ctx, "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6")
		if !client.IsCode(err, client.CodeNotFound) {
			t.Errorf("Redrive(unknown) = %v, want NOT_FOUND", err)
		}
	})

	t.Run("ExpiredLeaseRedelivered", func(t *testing.T) {
		// A worker that dies holding a lease: nothing settles it, and the
		// event comes back once the lease expires.
		id := mustCreate(t, c, "lease-expiry", 1)[0]
		first := mustReceive(t, c, client.ReceiveOptions{Source: "lease-expiry", LeaseDuration: time.Second})[0]
		start := time.Now()
		again := mustReceive(t, c, client.ReceiveOptions{Source: "lease-expiry", Wait: 5 * time.Second})
		waited := time.Since(start)
		if len(again) != 1 || again[0].EventID != id || again[0].Attempts != 2 || again[0].Lease.ID == first.Lease.ID {
			t.Fatalf("Receive(wait 5 s) = %+v, want the event back, attempt 2, a new lease", again)
		}
		if waited < 500*time.Millisecond || waited > 3*time.Second {
			t.Errorf("the event came back after %v, want about the 1 s lease", waited)
		}
		_, err := c.AckLease(ctx, id, first.Lease.ID)
		wantConflict(t, "AckLease(the expired, replaced lease)", err, client.ReasonLeaseLost)
		if _, err := c.AckLease(ctx, id, again[0].Lease.ID); err != nil {
			t.Errorf("AckLease(current lease) = %v", err)
		}
	})

	t.Run("LongPollWakesOnCreate", func(t *testing.T) {
		type result struct {
			evs []client.ReceivedEvent
			err error
			at  time.Time
		}
		done := make(chan result, 1)
		go func() {
			evs, err := c.Receive(ctx, client.ReceiveOptions{Source: "lease-poll", Wait: 10 * time.Second})
			done <- result{evs, err, time.Now()}
		}()
		time.Sleep(300 * time.Millisecond)
		created := time.Now()
		id := mustCreate(t, c, "lease-poll", 1)[0]
		r := <-done
		if r.err != nil || len(r.evs) != 1 || r.evs[0].EventID != id {
			t.Fatalf("Receive(wait 10 s) = %+v, %v", r.evs, r.err)
		}
		if d := r.at.Sub(created); d > 2*time.Second {
			t.Errorf("a waiting receive answered %v after the create, want well within 1 s (2 s allowed)", d)
		}
	})

	t.Run("Bulk", func(t *testing.T) {
		mustCreate(t, c, "lease-bulk", 3)
		evs := mustReceive(t, c, client.ReceiveOptions{Source: "lease-bulk", MaxEvents: 3})
		if len(evs) != 3 {
			t.Fatalf("Receive() = %v", ids(evs))
		}
		e0, e1, e2 := evs[0], evs[1], evs[2]
		const unknown = "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"
		nacked, err := c.BulkNack(ctx, []client.NackItem{
			{EventID: e0.EventID, LeaseID: e0.Lease.ID},
			{EventID: e1.EventID, LeaseID: e1.Lease.ID, Delay: time.Hour},
			{EventID: e0.EventID, LeaseID: e0.Lease.ID},
			{EventID: unknown, LeaseID: e2.Lease.ID},
			{EventID: e2.EventID, LeaseID: "not-a-lease"},
		})
		if err != nil {
			t.Fatalf("BulkNack() = %v", err)
		}
		it := nacked.Items
		if it[0].Err != nil || it[0].Status != client.StatusPending || it[0].Attempts != 1 || it[0].EventID != e0.EventID {
			t.Errorf("BulkNack item 0 = %+v (%v)", it[0], it[0].Err)
		}
		if it[1].Err != nil || it[1].AvailableAt.Before(time.Now().Add(59*time.Minute)) {
			t.Errorf("BulkNack item 1 = %+v (%v), want available in an hour", it[1], it[1].Err)
		}
		if !client.IsLeaseLost(it[2].Err) || it[2].Err.Reason != client.ReasonLeaseLost {
			t.Errorf("BulkNack item 2 (repeated) = %v, want lease_lost", it[2].Err)
		}
		if !client.IsCode(it[3].Err, client.CodeNotFound) || it[3].EventID != unknown {
			t.Errorf("BulkNack item 3 (unknown) = %+v, want NOT_FOUND", it[3])
		}
		if it[4].Err == nil || it[4].Err.FieldErrors()["items[4].lease_id"] == "" {
			t.Errorf("BulkNack item 4 (bad lease id) = %v, want a VALIDATION_ERROR naming items[4].lease_id", it[4].Err)
		}
		if nacked.Succeeded() != 2 {
			t.Errorf("Succeeded() = %d, want 2", nacked.Succeeded())
		}

		acked, err := c.BulkAckItems(ctx, []client.AckItem{
			{EventID: e2.EventID, LeaseID: e2.Lease.ID},
			{EventID: e0.EventID, LeaseID: e0.Lease.ID}, // nacked: lost
			{EventID: e1.EventID},                       // unconditional
		})
		if err != nil {
			t.Fatalf("BulkAckItems() = %v", err)
		}
		if a := acked.Items; a[0].Err != nil || a[0].Status != client.StatusAcknowledged || !client.IsLeaseLost(a[1].Err) ||
			a[1].EventID != e0.EventID || a[2].Err != nil {
			t.Errorf("BulkAckItems() = %+v (errors %v %v %v)", a, a[0].Err, a[1].Err, a[2].Err)
		}

		// e0 is available again; spend its one attempt to make it dead.
		got := mustReceive(t, c, client.ReceiveOptions{Source: "lease-bulk", MaxAttempts: 1})
		if len(got) != 0 {
			t.Fatalf("Receive(max_attempts 1) = %v, want e0 dead-lettered", ids(got))
		}
		red, err := c.BulkRedrive(ctx, []string{e0.EventID, e0.EventID, e2.EventID, "nope"})
		if err != nil {
			t.Fatalf("BulkRedrive() = %v", err)
		}
		r := red.Items
		if r[0].Err != nil || r[0].Status != client.StatusPending || r[0].Attempts != 0 ||
			client.ConflictReason(r[1].Err) != client.ReasonNotDead || client.ConflictReason(r[2].Err) != client.ReasonNotDead ||
			!client.IsCode(r[3].Err, client.CodeValidation) || r[3].EventID != "nope" {
			t.Errorf("BulkRedrive() = %+v (errors %v %v %v %v)", r, r[0].Err, r[1].Err, r[2].Err, r[3].Err)
		}

		_, err = c.BulkNack(ctx, nil)
		if !client.IsCode(err, client.CodeValidation) {
			t.Errorf("BulkNack(nil) = %v, want VALIDATION_ERROR", err)
		}
	})

	t.Run("ErrValidation", func(t *testing.T) {
		_, err := c.Receive(ctx, client.ReceiveOptions{MaxEvents: 26, LeaseDuration: 13 * time.Hour, Priority: "urgent"})
		var e *client.APIError
		if !errors.As(err, &e) || e.StatusCode != 400 {
			t.Fatalf("Receive(invalid) = %v, want 400", err)
		}
		for _, f := range []string{"max_events", "lease_seconds", "priority"} {
			if e.FieldErrors()[f] == "" {
				t.Errorf("Receive(invalid): details.fields lacks %s: %v", f, e.FieldErrors())
			}
		}
		id := mustCreate(t, c, "lease-invalid", 1)[0]
		_, err = c.Nack(ctx, id, "not-a-lease", 0)
		if !errors.As(err, &e) || e.StatusCode != 400 || e.FieldErrors()["lease_id"] == "" {
			t.Errorf("Nack(bad lease id) = %v, want 400 naming lease_id", err)
		}
		_, err = c.Nack(ctx, id, strings.Repeat("a", 32), -time.Second)
		if !errors.As(err, &e) || e.StatusCode != 400 || e.FieldErrors()["delay_seconds"] == "" {
			t.Errorf("Nack(negative delay) = %v, want 400 naming delay_seconds", err)
		}
	})
}

// The receive body: durations in whole seconds rounded up, the wait cut to
// end a second before the context's deadline, filters as the inbox's, and
// zero fields left out.
func TestClient_ReceiveBody(t *testing.T) {
	var bodies []map[string]any
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		bodies = append(bodies, m)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"events":[],"request_id":"x"}`))
	}))
	defer ts.Close()
	c := client.New(ts.URL, testKey, nil)
	ctx := context.Background()
	after := time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)
	c.Receive(ctx, client.ReceiveOptions{})
	c.Receive(ctx, client.ReceiveOptions{MaxEvents: 5, LeaseDuration: 1500 * time.Millisecond, Wait: 2 * time.Second,
		MaxAttempts: 3, Source: "s", EventType: "t", Priority: client.PriorityHigh, CreatedAfter: after,
		Metadata: map[string]string{"region": "eu"}})
	dl, cancel := context.WithTimeout(ctx, 3500*time.Millisecond)
	defer cancel()
	c.Receive(dl, client.ReceiveOptions{Wait: 20 * time.Second})
	want := []string{
		`{}`,
		`{"created_after":"2026-11-25T12:00:00.123456Z","event_type":"t","lease_seconds":2,"max_attempts":3,"max_events":5,"metadata":{"region":"eu"},"priority":"high","source":"s","wait_seconds":2}`,
		`{"wait_seconds":2}`,
	}
	for i, w := range want {
		got, _ := json.Marshal(bodies[i])
		if string(got) != w {
			t.Errorf("receive body %d = %s, want %s", i, got, w)
		}
	}
}

// A long-polling receive gets the HTTP client's timeout plus its wait: a
// client with a 1 s timeout can wait 2 s for events.
func TestClient_ReceiveTimeoutCoversWait(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 1.5 s")
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond) // a long poll that found nothing
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"events":[],"request_id":"x"}`))
	}))
	defer ts.Close()
	c := client.New(ts.URL, testKey, &client.Options{HTTPClient: &http.Client{Timeout: time.Second},
		Retry: client.RetryPolicy{Disable: true}})
	if evs, err := c.Receive(context.Background(), client.ReceiveOptions{Wait: 2 * time.Second}); err != nil || len(evs) != 0 {
		t.Errorf("Receive(wait 2 s) with a 1 s HTTP timeout = %v, %v; want no events, no error", evs, err)
	}
	if _, err := c.Receive(context.Background(), client.ReceiveOptions{}); err == nil {
		t.Error("Receive(no wait) answered after 1.5 s with a 1 s HTTP timeout: want a timeout")
	}
}
