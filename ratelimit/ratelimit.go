// Package ratelimit decides whether a request of an API key is within the
// key's limit of requests per minute.
//
// The algorithm is GCRA (the generic cell rate algorithm, a token bucket
// without a refill timer): a key with limit L may burst L requests from idle,
// and earns one request back every 60s/L. Its whole state is one instant,
// the theoretical arrival time (TAT): the time at which the bucket would be
// full again. Decide is a pure function of (TAT, limit, now), so the
// algorithm is deterministic to test, and any store that can update one
// instant atomically (a mutex, a DynamoDB conditional update) can keep it.
package ratelimit

import (
	"context"
	"time"
)

// Window is the period a limit is expressed in: requests per minute.
const Window = time.Minute

// Decision is the outcome of one request.
type Decision struct {
	Allowed bool
	// Limit is the key's requests per Window.
	Limit int
	// Remaining is how many more requests would be admitted now.
	Remaining int
	// Reset is when Remaining is back to Limit (the bucket is full).
	Reset time.Time
	// RetryAfter, when not Allowed, is how long until a request is admitted.
	RetryAfter time.Duration
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up and at least
// 1, so that a retry after that many seconds is admitted.
func (d Decision) RetryAfterSeconds() int {
	s := int((d.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// ResetAfterSeconds is the time until Reset in whole seconds, rounded up.
func (d Decision) ResetAfterSeconds(now time.Time) int {
	if !d.Reset.After(now) {
		return 0
	}
	return int((d.Reset.Sub(now) + time.Second - 1) / time.Second)
}

// Interval is the time one request costs under limit: Window / limit.
func Interval(limit int) time.Duration { return Window / time.Duration(limit) }

// Decide applies one request to the state tat (the zero time for a key never
// seen) under limit at now, and returns the decision and the state to store.
// When the request is refused the state is unchanged, except that a TAT more
// than a window ahead is clamped (below). limit must be > 0.
//
// A clock that steps backwards is tolerated: a TAT more than a whole window
// ahead of now cannot come from this clock and is clamped, so a key is never
// locked out for longer than one window.
func Decide(tat time.Time, limit int, now time.Time) (Decision, time.Time) {
	t := Interval(limit)
	burst := t * time.Duration(limit) // the whole bucket: one Window, give or take rounding
	if tat.Before(now) {
		tat = now
	}
	if tat.After(now.Add(burst)) {
		tat = now.Add(burst)
	}
	newTAT := tat.Add(t)
	allowAt := newTAT.Add(-burst)
	if now.Before(allowAt) {
		return Decision{Allowed: false, Limit: limit, Remaining: 0, Reset: tat,
			RetryAfter: allowAt.Sub(now)}, tat
	}
	remaining := int(now.Sub(allowAt) / t)
	return Decision{Allowed: true, Limit: limit, Remaining: min(remaining, limit), Reset: newTAT}, newTAT
}

// Limiter keeps the state of every key and decides on requests. A Limiter
// must apply Decide atomically per key: one read-modify-write, with no
// window between the check and the update for another request of the key.
type Limiter interface {
	// Take decides on one request of key under limit at now. An error means
	// the state could not be read or written; the caller decides whether to
	// admit the request (fail open) or not.
	Take(ctx context.Context, key string, limit int, now time.Time) (Decision, error)
}
