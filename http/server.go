// Package http serves the Triggers v1 API over a triggers.Service: routes,
// middleware, JSON and the error envelope. It knows nothing of storage.
//
// Importers usually name it triggershttp.
package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/clientip"
	"github.com/triggersapi/triggers/http/openapi"
	"github.com/triggersapi/triggers/http/ui"
	"github.com/triggersapi/triggers/ratelimit"
)

// Options configure a Server; the zero value of each field means its default.
type Options struct {
	// Version is the build's version (package internal/version for the
	// binaries), reported by / and /v1/health; default "dev".
	Version string
	// Logger receives one line per request; default slog.Default().
	Logger *slog.Logger
	// Registry receives the server's metrics and is served at /metrics;
	// default a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// ClientIP finds the client IP that keys' allowlists are matched
	// against; default the TCP peer, trusting no proxy.
	ClientIP *clientip.Resolver
	// Limiter keeps the keys' rate-limit state; nil disables rate limiting.
	Limiter ratelimit.Limiter
	// DefaultRateLimit is the requests per minute of a key without its own
	// limit; default triggers.DefaultRateLimit.
	DefaultRateLimit int
	// RateLimitFailClosed refuses requests (503) when the limiter's store
	// fails; by default they are admitted (fail open). Either way the
	// failure is logged and counted.
	RateLimitFailClosed bool
	// CORS is the origins allowed to call the API from a browser, as
	// ParseCORSOrigins returns them; default (the zero value) none: CORS
	// off, no CORS headers and no preflight answers.
	CORS CORSPolicy
	// MaxBodyBytesInFlight bounds the request body bytes held at once, over
	// all requests; a request finding no room is answered 503 with
	// Retry-After, without its body being read (readBody). Default
	// DefaultMaxBodyBytesInFlight (64 MiB).
	MaxBodyBytesInFlight int64
}

// Server is the Triggers HTTP API. Its Handler is safe for concurrent use.
type Server struct {
	svc      *triggers.Service
	version  string
	logger   *slog.Logger
	registry *prometheus.Registry
	metrics  *metrics
	mux      *http.ServeMux
	handler  http.Handler
	clientIP *clientip.Resolver

	limiter          ratelimit.Limiter
	defaultRateLimit int
	failClosed       bool
	cors             *corsPolicy // nil: CORS off
	bodies           *bodyBudget
}

// NewServer returns the API over svc; opts may be nil.
func NewServer(svc *triggers.Service, opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = NewRegistry()
	}
	if o.ClientIP == nil {
		o.ClientIP = clientip.New(nil)
	}
	if o.DefaultRateLimit <= 0 {
		o.DefaultRateLimit = triggers.DefaultRateLimit
	}
	if o.MaxBodyBytesInFlight <= 0 {
		o.MaxBodyBytesInFlight = DefaultMaxBodyBytesInFlight
	}
	bodies := &bodyBudget{max: o.MaxBodyBytesInFlight}
	s := &Server{svc: svc, version: o.Version, logger: o.Logger, registry: o.Registry,
		metrics: newMetrics(o.Registry, svc, bodies), mux: http.NewServeMux(), clientIP: o.ClientIP,
		limiter: o.Limiter, defaultRateLimit: o.DefaultRateLimit, failClosed: o.RateLimitFailClosed,
		cors: o.CORS.p, bodies: bodies}
	s.routes()
	// The pipeline, in reading order (pipeline.go, docs/ARCHITECTURE.md):
	// every request gets its request ID, then its log line and metrics, then
	// panic recovery (inside the log stage, so a panic's 500 is logged and
	// counted), then CORS (preflights are answered here, before any key is
	// asked for), then the request's size limits (after CORS, so that a
	// browser can read the error), then routing. The routes that need a key
	// go on through authentication, the IP allowlist and the rate limit
	// (routes).
	s.handler = chain(withRequestID, s.withRequestLog, s.withRecover, s.withCORS, s.withRequestLimits)(http.HandlerFunc(s.route))
	return s
}

