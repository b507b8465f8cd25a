package client_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggersapi/triggers/client"
	"github.com/triggersapi/triggers/internal/teststore"
)

// Unit tests of the Consumer's logic, against fakeServer and fakeClock.
// consumer_test.go runs it against the real server.

func TestBackoff_Delay(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name string
		b    client.Backoff
		n    int
		want time.Duration
	}{
		{"First", client.Backoff{Base: s, Max: time.Minute}, 1, s},
		{"Doubles", client.Backoff{Base: s, Max: time.Minute}, 4, 8 * s},
		{"Capped", client.Backoff{Base: s, Max: 10 * s}, 5, 10 * s},
		{"CappedFarOut", client.Backoff{Base: s, Max: 10 * s}, 1000, 10 * s},
		{"NoMax", client.Backoff{Base: s}, 3, 4 * s},
		{"ZeroAttemptsIsFirst", client.Backoff{Base: s, Max: time.Minute}, 0, s},
		{"NegativeBaseIsNone", client.Backoff{Base: -1, Max: time.Minute}, 7, 0},
		{"ZeroBaseIsNone", client.Backoff{}, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Delay(tc.n); got != tc.want {
				t.Errorf("%+v.Delay(%d) = %v, want %v", tc.b, tc.n, got, tc.want)
			}
		})
	}
}

// consumerRun is a Consumer running in the background.
type consumerRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // what Run returned
}

// stop cancels the Consumer's context and returns Run's error (waiting at
// most 5 s).
func (r *consumerRun) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// wait waits at most 5 s for Run to return, and returns its error.
func (r *consumerRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s")
		return nil
	}
}

// runConsumer starts a Consumer of cl with opts in the background; the
// test's end stops it.
func runConsumer(t *testing.T, cl *client.Client, opts client.ConsumerOptions) *consumerRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &consumerRun{cancel: cancel, done: make(chan struct{})}
	c := client.NewConsumer(cl, opts)
	go func() {
		r.err = c.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10 s of the test's end")
		}
	})
	return r
}

// fakeClient is a client of f that sends every request once.
func fakeClient(f *fakeServer) *client.Client {
	return client.New(f.URL, testKey, &client.Options{Retry: client.RetryPolicy{Disable: true}})
}

// blocking is a handler that blocks until its event is released (or, with
// honourCtx, its context is done), recording what it saw.
type blocking struct {
	honourCtx bool
	mu        sync.Mutex
	started   []string
	release   map[string]chan error
	ctxErrs   map[string]error // the handler's ctx.Err() when it returned
}

func newBlocking(honourCtx bool) *blocking {
	return &blocking{honourCtx: honourCtx, release: map[string]chan error{}, ctxErrs: map[string]error{}}
}

func (b *blocking) ch(id string) chan error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.release[id] == nil {
		b.release[id] = make(chan error, 1)
	}
	return b.release[id]
}

func (b *blocking) handle(ctx context.Context, ev *client.ReceivedEvent) error {
	b.mu.Lock()
	b.started = append(b.started, ev.EventID)
	b.mu.Unlock()
	ch := b.ch(ev.EventID)
	var err error
	if b.honourCtx {
		select {
		case err = <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
	} else {
		err = <-ch
	}
	b.mu.Lock()
	b.ctxErrs[ev.EventID] = ctx.Err()
	b.mu.Unlock()
	return err
}

func (b *blocking) Started() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.started)
}

func (b *blocking) ctxErr(id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ctxErrs[id]
}

func (b *blocking) done(id string, err error) { b.ch(id) <- err }

// The Consumer asks for as many events as it has idle handlers, and no
// more: with 3 handlers busy it sends no receive at all.
func TestConsumer_ReceivesOnlyForIdleHandlers(t *testing.T) {
	f := newFakeServer(t)
	h := newBlocking(false)
	clock := newFakeClock()
	r := runConsumer(t, fakeClient(f), client.ConsumerOptions{Handler: h.handle, Concurrency: 3,
		Now: clock.Now, After: clock.After})

	if c := f.waitCalls(t, "receive", 1); c[0].N != 3 {
		t.Fatalf("first receive asked for %d events, want 3 (all handlers idle)", c[0].N)
	}
	f.push("e1", "e2")
	if c := f.waitCalls(t, "receive", 2); c[1].N != 1 {
		t.Fatalf("second receive asked for %d events, want 1 (two handlers busy)", c[1].N)
	}
	f.push("e3", "e4")
	eventually(t, "3 handlers started", func() bool { return len(h.Started()) == 3 })
	time.Sleep(50 * time.Millisecond)
	if n := len(f.Calls("receive")); n != 2 {
		t.Fatalf("%d receives with every handler busy, want none after the 2nd", n)
	}

	h.done("e2", nil)
	acks := f.waitCalls(t, "ack", 1)
	if acks[0].Event != "e2" || acks[0].Lease == "" {
		t.Errorf("ack = %+v, want e2 under its lease", acks[0])
	}
	if c := f.waitCalls(t, "receive", 3); c[2].N != 1 {
		t.Errorf("receive after one handler finished asked for %d, want 1", c[2].N)
	}
	eventually(t, "e4 started", func() bool { return slices.Contains(h.Started(), "e4") })
	for _, id := range []string{"e1", "e3", "e4"} {
		h.done(id, nil)
	}
	f.waitCalls(t, "ack", 4)
	if err := r.stop(t); err != nil {
		t.Errorf("Run() = %v", err)
	}
	if n := len(f.Calls("nack")); n != 0 {
		t.Errorf("%d nacks, want none", n)
	}
}

