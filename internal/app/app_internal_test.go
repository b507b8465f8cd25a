package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// TestServerTimeouts_OutlastLongestWait: a receive may wait up to
// triggers.MaxWaitSeconds before it answers; the server's read and write
// deadlines must leave it that long plus a margin for its store work and
// its answer, or a long poll would be cut off.
func TestServerTimeouts_OutlastLongestWait(t *testing.T) {
	const margin = 5 * time.Second
	longest := triggers.MaxWaitSeconds * time.Second
	for name, d := range map[string]time.Duration{"read": readTimeout, "write": writeTimeout} {
		if d < longest+margin {
			t.Errorf("%s timeout = %v, want at least the longest wait %v + %v", name, d, longest, margin)
		}
	}
}

// TestServe_ShutdownAnswersWaitingReceive: when Serve's context ends
// (SIGTERM in `triggers serve`), a receive waiting for events answers at
// once with none, instead of holding the graceful shutdown for the rest of
// its wait_seconds, and Serve returns cleanly.
func TestServe_ShutdownAnswersWaitingReceive(t *testing.T) {
	const key = "shutdown-key-0123456789"
	a, err := Open(Config{DataDir: t.TempDir(), RateLimiter: "off", DevKey: key}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()

	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/inbox/receive", strings.NewReader(`{"wait_seconds":20}`))
		req.Header.Set("X-API-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- answer{status: resp.StatusCode, body: string(b)}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for a.Service.WaitingReceives() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the receive is not waiting after 5 s")
		}
		time.Sleep(time.Millisecond)
	}

	start := time.Now()
	stop()
	select {
	case ans := <-answered:
		if ans.err != nil || ans.status != http.StatusOK || !strings.HasPrefix(ans.body, `{"events":[]`) {
			t.Fatalf("waiting receive at shutdown = %d %s %v, want 200 with no events", ans.status, ans.body, ans.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting receive was not answered within 5 s of shutdown (it waits 20 s)")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve() = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v with a waiting receive, want at once", d)
	}
}
