package http

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	triggers "github.com/triggersapi/triggers"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, for Options.Registry.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metrics are the server's Prometheus collectors. Labels are bounded: routes
// are mux patterns, never raw paths.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	blocked  prometheus.Counter

	rateLimit     *prometheus.CounterVec
	limiterErrors prometheus.Counter

	bulkItems *prometheus.CounterVec

	inboxFilters *prometheus.CounterVec

	// Leases (DESIGN §10.5).
	leasesGranted prometheus.Counter
	redeliveries  prometheus.Counter
	nacks         prometheus.Counter
	deadLettered  prometheus.Counter
	redriven      prometheus.Counter
}

// newMetrics registers the server's metrics on reg; the gauge of waiting
// receives reads svc when scraped.
func newMetrics(reg prometheus.Registerer, svc *triggers.Service) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggers_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "triggers_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggers_http_errors_total",
			Help: "Error responses by API error code (store failures are SERVICE_UNAVAILABLE or INTERNAL_ERROR).",
		}, []string{"code"}),
		blocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triggers_http_allowlist_blocked_total",
			Help: "Requests refused (403) because the client IP is not in the key's allowlist.",
		}),
	}
	m.rateLimit = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "triggers_ratelimit_decisions_total",
		Help: "Rate-limit decisions by route pattern and result (admitted, limited).",
	}, []string{"route", "result"})
	m.limiterErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "triggers_ratelimit_store_errors_total",
		Help: "Rate-limiter store failures (the request is then admitted, or refused with 503 when failing closed).",
	})
	m.bulkItems = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "triggers_bulk_items_total",
		Help: "Items of bulk requests by operation (create, ack, delete, nack, redrive) and outcome code (OK, or the item's error code).",
	}, []string{"op", "code"})
	m.inboxFilters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "triggers_inbox_filters_total",
		Help: "Valid inbox requests by kind of filter used (source, event_type, created_after, created_before, priority, metadata; none for no filter). A request with several filters counts once for each.",
	}, []string{"kind"})
	m.leasesGranted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "triggers_leases_granted_total",
		Help: "Leases granted by receives (events returned by POST /v1/inbox/receive).",
	})
	m.redeliveries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "triggers_leases_redelivered_total",
		Help: "Leases granted on events leased before (attempts > 1): redeliveries after a lease expired or was nacked.",
	})
	m.nacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "triggers_events_nacked_total",
		Help: "Leases ended by a successful nack (single or bulk).",
	})
	m.deadLettered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "triggers_events_dead_lettered_total",
		Help: "Events a receive dead-lettered because they had used up max_attempts.",
	})
	m.redriven = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "triggers_events_redriven_total",
		Help: "Dead events made pending again by a successful redrive (single or bulk).",
	})
	waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "triggers_receives_waiting",
		Help: "Receives waiting now for events to become available (long polling).",
	}, func() float64 { return float64(svc.WaitingReceives()) })
	reg.MustRegister(m.requests, m.latency, m.errors, m.blocked, m.rateLimit, m.limiterErrors, m.bulkItems, m.inboxFilters,
		m.leasesGranted, m.redeliveries, m.nacks, m.deadLettered, m.redriven, waiting)
	return m
}

func (m *metrics) observe(route string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(elapsed.Seconds())
}
