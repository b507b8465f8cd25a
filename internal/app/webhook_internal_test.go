package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/triggersapi/triggers/internal/egress"
	"github.com/triggersapi/triggers/webhook"
)

// TestWebhookURLPolicy: https only unless allowInsecure, and no private
// destination unless the guard allows it; the refusal is the guard's
// reason, fit for a 400 naming url. IP literals only: nothing is resolved
// or connected to.
func TestWebhookURLPolicy(t *testing.T) {
	for _, c := range []struct {
		name                    string
		url                     string
		insecure, private, pass bool
	}{
		{"PublicHTTPS", "https://93.184.215.14/hooks", false, false, true},
		{"HTTPRefused", "http://93.184.215.14/hooks", false, false, false},
		{"HTTPAllowed", "http://93.184.215.14/hooks", true, false, true},
		{"LoopbackRefused", "https://127.0.0.1:8443/hooks", false, false, false},
		{"MetadataRefused", "https://169.254.169.254/latest", false, false, false},
		{"MappedPrivateRefused", "https://[::ffff:10.0.0.1]/", false, false, false},
		{"LoopbackAllowedWhenPrivate", "http://127.0.0.1:8080/hooks", true, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, _ := url.Parse(c.url)
			policy := webhookURLPolicy(&egress.Guard{AllowPrivate: c.private}, c.insecure)
			err := policy(context.Background(), u)
			if (err == nil) != c.pass {
				t.Fatalf("policy(%s) = %v, want pass %v", c.url, err, c.pass)
			}
			if err != nil && strings.HasPrefix(err.Error(), "egress:") {
				t.Errorf("policy(%s) = %q: want the reason alone, for the 400", c.url, err)
			}
		})
	}
}

// TestServe_DeliversWebhooks runs the real server with its dispatcher: an
// event created over HTTP reaches a loopback receiver, signed, and the
// dispatcher's metrics are served. It needs a store with webhooks (the
// SQLite store once it implements triggers.WebhookStore).
func TestServe_DeliversWebhooks(t *testing.T) {
	const key = "webhook-serve-key-0123456789"
	a, err := Open(Config{DataDir: t.TempDir(), RateLimiter: "off", DevKey: key,
		WebhookAllowInsecure: true, WebhookAllowPrivate: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Dispatcher == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the SQLite store has no WebhookStore: no dispatcher")
		}
		t.Skip("the SQLite store does not implement triggers.WebhookStore yet (branch webhook-sqlite)")
	}
	if err := a.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	rv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		got <- r
	}))
	defer rv.Close()
	sub, err := a.Service.CreateSubscription(context.Background(), "dev", []byte(`{"url":"`+rv.URL+`"}`))
	if err != nil {
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
	base := "http://" + ln.Addr().String()
	req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(`{"source":"s","event_type":"t","payload":{"n":1.50}}`))
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", resp, err)
	}
	resp.Body.Close()
	body, r := <-bodies, <-got
	if err := webhook.Verify(sub.Secret, r.Header, body); err != nil || !strings.Contains(string(body), `"n":1.50`) {
		t.Fatalf("delivery %s: Verify = %v", body, err)
	}
	if !strings.HasPrefix(r.UserAgent(), "Triggers/") {
		t.Errorf("User-Agent = %q", r.UserAgent())
	}
	m, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(m.Body)
	m.Body.Close()
	for _, name := range []string{"triggers_webhook_deliveries_total", "triggers_webhook_attempt_duration_seconds"} {
		if !strings.Contains(string(text), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve() = %v", err)
	}
}
