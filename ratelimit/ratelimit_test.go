package ratelimit_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/triggersapi/triggers/ratelimit"
)

// Fixed instants, ten seconds apart. With limit 3 a request costs 20s
// (two instants) and the whole bucket is 60s (six instants).
var (
	t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(1 * 10 * time.Second)
	t2 = t0.Add(2 * 10 * time.Second)
	t3 = t0.Add(3 * 10 * time.Second)
	t4 = t0.Add(4 * 10 * time.Second)
	t5 = t0.Add(5 * 10 * time.Second)
	t6 = t0.Add(6 * 10 * time.Second)
	t7 = t0.Add(7 * 10 * time.Second)
	t8 = t0.Add(8 * 10 * time.Second)
	t9 = t0.Add(9 * 10 * time.Second)
)

// step is one request at t under limit and the decision it must get.
type step struct {
	t          time.Time
	limit      int
	ok         bool
	remaining  int
	reset      time.Time
	retryAfter time.Duration // checked only when !ok
}

// run plays steps in order from the state tat, threading the state, and
// reports the first step whose decision differs. It returns the last state.
func run(t *testing.T, tat time.Time, steps []step) time.Time {
	t.Helper()
	for i, s := range steps {
		d, next := ratelimit.Decide(tat, s.limit, s.t)
		if d.Allowed != s.ok || d.Limit != s.limit || d.Remaining != s.remaining ||
			!d.Reset.Equal(s.reset) || (!s.ok && d.RetryAfter != s.retryAfter) {
			t.Fatalf("step %d: Decide(tat=%s, limit=%d, now=%s) = {Allowed:%v Limit:%d Remaining:%d Reset:%s RetryAfter:%v}, want {Allowed:%v Limit:%d Remaining:%d Reset:%s RetryAfter:%v}",
				i, rel(tat), s.limit, rel(s.t),
				d.Allowed, d.Limit, d.Remaining, rel(d.Reset), d.RetryAfter,
				s.ok, s.limit, s.remaining, rel(s.reset), s.retryAfter)
		}
		if !s.ok && !next.Equal(tat) && !tat.IsZero() {
			t.Fatalf("step %d: refused request changed the state from %s to %s", i, rel(tat), rel(next))
		}
		if s.ok && d.RetryAfter != 0 {
			t.Fatalf("step %d: admitted with RetryAfter %v, want 0", i, d.RetryAfter)
		}
		tat = next
	}
	return tat
}

// rel prints an instant relative to t0, which keeps failures readable.
func rel(x time.Time) string {
	if x.IsZero() {
		return "zero"
	}
	return "t0" + signed(x.Sub(t0))
}

