package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Handler processes one received event. Return nil when the work is done
// (the Consumer acknowledges the event under its lease) or an error to have
// it delivered again after a backoff (the Consumer nacks it); a panic counts
// as an error. ctx is cancelled when the lease is lost (the event may now be
// delivered to another worker: stop, nothing will be acknowledged) or when
// the Consumer's shutdown deadline has passed. ev.Attempts counts the
// deliveries so far, this one included.
//
// A Handler runs in its own goroutine, up to ConsumerOptions.Concurrency at
// once, so it must be safe for concurrent use. Delivery is at least once:
// make the work idempotent, since an event whose ack was lost, or whose
// handler outlived its lease, is processed again.
type Handler func(ctx context.Context, ev *ReceivedEvent) error

// Backoff is an exponential backoff: the delay after the n-th failure is
// Base·2^(n-1), at most Max.
type Backoff struct {
	// Base is the delay after the first failure; it doubles with each
	// further one. Zero means the default of the option; negative means no
	// delay at all.
	Base time.Duration
	// Max caps the delay; zero means the default of the option.
	Max time.Duration
}

// Delay returns the delay after the n-th consecutive failure (n ≥ 1; a
// smaller n counts as 1): Base·2^(n-1), capped at Max; 0 when Base ≤ 0.
func (b Backoff) Delay(n int) time.Duration {
	if b.Base <= 0 {
		return 0
	}
	d := b.Base
	for i := 1; i < n && (b.Max <= 0 || d < b.Max) && d <= math.MaxInt64/2; i++ {
		d *= 2
	}
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	return d
}

// orDefault applies the defaults base and max to the zero fields of b.
func (b Backoff) orDefault(base, max time.Duration) Backoff {
	if b.Base == 0 {
		b.Base = base
	}
	if b.Max <= 0 {
		b.Max = max
	}
	return b
}

// Defaults of ConsumerOptions.
const (
	DefaultConsumerLease   = 30 * time.Second
	DefaultConsumerWait    = 20 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
)

// ConsumerOptions configure a Consumer. Only Handler is required; every
// zero field means its default.
type ConsumerOptions struct {
	// Handler processes each event; required.
	Handler Handler

	// Concurrency is how many handlers run at once; default 1. The
	// Consumer receives only as many events as it has idle handlers (at
	// most 25 per receive), so it never holds a lease on an event that
	// waits for a handler.
	Concurrency int

	// Receive are the options of each receive: the filters, and
	//   - LeaseDuration, the lease of each event (default 30 s). While a
	//     handler runs, the Consumer extends its lease by LeaseDuration every
	//     LeaseDuration/2, so a handler may run for longer than the lease;
	//     the lease is what bounds the time until a crashed worker's event
	//     is delivered again.
	//   - Wait, the long poll of each receive (default and at most 20 s;
	//     negative: none, and a receive that found nothing is followed by a
	//     pause of ReceiveBackoff.Base).
	//   - MaxAttempts, the deliveries before an event is dead-lettered
	//     (server default 10).
	//   - MaxEvents, a cap on the events per receive (default 25).
	Receive ReceiveOptions

	// NackBackoff sets the delay before a failed event may be received
	// again, from the number of its attempts: NackBackoff.Delay(attempts),
	// at most 12 h. Default 1 s, doubling to at most 5 min; Base < 0 means
	// no delay.
	NackBackoff Backoff

	// ReceiveBackoff sets the wait before a receive is tried again after
	// it failed (once the client's own retries are spent: 429, 503,
	// transport errors), from the number of consecutive failures; a 429's
	// or 503's Retry-After is waited if longer. Default 1 s, doubling to at
	// most 30 s. A receive answered 400, 401, 403 or 404 is not tried
	// again: Run stops and returns the error.
	ReceiveBackoff Backoff

	// ShutdownTimeout is how long running handlers may go on once Run's
	// context is done; default 30 s, negative means none. At its end their
	// contexts are cancelled; each event whose handler has returned is
	// acknowledged or nacked as usual (a handler that returned an error
	// because it was cancelled is nacked without delay). A handler that
	// has not returned a second after its context was cancelled is
	// abandoned: Run returns without settling its event, which is
	// delivered again when its lease expires.
	ShutdownTimeout time.Duration

	// Logger receives the Consumer's logs: handler errors and panics,
	// lost leases, failed receives, acks and nacks that failed. Default:
	// none.
	Logger *slog.Logger

	// Now and After are the Consumer's clock: the time, and a channel that
	// receives after a duration. Tests replace them; default time.Now and
	// time.After.
	Now   func() time.Time
	After func(d time.Duration) <-chan time.Time
}

