package http

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
}

func newMetrics(reg prometheus.Registerer) *metrics {
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
		Help: "Items of bulk requests by operation (create, ack, delete) and outcome code (OK, or the item's error code).",
	}, []string{"op", "code"})
	m.inboxFilters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "triggers_inbox_filters_total",
		Help: "Valid inbox requests by kind of filter used (source, event_type, created_after, created_before, priority, metadata; none for no filter). A request with several filters counts once for each.",
	}, []string{"kind"})
	reg.MustRegister(m.requests, m.latency, m.errors, m.blocked, m.rateLimit, m.limiterErrors, m.bulkItems, m.inboxFilters)
	return m
}

func (m *metrics) observe(route string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(elapsed.Seconds())
}
