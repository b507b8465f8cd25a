package client_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggersapi/triggers/client"
)

// The Consumer against a real server (SQLite, or DynamoDB with
// TRIGGERS_TEST_STORE=dynamodb), in real time: leases of a second or two,
// so that expiry takes seconds.

// waitFor polls cond every 20 ms for at most limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustBulkCreate creates n events of source in bulk requests and returns
// their ids.
func mustBulkCreate(t *testing.T, c *client.Client, source string, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		var items []client.CreateEventRequest
		for i := len(out); i < n && len(items) < client.BulkLimit; i++ {
			items = append(items, client.CreateEventRequest{Source: source, EventType: "job", Payload: map[string]int{"n": i}})
		}
		res, err := c.BulkCreate(context.Background(), items)
		if err != nil || res.Succeeded() != len(items) {
			t.Fatalf("BulkCreate() = %+v, %v", res, err)
		}
		for _, it := range res.Items {
			out = append(out, it.EventID)
		}
	}
	return out
}

// N events, 8 handlers: each event is handled exactly once, handlers run
// concurrently, and every event ends acknowledged.
func TestConsumer_ProcessesEachEventOnce(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	const n = 60
	created := mustBulkCreate(t, c, "consume-once", n)

	var mu sync.Mutex
	seen := map[string]int{}
	var running, most atomic.Int64
	handler := func(ctx context.Context, ev *client.ReceivedEvent) error {
		now := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if now <= m || most.CompareAndSwap(m, now) {
				break
			}
		}
		time.Sleep(time.Duration(rand.N(20)) * time.Millisecond)
		mu.Lock()
		seen[ev.EventID]++
		mu.Unlock()
		return nil
	}
	r := runConsumer(t, c, client.ConsumerOptions{Handler: handler, Concurrency: 8,
		Receive: client.ReceiveOptions{Source: "consume-once", Wait: 2 * time.Second}})
	waitFor(t, 20*time.Second, fmt.Sprintf("%d events handled", n), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	// Let the last acks land, and give a duplicate the chance to show.
	waitFor(t, 10*time.Second, "the inbox to empty", func() bool {
		page, err := c.Inbox(context.Background(), client.InboxQuery{Source: "consume-once"})
		return err == nil && len(page.Events) == 0
	})
	if err := r.stop(t); err != nil {
		t.Errorf("Run() = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range created {
		if seen[id] != 1 {
			t.Errorf("event %s handled %d times, want once", id, seen[id])
		}
	}
	if m := most.Load(); m < 2 || m > 8 {
		t.Errorf("at most %d handlers ran at once, want 2 to 8", m)
	}
	for _, id := range created[:5] {
		if e, err := c.GetEvent(context.Background(), id); err != nil || e.Status != client.StatusAcknowledged || e.Attempts != 1 {
			t.Errorf("GetEvent(%s) = %+v, %v; want acknowledged at attempt 1", id, e, err)
		}
	}
}

// A worker killed mid-work (its handler never returns and is abandoned;
// nothing settles its event) loses the event to another worker once the
// lease expires: the event comes back, attempt 2, and is done there.
func TestConsumer_KilledHandlerEventComesBack(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	id := mustCreate(t, c, "consume-killed", 1)[0]
	recv := client.ReceiveOptions{Source: "consume-killed", LeaseDuration: 2 * time.Second, Wait: time.Second}

	stuck := make(chan struct{})
	defer close(stuck)
	started := make(chan struct{}, 1)
	killed := runConsumer(t, c, client.ConsumerOptions{Receive: recv, ShutdownTimeout: -1,
		Handler: func(ctx context.Context, ev *client.ReceivedEvent) error {
			started <- struct{}{}
			<-stuck // ignores ctx: a worker that hangs, then dies
			return nil
		}})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first worker never got the event")
	}
	// The lease is extended while the worker lives: 3 s is more than a lease.
	time.Sleep(3 * time.Second)
	if e, err := c.GetEvent(context.Background(), id); err != nil || e.Attempts != 1 || e.LeaseExpiresAt.IsZero() {
		t.Fatalf("GetEvent() while the worker lives = %+v, %v; want attempt 1, leased", e, err)
	}
	if err := killed.stop(t); err == nil || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("Run() of the killed worker = %v, want its handler abandoned", err)
	}
	died := time.Now()

	got := make(chan *client.ReceivedEvent, 1)
	runConsumer(t, c, client.ConsumerOptions{Receive: recv, Handler: func(ctx context.Context, ev *client.ReceivedEvent) error {
		got <- ev
		return nil
	}})
	select {
	case ev := <-got:
		if ev.EventID != id || ev.Attempts != 2 {
			t.Errorf("second worker got %s at attempt %d, want %s at attempt 2", ev.EventID, ev.Attempts, id)
		}
		d := time.Since(died)
		t.Logf("the event came back %v after the worker died (lease 2 s)", d.Round(time.Millisecond))
		if d > 4*time.Second {
			t.Errorf("the event came back %v after the worker died, want within the 2 s lease (4 s allowed)", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event never came back")
	}
	waitFor(t, 5*time.Second, "the event acknowledged", func() bool {
		e, err := c.GetEvent(context.Background(), id)
		return err == nil && e.Status == client.StatusAcknowledged
	})
}

// A poison event fails every time: after MaxAttempts deliveries it is
// dead, listed among the dead events, and its handler ran exactly that
// often. An event whose handler panics once is delivered again and done.
func TestConsumer_PoisonEventEndsDead(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ids := mustCreate(t, c, "consume-poison", 2)
	poison, flaky := ids[0], ids[1]

	var mu sync.Mutex
	calls := map[string]int{}
	handler := func(ctx context.Context, ev *client.ReceivedEvent) error {
		mu.Lock()
		calls[ev.EventID]++
		mu.Unlock()
		if ev.EventID == flaky && ev.Attempts == 1 {
			panic("flaky")
		}
		if ev.EventID == poison {
			return errors.New("cannot process this event")
		}
		return nil
	}
	runConsumer(t, c, client.ConsumerOptions{Handler: handler, Concurrency: 2,
		Receive:     client.ReceiveOptions{Source: "consume-poison", MaxAttempts: 3, Wait: time.Second},
		NackBackoff: client.Backoff{Base: -1}})
	waitFor(t, 15*time.Second, "the poison event dead", func() bool {
		e, err := c.GetEvent(context.Background(), poison)
		return err == nil && e.Status == client.StatusDead
	})
	waitFor(t, 5*time.Second, "the flaky event acknowledged", func() bool {
		e, err := c.GetEvent(context.Background(), flaky)
		return err == nil && e.Status == client.StatusAcknowledged
	})
	e, err := c.GetEvent(context.Background(), poison)
	if err != nil || e.Attempts != 3 || e.DeadAt.IsZero() {
		t.Errorf("GetEvent(poison) = %+v, %v; want dead after 3 attempts", e, err)
	}
	page, err := c.Inbox(context.Background(), client.InboxQuery{Status: client.StatusDead, Source: "consume-poison"})
	if err != nil || len(page.Events) != 1 || page.Events[0].EventID != poison {
		t.Errorf("Inbox(dead) = %+v, %v; want the poison event", page, err)
	}
	if e, _ := c.GetEvent(context.Background(), flaky); e.Attempts != 2 {
		t.Errorf("flaky event acknowledged at attempt %d, want 2", e.Attempts)
	}
	time.Sleep(200 * time.Millisecond) // a further delivery would show now
	mu.Lock()
	defer mu.Unlock()
	if calls[poison] != 3 || calls[flaky] != 2 {
		t.Errorf("handler calls = %v, want poison 3, flaky 2", calls)
	}
}

// ackCounter counts the ack requests sent through it.
type ackCounter struct{ n atomic.Int64 }

func (a *ackCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/ack") {
		a.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// When the lease is lost while the handler runs (here someone else
// acknowledges the event), the next extension learns it: the handler's
// context is cancelled and the Consumer sends no ack.
func TestConsumer_LeaseLostCancelsHandler(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	id := mustCreate(t, c, "consume-lost", 1)[0]
	acks := &ackCounter{}
	cc := client.New(s.URL, testKey, &client.Options{HTTPClient: &http.Client{Transport: acks}})

	started := make(chan struct{}, 1)
	cancelled := make(chan time.Time, 1)
	runConsumer(t, cc, client.ConsumerOptions{
		Receive: client.ReceiveOptions{Source: "consume-lost", LeaseDuration: 2 * time.Second, Wait: time.Second},
		Handler: func(ctx context.Context, ev *client.ReceivedEvent) error {
			started <- struct{}{}
			<-ctx.Done()
			cancelled <- time.Now()
			return ctx.Err()
		}})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never started")
	}
	if _, err := c.AckEvent(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	acked := time.Now()
	select {
	case at := <-cancelled:
		d := at.Sub(acked)
		t.Logf("handler cancelled %v after the lease was lost (extension every 1 s)", d.Round(time.Millisecond))
		if d > 2*time.Second {
			t.Errorf("handler cancelled %v after the lease was lost, want within the 1 s extension period", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler was not cancelled")
	}
	time.Sleep(200 * time.Millisecond)
	if n := acks.n.Load(); n != 0 {
		t.Errorf("the Consumer sent %d acks after losing the lease, want none", n)
	}
}

// Stopping lets the running handler finish: its event is acknowledged and
// Run returns nil; the event that was never started stays available.
func TestConsumer_GracefulStop(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ids := mustCreate(t, c, "consume-stop", 2)
	started := make(chan struct{}, 2)
	r := runConsumer(t, c, client.ConsumerOptions{
		Receive: client.ReceiveOptions{Source: "consume-stop", Wait: time.Second},
		Handler: func(ctx context.Context, ev *client.ReceivedEvent) error {
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond)
			return ctx.Err()
		}})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never started")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	first, err := c.GetEvent(context.Background(), ids[0])
	if err != nil || first.Status != client.StatusAcknowledged {
		t.Errorf("GetEvent(handled) = %+v, %v; want acknowledged", first, err)
	}
	second, err := c.GetEvent(context.Background(), ids[1])
	if err != nil || second.Status != client.StatusPending || second.Attempts != 0 || len(started) != 0 {
		t.Errorf("GetEvent(never started) = %+v, %v; want pending, never leased", second, err)
	}
}
