// Package dispatch pushes webhook deliveries to their subscriptions'
// endpoints (DESIGN §11.2): it claims due deliveries from a
// triggers.WebhookStore, sends each one as a signed POST, and records the
// attempt with the delivery's new status.
//
// # Claiming
//
// A Dispatcher claims due deliveries in batches (WebhookStore.ClaimDeliveries)
// with a lease (Config.LeaseDuration, 60 s by default, well beyond the 15 s
// an attempt may take), attempts each one, and ends the lease by recording
// the attempt (CompleteDelivery). Several dispatchers (several servers on one
// DynamoDB store, or the scheduled Lambda) share the work through the leases:
// the store never leases a delivery twice at once. A dispatcher that dies
// holding leases loses nothing: they expire and another claim takes them.
// Delivery is at least once: an attempt whose completion cannot be recorded
// (the store failed, the lease expired) is attempted again.
//
// # Bounds
//
// A dispatcher holds at most Config.MaxInFlight deliveries at once (50), and
// attempts at most Config.MaxPerSubscription of one subscription at once
// (10), so that a slow endpoint cannot take every slot. It holds at most
// twice MaxPerSubscription of one subscription (attempting, or waiting for
// one of its slots), and a claim asks for no more than the subscription
// holding the most may still take, so that a backlog of one subscription is
// claimed without waste. The store claims the earliest due first, whoever
// they belong to; so that the deliveries of other subscriptions due behind
// a slow one's backlog are reached, one claim per poll interval asks for
// MaxPerSubscription even when that subscription is full. What such a claim
// gets beyond a subscription's limit is abandoned: nothing is recorded, and
// its claim is released (ReleaseDelivery) to be due again after a few poll
// intervals, so that the next claims reach past it. A delivery waiting for
// a slot is abandoned too, and due again at once, when its lease no longer
// leaves time for a whole attempt, or when the dispatcher stops.
//
// Claims follow one another at once while they fill up; otherwise the next
// comes after the poll interval (1 s), when Wake is called (a create in the
// same process), or when deliveries held are done and half of
// MaxPerSubscription can be claimed.
//
// # Retries and health
//
// A 2xx answer succeeds. Any other status (3xx included: redirects are never
// followed), a timeout or a connection error fails the attempt, and the
// delivery is due again after triggers.NextDeliveryRetry (the schedule of
// DESIGN §11.2, or the receiver's Retry-After on 429 and 503); after
// triggers.MaxDeliveryAttempts attempts it is failed. A failure starts the
// subscription's FailingSince when it is not set, a success clears it, and a
// failure SubscriptionDisableAfter (5 days) after FailingSince disables the
// subscription. An event that no longer exists (deleted, expired) fails its
// delivery at once, without a request, and does not count against the
// subscription's health.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/egress"
	"github.com/triggersapi/triggers/internal/version"
)

// Defaults of Config.
const (
	DefaultMaxInFlight        = 50
	DefaultMaxPerSubscription = 10
	DefaultLeaseDuration      = 60 * time.Second
	DefaultPollInterval       = time.Second
	DefaultDrainTimeout       = 20 * time.Second
	// StopBeforeDeadline is how long before RunUntil's deadline claiming
	// stops, so that an attempt started just before (15 s at most) and its
	// record finish in time.
	StopBeforeDeadline = 20 * time.Second
)

// completionMargin is the time an attempt needs beyond its request to be
// recorded: a delivery waiting for a slot starts its attempt only while its
// lease still has the request's timeout and this left.
const completionMargin = 5 * time.Second

// EventSource gives the dispatcher the events it delivers, presented as the
// API presents them, and acknowledges them for subscriptions with
// ack_on_delivery. *triggers.Service implements it.
type EventSource interface {
	GetEvent(ctx context.Context, tenant, id string) (triggers.Event, error)
	AckEvent(ctx context.Context, tenant, id, leaseID string) (triggers.Event, error)
}

// Backlog is implemented by stores that can count their pending deliveries
// cheaply (a bounded read): pending is the number of pending deliveries of
// every tenant, oldestDue the NextAttemptAt of the earliest due (zero when
// none is pending). The backlog gauges (NewBacklogCollector) read it.
type Backlog interface {
	DeliveryBacklog(ctx context.Context, now time.Time) (pending int64, oldestDue time.Time, err error)
}