// abandonAfter is how long Run waits for handlers whose contexts were
// cancelled at the shutdown deadline before it abandons them.
const abandonAfter = time.Second

// maxNackDelay is the longest delay a nack may ask for (12 h).
const maxNackDelay = 43200 * time.Second

// settleTimeout bounds an ack or nack (with the client's retries), which
// run after Run's context is done too.
const settleTimeout = 30 * time.Second

// Consumer runs a Handler over the events of an inbox, received under
// leases: Concurrency handlers at once, fed by long-polling receives of at
// most as many events as there are idle handlers. It extends each lease
// while its handler runs, acknowledges the event under its lease when the
// handler returns nil, and nacks it with an exponential backoff when the
// handler fails or panics; an event that fails MaxAttempts times ends dead
// (see Client.Redrive). If the lease is lost meanwhile, the handler's
// context is cancelled and the event is left alone: it is, or will be,
// delivered again.
//
// Create one with NewConsumer and start it with Run. A Consumer is safe for
// concurrent use, but runs once at a time.
type Consumer struct {
	client  *Client
	opts    ConsumerOptions
	log     *slog.Logger
	running atomic.Bool
}

// NewConsumer returns a Consumer of client's inbox. It panics if
// opts.Handler is nil.
func NewConsumer(client *Client, opts ConsumerOptions) *Consumer {
	if opts.Handler == nil {
		panic("triggers: NewConsumer: ConsumerOptions.Handler is nil")
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.Receive.LeaseDuration <= 0 {
		opts.Receive.LeaseDuration = DefaultConsumerLease
	}
	switch {
	case opts.Receive.Wait == 0:
		opts.Receive.Wait = DefaultConsumerWait
	case opts.Receive.Wait < 0:
		opts.Receive.Wait = 0
	}
	opts.Receive.Wait = min(opts.Receive.Wait, 20*time.Second)
	if opts.Receive.MaxEvents <= 0 || opts.Receive.MaxEvents > BulkLimit {
		opts.Receive.MaxEvents = BulkLimit
	}
	opts.NackBackoff = opts.NackBackoff.orDefault(time.Second, 5*time.Minute)
	opts.ReceiveBackoff = opts.ReceiveBackoff.orDefault(time.Second, 30*time.Second)
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Consumer{client: client, opts: opts, log: log}
}

// Run receives and handles events until ctx is done, then stops
// gracefully: it receives no more, lets running handlers finish (see
// ShutdownTimeout), settles their events, nacks without delay any event
// received but not yet handed to a handler, and returns nil. It returns an
// error when a receive was refused for good (400, 401, 403, 404: the
// options or the key are wrong), after stopping the same way, when
// handlers had to be abandoned, or when Run is already running.
//
// A receive still waiting when ctx ends is cancelled: if the server leased
// events to it at that very moment, their answer is lost and they come back
// when their leases expire (counting an attempt), as after a crash.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("triggers: Consumer.Run is already running")
	}
	defer c.running.Store(false)
	r := &run{c: c, base: context.WithoutCancel(ctx), slots: make(chan struct{}, c.opts.Concurrency),
		running: map[*job]struct{}{}, changed: make(chan struct{}, 1)}
	err := r.receiveLoop(ctx)
	return errors.Join(err, r.shutdown())
}

// run is the state of one Run.
type run struct {
	c     *Consumer
	base  context.Context // Run's context without its cancellation: for handlers and settling
	slots chan struct{}   // one token per busy handler (or one being received for)

	mu        sync.Mutex
	running   map[*job]struct{} // jobs whose handler has not returned
	settling  int               // jobs acknowledging or nacking
	abandoned bool              // Run gave up waiting: results are ignored
	changed   chan struct{}     // signalled when running or settling shrinks
}

// job is one event being handled.
type job struct {
	ev     *ReceivedEvent
	ctx    context.Context // the handler's
	cancel context.CancelFunc
	// stopKeep ends the lease extensions (the handler returned, or it was
	// abandoned).
	keepCtx  context.Context
	stopKeep context.CancelFunc
	// lost is set when the server said the lease is gone.
	lost atomic.Bool
	// interrupted is set when the shutdown deadline cancelled the handler.
	interrupted atomic.Bool
}

