package triggers

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxDeliveryAttempts is how many times a webhook delivery is attempted
// before it is failed (DESIGN §11.2).
const MaxDeliveryAttempts = 8

// deliveryDelays[k-1] is the nominal wait after failed attempt k.
var deliveryDelays = [MaxDeliveryAttempts - 1]time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// DeliveryJitter is the fraction by which each scheduled delay is moved at
// random, either way, so that deliveries failed together (an endpoint down)
// do not all come back at the same instant.
const DeliveryJitter = 0.10

// MaxRetryAfter is the longest Retry-After a receiver can ask for and be
// obeyed (DESIGN §11.2).
const MaxRetryAfter = time.Hour

// minRetryAfter is the shortest wait a Retry-After can ask for: 0 or a date
// in the past waits this long, so a receiver cannot make deliveries spin.
const minRetryAfter = time.Second

// NextDeliveryDelay returns how long to wait after failed attempt number
// failedAttempts (1-based) before the next one: 5 s, 5 min, 30 min, 2 h, 5 h,
// 10 h and 10 h, each moved by up to ±DeliveryJitter and rounded to the
// millisecond. It returns false after the MaxDeliveryAttempts-th failure:
// the delivery is failed. With no failure yet (failedAttempts < 1) the first
// attempt is due at once: 0, true.
//
// rnd returns a number in [0, 1) (values outside are clamped); nil means
// math/rand/v2.Float64. Tests pass a fixed source.
func NextDeliveryDelay(failedAttempts int, rnd func() float64) (time.Duration, bool) {
	if failedAttempts < 1 {
		return 0, true
	}
	if failedAttempts >= MaxDeliveryAttempts {
		return 0, false
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := min(max(rnd(), 0), 1)
	d := deliveryDelays[failedAttempts-1]
	jittered := time.Duration(float64(d) * (1 + DeliveryJitter*(2*r-1)))
	return jittered.Round(time.Millisecond), true
}

// RetryAfter returns the wait a receiver asked for with a Retry-After
// header, and whether it is to be obeyed instead of the schedule. It is
// obeyed only on a 429 or 503 response, when the header is delta-seconds or
// an HTTP-date (read relative to now), and when the wait is at most
// MaxRetryAfter. A longer wait is not obeyed at all, not even capped: the
// normal schedule applies, as DESIGN §11.2 honours "Retry-After up to 1 h".
// A wait of 0, or a date already past, is obeyed as one second. Attempts are
// counted the same either way: a Retry-After never adds attempts beyond
// MaxDeliveryAttempts.
func RetryAfter(status int, header http.Header, now time.Time) (time.Duration, bool) {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(MaxRetryAfter/time.Second) {
			return 0, false // overflow or over the cap
		}
		d = time.Duration(secs) * time.Second
	} else {
		t, err := http.ParseTime(v)
		if err != nil {
			return 0, false
		}
		d = t.Sub(now)
	}
	if d > MaxRetryAfter {
		return 0, false
	}
	return max(d, minRetryAfter), true
}

// NextDeliveryRetry combines the two rules for a failed attempt: it returns
// the wait before the next attempt after failure number failedAttempts,
// obeying the response's Retry-After when RetryAfter does (status is 0 when
// no response came), and false when the delivery is failed.
func NextDeliveryRetry(failedAttempts, status int, header http.Header, now time.Time, rnd func() float64) (time.Duration, bool) {
	if failedAttempts >= MaxDeliveryAttempts {
		return 0, false
	}
	if d, ok := RetryAfter(status, header, now); ok && failedAttempts >= 1 {
		return d, true
	}
	return NextDeliveryDelay(failedAttempts, rnd)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
