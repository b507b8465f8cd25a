package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
)

// registerSQLiteMetrics exports the embedded store's own counters: group
// commits and the writes they carried (their ratio is the mean batch), and
// inbox pages answered from memory or read from the database.
func registerSQLiteMetrics(reg prometheus.Registerer, db *sqlite.DB) {
	counter := func(name, help string, labels prometheus.Labels, value func(sqlite.WriterStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(value(db.WriterStats())) })
	}
	reg.MustRegister(
		counter("triggers_sqlite_commits_total", "Group commits of the embedded store (each one fsync, except the volatile ones).", nil,
			func(s sqlite.WriterStats) uint64 { return s.Commits }),
		counter("triggers_sqlite_committed_writes_total", "Writes carried by those commits.", nil,
			func(s sqlite.WriterStats) uint64 { return s.CommittedOps }),
		counter("triggers_sqlite_volatile_commits_total", "Commits of leases only, without an fsync (DESIGN §10.5).", nil,
			func(s sqlite.WriterStats) uint64 { return s.VolatileCommits }),
		counter("triggers_sqlite_inbox_pages_total", "Inbox pages by where they were read from.", prometheus.Labels{"from": "memory"},
			func(s sqlite.WriterStats) uint64 { return s.PageHits }),
		counter("triggers_sqlite_inbox_pages_total", "Inbox pages by where they were read from.", prometheus.Labels{"from": "database"},
			func(s sqlite.WriterStats) uint64 { return s.PageMisses }),
	)
}

// statsMetricsTTL is how long the backlog gauges reuse the store's answer:
// however often /metrics is scraped (by several Prometheus servers, or by
// hand), the store is asked at most once in this time.
const statsMetricsTTL = 5 * time.Second

// statsMetricsTimeout bounds one store call of the backlog gauges, so that
// a slow store cannot hold a scrape.
const statsMetricsTimeout = 5 * time.Second

// registerStatsMetrics exports the backlog of every tenant together
// (DESIGN §12; no per-tenant labels): triggers_events_pending and
// triggers_oldest_pending_age_seconds, when store can sum its statistics
// cheaply (triggers.StatsTotaler). It reports whether it registered them.
// The clock and the retention are svc's, so that the gauges count what the
// API would: expired events are not pending.
func registerStatsMetrics(reg prometheus.Registerer, store triggers.Store, svc *triggers.Service, logger *slog.Logger) bool {
	totaler, ok := store.(triggers.StatsTotaler)
	if !ok {
		return false
	}
	reg.MustRegister(newStatsCollector(totaler, svc.Now, svc.Retention(), logger))
	return true
}

// statsCollector collects the backlog gauges from a StatsTotaler, reusing
// its answer for statsMetricsTTL. The age of the oldest pending event is
// worked out at each scrape from the cached creation time, so it grows
// between store calls as it does in fact.
type statsCollector struct {
	totaler   triggers.StatsTotaler
	now       func() time.Time
	retention time.Duration
	logger    *slog.Logger
	pending   *prometheus.Desc
	oldestAge *prometheus.Desc

	mu     sync.Mutex // held through a store call: concurrent scrapes share it
	readAt time.Time  // when cached (or err) was read; zero: never
	cached triggers.TotalStats
	err    error
}

func newStatsCollector(totaler triggers.StatsTotaler, now func() time.Time, retention time.Duration, logger *slog.Logger) *statsCollector {
	return &statsCollector{totaler: totaler, now: now, retention: retention, logger: logger,
		pending: prometheus.NewDesc("triggers_events_pending",
			"Pending events (leased or not) of every tenant together, as GET /v1/stats counts them; read from the store at most every 5 s.", nil, nil),
		oldestAge: prometheus.NewDesc("triggers_oldest_pending_age_seconds",
			"Age of the oldest pending event of any tenant, in seconds; 0 when none is pending.", nil, nil)}
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldestAge
}

// Collect implements prometheus.Collector. When the store fails, the
// gauges are left out of the scrape (so that they are seen as missing,
// not as an empty backlog) and the failure is logged; the failure is
// reused for statsMetricsTTL too, so that a failing store is not asked at
// every scrape.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.readAt.IsZero() || now.Sub(c.readAt) >= statsMetricsTTL || now.Before(c.readAt) {
		ctx, cancel := context.WithTimeout(context.Background(), statsMetricsTimeout)
		c.cached, c.err = c.totaler.TotalStats(ctx, now, now.Add(-c.retention))
		cancel()
		c.readAt = now
		if c.err != nil {
			c.logger.Warn("backlog metrics: the store's total statistics failed", slog.Any("error", c.err))
		}
	}
	if c.err != nil {
		return
	}
	age := 0.0
	if !c.cached.OldestPending.IsZero() && now.After(c.cached.OldestPending) {
		age = now.Sub(c.cached.OldestPending).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(c.cached.Pending))
	ch <- prometheus.MustNewConstMetric(c.oldestAge, prometheus.GaugeValue, age)
}
