// Package http serves the Triggers v1 API over a triggers.Service: routes,
// middleware, JSON and the error envelope. It knows nothing of storage.
//
// Importers usually name it triggershttp.
package http

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

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
	s := &Server{svc: svc, version: o.Version, logger: o.Logger, registry: o.Registry,
		metrics: newMetrics(o.Registry), mux: http.NewServeMux(), clientIP: o.ClientIP,
		limiter: o.Limiter, defaultRateLimit: o.DefaultRateLimit, failClosed: o.RateLimitFailClosed,
		cors: o.CORS.p}
	s.routes()
	// The pipeline, in reading order (DESIGN §3): recover, request ID and
	// logging/metrics, CORS (preflights are answered here, before any key is
	// asked for), then routing; authentication is per route.
	s.handler = s.withRequestInfo(s.withRecover(s.withCORS(http.HandlerFunc(s.route))))
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
	s.mux.HandleFunc("GET /docs", s.handleDocs)
	dashboard := ui.New() // the web dashboard (docs/DASHBOARD.md); no key, its API calls carry one
	s.mux.Handle("GET /ui", dashboard)
	s.mux.Handle("GET /ui/", dashboard)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))

	s.mux.Handle("POST /v1/events", s.authenticated(s.handleCreateEvent))
	// The bulk routes' literal "bulk" segment is more specific than
	// {event_id}, so ServeMux prefers them (TestBulk_Routes checks it).
	s.mux.Handle("POST /v1/events/bulk", s.authenticated(s.handleBulkCreate))
	s.mux.Handle("POST /v1/events/bulk/ack", s.authenticated(s.handleBulkAck))
	s.mux.Handle("DELETE /v1/events/bulk", s.authenticated(s.handleBulkDelete))
	s.mux.Handle("POST /v1/events/bulk/delete", s.authenticated(s.handleBulkDelete))
	s.mux.Handle("GET /v1/events/{event_id}", s.authenticated(s.handleGetEvent))
	s.mux.Handle("POST /v1/events/{event_id}/ack", s.authenticated(s.handleAckEvent))
	s.mux.Handle("DELETE /v1/events/{event_id}", s.authenticated(s.handleDeleteEvent))
	s.mux.Handle("GET /v1/inbox", s.authenticated(s.handleInbox))
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

// headerRecorder captures the status and headers of the mux's own 404/405
// and redirect handlers without writing anything.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }

// requestInfo is filled in as a request moves through the pipeline and read
// by the logging middleware at the end.
type requestInfo struct {
	id       string
	route    string
	keyID    string
	clientIP string
	errCode  string
	// filters are the kinds of inbox filter used (never their values).
	filters []string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// RequestIDFromContext returns the request ID of the request ctx belongs to.
func RequestIDFromContext(ctx context.Context) string { return infoFrom(ctx).id }

// withRequestInfo sets the request ID (the client's if sane, else a new
// UUID), then logs one line and records metrics when the request is done.
func (s *Server) withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: r.Header.Get("X-Request-ID")}
		if !saneRequestID(info.id) {
			info.id = newUUID()
		}
		w.Header().Set("X-Request-ID", info.id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))

		elapsed := time.Since(start)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := info.route
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(route, sw.status, elapsed)
		attrs := []slog.Attr{
			slog.String("request_id", info.id),
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
			slog.Int64("bytes", sw.bytes),
		}
		if info.keyID != "" {
			attrs = append(attrs, slog.String("key_id", info.keyID))
		}
		if info.clientIP != "" {
			attrs = append(attrs, slog.String("client_ip", info.clientIP))
		}
		if info.errCode != "" {
			attrs = append(attrs, slog.String("error_code", info.errCode))
		}
		if info.filters != nil {
			attrs = append(attrs, slog.String("filters", strings.Join(info.filters, ",")))
		}
		s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// saneRequestID accepts 1 to 128 printable ASCII characters.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexdigits[c>>4], hexdigits[c&0xf])
	}
	return string(out)
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRecover turns a panic into a logged 500 in the error envelope.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.ErrorContext(r.Context(), "panic", slog.String("request_id", infoFrom(r.Context()).id),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			s.writeError(w, r, &triggers.Error{Code: triggers.EINTERNAL, Message: "internal error"})
		}()
		next.ServeHTTP(w, r)
	})
}