// Config configures a Dispatcher. Store, Events and Client are required;
// every other field has a default.
type Config struct {
	Store  triggers.WebhookStore
	Events EventSource
	// Client sends the deliveries: egress.NewClient's, which checks every
	// destination, never follows redirects and times out after 15 s.
	Client *http.Client
	// Now is the clock of attempts, schedules and leases; default
	// time.Now. The latency of an attempt is measured on the real clock.
	Now func() time.Time
	// Rand is the jitter source of the retry schedule (a number in
	// [0, 1)); nil means math/rand/v2.
	Rand func() float64
	// Logger gets one line per attempt; default: none.
	Logger *slog.Logger
	// Metrics counts the attempts (NewMetrics); nil for none.
	Metrics *Metrics
	// MaxInFlight bounds the deliveries held at once (attempting or
	// waiting for their subscription's slot); default 50.
	MaxInFlight int
	// MaxPerSubscription bounds the attempts to one subscription at once;
	// default 10 (DESIGN §11.2).
	MaxPerSubscription int
	// LeaseDuration is how long a claim holds its deliveries; default 60 s.
	// It must exceed the client's timeout plus a few seconds.
	LeaseDuration time.Duration
	// PollInterval is the wait between claims when the last one did not
	// fill up; default 1 s.
	PollInterval time.Duration
	// DrainTimeout bounds how long Run waits for the attempts in flight
	// once its context ends; default 20 s. Attempts still running then
	// are cancelled (their leases expire and they are attempted again).
	DrainTimeout time.Duration
	// UserAgent is sent with every delivery; default "Triggers/" + the
	// build's version.
	UserAgent string
}

// Dispatcher delivers due webhook deliveries. Run (or RunUntil) is its
// loop; RunOnce is one step of it, for tests. A Dispatcher runs one loop at
// a time; it is safe for concurrent use otherwise.
type Dispatcher struct {
	cfg      Config
	client   *http.Client
	logger   *slog.Logger
	metrics  *Metrics
	rand     func() float64
	timeout  time.Duration // of one request
	slots    chan struct{} // one per delivery held (MaxInFlight)
	released chan struct{} // signalled when a slot is given back
	wake     chan struct{} // signalled by Wake
	wg       sync.WaitGroup

	mu   sync.Mutex
	subs map[subKey]*subSlots
}

type subKey struct{ tenant, id string }

// subSlots bounds the attempts to one subscription: sem holds a token per
// attempt running; users counts the deliveries holding the entry (running
// or waiting), which is dropped when it reaches 0.
type subSlots struct {
	sem   chan struct{}
	users int
	// latency is a moving average of its attempts' durations (guarded by
	// Dispatcher.mu), from which drainTime estimates how soon it can take
	// a delivery it has no room for.
	latency time.Duration
}

// New returns a Dispatcher for cfg, its defaults applied. It panics when
// Store, Events or Client is missing (a programming error).
func New(cfg Config) *Dispatcher {
	if cfg.Store == nil || cfg.Events == nil || cfg.Client == nil {
		panic("dispatch: New needs Store, Events and Client")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxPerSubscription <= 0 {
		cfg.MaxPerSubscription = DefaultMaxPerSubscription
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Triggers/" + version.String()
	}
	timeout := cfg.Client.Timeout
	if timeout <= 0 {
		timeout = egress.DeliveryTimeout
	}
	return &Dispatcher{cfg: cfg, client: cfg.Client, logger: cfg.Logger, metrics: cfg.Metrics, rand: cfg.Rand,
		timeout: timeout, slots: make(chan struct{}, cfg.MaxInFlight), released: make(chan struct{}, 1), wake: make(chan struct{}, 1),
		subs: map[subKey]*subSlots{}}
}

// now reads the clock as the service does: UTC, to the microsecond, the
// precision the stores keep.
func (d *Dispatcher) now() time.Time { return d.cfg.Now().UTC().Truncate(time.Microsecond) }

// Run claims and attempts due deliveries until ctx ends, then stops
// claiming, abandons the deliveries still waiting for a slot, and waits for
// the attempts in flight, up to Config.DrainTimeout (then cancels them). It
// returns nil once stopped.
func (d *Dispatcher) Run(ctx context.Context) error {
	return d.run(ctx, ctx, time.Time{})
}

// RunUntil is Run for a process that must be done by deadline (a Lambda
// invocation): it stops claiming StopBeforeDeadline before it, or when ctx
// ends, and waits for the attempts in flight until a second before it.
func (d *Dispatcher) RunUntil(ctx context.Context, deadline time.Time) error {
	claimCtx, cancel := context.WithDeadline(ctx, deadline.Add(-StopBeforeDeadline))
	defer cancel()
	return d.run(ctx, claimCtx, deadline.Add(-time.Second))
}

// run claims until claimCtx ends, then waits for the attempts in flight
// until drainBy, or for DrainTimeout when drainBy is zero.
func (d *Dispatcher) run(ctx, claimCtx context.Context, drainBy time.Time) error {
	// Attempts outlive claiming: they end on their own or at the drain bound.
	attemptCtx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAttempts()
	why := wokenByPoll // the first claim is as after a poll
	for claimCtx.Err() == nil {
		res, err := d.step(claimCtx, attemptCtx, why)
		switch {
		case err != nil:
			if claimCtx.Err() == nil {
				d.logger.Warn("webhook dispatcher: claiming deliveries failed", slog.Any("error", err))
			}
		case res.full && res.kept > 0:
			why = wokenByWake
			continue // more may be due at once
		}
		why = d.sleep(claimCtx)
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	drain := d.cfg.DrainTimeout
	if !drainBy.IsZero() {
		drain = max(time.Until(drainBy), 0)
	}
	t := time.NewTimer(drain)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		d.logger.Warn("webhook dispatcher: attempts still running at the end of the drain are cancelled")
		cancelAttempts()
		<-done
	}
	return nil
}

// What ended a wait for the next claim.
type wokenBy int

const (
	wokenByPoll    wokenBy = iota // the poll interval passed
	wokenByWake                   // Wake: new deliveries are due
	wokenByRelease                // a delivery held was done
)

// sleep waits for the poll interval, ctx's end, a Wake or a slot given
// back, and says which came.
func (d *Dispatcher) sleep(ctx context.Context) wokenBy {
	t := time.NewTimer(d.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		return wokenByPoll
	case <-d.released:
		return wokenByRelease
	case <-d.wake:
	}
	return wokenByWake
}

// Wake makes Run claim at once if it is waiting for its next poll: new
// deliveries are due (triggers.WebhookOptions.EventsStored). It never
// blocks; wakes while a claim runs make the next one follow at once.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// RunOnce claims the due deliveries once (as many as there are free slots)
// and attempts them, returning when every one of them is done (attempted or
// abandoned): one step of Run, which tests drive with a fake clock. It
// returns how many deliveries it claimed. It must not run beside Run.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	res, err := d.step(ctx, ctx, wokenByPoll)
	d.wg.Wait()
	return res.claimed, err
}