// Handler returns the API's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() {
	s.mux.HandleFunc("GET /{$}", s.handleIndex)
	s.mux.HandleFunc("GET /v1/health", s.handleHealth)
	s.mux.HandleFunc("GET /v1/health/ready", s.handleReady)
	s.mux.HandleFunc("GET /openapi.json", s.handleOpenAPI)
	s.mux.HandleFunc("GET /openapi.yaml", s.handleOpenAPIYAML)
	// The reference page and its script and style sheet, under the
	// dashboard's strict headers (ui.SetHeaders).
	s.mux.Handle("GET /docs", ui.NewAsset(openapi.DocsPage, "text/html; charset=utf-8"))
	s.mux.Handle("GET /docs/reference.js", ui.NewAsset(openapi.DocsScript, "text/javascript; charset=utf-8"))
	s.mux.Handle("GET /docs/reference.css", ui.NewAsset(openapi.DocsStyle, "text/css; charset=utf-8"))
	// The web dashboard (docs/DASHBOARD.md) needs no key; its API calls
	// carry one. An unknown asset is a 404 in the error envelope.
	dashboard := ui.New(http.HandlerFunc(s.handleNoAsset))
	s.mux.Handle("GET /ui", dashboard)
	s.mux.Handle("GET /ui/", dashboard)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))

	// The routes that need a key go through the per-key stages, in reading
	// order: authentication, the key's IP allowlist, its rate limit. A
	// request refused by one goes no further: a 401 or 403 spends no budget.
	perKey := chain(s.withAuth, s.withAllowlist, s.withRateLimit)
	keyed := func(h keyHandler) http.Handler { return perKey(h) }

	s.mux.Handle("POST /v1/events", keyed(s.handleCreateEvent))
	// The bulk routes' literal "bulk" segment is more specific than
	// {event_id}, so ServeMux prefers them (TestBulk_Routes checks it).
	s.mux.Handle("POST /v1/events/bulk", keyed(s.handleBulkCreate))
	s.mux.Handle("POST /v1/events/bulk/ack", keyed(s.handleBulkAck))
	s.mux.Handle("DELETE /v1/events/bulk", keyed(s.handleBulkDelete))
	s.mux.Handle("POST /v1/events/bulk/delete", keyed(s.handleBulkDelete))
	s.mux.Handle("POST /v1/events/bulk/nack", keyed(s.handleBulkNack))
	s.mux.Handle("POST /v1/events/bulk/redrive", keyed(s.handleBulkRedrive))
	s.mux.Handle("GET /v1/events/{event_id}", keyed(s.handleGetEvent))
	s.mux.Handle("POST /v1/events/{event_id}/ack", keyed(s.handleAckEvent))
	s.mux.Handle("POST /v1/events/{event_id}/nack", keyed(s.handleNackEvent))
	s.mux.Handle("POST /v1/events/{event_id}/lease", keyed(s.handleExtendLease))
	s.mux.Handle("POST /v1/events/{event_id}/redrive", keyed(s.handleRedriveEvent))
	s.mux.Handle("DELETE /v1/events/{event_id}", keyed(s.handleDeleteEvent))
	s.mux.Handle("GET /v1/inbox", keyed(s.handleInbox))
	// A receive may wait (wait_seconds, up to 20 s) but passes the
	// pipeline once: it is one request for the rate limiter.
	s.mux.Handle("POST /v1/inbox/receive", keyed(s.handleReceive))
	s.mux.Handle("GET /v1/stats", keyed(s.handleStats))

	// Push delivery (DESIGN §11, webhooks.go).
	s.mux.Handle("POST /v1/subscriptions", keyed(s.handleCreateSubscription))
	s.mux.Handle("GET /v1/subscriptions", keyed(s.handleListSubscriptions))
	s.mux.Handle("GET /v1/subscriptions/{subscription_id}", keyed(s.handleGetSubscription))
	s.mux.Handle("PATCH /v1/subscriptions/{subscription_id}", keyed(s.handleUpdateSubscription))
	s.mux.Handle("DELETE /v1/subscriptions/{subscription_id}", keyed(s.handleDeleteSubscription))
	s.mux.Handle("GET /v1/subscriptions/{subscription_id}/secret", keyed(s.handleSubscriptionSecret))
	s.mux.Handle("POST /v1/subscriptions/{subscription_id}/rotate-secret", keyed(s.handleRotateSecret))
	s.mux.Handle("GET /v1/subscriptions/{subscription_id}/deliveries", keyed(s.handleDeliveries))
	s.mux.Handle("POST /v1/subscriptions/{subscription_id}/deliveries/{event_id}/retry", keyed(s.handleRetryDelivery))
	s.mux.Handle("POST /v1/subscriptions/{subscription_id}/replay", keyed(s.handleReplay))
}

// route dispatches to the mux, answering unknown routes (404) and known
// paths with the wrong method (405, with Allow) in the error envelope.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		infoFrom(r.Context()).route = pattern
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, triggers.Errorf(triggers.EMETHOD, "method %s is not allowed here; allowed: %s", r.Method, rec.header.Get("Allow")))
	case http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusTemporaryRedirect, http.StatusFound:
		http.Redirect(w, r, rec.header.Get("Location"), rec.status)
	default:
		s.writeError(w, r, triggers.Errorf(triggers.ENOTFOUND, "no route for %s %s; see /docs", r.Method, r.URL.Path))
	}
}

// handleNoAsset answers a request for a dashboard asset that does not exist.
func (s *Server) handleNoAsset(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, triggers.Errorf(triggers.ENOTFOUND, "no dashboard asset %s; the dashboard is at /ui", r.URL.Path))
}

// headerRecorder captures the status and headers of the mux's own 404/405
// and redirect handlers without writing anything.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }

// writeJSON writes v as the response body with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a bug can get here (every value is built by this package).
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"INTERNAL_ERROR","message":"internal error","details":{},"request_id":""}}`)
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapi.Document)
}

func (s *Server) handleOpenAPIYAML(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openapi.YAML)
}