func signed(d time.Duration) string {
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// burst admits n requests of a fresh key at now and returns the state.
func burst(t *testing.T, tat time.Time, limit, n int, now time.Time) time.Time {
	t.Helper()
	for i := range n {
		d, next := ratelimit.Decide(tat, limit, now)
		if !d.Allowed {
			t.Fatalf("burst: request %d of %d under limit %d at %s refused (RetryAfter %v)", i+1, n, limit, rel(now), d.RetryAfter)
		}
		tat = next
	}
	return tat
}

func TestInterval(t *testing.T) {
	for _, tt := range []struct {
		limit int
		want  time.Duration
	}{
		{1, time.Minute},
		{3, 20 * time.Second},
		{60, time.Second},
		{1000, 60 * time.Millisecond},
		{7, 8571428571 * time.Nanosecond},
		{1_000_000, 60 * time.Microsecond},
	} {
		if got := ratelimit.Interval(tt.limit); got != tt.want {
			t.Errorf("Interval(%d) = %v, want %v", tt.limit, got, tt.want)
		}
	}
}

func TestDecide_freshKey(t *testing.T) {
	for _, limit := range []int{1, 2, 3, 7, 60, 100, 1000, 1_000_000} {
		d, tat := ratelimit.Decide(time.Time{}, limit, t0)
		T := ratelimit.Interval(limit)
		if !d.Allowed || d.Limit != limit || d.Remaining != limit-1 ||
			!d.Reset.Equal(t0.Add(T)) || d.RetryAfter != 0 || !tat.Equal(t0.Add(T)) {
			t.Errorf("limit %d: fresh key: got %+v, state %s; want Allowed, Remaining %d, Reset = state = t0+%v",
				limit, d, rel(tat), limit-1, T)
		}
	}
}

func TestDecide_burstAndRefill(t *testing.T) {
	const L = 3 // T = 20s
	run(t, time.Time{}, []step{
		{t0, L, true, 2, t2, 0},
		{t0, L, true, 1, t4, 0},
		{t0, L, true, 0, t6, 0},                                               // exactly L admitted
		{t0, L, false, 0, t6, 20 * time.Second},                               // L+1th: RetryAfter = T
		{t0, L, false, 0, t6, 20 * time.Second},                               // still, and no state change
		{t1, L, false, 0, t6, 10 * time.Second},                               // half way to the next token
		{t2, L, true, 0, t8, 0},                                               // after T, one more
		{t2, L, false, 0, t8, 20 * time.Second},                               // and only one
		{t3, L, false, 0, t8, 10 * time.Second},                               //
		{t4, L, true, 0, t0.Add(100 * time.Second), 0},                        // another T, another one
		{t0.Add(160 * time.Second), L, true, 2, t0.Add(180 * time.Second), 0}, // a whole window idle: full again
		{t0.Add(160 * time.Second), L, true, 1, t0.Add(200 * time.Second), 0},
	})
}

func TestDecide_slowTrafficStaysFull(t *testing.T) {
	const L = 3
	// One request per T or slower never drains the bucket below L-1.
	run(t, time.Time{}, []step{
		{t0, L, true, 2, t2, 0},
		{t2, L, true, 2, t4, 0},
		{t4, L, true, 2, t6, 0},
		{t7, L, true, 2, t9, 0},
		{t9, L, true, 2, t9.Add(20 * time.Second), 0},
	})
}

func TestDecide_partialRefill(t *testing.T) {
	const L = 3
	run(t, time.Time{}, []step{
		{t0, L, true, 2, t2, 0},
		{t0, L, true, 1, t4, 0},
		{t0, L, true, 0, t6, 0},
		{t4, L, true, 1, t8, 0}, // 40s = two tokens back, one spent
		{t4, L, true, 0, t0.Add(100 * time.Second), 0},
		{t4, L, false, 0, t0.Add(100 * time.Second), 20 * time.Second},
	})
}

func TestDecide_boundaries(t *testing.T) {
	const L = 3
	us := time.Microsecond
	tat := burst(t, time.Time{}, L, L, t0) // empty, the next at t2
	run(t, tat, []step{
		{t2.Add(-us), L, false, 0, t6, us}, // 1µs before allowAt
		{t2.Add(-1), L, false, 0, t6, 1},   // 1ns before
		{t2, L, true, 0, t8, 0},            // exactly at allowAt
		{t4.Add(-us), L, false, 0, t8, us},
		{t4, L, true, 0, t0.Add(100 * time.Second), 0},
	})
	// Remaining steps up exactly at multiples of T past allowAt.
	tat = burst(t, time.Time{}, L, L, t0)
	for _, tt := range []struct {
		at        time.Time
		remaining int
	}{
		{t2, 0},
		{t4.Add(-1), 0},
		{t4, 1},
		{t6.Add(-1), 1},
		{t6, 2},
		{t9, 2},
	} {
		d, _ := ratelimit.Decide(tat, L, tt.at)
		if !d.Allowed || d.Remaining != tt.remaining {
			t.Errorf("Decide(t6, %d, %s) = %+v, want Allowed with Remaining %d", L, rel(tt.at), d, tt.remaining)
		}
	}
}

func TestDecide_limitOne(t *testing.T) {
	m := time.Minute
	run(t, time.Time{}, []step{
		{t0, 1, true, 0, t0.Add(m), 0},
		{t0, 1, false, 0, t0.Add(m), m},
		{t5, 1, false, 0, t0.Add(m), 10 * time.Second},
		{t0.Add(m - 1), 1, false, 0, t0.Add(m), 1},
		{t0.Add(m), 1, true, 0, t0.Add(2 * m), 0},
		{t0.Add(m), 1, false, 0, t0.Add(2 * m), m},
		{t0.Add(10 * m), 1, true, 0, t0.Add(11 * m), 0},
	})
}

func TestDecide_largeLimit(t *testing.T) {
	const L = 1_000_000
	T := ratelimit.Interval(L) // 60µs
	tat := time.Time{}
	for i := range L {
		d, next := ratelimit.Decide(tat, L, t0)
		if !d.Allowed || d.Remaining != L-1-i {
			t.Fatalf("request %d at t0: %+v, want Allowed with Remaining %d", i+1, d, L-1-i)
		}
		tat = next
	}
	if !tat.Equal(t0.Add(time.Minute)) {
		t.Fatalf("state after %d requests = %s, want t0+1m", L, rel(tat))
	}
	run(t, tat, []step{
		{t0, L, false, 0, t0.Add(time.Minute), T},
		{t0.Add(T - 1), L, false, 0, t0.Add(time.Minute), 1},
		{t0.Add(T), L, true, 0, t0.Add(time.Minute + T), 0},
		{t0.Add(2 * time.Minute), L, true, L - 1, t0.Add(2*time.Minute + T), 0},
	})
}

// A limit that does not divide a minute: T is truncated to whole
// nanoseconds, and the bucket is L*T, a few ns short of a minute.
func TestDecide_unevenLimit(t *testing.T) {
	const L = 7
	T := ratelimit.Interval(L)
	tat := burst(t, time.Time{}, L, L, t0)
	if want := t0.Add(L * T); !tat.Equal(want) {
		t.Fatalf("state after burst = %s, want %s", rel(tat), rel(want))
	}
	run(t, tat, []step{
		{t0, L, false, 0, tat, T},
		{t0.Add(T), L, true, 0, tat.Add(T), 0},
		{t0.Add(T), L, false, 0, tat.Add(T), T},
	})
	d, _ := ratelimit.Decide(tat, L, t0)
	if got := d.RetryAfterSeconds(); got != 9 { // ceil(8.571428571s)
		t.Errorf("RetryAfterSeconds = %d, want 9", got)
	}
}

func TestDecide_refusedLeavesStateUnchanged(t *testing.T) {
	for _, L := range []int{1, 3, 100} {
		tat := burst(t, time.Time{}, L, L, t0)
		T := ratelimit.Interval(L)
		for _, now := range []time.Time{t0, t0.Add(T / 2), t0.Add(T - 1)} {
			d, next := ratelimit.Decide(tat, L, now)
			if d.Allowed || !next.Equal(tat) {
				t.Errorf("limit %d at %s: %+v, state %s → %s; want refused, state unchanged", L, rel(now), d, rel(tat), rel(next))
			}
		}
	}
}

func TestDecisionRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{
		{0, 1},
		{1, 1},
		{time.Microsecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + 1, 2},
		{1500 * time.Millisecond, 2},
		{2 * time.Second, 2},
		{59*time.Second + 1, 60},
		{time.Minute, 60},
	} {
		if got := (ratelimit.Decision{RetryAfter: tt.d}).RetryAfterSeconds(); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// A retry after RetryAfterSeconds whole seconds is admitted, for every
// limit and every point in a refusal; a retry just before RetryAfter is not.
func TestDecide_retryAfterSecondsIsAdmitted(t *testing.T) {
	for _, L := range []int{1, 2, 3, 7, 13, 59, 60, 61, 100, 999, 1000, 1_000_000} {
		T := ratelimit.Interval(L)
		tat := burst(t, time.Time{}, L, min(L, 5000), t0)
		if L > 5000 {
			tat = t0.Add(time.Duration(L) * T) // empty bucket
		}
		for _, off := range []time.Duration{0, 1, T / 3, T / 2, T - time.Second, T - 1} {
			if off < 0 || off >= T {
				continue
			}
			now := t0.Add(off)
			d, next := ratelimit.Decide(tat, L, now)
			if d.Allowed {
				t.Fatalf("limit %d at %s: admitted, want refused", L, rel(now))
			}
			if d.RetryAfter <= 0 || d.RetryAfter > T {
				t.Errorf("limit %d at %s: RetryAfter %v, want in (0, %v]", L, rel(now), d.RetryAfter, T)
			}
			s := d.RetryAfterSeconds()
			if s < 1 || time.Duration(s)*time.Second < d.RetryAfter || time.Duration(s-1)*time.Second >= d.RetryAfter {
				t.Errorf("limit %d: RetryAfterSeconds %d for RetryAfter %v: want ceil, ≥ 1", L, s, d.RetryAfter)
			}
			if r, _ := ratelimit.Decide(next, L, now.Add(time.Duration(s)*time.Second)); !r.Allowed {
				t.Errorf("limit %d: refused at %s, retried after Retry-After %ds: %+v", L, rel(now), s, r)
			}
			if r, _ := ratelimit.Decide(next, L, now.Add(d.RetryAfter)); !r.Allowed {
				t.Errorf("limit %d: refused at %s, retried after RetryAfter %v: %+v", L, rel(now), d.RetryAfter, r)
			}
			if r, _ := ratelimit.Decide(next, L, now.Add(d.RetryAfter-1)); r.Allowed {
				t.Errorf("limit %d: refused at %s, admitted 1ns before RetryAfter %v", L, rel(now), d.RetryAfter)
			}
		}
	}
}

func TestDecisionResetAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		reset time.Time
		want  int
	}{
		{t0.Add(-time.Second), 0},
		{t0, 0},
		{t0.Add(1), 1},
		{t0.Add(time.Second), 1},
		{t0.Add(time.Second + 1), 2},
		{t0.Add(20 * time.Second), 20},
		{t0.Add(time.Minute), 60},
	} {
		if got := (ratelimit.Decision{Reset: tt.reset}).ResetAfterSeconds(t0); got != tt.want {
			t.Errorf("ResetAfterSeconds(now=t0) with Reset %s = %d, want %d", rel(tt.reset), got, tt.want)
		}
	}
}

