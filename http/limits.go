package http

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// The bounds of one request before its handler runs (docs/API.md, Limits).
// withRequestLimits answers a request over them in the error envelope; the
// http.Server's own limit (ServerMaxHeaderBytes) is set above them so that
// it is met only by requests far over, which net/http answers itself.
const (
	// MaxURLBytes bounds the request target (path and query) as sent:
	// longer is a 414 URI_TOO_LONG.
	MaxURLBytes = 8 << 10
	// MaxHeaderBytes bounds the request line and header fields, each field
	// counted as "Name: value\r\n": more is a 431
	// REQUEST_HEADERS_TOO_LARGE.
	MaxHeaderBytes = 32 << 10
	// ServerMaxHeaderBytes is what http.Server.MaxHeaderBytes must be for
	// withRequestLimits to answer every request up to twice its bounds:
	// beyond it, net/http answers 431 in plain text before any handler.
	ServerMaxHeaderBytes = 2 * MaxHeaderBytes
)

// DefaultMaxBodyBytesInFlight is the default of Options.MaxBodyBytesInFlight.
const DefaultMaxBodyBytesInFlight = 64 << 20

// The wire codes of answers about the request itself rather than the
// domain: they have no triggers.Code of their own, since nothing below
// HTTP can meet them, but go through codeStatus like every other.
const (
	eURITooLong     triggers.Code = "URI_TOO_LONG"
	eHeadersTooLong triggers.Code = "REQUEST_HEADERS_TOO_LARGE"
)

// withRequestLimits answers a request whose target is over MaxURLBytes
// (414) or whose request line and headers are over MaxHeaderBytes (431),
// in the error envelope, before anything reads them further.
func (s *Server) withRequestLimits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.RequestURI
		if target == "" { // not from net/http's server (Lambda)
			target = r.URL.RequestURI()
		}
		if len(target) > MaxURLBytes {
			e := triggers.Errorf(eURITooLong, "the request target (path and query) is %d bytes, over the limit of %d", len(target), MaxURLBytes)
			e.Details = map[string]any{"limit_bytes": MaxURLBytes}
			s.writeError(w, r, e)
			return
		}
		if n := headerBytes(r, target); n > MaxHeaderBytes {
			e := triggers.Errorf(eHeadersTooLong, "the request line and headers are %d bytes, over the limit of %d", n, MaxHeaderBytes)
			e.Details = map[string]any{"limit_bytes": MaxHeaderBytes}
			s.writeError(w, r, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerBytes is the size of r's request line and header fields as sent,
// each field counted as "Name: value\r\n" (Host included).
func headerBytes(r *http.Request, target string) int {
	n := len(r.Method) + 1 + len(target) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n
}

// bodyBudget bounds the request body bytes the server holds at once, over
// all requests: a request takes its body's size (its Content-Length, or as
// it reads a body of unknown length) before reading it and gives it back
// when it is done. A request that cannot take what it needs is answered
// 503 at once, without its body being read. So that a bound below one
// body's size cannot refuse that body for ever, a request finding nothing
// taken may take more than the bound. It is safe for concurrent use.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// take takes n bytes if they fit, and reports whether they did.
func (b *bodyBudget) take(n int64) bool {
	for {
		used := b.used.Load()
		if used > 0 && used+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *bodyBudget) release(n int64) { b.used.Add(-n) }

// errBodyBudget is a body of unknown length that outgrew what the budget
// had left.
var errBodyBudget = errors.New("http: request body budget exhausted")

// bodyBudgetStep is how much more a body of unknown length takes from the
// budget each time it outgrows what it took.
const bodyBudgetStep = 64 << 10

// budgetReader reads a body of unknown length, taking from the budget as
// it grows.
type budgetReader struct {
	r     io.Reader
	s     *Server
	info  *requestInfo
	read  int64
	taken int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.read > b.taken {
		step := max(b.read-b.taken, bodyBudgetStep)
		if !b.s.bodies.take(step) {
			return n, errBodyBudget
		}
		b.taken += step
		b.info.bodyTaken += step
	}
	return n, err
}

// readBody reads the request body, stopping at limit bytes (ETOOLARGE).
// The bytes it holds count against the server's body budget until the
// request is done (withRequestLog gives them back) or releaseBody; when the budget has no
// room it answers EUNAVAILABLE (503 with Retry-After) without reading. A
// body with a Content-Length is read into a buffer of exactly that size.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	tooLarge := triggers.Errorf(triggers.ETOOLARGE, "the body is larger than the limit of %d bytes", limit)
	tooLarge.Details = map[string]any{"limit_bytes": limit}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	info := infoFrom(r.Context())
	busy := func() error {
		s.metrics.bodyBudgetRefused.Inc()
		e := triggers.Errorf(triggers.EUNAVAILABLE, "the server is reading too many large request bodies at once; retry after 1 s")
		e.Details = map[string]any{"retry_after": 1}
		return e
	}
	if r.ContentLength >= 0 {
		if !s.bodies.take(r.ContentLength) {
			return nil, busy()
		}
		info.bodyTaken += r.ContentLength
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, triggers.Errorf(triggers.EINVALID, "could not read the request body: %v", err)
		}
		info.bodyRead = true
		return body, nil
	}
	body, err := io.ReadAll(&budgetReader{r: http.MaxBytesReader(w, r.Body, limit), s: s, info: info})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, tooLarge
		case errors.Is(err, errBodyBudget):
			return nil, busy()
		}
		return nil, triggers.Errorf(triggers.EINVALID, "could not read the request body: %v", err)
	}
	info.bodyRead = true
	return body, nil
}

// unreadBodyGrace is how long the server goes on reading (and discarding)
// the rest of a body it answered without reading, before it closes the
// connection. A client still sending when the connection closes gets a
// reset instead of the answer, and Go's and most other HTTP clients report
// the failed write rather than the 4xx already received; a grace lets a
// client that sends at the speed of the network finish, while a slow one
// costs the server at most this long.
const unreadBodyGrace = 500 * time.Millisecond

// closeUnreadBody makes an answer given without reading the request's body
// to its end (a 401, 403, 413, 429, 503, ..., or a body given up midway) go
// out at once and end the connection: by default net/http would first read
// and discard up to 256 KiB of the body, waiting as long as a slow client
// takes to send it. It must be called before the answer is written.
func closeUnreadBody(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	if r.ContentLength == 0 || info.bodyRead {
		return
	}
	w.Header().Set("Connection", "close")
	// The body's remains are read once the answer is out (net/http discards
	// up to 256 KiB before closing) for unreadBodyGrace at most. (Not
	// supported outside net/http's server, where it does not matter.)
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(unreadBodyGrace))
}

// releaseBody gives the request's body bytes back to the server's budget
// before the request is done: for a handler that has parsed its body and
// will wait (a long-polling receive), so that waiting requests hold none of
// the budget that other tenants' writes need.
func (s *Server) releaseBody(r *http.Request) {
	info := infoFrom(r.Context())
	s.bodies.release(info.bodyTaken)
	info.bodyTaken = 0
}
