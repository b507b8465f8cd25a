package client_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/ratelimit"
	"github.com/triggersapi/triggers/sqlite"
)

const testKey = "client-test-key-0001"

// server is a real Triggers server on a loopback port over SQLite.
type server struct {
	URL   string
	Svc   *triggers.Service
	close func()
}

// startServer starts a server with the test key (rate limit rateLimit per
// minute, 0 for the default) over a SQLite store in dir; now may be nil for
// the real clock.
func startServer(dir string, rateLimit int, now func() time.Time) (*server, error) {
	store, err := sqlite.Open(dir, nil)
	if err != nil {
		return nil, err
	}
	return startServerOn(store, rateLimit, now)
}

// startServerOn starts a server over store, which it closes with itself.
func startServerOn(store triggers.Store, rateLimit int, now func() time.Time) (*server, error) {
	svc := triggers.NewService(store, &triggers.Options{Now: now})
	if _, _, err := svc.CreateKey(context.Background(), triggers.KeySpec{Tenant: "client-test", Raw: testKey, RateLimit: rateLimit}); err != nil {
		store.Close()
		return nil, err
	}
	srv := triggershttp.NewServer(svc, &triggershttp.Options{Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limiter: ratelimit.NewLocal()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	return &server{URL: "http://" + ln.Addr().String(), Svc: svc, close: func() {
		hs.Close()
		store.Close()
	}}, nil
}

// mustStart starts a server for a test over the store chosen by
// TRIGGERS_TEST_STORE (teststore.Open), as the HTTP tests do.
func mustStart(t *testing.T, rateLimit int, now func() time.Time) *server {
	t.Helper()
	s, err := startServerOn(teststore.Open(t, "client"), rateLimit, now)
	if err != nil {
		t.Fatalf("startServer: %v", err)
	}
	t.Cleanup(s.close)
	return s
}

// counting is a RoundTripper counting the requests sent through it.
type counting struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	next := c.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}
