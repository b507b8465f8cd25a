package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/mockstore"
	"github.com/triggersapi/triggers/internal/teststore"
)

// TestOpen_SQLiteMetrics checks that a server on the embedded store exports
// its group commits and where its inbox pages came from, with values that
// follow the requests made.
func TestOpen_SQLiteMetrics(t *testing.T) {
	a, err := Open(Config{DataDir: t.TempDir(), RateLimiter: "off", DevKey: "metrics-key-0123456789"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Server.Handler())
	defer srv.Close()
	do := func(method, path, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", "metrics-key-0123456789")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
		}
		return string(b)
	}
	for range 3 {
		do("POST", "/v1/events", `{"source":"s","event_type":"t","payload":{"n":1}}`)
	}
	for range 2 { // the first page of 1 from the database, then from memory
		do("GET", "/v1/inbox?limit=1", "")
	}
	metrics := do("GET", "/metrics", "")
	for _, want := range []string{
		"triggers_sqlite_commits_total ",
		"triggers_sqlite_committed_writes_total ",
		`triggers_sqlite_inbox_pages_total{from="database"} 1`,
		`triggers_sqlite_inbox_pages_total{from="memory"} 1`,
		"triggers_events_pending 3\n", // the backlog gauges of issue 15, from the store's TotalStats
		"triggers_oldest_pending_age_seconds ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no line starting %q", want)
		}
	}
	if strings.Contains(metrics, "triggers_sqlite_committed_writes_total 0\n") {
		t.Errorf("/metrics counts no committed writes after 3 creates")
	}
}

// totalingStore is a store that sums its statistics (triggers.StatsTotaler)
// with answers set by the test, counting the calls.
type totalingStore struct {
	mockstore.Store
	mu                   sync.Mutex
	calls                int
	stats                triggers.TotalStats
	err                  error
	gotNow, gotNotBefore time.Time
}

func (s *totalingStore) TotalStats(_ context.Context, now, notBefore time.Time) (triggers.TotalStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.gotNow, s.gotNotBefore = now, notBefore
	return s.stats, s.err
}

func (s *totalingStore) set(st triggers.TotalStats, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats, s.err = st, err
}

func (s *totalingStore) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// backlogGauges scrapes reg and returns the two backlog gauges as text
// ("pending=N age=S"), "absent" when neither is there.
func backlogGauges(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if n := f.GetName(); n == "triggers_events_pending" || n == "triggers_oldest_pending_age_seconds" {
			if len(f.GetMetric()) != 1 || len(f.GetMetric()[0].GetLabel()) != 0 {
				t.Fatalf("%s has %d series (labels %v), want one without labels", n, len(f.GetMetric()), f.GetMetric())
			}
			got[n] = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	switch len(got) {
	case 0:
		return "absent"
	case 2:
		return fmt.Sprintf("pending=%g age=%g", got["triggers_events_pending"], got["triggers_oldest_pending_age_seconds"])
	}
	t.Fatalf("backlog gauges = %v, want both or neither", got)
	return ""
}

// TestStatsMetrics_CachedForAFewSeconds: the backlog gauges ask the store
// at most once per statsMetricsTTL, however many scrapes, concurrent ones
// included; the age grows between store calls; a failing store leaves the
// gauges out (not zero) and is not asked again until the TTL has passed.
func TestStatsMetrics_CachedForAFewSeconds(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := teststore.NewClock(t0)
	store := &totalingStore{}
	store.set(triggers.TotalStats{Pending: 12, OldestPending: t0.Add(-90 * time.Second)}, nil)
	svc := triggers.NewService(store, &triggers.Options{Now: clock.Now, Retention: 48 * time.Hour})
	reg := prometheus.NewRegistry()
	if !registerStatsMetrics(reg, store, svc, slog.New(slog.DiscardHandler)) {
		t.Fatal("registerStatsMetrics() = false for a StatsTotaler")
	}

	steps := []struct {
		name    string
		advance time.Duration
		set     *triggers.TotalStats
		err     error
		want    string
		calls   int
	}{
		{"first scrape asks", 0, nil, nil, "pending=12 age=90", 1},
		{"within the TTL: cached, the age grows", 4 * time.Second, &triggers.TotalStats{Pending: 20, OldestPending: t0}, nil, "pending=12 age=94", 1},
		{"TTL passed: asked again", time.Second, nil, nil, "pending=20 age=5", 2},
		{"store fails: gauges left out", statsMetricsTTL, nil, errors.New("throttled"), "absent", 3},
		{"failure cached too", time.Second, &triggers.TotalStats{Pending: 1, OldestPending: t0}, nil, "absent", 3},
		{"store back", statsMetricsTTL, nil, nil, "pending=1 age=16", 4},
		{"nothing pending: age 0", statsMetricsTTL, &triggers.TotalStats{}, nil, "pending=0 age=0", 5},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		if s.set != nil || s.err != nil {
			st := store.stats
			if s.set != nil {
				st = *s.set
			}
			store.set(st, s.err)
		}
		if got := backlogGauges(t, reg); got != s.want || store.callCount() != s.calls {
			t.Fatalf("%s: gauges %s after %d store calls, want %s after %d", s.name, got, store.callCount(), s.want, s.calls)
		}
	}
	if now := clock.Now(); !store.gotNow.Equal(now) || !store.gotNotBefore.Equal(now.Add(-48*time.Hour)) {
		t.Errorf("TotalStats(now %v, notBefore %v), want %v and the retention before it", store.gotNow, store.gotNotBefore, now)
	}

	// Concurrent scrapes after the TTL share one store call.
	clock.Advance(statsMetricsTTL)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := store.callCount(); got != 6 {
		t.Errorf("8 concurrent scrapes made %d store calls in all, want 6 (one more)", got)
	}
}

// TestStatsMetrics_OnlyWhenTheStoreTotals: a store that cannot sum its
// statistics cheaply gets no backlog gauges (rather than gauges counted
// by scanning).
func TestStatsMetrics_OnlyWhenTheStoreTotals(t *testing.T) {
	store := &mockstore.Store{}
	reg := prometheus.NewRegistry()
	if registerStatsMetrics(reg, store, triggers.NewService(store, nil), slog.New(slog.DiscardHandler)) {
		t.Fatal("registerStatsMetrics() = true for a store without TotalStats")
	}
	if got := backlogGauges(t, reg); got != "absent" {
		t.Fatalf("gauges = %s, want none registered", got)
	}
}
