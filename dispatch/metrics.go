package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the dispatcher's Prometheus collectors (DESIGN §11.2). A nil
// *Metrics counts nothing.
type Metrics struct {
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
	abandons   prometheus.Counter
}

// NewMetrics registers the dispatcher's counters on reg:
// triggers_webhook_deliveries_total{outcome}, the attempt latency histogram
// triggers_webhook_attempt_duration_seconds and
// triggers_webhook_deliveries_abandoned_total.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggers_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: succeeded, retry (failed, attempted again later) or failed (no attempt left, or the event is gone).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "triggers_webhook_attempt_duration_seconds",
			Help:    "Latency of webhook delivery requests, from sending to the end of the (bounded) response, timeouts included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}),
		abandons: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triggers_webhook_deliveries_abandoned_total",
			Help: "Claimed deliveries left unattempted because their subscription's slots stayed busy (or the dispatcher stopped); their lease expires and they are claimed again.",
		}),
	}
	for _, o := range []string{outcomeSucceeded, outcomeRetry, outcomeFailed} {
		m.deliveries.WithLabelValues(o)
	}
	reg.MustRegister(m.deliveries, m.duration, m.abandons)
	return m
}

func (m *Metrics) attempted(outcome string, latency time.Duration, requested bool) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	if requested {
		m.duration.Observe(latency.Seconds())
	}
}

func (m *Metrics) abandoned() {
	if m != nil {
		m.abandons.Inc()
	}
}

// backlogTTL is how long the backlog gauges reuse the store's answer, so
// that however often /metrics is scraped the store is asked at most once
// in this time; backlogTimeout bounds one store call.
const (
	backlogTTL     = 5 * time.Second
	backlogTimeout = 5 * time.Second
)

// NewBacklogCollector returns the collector of the delivery backlog gauges:
// triggers_webhook_deliveries_pending and
// triggers_webhook_oldest_pending_delivery_age_seconds (how long the most
// overdue pending delivery has been due; 0 when none is), read from b at
// most every 5 s. When b fails, the gauges are left out of the scrape (seen
// as missing, not as an empty backlog) and the failure is logged.
func NewBacklogCollector(b Backlog, now func() time.Time, logger *slog.Logger) prometheus.Collector {
	return &backlogCollector{b: b, now: now, logger: logger,
		pending: prometheus.NewDesc("triggers_webhook_deliveries_pending",
			"Pending webhook deliveries of every tenant (due or scheduled); read from the store at most every 5 s.", nil, nil),
		oldestAge: prometheus.NewDesc("triggers_webhook_oldest_pending_delivery_age_seconds",
			"How long the most overdue pending webhook delivery has been due, in seconds; 0 when none is due.", nil, nil)}
}

type backlogCollector struct {
	b         Backlog
	now       func() time.Time
	logger    *slog.Logger
	pending   *prometheus.Desc
	oldestAge *prometheus.Desc

	mu        sync.Mutex // held through a store call: concurrent scrapes share it
	readAt    time.Time
	count     int64
	oldestDue time.Time
	err       error
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldestAge
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.readAt.IsZero() || now.Sub(c.readAt) >= backlogTTL || now.Before(c.readAt) {
		ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
		c.count, c.oldestDue, c.err = c.b.DeliveryBacklog(ctx, now)
		cancel()
		c.readAt = now
		if c.err != nil {
			c.logger.Warn("webhook backlog metrics: the store's delivery backlog failed", slog.Any("error", c.err))
		}
	}
	if c.err != nil {
		return
	}
	age := 0.0
	if !c.oldestDue.IsZero() && now.After(c.oldestDue) {
		age = now.Sub(c.oldestDue).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(c.count))
	ch <- prometheus.MustNewConstMetric(c.oldestAge, prometheus.GaugeValue, age)
}