// Reset is when the bucket is full again: a request at Reset sees
// Remaining L-1, a request just before it sees less.
func TestDecide_resetIsWhenFull(t *testing.T) {
	for _, L := range []int{1, 3, 60, 1000} {
		for _, n := range []int{1, 2, L / 2, L, L + 1} {
			if n < 1 {
				continue
			}
			tat := time.Time{}
			var d ratelimit.Decision
			for range n {
				d, tat = ratelimit.Decide(tat, L, t0)
			}
			if !d.Reset.After(t0) || d.Reset.After(t0.Add(ratelimit.Window)) {
				t.Errorf("limit %d, %d requests: Reset %s, want in (t0, t0+1m]", L, n, rel(d.Reset))
			}
			if got := d.ResetAfterSeconds(t0); got < 1 || got > 60 {
				t.Errorf("limit %d, %d requests: ResetAfterSeconds %d, want in [1, 60]", L, n, got)
			}
			if r, _ := ratelimit.Decide(tat, L, d.Reset); !r.Allowed || r.Remaining != L-1 {
				t.Errorf("limit %d, %d requests: at Reset %s: %+v, want Remaining %d", L, n, rel(d.Reset), r, L-1)
			}
			if r, _ := ratelimit.Decide(tat, L, d.Reset.Add(-1)); r.Allowed && r.Remaining >= L-1 {
				t.Errorf("limit %d, %d requests: 1ns before Reset: %+v, want less than full", L, n, r)
			}
		}
	}
}

