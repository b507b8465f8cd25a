package http_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/http/openapi"
	"github.com/triggersapi/triggers/sqlite"
)

func TestAuthentication(t *testing.T) {
	s := MustStart(t, nil)
	cases := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"ErrMissing", nil, 401},
		{"ErrUnknown", map[string]string{"X-API-Key": "not-a-key-at-all-000"}, 401},
		{"ErrBearerUnknown", map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}, 401},
		{"ErrBasicScheme", map[string]string{"Authorization": "Basic " + keyA}, 401},
		{"XAPIKey", map[string]string{"X-API-Key": keyA}, 200},
		{"Bearer", map[string]string{"Authorization": "Bearer " + keyA}, 200},
		{"BearerLowercase", map[string]string{"Authorization": "bearer " + keyA}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Header: c.header})
			if r.StatusCode != c.status {
				t.Fatalf("status %d %s, want %d", r.StatusCode, r.Body, c.status)
			}
			if c.status == 401 && (r.ErrorCode(t) != "UNAUTHORIZED" || r.Header.Get("WWW-Authenticate") == "") {
				t.Fatalf("401 without UNAUTHORIZED envelope or WWW-Authenticate: %s", r.Body)
			}
		})
	}
	if strings.Contains(s.Logs.String(), keyA) {
		t.Fatal("a raw API key appears in the logs")
	}
}

func TestAuthentication_RevokedKeyStopsWithinFiveSeconds(t *testing.T) {
	s := MustStart(t, nil)
	k, raw, err := s.Service.CreateKey(t.Context(), triggers.KeySpec{Tenant: "tenant-a"})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: raw}); r.StatusCode != 200 {
		t.Fatalf("new key: %d", r.StatusCode)
	}
	if _, err := s.Service.RevokeKey(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: raw}); r.StatusCode == 401 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("revoked key still accepted after 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRouting_Errors(t *testing.T) {
	s := MustStart(t, nil)
	cases := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"unknown route", "GET", "/v1/nothing", 404, "NOT_FOUND", ""},
		{"unknown root path", "GET", "/favicon.ico", 404, "NOT_FOUND", ""},
		{"wrong method on events", "PUT", "/v1/events", 405, "METHOD_NOT_ALLOWED", "POST"},
		{"wrong method on an event", "PATCH", "/v1/events/0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", 405, "METHOD_NOT_ALLOWED", "DELETE, GET, HEAD"},
		{"wrong method on inbox", "POST", "/v1/inbox", 405, "METHOD_NOT_ALLOWED", "GET, HEAD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, Req{Method: c.method, Path: c.path, Key: keyA})
			if r.StatusCode != c.status || r.ErrorCode(t) != c.code {
				t.Fatalf("%s %s = %d %s, want %d %s", c.method, c.path, r.StatusCode, r.Body, c.status, c.code)
			}
			if c.allow != "" && r.Header.Get("Allow") != c.allow {
				t.Fatalf("Allow = %q, want %q", r.Header.Get("Allow"), c.allow)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	s := MustStart(t, nil)
	cases := []struct {
		name, sent string
		kept       bool
	}{
		{"kept", "client-abc-123", true},
		{"kept with spaces", "trace 42", true},
		{"too long", strings.Repeat("a", 129), false},
		{"not ASCII", "héllo", false},
		{"absent", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{}
			if c.sent != "" {
				h["X-Request-ID"] = c.sent
			}
			r := s.Do(t, Req{Method: "GET", Path: "/v1/health", Header: h})
			got := r.Header.Get("X-Request-ID")
			if c.kept && got != c.sent || !c.kept && (got == c.sent || len(got) != 36) {
				t.Fatalf("X-Request-ID = %q for %q sent (kept %v)", got, c.sent, c.kept)
			}
		})
	}
	r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Header: map[string]string{"X-Request-ID": "trace-401"}})
	if !strings.Contains(s.Logs.String(), `"request_id":"trace-401"`) || r.StatusCode != 401 {
		t.Fatal("the request log line lacks the request ID")
	}
}

