package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// byteTests are the conformance subtests of the byte bounds of a page and
// of a receive (InboxQuery.MaxBytes, ReceiveQuery.MaxBytes; issue 14), run
// by RunTests.
var byteTests = []struct {
	name string
	fn   func(t *testing.T, s triggers.Store)
}{
	{"ListPending/ByteBoundGivesCursor", testListByteBound},
	{"ListPending/DeadByteBound", testListDeadByteBound},
	{"Receive/ByteBoundLeasesOnlyWhatFits", testReceiveByteBound},
}

// sizedEvents stores n events of tenant a, 1 ms apart from t0, the i-th
// weighing sizes[i%len(sizes)] bytes (triggers.EventBytes), with source
// "s" and event types alternating "t" and "u".
func sizedEvents(tb testing.TB, s triggers.Store, n int, sizes ...int) []triggers.Event {
	tb.Helper()
	evs := make([]triggers.Event, n)
	for i := range evs {
		e := event("a", t0.Add(time.Duration(i)*time.Millisecond), "s", []string{"t", "u"}[i%2])
		e.Payload = payloadOf(sizes[i%len(sizes)] - len(e.Metadata))
		evs[i] = e
	}
	return MustInsert(tb, s, evs...)
}

// payloadOf returns a JSON object of exactly n bytes (n >= 10).
func payloadOf(n int) json.RawMessage {
	return json.RawMessage(`{"x":"` + strings.Repeat("p", n-8) + `"}`)
}

// pages pages through q and returns the events of each page, checking that
// every page but the last has a next position and that no page is empty.
func pages(tb testing.TB, s triggers.Store, q triggers.InboxQuery) [][]triggers.Event {
	tb.Helper()
	var out [][]triggers.Event
	for range 1000 {
		page, err := s.ListPending(context.Background(), q)
		if err != nil {
			tb.Fatalf("ListPending() = %v", err)
		}
		if len(page.Events) == 0 && page.Next != nil {
			tb.Fatalf("ListPending() after %v = an empty page with a next position", q.After)
		}
		out = append(out, page.Events)
		if page.Next == nil {
			return out
		}
		q.After = page.Next
	}
	tb.Fatal("ListPending: paging does not end")
	return nil
}

// pageSizes returns the number of events of each page.
func pageSizes(pp [][]triggers.Event) []int {
	out := make([]int, len(pp))
	for i, p := range pp {
		out[i] = len(p)
	}
	return out
}

func testListByteBound(t *testing.T, s triggers.Store) {
	const size = 1000
	evs := sizedEvents(t, s, 7, size)
	// Pages of 10 by their limit hold 2 events of 1000 bytes within 2500
	// and carry a cursor, whichever way the store reads them: through an
	// index serving every condition, or in two steps (source and type).
	for _, tc := range []struct {
		name   string
		filter triggers.InboxFilter
		want   []triggers.Event
		sizes  []int
	}{
		{"NoFilter", triggers.InboxFilter{}, evs, []int{2, 2, 2, 1}},
		{"Source", triggers.InboxFilter{Source: "s"}, evs, []int{2, 2, 2, 1}},
		{"SourceAndType", triggers.InboxFilter{Source: "s", EventType: "t"}, []triggers.Event{evs[0], evs[2], evs[4], evs[6]}, []int{2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := query("a", 10)
			q.Filter, q.MaxBytes = tc.filter, 2500
			pp := pages(t, s, q)
			if got := pageSizes(pp); !slices.Equal(got, tc.sizes) {
				t.Errorf("page sizes with MaxBytes 2500 = %v, want %v", got, tc.sizes)
			}
			if got, want := ids(slices.Concat(pp...)), ids(tc.want); !slices.Equal(got, want) {
				t.Errorf("paging with MaxBytes 2500 = %v, want %v", got, want)
			}
		})
	}
	t.Run("EventOverTheBoundComesAlone", func(t *testing.T) {
		q := query("a", 10)
		q.MaxBytes = size / 2
		pp := pages(t, s, q)
		if got, want := pageSizes(pp), []int{1, 1, 1, 1, 1, 1, 1}; !slices.Equal(got, want) {
			t.Errorf("page sizes with MaxBytes %d = %v, want %v", q.MaxBytes, got, want)
		}
	})
	t.Run("ExactFit", func(t *testing.T) {
		q := query("a", 10)
		q.MaxBytes = 3 * size
		if got, want := pageSizes(pages(t, s, q)), []int{3, 3, 1}; !slices.Equal(got, want) {
			t.Errorf("page sizes with MaxBytes %d = %v, want %v", q.MaxBytes, got, want)
		}
	})
	t.Run("NoBound", func(t *testing.T) {
		if got, want := pageSizes(pages(t, s, query("a", 10))), []int{7}; !slices.Equal(got, want) {
			t.Errorf("page sizes without MaxBytes = %v, want %v", got, want)
		}
	})
}

func testListDeadByteBound(t *testing.T, s triggers.Store) {
	evs := sizedEvents(t, s, 5, 1000, 3000)
	now := t0.Add(time.Minute)
	mustReceive(t, s, receiveQuery("a", now, 5, 1))
	if got := mustReceive(t, s, receiveQuery("a", now.Add(time.Hour), 5, 1)); got.DeadLettered != 5 {
		t.Fatalf("dead-lettered %d, want 5", got.DeadLettered)
	}
	q := deadQuery("a", 10)
	q.MaxBytes = 4500
	pp := pages(t, s, q)
	// 1000+3000 fit, 1000+3000+1000 does not.
	if got, want := pageSizes(pp), []int{2, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("dead page sizes with MaxBytes 4500 = %v, want %v", got, want)
	}
	if got, want := ids(slices.Concat(pp...)), ids(evs); !slices.Equal(got, want) {
		t.Errorf("paging the dead with MaxBytes 4500 = %v, want %v", got, want)
	}
}

func testReceiveByteBound(t *testing.T, s triggers.Store) {
	evs := sizedEvents(t, s, 5, 1000)
	now := t0.Add(time.Minute)
	q := receiveQuery("a", now, 5, 10)
	q.MaxBytes = 2500
	first := mustReceive(t, s, q)
	if got, want := ids(first.Events), ids(evs[:2]); !slices.Equal(got, want) {
		t.Fatalf("receive with MaxBytes 2500 leased %v, want %v", got, want)
	}
	// What did not fit was not leased: it is available, its attempts unchanged.
	for _, e := range evs[2:] {
		if got := mustGet(t, s, "a", e.ID); got.Attempts != 0 || !got.Available(now) {
			t.Errorf("event %s after the receive: attempts %d, available %v; want 0, true", e.ID, got.Attempts, got.Available(now))
		}
	}
	q = receiveQuery("a", now, 5, 10)
	q.MaxBytes = 500
	second := mustReceive(t, s, q)
	if got, want := ids(second.Events), ids(evs[2:3]); !slices.Equal(got, want) {
		t.Fatalf("receive with MaxBytes 500 leased %v, want %v (an event over the bound comes alone)", got, want)
	}
	third := mustReceive(t, s, receiveQuery("a", now, 5, 10))
	if got, want := ids(third.Events), ids(evs[3:]); !slices.Equal(got, want) {
		t.Fatalf("receive without MaxBytes leased %v, want %v", got, want)
	}
}
