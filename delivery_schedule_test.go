package triggers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/triggersapi/triggers"
)

// fixed returns a random source that always answers r.
func fixed(r float64) func() float64 { return func() float64 { return r } }

func TestNextDeliveryDelay(t *testing.T) {
	nominal := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	for k, d := range nominal {
		failed := k + 1
		for _, tt := range []struct {
			r    float64
			want time.Duration
		}{
			{0.5, d},                      // no jitter
			{0, d - d/10},                 // the low bound: -10 %
			{0.999999999, d + d/10},       // the high bound, rounded to the millisecond
			{0.75, d + d/20},              // +5 %
			{-3, d - d/10}, {7, d + d/10}, // a broken source is clamped
		} {
			got, ok := triggers.NextDeliveryDelay(failed, fixed(tt.r))
			if !ok || got != tt.want {
				t.Errorf("NextDeliveryDelay(%d, r=%v) = %v, %v; want %v, true", failed, tt.r, got, ok, tt.want)
			}
		}
	}
	for _, failed := range []int{triggers.MaxDeliveryAttempts, triggers.MaxDeliveryAttempts + 1, 1000} {
		if got, ok := triggers.NextDeliveryDelay(failed, fixed(0.5)); ok {
			t.Errorf("NextDeliveryDelay(%d) = %v, true; want the delivery failed", failed, got)
		}
	}
	if got, ok := triggers.NextDeliveryDelay(0, fixed(0.9)); !ok || got != 0 {
		t.Errorf("NextDeliveryDelay(0) = %v, %v; want 0, true", got, ok)
	}
}

// TestNextDeliveryDelay_DefaultSource: with the real random source every
// delay stays within ±10 % of the schedule.
func TestNextDeliveryDelay_DefaultSource(t *testing.T) {
	for failed := 1; failed < triggers.MaxDeliveryAttempts; failed++ {
		nominal, _ := triggers.NextDeliveryDelay(failed, fixed(0.5))
		for range 200 {
			got, ok := triggers.NextDeliveryDelay(failed, nil)
			if !ok || got < nominal-nominal/10 || got > nominal+nominal/10 {
				t.Fatalf("NextDeliveryDelay(%d, nil) = %v, %v; want within 10 %% of %v", failed, got, ok, nominal)
			}
		}
	}
}

// TestDeliverySchedule_Total: eight attempts span the schedule's sum, about
// 32.6 hours, from the first attempt to the last.
func TestDeliverySchedule_Total(t *testing.T) {
	var total time.Duration
	attempts := 1
	for {
		d, ok := triggers.NextDeliveryDelay(attempts, fixed(0.5))
		if !ok {
			break
		}
		total += d
		attempts++
	}
	want := 5*time.Second + 5*time.Minute + 30*time.Minute + 2*time.Hour + 5*time.Hour + 20*time.Hour
	if attempts != triggers.MaxDeliveryAttempts || total != want {
		t.Fatalf("schedule = %d attempts over %v, want %d over %v", attempts, total, triggers.MaxDeliveryAttempts, want)
	}
}

func TestDelivery_RetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name   string
		status int
		value  string // "" means no header
		want   time.Duration
		ok     bool
	}{
		{"OKSeconds429", 429, "120", 2 * time.Minute, true},
		{"OKSeconds503", 503, "30", 30 * time.Second, true},
		{"OKSpaces", 503, " 30 ", 30 * time.Second, true},
		{"OKExactlyOneHour", 429, "3600", time.Hour, true},
		{"OKDate", 503, date(10 * time.Minute), 10 * time.Minute, true},
		{"OKDateExactlyOneHour", 503, date(time.Hour), time.Hour, true},
		{"OKZeroIsOneSecond", 429, "0", time.Second, true},
		{"OKPastDateIsOneSecond", 503, date(-time.Hour), time.Second, true},
		{"OverOneHourNotHonoured", 429, "3601", 0, false},
		{"DateOverOneHourNotHonoured", 503, date(time.Hour + time.Second), 0, false},
		{"HugeNotHonoured", 429, "99999999999999999999999", 0, false},
		{"NegativeNotHonoured", 429, "-5", 0, false},
		{"FractionNotHonoured", 429, "1.5", 0, false},
		{"GarbageNotHonoured", 503, "soon", 0, false},
		{"NoHeader", 429, "", 0, false},
		{"Status500Ignored", 500, "10", 0, false},
		{"Status200Ignored", 200, "10", 0, false},
		{"Status302Ignored", 302, "10", 0, false},
		{"NoResponse", 0, "10", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			got, ok := triggers.RetryAfter(tt.status, h, now)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("RetryAfter(%d, %q) = %v, %v; want %v, %v", tt.status, tt.value, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNextDeliveryRetry(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ra := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	tests := []struct {
		name   string
		failed int
		status int
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"ScheduleOnError", 3, 0, nil, 30 * time.Minute, true},
		{"ScheduleOn500", 2, 500, ra("10"), 5 * time.Minute, true},
		{"RetryAfterOn429", 2, 429, ra("10"), 10 * time.Second, true},
		{"RetryAfterShorterThanSchedule", 6, 503, ra("600"), 10 * time.Minute, true},
		{"ScheduleWhenRetryAfterTooLong", 1, 503, ra("7200"), 5 * time.Second, true},
		{"FailedAfterLastEvenWithRetryAfter", 8, 429, ra("10"), 0, false},
		{"FailedAfterLast", 8, 500, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := triggers.NextDeliveryRetry(tt.failed, tt.status, tt.header, now, fixed(0.5))
			if got != tt.want || ok != tt.ok {
				t.Fatalf("NextDeliveryRetry(%d, %d) = %v, %v; want %v, %v", tt.failed, tt.status, got, ok, tt.want, tt.ok)
			}
		})
	}
}
