package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOpen_SQLiteMetrics checks that a server on the embedded store exports
// its group commits and where its inbox pages came from, with values that
// follow the requests made.
func TestOpen_SQLiteMetrics(t *testing.T) {
	a, err := Open(Config{DataDir: t.TempDir(), RateLimiter: "off", DevKey: "metrics-key-0123456789"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Server.Handler())
	defer srv.Close()
	do := func(method, path, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", "metrics-key-0123456789")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
		}
		return string(b)
	}
	for range 3 {
		do("POST", "/v1/events", `{"source":"s","event_type":"t","payload":{"n":1}}`)
	}
	for range 2 { // the first page of 1 from the database, then from memory
		do("GET", "/v1/inbox?limit=1", "")
	}
	metrics := do("GET", "/metrics", "")
	for _, want := range []string{
		"triggers_sqlite_commits_total ",
		"triggers_sqlite_committed_writes_total ",
		`triggers_sqlite_inbox_pages_total{from="database"} 1`,
		`triggers_sqlite_inbox_pages_total{from="memory"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no line starting %q", want)
		}
	}
	if strings.Contains(metrics, "triggers_sqlite_committed_writes_total 0\n") {
		t.Errorf("/metrics counts no committed writes after 3 creates")
	}
}
