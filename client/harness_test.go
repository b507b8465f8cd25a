package client_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	triggershttp "github.com/triggersapi/triggers/http"
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
// TRIGGERS_TEST_STORE, as the HTTP tests do: "sqlite" (the default) in a
// temporary directory, or "dynamodb" on fresh tables at
// TRIGGERS_DYNAMODB_ENDPOINT (skipped without one, failed with CI=true).
func mustStart(t *testing.T, rateLimit int, now func() time.Time) *server {
	t.Helper()
	var s *server
	var err error
	switch kind := os.Getenv("TRIGGERS_TEST_STORE"); kind {
	case "", "sqlite":
		s, err = startServer(t.TempDir(), rateLimit, now)
	case "dynamodb":
		s, err = startServerOn(openDynamo(t), rateLimit, now)
	default:
		t.Fatalf("TRIGGERS_TEST_STORE=%q: want sqlite or dynamodb", kind)
	}
	if err != nil {
		t.Fatalf("startServer: %v", err)
	}
	t.Cleanup(s.close)
	return s
}

var dynamoStages atomic.Int64

func openDynamo(t *testing.T) triggers.Store {
	t.Helper()
	endpoint := os.Getenv("TRIGGERS_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TRIGGERS_TEST_STORE=dynamodb but TRIGGERS_DYNAMODB_ENDPOINT is not set, and CI=true")
		}
		t.Skip("TRIGGERS_TEST_STORE=dynamodb but TRIGGERS_DYNAMODB_ENDPOINT is not set; scripts/test.sh starts dynalite and sets it")
	}
	ctx := context.Background()
	dc, err := dynamodb.NewClient(ctx, endpoint)
	if err != nil {
		t.Fatalf("dynamodb.NewClient(%s) = %v", endpoint, err)
	}
	var b [4]byte
	rand.Read(b[:])
	stage := "client-" + hex.EncodeToString(b[:]) + "-" + strconv.FormatInt(dynamoStages.Add(1), 10)
	t.Cleanup(func() {
		if err := dynamodb.DeleteTables(context.Background(), dc, stage); err != nil {
			t.Errorf("dynamodb.DeleteTables(%s) = %v", stage, err)
		}
	})
	if _, err := dynamodb.CreateTables(ctx, dc, stage); err != nil {
		t.Fatalf("dynamodb.CreateTables(%s) = %v", stage, err)
	}
	store, err := dynamodb.Open(ctx, dc, stage, nil)
	if err != nil {
		t.Fatalf("dynamodb.Open() = %v", err)
	}
	return store
}

// fakeClock is a settable clock shared by a server and a client's Sleep.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
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