func TestDecide_limitLowered(t *testing.T) {
	// The bucket is exhausted at 100; at 10 it is exhausted too: refused
	// until one new interval (6s) has passed.
	tat := burst(t, time.Time{}, 100, 100, t0)
	s := time.Second
	tat = run(t, tat, []step{
		{t0, 10, false, 0, t6, 6 * s},
		{t0.Add(6*s - 1), 10, false, 0, t6, 1},
		{t0.Add(6 * s), 10, true, 0, t0.Add(66 * s), 0},
		{t0.Add(6 * s), 10, false, 0, t0.Add(66 * s), 6 * s},
		{t0.Add(126 * s), 10, true, 9, t0.Add(132 * s), 0}, // full again: Remaining L-1 of the new limit
	})

	// 50 of 100 used: GCRA keeps the time the bucket is full again (30s
	// ahead), i.e. half the window is used, which under 10 is 5 requests.
	tat = burst(t, time.Time{}, 100, 50, t0)
	tat = run(t, tat, []step{
		{t0, 10, true, 4, t0.Add(36 * s), 0},
		{t0, 10, true, 3, t0.Add(42 * s), 0},
		{t0, 10, true, 2, t0.Add(48 * s), 0},
		{t0, 10, true, 1, t0.Add(54 * s), 0},
		{t0, 10, true, 0, t0.Add(60 * s), 0},
		{t0, 10, false, 0, t0.Add(60 * s), 6 * s},
		{t0.Add(5 * s), 10, false, 0, t0.Add(60 * s), s},
		{t0.Add(6 * s), 10, true, 0, t0.Add(66 * s), 0},
	})
	_ = tat

	// 50 of 100 used, then 1: 30s to wait.
	tat = burst(t, time.Time{}, 100, 50, t0)
	run(t, tat, []step{
		{t0, 1, false, 0, t3, 30 * s},
		{t3, 1, true, 0, t9, 0},
	})

	// Whatever the history under 100, Remaining under 10 never exceeds 9
	// and the requests admitted in the next window never exceed 10+1.
	for n := 0; n <= 100; n++ {
		tat := burst(t, time.Time{}, 100, n, t0)
		admitted := 0
		for i := range 600 { // one request every 100ms for a minute
			now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
			d, next := ratelimit.Decide(tat, 10, now)
			if d.Remaining < 0 || d.Remaining > 9 {
				t.Fatalf("after %d under 100, lowered to 10, at %s: Remaining %d", n, rel(now), d.Remaining)
			}
			if d.Allowed {
				admitted++
			}
			tat = next
		}
		if admitted > 10+9 { // L + floor(59.9s / 6s)
			t.Errorf("after %d under 100, lowered to 10: %d admitted in the next minute, want ≤ 19", n, admitted)
		}
	}
}