// authenticated runs the per-key stages of the pipeline, in order:
// authentication (a usable API key, put in the context), the key's IP
// allowlist, the key's rate limit, then the handler. A request refused by a
// stage goes no further: a 401 or 403 spends no rate-limit budget.
func (s *Server) authenticated(h func(http.ResponseWriter, *http.Request, triggers.APIKey)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		key, err := s.svc.Authenticate(r.Context(), rawKey(r))
		if err != nil {
			if triggers.ErrorCode(err) == triggers.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="triggers"`)
			}
			s.writeError(w, r, err)
			return
		}
		info.keyID = key.ID
		ip := s.clientIP.ClientIP(r)
		info.clientIP = "unknown"
		if ip.IsValid() {
			info.clientIP = ip.String()
		}
		if !clientip.Allowed(ip, key.AllowedIPs) {
			s.metrics.blocked.Inc()
			s.logger.LogAttrs(r.Context(), slog.LevelWarn, "blocked by IP allowlist", slog.String("request_id", info.id),
				slog.String("key_id", key.ID), slog.String("client_ip", info.clientIP))
			s.writeError(w, r, &triggers.Error{Code: triggers.EFORBIDDEN,
				Message: "this API key may not be used from your IP address (" + info.clientIP + ")",
				Details: map[string]any{"client_ip": info.clientIP}})
			return
		}
		if !s.rateLimit(w, r, key) {
			return
		}
		h(w, r.WithContext(triggers.NewContextWithKey(r.Context(), key)), key)
	})
}

// rateLimit spends one request of the key's budget and sets the rate-limit
// headers. It reports whether the request may go on; when it may not, it
// has written the 429 (or, failing closed, the 503).
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, key triggers.APIKey) bool {
	if s.limiter == nil {
		return true
	}
	info := infoFrom(r.Context())
	limit := key.RateLimit
	if limit <= 0 {
		limit = s.defaultRateLimit
	}
	now := s.svc.Now()
	d, err := s.limiter.Take(r.Context(), key.ID, limit, now)
	if err != nil {
		s.metrics.limiterErrors.Inc()
		s.logger.LogAttrs(r.Context(), slog.LevelError, "rate limiter store failed", slog.String("request_id", info.id),
			slog.String("key_id", key.ID), slog.Bool("fail_closed", s.failClosed), slog.Any("error", err))
		if s.failClosed {
			s.writeError(w, r, triggers.Unavailable(err))
			return false
		}
		return true
	}
	h := w.Header()
	reset := d.Reset.Add(time.Second - 1).Unix() // rounded up to whole seconds
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	h.Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, d.Limit, int(ratelimit.Window/time.Second)))
	h.Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, d.Remaining, d.ResetAfterSeconds(now)))
	if d.Allowed {
		s.metrics.rateLimit.WithLabelValues(info.route, "admitted").Inc()
		return true
	}
	s.metrics.rateLimit.WithLabelValues(info.route, "limited").Inc()
	retry := d.RetryAfterSeconds()
	h.Set("Retry-After", strconv.Itoa(retry))
	s.logger.LogAttrs(r.Context(), slog.LevelWarn, "rate limited", slog.String("request_id", info.id),
		slog.String("key_id", key.ID), slog.Int("limit", d.Limit), slog.Int("retry_after", retry))
	s.writeError(w, r, &triggers.Error{Code: triggers.ERATELIMITED,
		Message: fmt.Sprintf("rate limit of %d requests per minute exceeded; retry after %d s", d.Limit, retry),
		Details: map[string]any{"limit": d.Limit, "retry_after": retry, "reset_at": reset}})
	return false
}

// rawKey returns the key from X-API-Key, else from Authorization: Bearer.
func rawKey(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// writeJSON writes v as the response body with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a bug can get here (every value is built by this package).
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"INTERNAL_ERROR","message":"internal error","details":{},"request_id":""}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapi.Document)
}

func (s *Server) handleOpenAPIYAML(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openapi.YAML)
}

func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
	w.Write(openapi.DocsPage)
}
