package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/clientip"
	"github.com/triggersapi/triggers/ratelimit"
)

// The request pipeline. Each stage is a plain func(http.Handler)
// http.Handler that reads what it needs from the request context, and chain
// composes them in reading order. NewServer composes the stages every
// request goes through, routes adds the per-key stages to the routes that
// need a key:
//
//	withRequestID → withRequestLog → withRecover → withCORS → withRequestLimits → route
//	  → withAuth → withAllowlist → withRateLimit → handler
//
// The log stage comes before recover so that a panic's 500 is logged and
// counted like any other answer.

// chain composes stages in reading order: chain(a, b, c)(h) is a(b(c(h))),
// so a request meets a first and h last.
func chain(stages ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		for i := len(stages) - 1; i >= 0; i-- {
			h = stages[i](h)
		}
		return h
	}
}

// requestInfo is filled in as a request moves through the pipeline and read
// by the log stage at the end.
type requestInfo struct {
	id       string
	route    string
	keyID    string
	clientIP string
	errCode  string
	// filters are the kinds of inbox filter used (never their values).
	filters []string
	// bodyRead: the handler read the request body to its end.
	bodyRead bool
	// bodyTaken is what the request took from the server's body budget;
	// withRequestLog gives it back when the request is done.
	bodyTaken int64
}

type infoKey struct{}

// infoFrom returns the requestInfo withRequestID put in ctx; without one, a
// fresh one that nobody reads.
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// withRequestID gives the request its ID (the client's if sane, else a new
// UUID), sets it on the response and puts the request's requestInfo in the
// context.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &requestInfo{id: r.Header.Get("X-Request-ID")}
		if !saneRequestID(info.id) {
			info.id = triggers.NewUUID()
		}
		w.Header().Set("X-Request-ID", info.id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
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

// withRequestLog logs one line and records the request metrics (by route
// pattern) when the request is done, with what the later stages put in the
// requestInfo.
//
// It also tells a response cut off (the client gone, or the write timeout
// passed) from a complete one: a response whose write failed, or shorter
// than the Content-Length it declared, is logged with cut_off true (and
// the write error) and counted. So that the failure of its last bytes is
// seen too, a response of more than flushAbove bytes that declared its
// Content-Length is flushed here, rather than by net/http after the
// handler. (A smaller one is still all in net/http's buffers, and goes out
// only after this log line: the line is written before the client can
// see the answer, which tests rely on.)
//
// When the request is done it gives back what the request took from the
// server's body budget (readBody).
func (s *Server) withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := infoFrom(r.Context())
		defer func() { s.bodies.release(info.bodyTaken) }()
		sw := &statusWriter{ResponseWriter: w, declared: -1}
		next.ServeHTTP(sw, r)
		if sw.err == nil && sw.declared > flushAbove && sw.bytes == sw.declared {
			if err := http.NewResponseController(sw.ResponseWriter).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				sw.err = err
			}
		}

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
		if sw.err != nil || sw.declared >= 0 && sw.bytes < sw.declared && r.Method != http.MethodHead {
			s.metrics.cutOff.WithLabelValues(route).Inc()
			attrs = append(attrs, slog.Bool("cut_off", true), slog.Int64("content_length", sw.declared))
			if sw.err != nil {
				attrs = append(attrs, slog.String("write_error", sw.err.Error()))
			}
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

// flushAbove is the size above which withRequestLog flushes a response
// itself: more than net/http buffers (2 KiB for the response, 4 KiB for the
// connection).
const flushAbove = 8 << 10

// statusWriter records the status and size of a response, the
// Content-Length it declared and its first write error.
type statusWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	declared int64 // the Content-Length header when the status was written; -1: none
	err      error
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
		if cl, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil && status >= 200 &&
			status != http.StatusNoContent && status != http.StatusNotModified {
			w.declared = cl
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	if err != nil && w.err == nil {
		w.err = err
	}
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

// withAuth admits a request with a usable API key (X-API-Key, else
// Authorization: Bearer) and puts the key in the context
// (triggers.NewContextWithKey) for the stages and the handler after it.
// Anything else is a 401 with WWW-Authenticate.
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, err := s.svc.Authenticate(r.Context(), rawKey(r))
		if err != nil {
			if triggers.ErrorCode(err) == triggers.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="triggers"`)
			}
			s.writeError(w, r, err)
			return
		}
		infoFrom(r.Context()).keyID = key.ID
		next.ServeHTTP(w, r.WithContext(triggers.NewContextWithKey(r.Context(), key)))
	})
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

// keyFrom returns the key withAuth put in r's context. A stage or handler
// composed without withAuth before it is a bug: keyFrom panics, and
// withRecover answers 500.
func keyFrom(r *http.Request) triggers.APIKey {
	key, ok := triggers.KeyFromContext(r.Context())
	if !ok {
		panic("http: no API key in the request context: the route lacks withAuth")
	}
	return key
}

// withAllowlist admits a request whose client IP is in the key's allowlist
// (an empty list admits every IP); anything else is a 403, logged and
// counted.
func (s *Server) withAllowlist(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := keyFrom(r)
		info := infoFrom(r.Context())
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
		next.ServeHTTP(w, r)
	})
}

// withRateLimit spends one request of the key's budget and sets the
// rate-limit headers; over the limit it answers 429. When the limiter's
// store fails it lets the request go on (fail open) or, failing closed,
// answers 503; either way it logs and counts the failure. Without a limiter
// it is next itself.
func (s *Server) withRateLimit(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := keyFrom(r)
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
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		reset := d.Reset.Add(time.Second - 1).Unix() // rounded up to whole seconds
		h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
		h.Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, d.Limit, int(ratelimit.Window/time.Second)))
		h.Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, d.Remaining, d.ResetAfterSeconds(now)))
		if !d.Allowed {
			s.metrics.rateLimit.WithLabelValues(info.route, "limited").Inc()
			retry := d.RetryAfterSeconds()
			h.Set("Retry-After", strconv.Itoa(retry))
			s.logger.LogAttrs(r.Context(), slog.LevelWarn, "rate limited", slog.String("request_id", info.id),
				slog.String("key_id", key.ID), slog.Int("limit", d.Limit), slog.Int("retry_after", retry))
			s.writeError(w, r, &triggers.Error{Code: triggers.ERATELIMITED,
				Message: fmt.Sprintf("rate limit of %d requests per minute exceeded; retry after %d s", d.Limit, retry),
				Details: map[string]any{"limit": d.Limit, "retry_after": retry, "reset_at": reset}})
			return
		}
		s.metrics.rateLimit.WithLabelValues(info.route, "admitted").Inc()
		next.ServeHTTP(w, r)
	})
}

// keyHandler is the handler of a route that needs a key: it is passed the
// key withAuth found, so it cannot forget to look for it.
type keyHandler func(http.ResponseWriter, *http.Request, triggers.APIKey)

// ServeHTTP calls h with the key in r's context.
func (h keyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h(w, r, keyFrom(r)) }