func TestDecide_limitRaised(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	// Exhausted at 10 is exhausted at 100: the next one 600ms later.
	tat := burst(t, time.Time{}, 10, 10, t0)
	tat = run(t, tat, []step{
		{t0, 100, false, 0, t6, 600 * ms},
		{t0.Add(600 * ms), 100, true, 0, t0.Add(60*s + 600*ms), 0},
		{t0.Add(6600 * ms), 100, true, 9, t0.Add(61*s + 200*ms), 0}, // 6s = 10 new tokens under 100
	})
	_ = tat
	// Half used at 10, half left at 100: 50 more now.
	tat = burst(t, time.Time{}, 10, 5, t0)
	d, _ := ratelimit.Decide(tat, 100, t0)
	if !d.Allowed || d.Remaining != 49 {
		t.Errorf("5 of 10 used, raised to 100: %+v, want Allowed, Remaining 49", d)
	}
	tat = burst(t, tat, 100, 50, t0)
	if d, _ := ratelimit.Decide(tat, 100, t0); d.Allowed {
		t.Errorf("5 of 10 used, raised to 100: 51st admitted at t0")
	}
	// Idle: the new limit in full.
	tat = burst(t, time.Time{}, 10, 3, t0)
	run(t, tat, []step{
		{t2, 100, true, 99, t2.Add(600 * ms), 0},
	})
}