// stepResult is what one claim did.
type stepResult struct {
	claimed int
	full    bool // the claim got all it asked for
	kept    int  // claimed deliveries not abandoned at once
}

// step claims due deliveries and starts them. Waiters stop waiting when
// claimCtx ends; attempts run under attemptCtx.
//
// A claim asks for no more than the free slots, and no more than the
// fullest subscription held may still take (holdCap less what it holds),
// so that a claim of only its deliveries abandons none. After a poll
// interval (and at the first claim), it asks for at least
// MaxPerSubscription (slots permitting) even so: that claim may abandon
// deliveries of a full subscription, which is how the deliveries of
// others due behind a slow subscription's backlog are reached. After a
// delivery is done, it waits until half of MaxPerSubscription can be
// claimed, so that a busy subscription's backlog is claimed in batches
// rather than one store write per delivery.
func (d *Dispatcher) step(claimCtx, attemptCtx context.Context, why wokenBy) (stepResult, error) {
	free := cap(d.slots) - len(d.slots) // only step takes slots: free can only grow meanwhile
	n := min(free, d.room())
	switch why {
	case wokenByPoll:
		n = max(n, min(free, d.cfg.MaxPerSubscription))
	case wokenByRelease:
		if n < max(d.cfg.MaxPerSubscription/2, 1) {
			n = 0
		}
	}
	if n <= 0 {
		return stepResult{}, nil
	}
	for range n {
		d.slots <- struct{}{}
	}
	now := d.now()
	q := triggers.ClaimQuery{Now: now, Max: n, LeaseIDs: make([]string, n), LeaseExpiresAt: now.Add(d.cfg.LeaseDuration)}
	for i := range q.LeaseIDs {
		q.LeaseIDs[i] = triggers.NewLeaseID()
	}
	dels, err := d.cfg.Store.ClaimDeliveries(claimCtx, q)
	if err != nil {
		dels = nil
	}
	d.unreserve(n - len(dels))
	res := stepResult{claimed: len(dels), full: len(dels) == n}
	for _, del := range dels {
		s, ok := d.join(subKey{del.Tenant, del.SubscriptionID})
		if !ok {
			d.abandon(del, "its subscription holds as many deliveries as it may (attempting and waiting)", d.drainTime(s))
			d.unreserve(1)
			continue
		}
		res.kept++
		d.wg.Add(1)
		go d.handle(claimCtx, attemptCtx, del, s)
	}
	return res, err
}