// While a handler runs its lease is extended every half lease, by the
// lease; when the server says the lease is lost, the handler's context is
// cancelled and the event is neither acknowledged nor nacked.
func TestConsumer_ExtendsLeaseAtHalfUntilLost(t *testing.T) {
	f := newFakeServer(t)
	h := newBlocking(true)
	clock := newFakeClock()
	runConsumer(t, fakeClient(f), client.ConsumerOptions{Handler: h.handle, Concurrency: 1,
		Receive: client.ReceiveOptions{LeaseDuration: 10 * time.Second}, Now: clock.Now, After: clock.After})
	f.push("e1")
	eventually(t, "the handler to start", func() bool { return len(h.Started()) == 1 })

	clock.waitTimers(t, 1)
	clock.Advance(4900 * time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if n := len(f.Calls("extend")); n != 0 {
		t.Fatalf("%d extensions before half the lease", n)
	}
	clock.Advance(100 * time.Millisecond)
	ext := f.waitCalls(t, "extend", 1)
	if ext[0].Event != "e1" || ext[0].N != 10 || ext[0].Lease == "" {
		t.Errorf("extension = %+v, want e1 by 10 s under its lease", ext[0])
	}
	clock.waitTimers(t, 1)
	clock.Advance(5 * time.Second)
	f.waitCalls(t, "extend", 2)

	f.mu.Lock()
	f.reply = func(c call) (int, string) {
		if c.Kind == "extend" {
			return http.StatusConflict, conflict("lease_lost")
		}
		return 0, ""
	}
	f.mu.Unlock()
	clock.waitTimers(t, 1)
	clock.Advance(5 * time.Second)
	f.waitCalls(t, "extend", 3)
	eventually(t, "the handler to be cancelled", func() bool { return h.ctxErr("e1") != nil })
	time.Sleep(50 * time.Millisecond)
	if c := f.Calls("ack", "nack"); len(c) != 0 {
		t.Errorf("after the lease was lost: %+v, want no ack or nack", c)
	}
}

// A failed extension that is not the server's word on the lease (a 503)
// keeps the handler running and is tried again a second later.
func TestConsumer_ExtensionRetriedAfterTransientError(t *testing.T) {
	f := newFakeServer(t)
	f.reply = func(c call) (int, string) {
		if c.Kind == "extend" {
			return http.StatusServiceUnavailable, `{"error":{"code":"SERVICE_UNAVAILABLE","message":"x","details":{},"request_id":"fake"}}`
		}
		return 0, ""
	}
	h := newBlocking(true)
	clock := newFakeClock()
	runConsumer(t, fakeClient(f), client.ConsumerOptions{Handler: h.handle,
		Receive: client.ReceiveOptions{LeaseDuration: 30 * time.Second}, Now: clock.Now, After: clock.After})
	f.push("e1")
	eventually(t, "the handler to start", func() bool { return len(h.Started()) == 1 })
	clock.waitTimers(t, 1)
	clock.Advance(15 * time.Second)
	f.waitCalls(t, "extend", 1)
	clock.waitTimers(t, 1)
	clock.Advance(time.Second)
	f.waitCalls(t, "extend", 2)
	if err := h.ctxErr("e1"); err != nil {
		t.Fatalf("handler context = %v after a 503, want live", err)
	}
	h.done("e1", nil)
	if acks := f.waitCalls(t, "ack", 1); acks[0].Event != "e1" {
		t.Errorf("acks = %+v", acks)
	}
}

// A handler error, or a panic, nacks the event with the backoff of its
// attempts; nil acks it under its lease.
func TestConsumer_NackBackoffFromAttempts(t *testing.T) {
	f := newFakeServer(t)
	for id, attempts := range map[string]int{"a1": 1, "a2": 2, "a3": 3, "a4": 4, "a9": 9} {
		f.setAttempts(id, attempts)
	}
	logs := &teststore.LogBuffer{}
	handler := func(ctx context.Context, ev *client.ReceivedEvent) error {
		switch ev.EventID {
		case "ok":
			return nil
		case "boom":
			panic("poison")
		}
		return fmt.Errorf("failed at attempt %d", ev.Attempts)
	}
	clock := newFakeClock()
	runConsumer(t, fakeClient(f), client.ConsumerOptions{Handler: handler, Concurrency: 4,
		NackBackoff: client.Backoff{Base: 2 * time.Second, Max: 10 * time.Second},
		Logger:      slog.New(slog.NewTextHandler(logs, nil)), Now: clock.Now, After: clock.After})
	f.push("a1", "a2", "a3", "a4", "a9", "ok", "boom")
	f.waitCalls(t, "nack", 6)
	f.waitCalls(t, "ack", 1)
	got := map[string]int{}
	for _, c := range f.Calls("nack") {
		got[c.Event] = c.N
	}
	want := map[string]int{"a1": 2, "a2": 4, "a3": 8, "a4": 10, "a9": 10, "boom": 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nack delays (s) = %v, want %v", got, want)
	}
	if acks := f.Calls("ack"); acks[0].Event != "ok" || acks[0].Lease == "" {
		t.Errorf("acks = %+v, want ok under its lease", acks)
	}
	if !strings.Contains(logs.String(), "handler panicked") || !strings.Contains(logs.String(), "poison") {
		t.Errorf("logs lack the panic:\n%s", logs)
	}
}

// A receive that fails is tried again after the receive backoff, or after
// the server's Retry-After when longer; a receive refused for good (401)
// stops Run with the error.
func TestConsumer_ReceiveErrorBackoff(t *testing.T) {
	f := newFakeServer(t)
	var replies = []int{503, 503, 429, 200, 401}
	f.reply = func(c call) (int, string) {
		if c.Kind != "receive" || len(replies) == 0 {
			return 0, ""
		}
		st := replies[0]
		replies = replies[1:]
		switch st {
		case 200:
			return 0, ""
		case 401:
			return st, `{"error":{"code":"UNAUTHORIZED","message":"revoked","details":{},"request_id":"fake"}}`
		}
		return st, `{"error":{"code":"X","message":"x","details":{},"request_id":"fake"}}`
	}
	f.push("e1")
	clock := newFakeClock()
	h := newBlocking(false)
	h.done("e1", nil)
	r := runConsumer(t, fakeClient(f), client.ConsumerOptions{Handler: h.handle,
		ReceiveBackoff: client.Backoff{Base: time.Second, Max: 5 * time.Second}, Now: clock.Now, After: clock.After})
	// 503 with Retry-After 7 s (longer than the 1 s backoff), 503 again
	// (7 s beats 2 s), then a 429 (7 s beats 4 s).
	for i := 1; i <= 3; i++ {
		f.waitCalls(t, "receive", i)
		clock.waitTimers(t, 1)
		clock.Advance(7 * time.Second)
	}
	f.waitCalls(t, "ack", 1)
	if err := r.wait(t); !client.IsCode(err, client.CodeUnauthorized) {
		t.Fatalf("Run() = %v, want the 401", err)
	}
	if asked := clock.Asked(); !slices.Contains(asked, 7*time.Second) || slices.Contains(asked, time.Second) {
		t.Errorf("waits = %v, want the 7 s Retry-After instead of the shorter backoff", asked)
	}
}

// Without Retry-After the waits grow by the receive backoff.
func TestConsumer_ReceiveBackoffGrows(t *testing.T) {
	f := newFakeServer(t)
	f.reply = func(c call) (int, string) {
		if c.Kind == "receive" {
			return http.StatusInternalServerError, `{"error":{"code":"INTERNAL_ERROR","message":"x","details":{},"request_id":"fake"}}`
		}
		return 0, ""
	}
	clock := newFakeClock()
	runConsumer(t, fakeClient(f), client.ConsumerOptions{Handler: newBlocking(true).handle,
		ReceiveBackoff: client.Backoff{Base: time.Second, Max: 5 * time.Second}, Now: clock.Now, After: clock.After})
	var waits []time.Duration
	for i := 1; i <= 5; i++ {
		f.waitCalls(t, "receive", i)
		clock.waitTimers(t, 1)
		asked := clock.Asked()
		waits = append(waits, asked[len(asked)-1])
		clock.Advance(asked[len(asked)-1])
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("waits = %v, want %v", waits, want)
	}
}

// cancelOnReceive is a transport that cancels the Consumer's context once
// a receive's answer has arrived, before the Consumer sees it.
type cancelOnReceive struct {
	cancel func()
}

func (c *cancelOnReceive) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/inbox/receive") {
		// Read the answer now: the context is cancelled next.
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		c.cancel()
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, err
}