func TestDecide_clockStepsBackwards(t *testing.T) {
	m := time.Minute
	for _, L := range []int{1, 3, 10, 1000} {
		T := ratelimit.Interval(L)
		for _, back := range []time.Duration{time.Second, 30 * time.Second, m, 10 * m, 24 * time.Hour, 10 * 365 * 24 * time.Hour} {
			// The key is exhausted at t0; the clock then reads back earlier.
			tat := burst(t, time.Time{}, L, L, t0)
			now := t0.Add(-back)
			d, next := ratelimit.Decide(tat, L, now)
			if d.Remaining < 0 || d.Remaining > L-1 {
				t.Errorf("limit %d, back %v: Remaining %d", L, back, d.Remaining)
			}
			if d.Reset.After(now.Add(ratelimit.Window)) || d.ResetAfterSeconds(now) > 60 {
				t.Errorf("limit %d, back %v: Reset %v after now, want ≤ 1m", L, back, d.Reset.Sub(now))
			}
			if !d.Allowed {
				if d.RetryAfter <= 0 || d.RetryAfter > T {
					t.Errorf("limit %d, back %v: RetryAfter %v, want in (0, %v]", L, back, d.RetryAfter, T)
				}
				// Never locked out: the retry is admitted, from the state returned.
				if r, _ := ratelimit.Decide(next, L, now.Add(time.Duration(d.RetryAfterSeconds())*time.Second)); !r.Allowed {
					t.Errorf("limit %d, back %v: refused (RetryAfter %v), retry after %ds refused too: %+v",
						L, back, d.RetryAfter, d.RetryAfterSeconds(), r)
				}
			}
			// At most a whole window after the clock stepped back, the key
			// has its full limit again.
			full := now.Add(ratelimit.Window)
			if r, _ := ratelimit.Decide(next, L, full); !r.Allowed || r.Remaining != L-1 {
				t.Errorf("limit %d, back %v: one window later %+v, want full (Remaining %d)", L, back, r, L-1)
			}
		}
	}

	// A state from a clock far ahead: treated as an empty bucket now.
	const L = 3
	tat := t0.Add(24 * time.Hour)
	d, next := ratelimit.Decide(tat, L, t0)
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != 20*time.Second || !d.Reset.Equal(t6) {
		t.Errorf("TAT a day ahead: %+v (Reset %s), want refused, RetryAfter 20s, Reset t6", d, rel(d.Reset))
	}
	// The clamped state must be kept: the stored TAT is a whole window
	// ahead at most, so the retry is admitted.
	if !next.Equal(t6) {
		t.Errorf("TAT a day ahead: state returned %s, want clamped to t6", rel(next))
	}
	run(t, next, []step{
		{t2, L, true, 0, t8, 0},
	})
}

