package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock for Consumer unit tests: time stands still until
// Advance, which fires the timers (After) whose instant has come.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	asked  []time.Duration // every duration passed to After, in order
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, d)
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock by d and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// Asked returns the durations passed to After so far.
func (c *fakeClock) Asked() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.asked)
}

// waitTimers waits (in real time, at most 5 s) until n timers are pending.
func (c *fakeClock) waitTimers(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d pending timers", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.timers) >= n
	})
}

// eventually polls cond in real time for at most 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// call is one request the fake server received.
type call struct {
	Kind  string // receive, extend, ack, nack, bulknack
	Event string // the event id (receive: "")
	Lease string
	N     int // receive: max_events; extend: lease_seconds; nack: delay_seconds
}

// fakeServer is a stand-in for the lease endpoints, for unit tests of the
// Consumer's logic: receives hand out the events queued with push (waiting
// for some while there are none), and every request is recorded. It knows
// nothing of lease expiry; the real-server tests cover the contract.
type fakeServer struct {
	*httptest.Server

	mu      sync.Mutex
	queue   []string // event ids to hand out
	seq     int      // leases granted
	attempt map[string]int
	calls   []call
	pushed  chan struct{}
	// reply, when set, answers a request instead of the default 200: it
	// returns the status and body (0: answer as usual).
	reply func(c call) (int, string)
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{attempt: map[string]int{}, pushed: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// push queues events for receives; attempts, when given, sets the attempts
// each will have been leased before.
func (f *fakeServer) push(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, ids...)
	close(f.pushed)
	f.pushed = make(chan struct{})
}

// setAttempts makes the next lease of id its attempts-th.
func (f *fakeServer) setAttempts(id string, attempts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempt[id] = attempts - 1
}

// Calls returns the requests of the given kinds ("" all), in order.
func (f *fakeServer) Calls(kinds ...string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if len(kinds) == 0 || slices.Contains(kinds, c.Kind) {
			out = append(out, c)
		}
	}
	return out
}

// waitCalls waits until n requests of kind were received.
func (f *fakeServer) waitCalls(t *testing.T, kind string, n int) []call {
	t.Helper()
	eventually(t, fmt.Sprintf("%d %s requests", n, kind), func() bool { return len(f.Calls(kind)) >= n })
	return f.Calls(kind)
}

func (f *fakeServer) record(c call) (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	if f.reply != nil {
		return f.reply(c)
	}
	return 0, ""
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		MaxEvents    int    `json:"max_events"`
		LeaseSeconds int    `json:"lease_seconds"`
		DelaySeconds int    `json:"delay_seconds"`
		LeaseID      string `json:"lease_id"`
		Items        []struct {
			EventID      string `json:"event_id"`
			LeaseID      string `json:"lease_id"`
			DelaySeconds int    `json:"delay_seconds"`
		} `json:"items"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	w.Header().Set("Content-Type", "application/json")
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	id, verb, _ := strings.Cut(strings.TrimPrefix(path, "events/"), "/")
	var c call
	switch {
	case path == "inbox/receive":
		c = call{Kind: "receive", N: body.MaxEvents}
	case path == "events/bulk/nack":
		c = call{Kind: "bulknack"}
	case verb == "lease":
		c = call{Kind: "extend", Event: id, Lease: body.LeaseID, N: body.LeaseSeconds}
	case verb == "ack":
		c = call{Kind: "ack", Event: id, Lease: body.LeaseID}
	case verb == "nack":
		c = call{Kind: "nack", Event: id, Lease: body.LeaseID, N: body.DelaySeconds}
	default:
		http.NotFound(w, r)
		return
	}
	if c.Kind == "bulknack" {
		f.record(c)
		var ok []map[string]any
		for i, it := range body.Items {
			f.record(call{Kind: "nack", Event: it.EventID, Lease: it.LeaseID, N: it.DelaySeconds})
			ok = append(ok, map[string]any{"index": i, "event_id": it.EventID, "status": "pending", "attempts": 1,
				"available_at": time.Now().UTC()})
		}
		json.NewEncoder(w).Encode(map[string]any{"successful": ok, "failed": []any{}, "request_id": "fake"})
		return
	}
	if status, reply := f.record(c); status != 0 {
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
		fmt.Fprintln(w, reply)
		return
	}
	switch c.Kind {
	case "receive":
		json.NewEncoder(w).Encode(map[string]any{"events": f.lease(r.Context(), body.MaxEvents), "request_id": "fake"})
	case "extend":
		json.NewEncoder(w).Encode(map[string]any{"event_id": id, "request_id": "fake",
			"lease": map[string]any{"lease_id": body.LeaseID, "expires_at": time.Now().UTC()}})
	case "ack":
		json.NewEncoder(w).Encode(map[string]any{"event_id": id, "status": "acknowledged", "acknowledged_at": time.Now().UTC(),
			"request_id": "fake"})
	case "nack":
		json.NewEncoder(w).Encode(map[string]any{"event_id": id, "status": "pending", "attempts": 1,
			"available_at": time.Now().UTC(), "request_id": "fake"})
	}
}

// lease takes up to max queued events, waiting for one while there are
// none (until the request is cancelled).
func (f *fakeServer) lease(ctx context.Context, max int) []map[string]any {
	for {
		f.mu.Lock()
		if len(f.queue) > 0 {
			n := min(max, len(f.queue))
			var out []map[string]any
			for _, id := range f.queue[:n] {
				f.seq++
				f.attempt[id]++
				out = append(out, map[string]any{"event_id": id, "created_at": time.Now().UTC(), "source": "fake",
					"event_type": "t", "payload": map[string]any{"id": id}, "status": "pending",
					"metadata": map[string]any{"priority": "normal"}, "attempts": f.attempt[id],
					"lease": map[string]any{"lease_id": fmt.Sprintf("%032x", f.seq), "expires_at": time.Now().UTC()}})
			}
			f.queue = f.queue[n:]
			f.mu.Unlock()
			return out
		}
		pushed := f.pushed
		f.mu.Unlock()
		select {
		case <-pushed:
		case <-ctx.Done():
			return []map[string]any{}
		}
	}
}

// conflict is the body of a 409 with a reason.
func conflict(reason string) string {
	return `{"error":{"code":"CONFLICT","message":"` + reason + `","details":{"reason":"` + reason + `"},"request_id":"fake"}}`
}
