package teststore_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggersapi/triggers/internal/teststore"
)

// recorder is a testing.TB that records how a helper ended the test instead
// of ending the real one: Skip and Fatal stop the helper's goroutine, as the
// real ones do.
type recorder struct {
	testing.TB
	ended string // "", "skip: ..." or "fatal: ..."
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.ended = "skip: " + fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }
func (r *recorder) Fatal(args ...any) {
	r.ended = "fatal: " + fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

// run calls f with a recorder on its own goroutine (Goexit ends only that)
// and returns what f returned and how the recorder was ended.
func run(t *testing.T, f func(testing.TB) string) (got, ended string) {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = f(r)
	}()
	<-done
	return got, r.ended
}

func TestMustEndpoint(t *testing.T) {
	for _, tt := range []struct {
		name, endpoint, ci string
		want, wantEnded    string // wantEnded: "" (returned), "skip" or "fatal"
	}{
		{"EndpointSetIsReturned", "http://127.0.0.1:1", "", "http://127.0.0.1:1", ""},
		{"EndpointSetInCIIsReturned", "http://127.0.0.1:1", "true", "http://127.0.0.1:1", ""},
		{"NoEndpointSkips", "", "", "", "skip"},
		{"NoEndpointWithCIOtherThanTrueSkips", "", "1", "", "skip"},
		{"NoEndpointInCIFails", "", "true", "", "fatal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TRIGGERS_DYNAMODB_ENDPOINT", tt.endpoint)
			t.Setenv("CI", tt.ci)
			got, ended := run(t, teststore.MustEndpoint)
			if got != tt.want {
				t.Errorf("MustEndpoint() = %q, want %q", got, tt.want)
			}
			if kind, _, _ := strings.Cut(ended, ":"); kind != tt.wantEnded {
				t.Errorf("MustEndpoint() ended the test with %q, want %q", ended, tt.wantEnded)
			}
		})
	}
}

func TestOpen_UnknownStoreFails(t *testing.T) {
	t.Setenv("TRIGGERS_TEST_STORE", "mongodb")
	_, ended := run(t, func(tb testing.TB) string { teststore.Open(tb, "x"); return "" })
	if kind, _, _ := strings.Cut(ended, ":"); kind != "fatal" {
		t.Fatalf("Open() with TRIGGERS_TEST_STORE=mongodb ended with %q, want a failure", ended)
	}
}

var c0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestClock(t *testing.T) {
	for _, tt := range []struct {
		name       string
		do         func(c *teststore.Clock)
		want       time.Time
		wantSleeps []time.Duration
	}{
		{"StandsStill", func(c *teststore.Clock) {}, c0, nil},
		{"Advance", func(c *teststore.Clock) { c.Advance(time.Second); c.Advance(2 * time.Second) }, c0.Add(3 * time.Second), nil},
		{"AdvanceBackwards", func(c *teststore.Clock) { c.Advance(-time.Hour) }, c0.Add(-time.Hour), nil},
		{"Set", func(c *teststore.Clock) { c.Advance(time.Hour); c.Set(c0.Add(time.Minute)) }, c0.Add(time.Minute), nil},
		{"SleepAdvancesAndIsRecorded", func(c *teststore.Clock) {
			c.Sleep(context.Background(), 30*time.Second)
			c.Sleep(context.Background(), time.Second)
		}, c0.Add(31 * time.Second), []time.Duration{30 * time.Second, time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := teststore.NewClock(c0)
			tt.do(c)
			if got := c.Now(); !got.Equal(tt.want) {
				t.Errorf("Now() = %v, want %v", got, tt.want)
			}
			if got := c.Sleeps(); fmt.Sprint(got) != fmt.Sprint(tt.wantSleeps) {
				t.Errorf("Sleeps() = %v, want %v", got, tt.wantSleeps)
			}
		})
	}
}

// TestClock_ConcurrentUse moves the clock from several goroutines while
// others read it (run with -race): every move counts.
func TestClock_ConcurrentUse(t *testing.T) {
	c := teststore.NewClock(c0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Millisecond)
				c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), c0.Add(800*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Now() after 800 concurrent Advance(1ms) = %v, want %v", got, want)
	}
}

// TestLogBuffer_ConcurrentWritesKeepEveryLine writes whole lines from
// several goroutines while another reads (run with -race): every line is
// there once and none is torn.
func TestLogBuffer_ConcurrentWritesKeepEveryLine(t *testing.T) {
	var b teststore.LogBuffer
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "g%d line %d\n", g, i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l, "g%d line %d", &g, &i); err != nil || seen[l] {
			t.Fatalf("torn or repeated line %q (err %v)", l, err)
		}
		seen[l] = true
	}
}