// TestDecide_random plays random request sequences on a monotonic clock and
// checks the properties of every decision and the GCRA bound: in any
// interval [a, b], at most L + floor((b-a)/T) requests are admitted.
func TestDecide_random(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	limits := []int{1, 2, 3, 5, 7, 10, 59, 60, 61, 100, 1000}
	for iter := range 100 {
		L := limits[r.IntN(len(limits))]
		T := ratelimit.Interval(L)
		now := t0
		tat := time.Time{}
		var admitted []time.Time
		for i := range 1000 {
			switch r.IntN(4) {
			case 0: // same instant
			case 1:
				now = now.Add(time.Duration(r.Int64N(int64(T))))
			case 2:
				now = now.Add(time.Duration(r.Int64N(int64(T)/10 + 1)))
			case 3:
				now = now.Add(time.Duration(r.Int64N(int64(2 * time.Minute))))
			}
			d, next := ratelimit.Decide(tat, L, now)
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("iter %d (limit %d) step %d: Decide(%s, %d, %s) = %+v: "+format,
					append([]any{iter, L, i, rel(tat), L, rel(now), d}, args...)...)
			}
			if d.Limit != L {
				fail("Limit")
			}
			if d.Remaining < 0 || d.Remaining > L-1 {
				fail("Remaining out of [0, L-1]")
			}
			if !d.Reset.After(now) || d.Reset.After(now.Add(ratelimit.Window)) {
				fail("Reset out of (now, now+1m]")
			}
			if d.Allowed {
				if d.RetryAfter != 0 {
					fail("RetryAfter on an admitted request")
				}
				if !next.Equal(d.Reset) {
					fail("state %s differs from Reset", rel(next))
				}
				// Remaining is exactly the number of further requests admitted now.
				if L <= 100 || i%50 == 0 {
					s, n := next, 0
					for {
						x, s2 := ratelimit.Decide(s, L, now)
						if !x.Allowed {
							break
						}
						s = s2
						n++
					}
					if n != d.Remaining {
						fail("%d more admitted at the same instant", n)
					}
				}
				admitted = append(admitted, now)
			} else {
				if d.Remaining != 0 {
					fail("refused with Remaining")
				}
				if !next.Equal(tat) && !tat.IsZero() {
					fail("refused request changed the state to %s", rel(next))
				}
				if d.RetryAfter <= 0 || d.RetryAfter > T {
					fail("RetryAfter out of (0, T]")
				}
				if x, _ := ratelimit.Decide(next, L, now.Add(time.Duration(d.RetryAfterSeconds())*time.Second)); !x.Allowed {
					fail("not admitted after RetryAfterSeconds %d", d.RetryAfterSeconds())
				}
				if x, _ := ratelimit.Decide(next, L, now.Add(d.RetryAfter)); !x.Allowed {
					fail("not admitted after RetryAfter")
				}
				if x, _ := ratelimit.Decide(next, L, now.Add(d.RetryAfter-1)); x.Allowed {
					fail("admitted 1ns before RetryAfter")
				}
			}
			tat = next
		}
		for i := range admitted {
			for j := i; j < len(admitted); j++ {
				n := j - i + 1
				bound := L + int(admitted[j].Sub(admitted[i])/T)
				if n > bound {
					t.Fatalf("iter %d (limit %d): %d admitted in [%s, %s], bound L + floor((b-a)/T) = %d",
						iter, L, n, rel(admitted[i]), rel(admitted[j]), bound)
				}
			}
		}
	}
}

// TestDecide_randomBackwards lets the clock jump both ways and the limit
// change, and checks what must hold whatever the clock does.
func TestDecide_randomBackwards(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	limits := []int{1, 3, 10, 100, 1000}
	now := t0
	tat := time.Time{}
	for i := range 20000 {
		L := limits[r.IntN(len(limits))]
		T := ratelimit.Interval(L)
		now = now.Add(time.Duration(r.Int64N(int64(4*time.Minute))) - 2*time.Minute)
		if r.IntN(50) == 0 {
			now = now.Add(-time.Duration(r.Int64N(int64(48 * time.Hour))))
		}
		d, next := ratelimit.Decide(tat, L, now)
		if d.Remaining < 0 || d.Remaining > L-1 || (!d.Allowed && d.Remaining != 0) {
			t.Fatalf("step %d: Decide(%s, %d, %s): Remaining %d", i, rel(tat), L, rel(now), d.Remaining)
		}
		if d.Reset.After(now.Add(ratelimit.Window)) {
			t.Fatalf("step %d: Decide(%s, %d, %s): Reset %v ahead", i, rel(tat), L, rel(now), d.Reset.Sub(now))
		}
		if next.After(now.Add(ratelimit.Window)) {
			t.Fatalf("step %d: Decide(%s, %d, %s): state %v ahead, want ≤ 1m", i, rel(tat), L, rel(now), next.Sub(now))
		}
		if !d.Allowed {
			if d.RetryAfter <= 0 || d.RetryAfter > T {
				t.Fatalf("step %d: Decide(%s, %d, %s): RetryAfter %v", i, rel(tat), L, rel(now), d.RetryAfter)
			}
			if x, _ := ratelimit.Decide(next, L, now.Add(time.Duration(d.RetryAfterSeconds())*time.Second)); !x.Allowed {
				t.Fatalf("step %d: Decide(%s, %d, %s): not admitted after Retry-After %ds", i, rel(tat), L, rel(now), d.RetryAfterSeconds())
			}
		}
		tat = next
	}
}