// Events received after the context is done are never handled: they are
// nacked without delay, in one bulk request, and Run returns nil.
func TestConsumer_StopNacksUnstartedEvents(t *testing.T) {
	f := newFakeServer(t)
	f.push("e1", "e2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := client.New(f.URL, testKey, &client.Options{HTTPClient: &http.Client{Transport: &cancelOnReceive{cancel: cancel}}})
	h := newBlocking(false)
	c := client.NewConsumer(cl, client.ConsumerOptions{Handler: h.handle, Concurrency: 2})
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if s := h.Started(); len(s) != 0 {
		t.Errorf("handlers started for %v, want none", s)
	}
	nacks := f.Calls("nack")
	if len(nacks) != 2 || len(f.Calls("bulknack")) != 1 {
		t.Fatalf("calls = %+v, want one bulk nack of both events", f.Calls())
	}
	for _, n := range nacks {
		if n.N != 0 || n.Lease == "" {
			t.Errorf("nack = %+v, want delay 0 under the lease", n)
		}
	}
}

// On stop, a running handler may finish within ShutdownTimeout, and its
// event is acknowledged; Run returns once it is.
func TestConsumer_GracefulStopAcksFinishedHandlers(t *testing.T) {
	f := newFakeServer(t)
	h := newBlocking(true)
	clock := newFakeClock()
	r := runConsumer(t, fakeClient(f), client.ConsumerOptions{Handler: h.handle, ShutdownTimeout: time.Minute,
		Now: clock.Now, After: clock.After})
	f.push("e1")
	eventually(t, "the handler to start", func() bool { return len(h.Started()) == 1 })
	r.cancel()
	time.Sleep(20 * time.Millisecond)
	if err := h.ctxErr("e1"); err != nil {
		t.Fatalf("handler context = %v right after stop, want live until ShutdownTimeout", err)
	}
	h.done("e1", nil)
	if err := r.wait(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if acks := f.Calls("ack"); len(acks) != 1 || acks[0].Event != "e1" {
		t.Errorf("acks = %+v, want e1", acks)
	}
	if n := len(f.Calls("receive")); n != 1 {
		t.Errorf("%d receives, want 1: none after the stop", n)
	}
}

// At the end of ShutdownTimeout the handlers' contexts are cancelled; one
// that returns is nacked without delay (not the event's fault), one that
// does not return within a second is abandoned: Run says so, and its event
// is neither acknowledged nor nacked.
func TestConsumer_ShutdownTimeoutCancelsThenAbandons(t *testing.T) {
	f := newFakeServer(t)
	obedient, stubborn := newBlocking(true), newBlocking(false)
	handler := func(ctx context.Context, ev *client.ReceivedEvent) error {
		if ev.EventID == "obedient" {
			return obedient.handle(ctx, ev)
		}
		return stubborn.handle(ctx, ev)
	}
	clock := newFakeClock()
	r := runConsumer(t, fakeClient(f), client.ConsumerOptions{Handler: handler, Concurrency: 2, ShutdownTimeout: 10 * time.Second,
		NackBackoff: client.Backoff{Base: time.Minute}, Now: clock.Now, After: clock.After})
	f.push("obedient", "stubborn")
	eventually(t, "both handlers to start", func() bool {
		return len(obedient.Started()) == 1 && len(stubborn.Started()) == 1
	})
	clock.waitTimers(t, 2) // the lease extensions
	r.cancel()
	clock.waitTimers(t, 3) // and the shutdown deadline
	clock.Advance(10 * time.Second)
	nacks := f.waitCalls(t, "nack", 1)
	if nacks[0].Event != "obedient" || nacks[0].N != 0 {
		t.Errorf("nack = %+v, want obedient with delay 0", nacks[0])
	}
	clock.waitTimers(t, 3) // the abandonment, beside the two extensions
	clock.Advance(time.Second)
	err := r.wait(t)
	if err == nil || !strings.Contains(err.Error(), "1 handlers abandoned") {
		t.Errorf("Run() = %v, want 1 handler abandoned", err)
	}
	stubborn.done("stubborn", nil)
	time.Sleep(20 * time.Millisecond)
	if c := f.Calls("ack", "nack"); len(c) != 1 {
		t.Errorf("calls = %+v, want only the obedient nack", c)
	}
}

// A Consumer runs once at a time; NewConsumer refuses a nil Handler.
func TestConsumer_Misuse(t *testing.T) {
	f := newFakeServer(t)
	c := client.NewConsumer(fakeClient(f), client.ConsumerOptions{Handler: newBlocking(true).handle})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	f.waitCalls(t, "receive", 1)
	if err := c.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run() = %v, want already running", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewConsumer without a Handler did not panic")
		}
	}()
	client.NewConsumer(fakeClient(f), client.ConsumerOptions{})
}