func TestPublicEndpoints(t *testing.T) {
	s := MustStart(t, nil)
	for _, c := range []struct {
		path, contentType string
	}{
		{"/", "application/json"},
		{"/v1/health", "application/json"},
		{"/v1/health/ready", "application/json"},
		{"/openapi.json", "application/json"},
		{"/openapi.yaml", "application/yaml"},
		{"/docs", "text/html; charset=utf-8"},
		{"/metrics", "text/plain"},
	} {
		t.Run(c.path, func(t *testing.T) {
			r := s.Do(t, Req{Method: "GET", Path: c.path})
			if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), c.contentType) {
				t.Fatalf("GET %s = %d %q, want 200 %s", c.path, r.StatusCode, r.Header.Get("Content-Type"), c.contentType)
			}
		})
	}
	h := s.Do(t, Req{Method: "GET", Path: "/v1/health"}).JSON(t)
	if h["status"] != "healthy" || h["version"] != "test" || !timestampPattern.MatchString(h["timestamp"].(string)) {
		t.Fatalf("health = %v", h)
	}
	if y := s.Do(t, Req{Method: "GET", Path: "/openapi.yaml"}).Body; !bytes.Equal(y, openapi.YAML) || !bytes.HasPrefix(y, []byte(`"openapi": "3.1.0"`)) {
		t.Fatalf("GET /openapi.yaml = %.200s, want openapi.YAML", y)
	}
	metrics := string(s.Do(t, Req{Method: "GET", Path: "/metrics"}).Body)
	if !strings.Contains(metrics, `triggers_http_requests_total{route="GET /v1/health",status="200"}`) {
		t.Fatalf("metrics lack the request counter:\n%.2000s", metrics)
	}
}

func TestRequestLog(t *testing.T) {
	s := MustStart(t, nil)
	s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: `{"source":"a","event_type":"b","payload":{"secret-payload-value":1}}`,
		Header: map[string]string{"X-Request-ID": "log-check-1"}})
	var line string
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, `"request_id":"log-check-1"`) {
			line = l
		}
	}
	for _, want := range []string{`"route":"POST /v1/events"`, `"status":201`, `"key_id":"key_`, `"latency_ms":`} {
		if !strings.Contains(line, want) {
			t.Fatalf("request log line lacks %s: %s", want, line)
		}
	}
	if strings.Contains(s.Logs.String(), "secret-payload-value") || strings.Contains(s.Logs.String(), keyA) {
		t.Fatal("logs contain a payload or a raw key")
	}
}

func TestReady_StoreDown(t *testing.T) {
	store, err := sqlite.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := triggershttp.NewServer(triggers.NewService(store, nil), &triggershttp.Options{Logger: slog.New(slog.DiscardHandler)})
	store.Close()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/health/ready", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "SERVICE_UNAVAILABLE") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("ready with the store closed = %d %s (Retry-After %q), want 503 SERVICE_UNAVAILABLE with Retry-After",
			rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/health", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("health (liveness) with the store closed = %d, want 200", rec.Code)
	}
}

// TestStoreUnreachable_Is503 puts the API over a DynamoDB store whose
// endpoint refuses connections: after the SDK's retries every request that
// needs the store is a 503 SERVICE_UNAVAILABLE envelope with Retry-After,
// never a 500 and never a hang.
func TestStoreUnreachable_Is503(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	client, err := dynamodb.NewClient(t.Context(), dead)
	if err != nil {
		t.Fatal(err)
	}
	store, err := dynamodb.Open(t.Context(), client, "dead", &dynamodb.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := triggershttp.NewServer(triggers.NewService(store, nil), &triggershttp.Options{Logger: slog.New(slog.DiscardHandler)})
	for _, path := range []string{"/v1/inbox", "/v1/health/ready"} {
		start := time.Now()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-API-Key", keyA)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "SERVICE_UNAVAILABLE") || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("GET %s with the store unreachable = %d %s, want 503 SERVICE_UNAVAILABLE with Retry-After", path, rec.Code, rec.Body)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("GET %s took %v with the store unreachable; want a bounded answer", path, d)
		}
	}
}
