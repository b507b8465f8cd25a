package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/http/openapi/openapitest"
	"github.com/triggersapi/triggers/internal/teststore"
)

// The test keys: two tenants, so that every test can check isolation.
const (
	keyA = "test-key-tenant-a-0001"
	keyB = "test-key-tenant-b-0001"
)

// TestServer is a real Triggers server on a loopback port over the store
// chosen by TRIGGERS_TEST_STORE (see openTestStore): by default a SQLite
// store in a temporary directory. Every response it gives to Do is checked
// against the OpenAPI document.
type TestServer struct {
	URL     string
	Service *triggers.Service
	Logs    *teststore.LogBuffer
	client  *http.Client
	oas     *openapitest.Validator
}

// MustStart starts a TestServer; opts may be nil.
func MustStart(tb testing.TB, opts *triggers.Options) *TestServer {
	tb.Helper()
	return MustStartWith(tb, opts, nil)
}

// MustStartWith starts a TestServer with HTTP options too; both may be nil.
func MustStartWith(tb testing.TB, opts *triggers.Options, httpOpts *triggershttp.Options) *TestServer {
	tb.Helper()
	return mustStart(tb, opts, httpOpts, nil, nil)
}

// MustStartServer starts a TestServer whose http.Server configure may
// change (timeouts, connection hooks) before it serves; opts and httpOpts
// may be nil.
func MustStartServer(tb testing.TB, opts *triggers.Options, httpOpts *triggershttp.Options, configure func(*http.Server)) *TestServer {
	tb.Helper()
	return mustStart(tb, opts, httpOpts, nil, configure)
}

// MustStartWrapped starts a TestServer whose service uses wrap(store)
// instead of the store itself (to instrument it).
func MustStartWrapped(tb testing.TB, wrap func(triggers.Store) triggers.Store) *TestServer {
	tb.Helper()
	return mustStart(tb, nil, nil, wrap, nil)
}

func mustStart(tb testing.TB, opts *triggers.Options, httpOpts *triggershttp.Options, wrap func(triggers.Store) triggers.Store,
	configure func(*http.Server)) *TestServer {
	tb.Helper()
	store := openTestStore(tb)
	if wrap != nil {
		store = wrap(store)
	}
	svc := triggers.NewService(store, opts)
	for _, k := range []struct{ raw, tenant string }{{keyA, "tenant-a"}, {keyB, "tenant-b"}} {
		if _, _, err := svc.CreateKey(context.Background(), triggers.KeySpec{Tenant: k.tenant, Raw: k.raw}); err != nil {
			tb.Fatalf("CreateKey() = %v", err)
		}
	}
	logs := &teststore.LogBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	o := triggershttp.Options{}
	if httpOpts != nil {
		o = *httpOpts
	}
	o.Version, o.Logger = "test", logger
	srv := triggershttp.NewServer(svc, &o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	// The header limit the binaries set (internal/app), so that requests
	// just over the server's own bounds are answered by it.
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: triggershttp.ServerMaxHeaderBytes}
	if configure != nil {
		configure(hs)
	}
	go hs.Serve(ln)
	tb.Cleanup(func() { hs.Close() })
	return &TestServer{URL: "http://" + ln.Addr().String(), Service: svc, Logs: logs,
		client: &http.Client{Timeout: 30 * time.Second}, oas: openapitest.New(tb)}
}

// openTestStore opens the store the tests run against (teststore.Open:
// TRIGGERS_TEST_STORE chooses sqlite or dynamodb).
func openTestStore(tb testing.TB) triggers.Store {
	tb.Helper()
	return teststore.Open(tb, "http")
}

// Response is a received response with its body read.
type Response struct {
	*http.Response
	Body []byte
}

// JSON decodes the body into a map.
func (r Response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("response body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// ErrorCode returns error.code of an error envelope.
func (r Response) ErrorCode(tb testing.TB) string {
	tb.Helper()
	e, ok := r.JSON(tb)["error"].(map[string]any)
	if !ok {
		tb.Fatalf("no error envelope in %s", r.Body)
	}
	return e["code"].(string)
}

// Req describes a request for Do.
type Req struct {
	Method, Path string
	Key          string // sent as X-API-Key when not empty
	Body         string
	Header       map[string]string
	NoJSONType   bool // do not set Content-Type: application/json on a body
}

// Do sends the request, reads the response, and checks it against the
// OpenAPI document and the invariants every response keeps: an X-Request-ID,
// a JSON body (but for /docs and /metrics) with the same request_id, and an
// error envelope on every 4xx/5xx.
func (s *TestServer) Do(tb testing.TB, rq Req) Response {
	tb.Helper()
	var body io.Reader
	if rq.Body != "" {
		body = strings.NewReader(rq.Body)
	}
	req, err := http.NewRequest(rq.Method, s.URL+rq.Path, body)
	if err != nil {
		tb.Fatalf("NewRequest: %v", err)
	}
	if rq.Key != "" {
		req.Header.Set("X-API-Key", rq.Key)
	}
	if rq.Body != "" && !rq.NoJSONType {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(rq.Body) > 32<<10 {
		// As curl does for large bodies: a refusal (413, 401, ...) then comes
		// before the body is sent. A client that sends on into a connection
		// the server closes gets a reset, and Go's client reports that
		// rather than the answer it may already have read.
		req.Header.Set("Expect", "100-continue")
	}
	for k, v := range rq.Header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", rq.Method, rq.Path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	s.oas.Check(tb, req, []byte(rq.Body), resp, respBody)
	rid := resp.Header.Get("X-Request-ID")
	if rid == "" {
		tb.Fatalf("%s %s: no X-Request-ID header", rq.Method, rq.Path)
	}
	if rq.Method != http.MethodHead && rq.Path != "/docs" && rq.Path != "/metrics" && rq.Path != "/openapi.json" && rq.Path != "/openapi.yaml" {
		var m map[string]any
		if err := json.Unmarshal(respBody, &m); err != nil {
			tb.Fatalf("%s %s: body is not JSON: %v\n%s", rq.Method, rq.Path, err, respBody)
		}
		got := m["request_id"]
		if e, ok := m["error"].(map[string]any); ok {
			got = e["request_id"]
		} else if resp.StatusCode >= 400 {
			tb.Fatalf("%s %s: status %d without an error envelope: %s", rq.Method, rq.Path, resp.StatusCode, respBody)
		}
		if got != rid {
			tb.Fatalf("%s %s: body request_id %v, header X-Request-ID %q", rq.Method, rq.Path, got, rid)
		}
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		tb.Fatalf("%s %s: status %d: %s", rq.Method, rq.Path, resp.StatusCode, respBody)
	}
	return Response{Response: resp, Body: respBody}
}

// MustCreate creates an event and returns its id.
func (s *TestServer) MustCreate(tb testing.TB, key, body string) string {
	tb.Helper()
	r := s.Do(tb, Req{Method: "POST", Path: "/v1/events", Key: key, Body: body})
	if r.StatusCode != http.StatusCreated {
		tb.Fatalf("create: status %d, want 201: %s", r.StatusCode, r.Body)
	}
	return r.JSON(tb)["event_id"].(string)
}