// receiveLoop receives events for idle handlers and starts them, until ctx
// is done or a receive fails for good.
func (r *run) receiveLoop(ctx context.Context) error {
	o := &r.c.opts
	failures := 0
	for {
		// Take a slot for one idle handler (waiting for one), then for as
		// many more as are idle now.
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	more:
		for n < o.Receive.MaxEvents {
			select {
			case r.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		ro := o.Receive
		ro.MaxEvents = n
		start := o.Now()
		evs, err := r.c.client.Receive(ctx, ro)
		for range n - len(evs) {
			<-r.slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if permanent(err) {
				r.c.log.Error("triggers consumer: receive refused; stopping", "err", err)
				return fmt.Errorf("triggers: consumer: receive: %w", err)
			}
			failures++
			wait := o.ReceiveBackoff.Delay(failures)
			var apiErr *APIError
			if errors.As(err, &apiErr) && apiErr.RetryAfter > wait {
				wait = apiErr.RetryAfter
			}
			r.c.log.Warn("triggers consumer: receive failed; waiting", "err", err, "wait", wait, "failures", failures)
			if !r.sleep(ctx, wait) {
				return nil
			}
			continue
		}
		failures = 0
		if ctx.Err() != nil {
			r.nackUnstarted(evs)
			return nil
		}
		for i := range evs {
			r.start(&evs[i])
		}
		if len(evs) == 0 && (o.Receive.Wait == 0 || o.Now().Sub(start) < o.Receive.Wait/2) {
			// Answered early with nothing (no long poll, or a server
			// shutting down): pause rather than spin.
			if !r.sleep(ctx, max(o.ReceiveBackoff.Base, 0)) {
				return nil
			}
		}
	}
}

// permanent reports whether a receive error will not go away by itself.
func permanent(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// sleep waits d, or until ctx is done (false).
func (r *run) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-r.c.opts.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// nackUnstarted gives back events received after Run's context was done,
// without delay: no handler ever saw them.
func (r *run) nackUnstarted(evs []ReceivedEvent) {
	defer func() {
		for range evs {
			<-r.slots
		}
	}()
	if len(evs) == 0 {
		return
	}
	items := make([]NackItem, len(evs))
	for i, ev := range evs {
		items[i] = NackItem{EventID: ev.EventID, LeaseID: ev.Lease.ID}
	}
	ctx, cancel := context.WithTimeout(r.base, settleTimeout)
	defer cancel()
	res, err := r.c.client.BulkNack(ctx, items)
	if err != nil {
		r.c.log.Warn("triggers consumer: nack of events received while stopping failed; they are delivered again when their leases expire",
			"err", err, "events", len(evs))
		return
	}
	for _, it := range res.Failed() {
		r.c.log.Warn("triggers consumer: nack of an event received while stopping failed", "event_id", it.EventID, "err", it.Err)
	}
}

// start runs the handler of ev in a new goroutine (its slot is taken).
func (r *run) start(ev *ReceivedEvent) {
	j := &job{ev: ev}
	j.ctx, j.cancel = context.WithCancel(r.base)
	j.keepCtx, j.stopKeep = context.WithCancel(r.base)
	r.mu.Lock()
	r.running[j] = struct{}{}
	r.mu.Unlock()
	go r.keep(j)
	go r.handle(j)
}

// handle calls the handler, then settles the event.
func (r *run) handle(j *job) {
	err := r.call(j)
	j.stopKeep()
	j.cancel()
	r.mu.Lock()
	if r.abandoned {
		r.mu.Unlock()
		r.c.log.Warn("triggers consumer: a handler returned after it was abandoned; its event is not settled",
			"event_id", j.ev.EventID, "err", err)
		return
	}
	delete(r.running, j)
	r.settling++
	r.mu.Unlock()
	r.settle(j, err)
	<-r.slots
	r.mu.Lock()
	r.settling--
	r.mu.Unlock()
	r.signal()
}

// panicError is the error of a handler that panicked: the event is nacked
// as for any other error.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("triggers: handler panicked: %v", e.value) }

// call runs the handler, turning a panic into a *panicError (logged with
// its stack).
func (r *run) call(j *job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.c.log.Error("triggers consumer: handler panicked", "event_id", j.ev.EventID, "panic", fmt.Sprint(p),
				"stack", string(debug.Stack()))
			err = &panicError{p}
		}
	}()
	return r.c.opts.Handler(j.ctx, j.ev)
}

// keep extends j's lease every half lease until the handler returns. When
// the server says the lease is gone, it cancels the handler.
func (r *run) keep(j *job) {
	o := &r.c.opts
	lease := o.Receive.LeaseDuration
	next := o.After(lease / 2)
	for {
		select {
		case <-j.keepCtx.Done():
			return
		case <-next:
		}
		_, err := r.c.client.ExtendLease(j.keepCtx, j.ev.EventID, j.ev.Lease.ID, lease)
		switch {
		case err == nil:
			next = o.After(lease / 2)
		case j.keepCtx.Err() != nil:
			return
		case leaseGone(err):
			j.lost.Store(true)
			j.cancel()
			r.c.log.Warn("triggers consumer: lease lost; the handler is cancelled and the event will not be acknowledged",
				"event_id", j.ev.EventID, "err", err)
			return
		default:
			// Not the server's word on the lease: keep the handler, try again
			// soon (the ack will tell whether the lease held).
			r.c.log.Warn("triggers consumer: lease extension failed; trying again", "event_id", j.ev.EventID, "err", err)
			next = o.After(min(time.Second, lease/2))
		}
	}
}

// leaseGone reports whether an extension's error says the lease can no
// longer be used: lost, expired, the event acknowledged, dead or deleted.
func leaseGone(err error) bool {
	return IsLeaseLost(err) || ConflictReason(err) == ReasonAlreadyAcknowledged || IsCode(err, CodeNotFound)
}

// settle acknowledges or nacks j's event after its handler returned err.
func (r *run) settle(j *job, err error) {
	ev := j.ev
	log := r.c.log.With("event_id", ev.EventID, "attempts", ev.Attempts)
	if j.lost.Load() {
		return // logged by keep
	}
	ctx, cancel := context.WithTimeout(r.base, settleTimeout)
	defer cancel()
	if err == nil {
		_, aerr := r.c.client.AckLease(ctx, ev.EventID, ev.Lease.ID)
		switch {
		case aerr == nil:
		case ConflictReason(aerr) == ReasonAlreadyAcknowledged:
			log.Debug("triggers consumer: event already acknowledged", "err", aerr)
		case IsLeaseLost(aerr):
			log.Warn("triggers consumer: lease lost before the ack; the event is delivered again", "err", aerr)
		default:
			log.Error("triggers consumer: ack failed; the event is delivered again when its lease expires", "err", aerr)
		}
		return
	}
	delay := min(r.c.opts.NackBackoff.Delay(ev.Attempts), maxNackDelay)
	if j.interrupted.Load() {
		delay = 0 // not the event's fault: give it to another worker now
	}
	var pe *panicError
	if !errors.As(err, &pe) { // a panic was logged by call
		log.Warn("triggers consumer: handler failed; nacking", "err", err, "delay", delay)
	}
	_, nerr := r.c.client.Nack(ctx, ev.EventID, ev.Lease.ID, delay)
	switch {
	case nerr == nil:
	case IsLeaseLost(nerr), ConflictReason(nerr) == ReasonAlreadyAcknowledged:
		log.Debug("triggers consumer: nack found the lease gone", "err", nerr)
	default:
		log.Error("triggers consumer: nack failed; the event is delivered again when its lease expires", "err", nerr)
	}
}

func (r *run) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitIdle waits until no handler runs and nothing is being settled, or
// until timeout fires (false).
func (r *run) waitIdle(timeout <-chan time.Time) bool {
	for {
		r.mu.Lock()
		idle := len(r.running) == 0 && r.settling == 0
		r.mu.Unlock()
		if idle {
			return true
		}
		select {
		case <-r.changed:
		case <-timeout:
			return false
		}
	}
}

// shutdown lets running handlers finish within ShutdownTimeout, cancels
// them then, and abandons those that still do not return.
func (r *run) shutdown() error {
	o := &r.c.opts
	var deadline <-chan time.Time
	if o.ShutdownTimeout > 0 {
		deadline = o.After(o.ShutdownTimeout)
	} else {
		closed := make(chan time.Time)
		close(closed)
		deadline = closed
	}
	if r.waitIdle(deadline) {
		return nil
	}
	r.mu.Lock()
	for j := range r.running {
		j.interrupted.Store(true)
		j.cancel()
	}
	r.mu.Unlock()
	if r.waitIdle(o.After(abandonAfter)) {
		return nil
	}
	r.mu.Lock()
	r.abandoned = true
	n := len(r.running)
	for j := range r.running {
		j.stopKeep()
	}
	clear(r.running)
	r.mu.Unlock()
	r.waitIdle(nil) // the events being settled
	r.c.log.Error("triggers consumer: handlers did not return after their contexts were cancelled; abandoned",
		"handlers", n)
	return fmt.Errorf("triggers: consumer: %d handlers abandoned at shutdown; their events are delivered again when their leases expire", n)
}