// unreserve gives back n slots step took and did not use, without waking
// the loop: a claim right after would find the same.
func (d *Dispatcher) unreserve(n int) {
	for range n {
		<-d.slots
	}
}

// release gives back the slot of a delivery done, and wakes the loop.
func (d *Dispatcher) release() {
	<-d.slots
	select {
	case d.released <- struct{}{}:
	default:
	}
}

// holdCap is how many deliveries of one subscription a dispatcher holds at
// most: MaxPerSubscription attempting, as many waiting for a slot.
func (d *Dispatcher) holdCap() int { return 2 * d.cfg.MaxPerSubscription }

// room is how many more deliveries the subscription holding the most may
// take.
func (d *Dispatcher) room() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	most := 0
	for _, s := range d.subs {
		most = max(most, s.users)
	}
	return d.holdCap() - most
}

// join takes a place among the deliveries of subscription k, unless it
// holds holdCap already (then it returns the subscription and false).
func (d *Dispatcher) join(k subKey) (*subSlots, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.subs[k]
	if s == nil {
		s = &subSlots{sem: make(chan struct{}, d.cfg.MaxPerSubscription)}
		d.subs[k] = s
	}
	if s.users >= d.holdCap() {
		return s, false
	}
	s.users++
	return s, true
}

// leave gives back the place join took.
func (d *Dispatcher) leave(k subKey, s *subSlots) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(d.subs, k)
	}
}

// handle waits for a slot of the delivery's subscription, if it can, and
// attempts the delivery.
func (d *Dispatcher) handle(claimCtx, attemptCtx context.Context, del triggers.Delivery, s *subSlots) {
	defer d.wg.Done()
	defer d.release()
	defer d.leave(subKey{del.Tenant, del.SubscriptionID}, s)
	select {
	case s.sem <- struct{}{}:
	default:
		// Wait only while the lease leaves time for a whole attempt.
		wait := del.LeaseExpiresAt.Sub(d.now()) - d.timeout - completionMargin
		if wait <= 0 {
			d.abandon(del, "its subscription's slots are busy and its lease has no time left for an attempt", 0)
			return
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case s.sem <- struct{}{}:
		case <-t.C:
			d.abandon(del, "its subscription's slots stayed busy while its lease had time for an attempt", 0)
			return
		case <-claimCtx.Done():
			d.abandon(del, "the dispatcher is stopping", 0)
			return
		}
	}
	defer func() { <-s.sem }()
	start := time.Now() // the endpoint's pace, not a schedule: the real clock
	d.attempt(attemptCtx, del)
	d.mu.Lock()
	s.latency += (time.Since(start) - s.latency) / 4
	d.mu.Unlock()
}

// drainTime is how long a subscription that has no room for a claimed
// delivery will take to get through what it holds, at the pace of its
// recent attempts: the claim is released to be due again then. At least a
// poll interval, so that the claims meanwhile reach past it to other
// subscriptions' deliveries; at most a lease, what an unreleased claim
// would wait. A burst to a fast endpoint is so taken again within a
// second or so, while a hanging endpoint's backlog is skipped for a lease.
func (d *Dispatcher) drainTime(s *subSlots) time.Duration {
	d.mu.Lock()
	wait := time.Duration(s.users) * s.latency / time.Duration(d.cfg.MaxPerSubscription)
	d.mu.Unlock()
	return min(max(wait, d.cfg.PollInterval), d.cfg.LeaseDuration)
}

// abandon leaves a claimed delivery unattempted and releases its claim, so
// that it is due again after dueIn rather than when its lease expires
// (should the release fail, the lease still expires).
func (d *Dispatcher) abandon(del triggers.Delivery, why string, dueIn time.Duration) {
	d.metrics.abandoned()
	ctx, cancel := context.WithTimeout(context.Background(), completionMargin)
	defer cancel()
	err := d.cfg.Store.ReleaseDelivery(ctx, del.Key(), del.LeaseID, d.now().Add(dueIn))
	attrs := []any{slog.String("tenant", del.Tenant), slog.String("subscription_id", del.SubscriptionID),
		slog.String("event_id", del.EventID), slog.String("reason", why), slog.Duration("due_in", dueIn)}
	if err != nil && triggers.ErrorCode(err) != triggers.ECONFLICT && triggers.ErrorCode(err) != triggers.ENOTFOUND {
		d.logger.Warn("webhook delivery abandoned until its lease expires: the release failed", append(attrs, slog.Any("error", err))...)
		return
	}
	d.logger.Debug("webhook delivery abandoned and released", attrs...)
}

// errNoChange tells UpdateSubscription that nothing is to be written.
var errNoChange = errors.New("dispatch: no change")
