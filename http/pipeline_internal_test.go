package http

// Tests of the pipeline's pieces that the black-box tests cannot reach: the
// chain helper itself, a panicking handler, and the exact bytes of the error
// envelope and of a bulk item's error.

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/sqlite"
)

func TestChain_RunsStagesInReadingOrder(t *testing.T) {
	// stage returns a stage that records its name, then calls next unless
	// it is a stop.
	stage := func(ran *[]string, name string, stop bool) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				*ran = append(*ran, name)
				if !stop {
					next.ServeHTTP(w, r)
				}
			})
		}
	}
	for _, tt := range []struct {
		name   string
		stages []string // "!" before a name makes the stage stop
		want   []string
	}{
		{"NoStagesIsTheHandler", nil, []string{"handler"}},
		{"OneStage", []string{"a"}, []string{"a", "handler"}},
		{"FirstGivenRunsFirst", []string{"a", "b", "c"}, []string{"a", "b", "c", "handler"}},
		{"ReadingOrderNotAlphabetical", []string{"c", "a", "b"}, []string{"c", "a", "b", "handler"}},
		{"StageThatStopsRunsNothingAfterIt", []string{"a", "!b", "c"}, []string{"a", "b"}},
		{"FirstStageStops", []string{"!a", "b"}, []string{"a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ran []string
			var stages []func(http.Handler) http.Handler
			for _, s := range tt.stages {
				name, stop := strings.CutPrefix(s, "!")
				stages = append(stages, stage(&ran, name, stop))
			}
			h := chain(stages...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = append(ran, "handler") }))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			if !slices.Equal(ran, tt.want) {
				t.Fatalf("chain(%q) ran %q, want %q", tt.stages, ran, tt.want)
			}
		})
	}
}

// mustServer returns a Server over a SQLite store in a temporary directory
// and a buffer of its logs (JSON lines).
func mustServer(t *testing.T) (*Server, *teststore.LogBuffer) {
	t.Helper()
	store, err := sqlite.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logs := &teststore.LogBuffer{}
	return NewServer(triggers.NewService(store, nil), &Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))}), logs
}

// logLine returns the log line with message msg and the request ID, decoded.
func logLine(t *testing.T, logs *teststore.LogBuffer, msg, requestID string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg && m["request_id"] == requestID {
			return m
		}
	}
	t.Fatalf("no %q log line with request_id %q in:\n%s", msg, requestID, logs)
	return nil
}

// TestPipeline_PanicIsA500LoggedAndCounted: recover runs inside the log
// stage, so a panicking handler's 500 is in the envelope, in the request log
// line and in the request metrics. A handler of a route that needs a key
// but lacks the auth stage panics the same way.
func TestPipeline_PanicIsA500LoggedAndCounted(t *testing.T) {
	s, logs := mustServer(t)
	s.mux.HandleFunc("GET /test/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	s.mux.Handle("GET /test/nokey", keyHandler(func(http.ResponseWriter, *http.Request, triggers.APIKey) {
		t.Error("the handler ran without a key")
	}))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for _, tt := range []struct {
		path, panic string
	}{
		{"/test/panic", "boom"},
		{"/test/nokey", "http: no API key in the request context: the route lacks withAuth"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(ts.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			rid := resp.Header.Get("X-Request-ID")
			want := `{"error":{"code":"INTERNAL_ERROR","message":"internal error","details":{},"request_id":"` + rid + `"}}` + "\n"
			if resp.StatusCode != 500 || rid == "" || string(body) != want {
				t.Fatalf("GET %s = %d %s (X-Request-ID %q), want 500 %s", tt.path, resp.StatusCode, body, rid, want)
			}
			if p := logLine(t, logs, "panic", rid); p["panic"] != tt.panic {
				t.Errorf("panic log line %v, want panic %q", p, tt.panic)
			}
			line := logLine(t, logs, "request", rid)
			if line["status"] != 500.0 || line["error_code"] != "INTERNAL_ERROR" || line["route"] != "GET "+tt.path {
				t.Errorf("request log line %v, want status 500, error_code INTERNAL_ERROR, route GET %s", line, tt.path)
			}
		})
	}
	metrics, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	for _, want := range []string{
		`triggers_http_requests_total{route="GET /test/panic",status="500"} 1`,
		`triggers_http_requests_total{route="GET /test/nokey",status="500"} 1`,
		`triggers_http_errors_total{code="INTERNAL_ERROR"} 2`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestWireError_Bytes pins the bytes of the error envelope and of a bulk
// item's error, both built by wireError: members in the documented order,
// details always an object, an internal error's message and details hidden.
func TestWireError_Bytes(t *testing.T) {
	s, _ := mustServer(t)
	tooLarge := triggers.Errorf(triggers.ETOOLARGE, "items[3] is larger than the limit of %d bytes for one event", 2048)
	tooLarge.Details = map[string]any{"limit_bytes": 2048}
	for _, tt := range []struct {
		name     string
		err      error
		status   int
		envelope string
		item     string
	}{
		{"WithDetails", tooLarge, 413,
			`{"error":{"code":"PAYLOAD_TOO_LARGE","message":"items[3] is larger than the limit of 2048 bytes for one event","details":{"limit_bytes":2048},"request_id":"rid-1"}}`,
			`{"index":3,"error":{"code":"PAYLOAD_TOO_LARGE","message":"items[3] is larger than the limit of 2048 bytes for one event","details":{"limit_bytes":2048}}}`},
		{"NoDetailsIsAnEmptyObject", triggers.Errorf(triggers.ENOTFOUND, "event not found"), 404,
			`{"error":{"code":"NOT_FOUND","message":"event not found","details":{},"request_id":"rid-1"}}`,
			`{"index":3,"error":{"code":"NOT_FOUND","message":"event not found","details":{}}}`},
		{"InternalHidesMessageAndDetails", &triggers.Error{Code: triggers.EINTERNAL, Message: "disk on fire", Details: map[string]any{"path": "/secret"}}, 500,
			`{"error":{"code":"INTERNAL_ERROR","message":"internal error","details":{},"request_id":"rid-1"}}`,
			`{"index":3,"error":{"code":"INTERNAL_ERROR","message":"internal error","details":{}}}`},
		{"PlainErrorIsInternal", io.ErrUnexpectedEOF, 500,
			`{"error":{"code":"INTERNAL_ERROR","message":"internal error","details":{},"request_id":"rid-1"}}`,
			`{"index":3,"error":{"code":"INTERNAL_ERROR","message":"internal error","details":{}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var item []byte
			h := withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				item, _ = json.Marshal(s.itemFailure(r, bulkCreate, 3, tt.err))
				s.writeError(w, r, tt.err)
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("X-Request-ID", "rid-1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || rec.Body.String() != tt.envelope+"\n" {
				t.Errorf("writeError(%v) = %d %s, want %d %s", tt.err, rec.Code, rec.Body, tt.status, tt.envelope)
			}
			if string(item) != tt.item {
				t.Errorf("itemFailure(%v) = %s, want %s", tt.err, item, tt.item)
			}
		})
	}
}
