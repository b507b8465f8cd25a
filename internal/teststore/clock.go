package teststore

import (
	"context"
	"sync"
	"time"
)

// Clock is a settable clock for tests: it stands still unless advanced or
// set, so that nothing that depends on time (key cache, rate-limit budget,
// retention) moves by itself. Its methods are safe for concurrent use: a
// server's goroutines read it while the test moves it. The zero Clock reads
// the zero time; use NewClock.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time: pass c.Now where a func() time.Time is
// asked for (triggers.Options.Now, dynamodb.Options.Now).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d (backwards if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Sleep advances the clock by d at once instead of waiting, and records d
// (see Sleeps): pass it where a sleep function is asked for
// (client.Options.Sleep). It never fails.
func (c *Clock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

// Sleeps returns the durations passed to Sleep, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
