package http_test

// Tests of issue 14's bounds at the HTTP layer, against real listening
// servers: the byte bound of inbox pages and receives, the budget of request
// bodies in flight, the log line of a cut-off response, the request size
// limits answered in the envelope, Range on static assets, the headers of
// /docs, and a refused request whose body is not read.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/http/ui"
)

// bigEvent is a create body whose payload has n bytes of text.
func bigEvent(n int) string {
	return `{"source":"big","event_type":"blob","payload":{"blob":"` + strings.Repeat("x", n) + `"}}`
}

// eventBytes is what an event on the wire weighs against the page bound
// (triggers.EventBytes): its payload and metadata.
func eventBytes(tb testing.TB, raw json.RawMessage) int {
	tb.Helper()
	var e struct{ Payload, Metadata json.RawMessage }
	if err := json.Unmarshal(raw, &e); err != nil {
		tb.Fatal(err)
	}
	return len(e.Payload) + len(e.Metadata)
}

func TestInbox_PageStopsAtByteBound(t *testing.T) {
	s := MustStart(t, nil)
	// 380 KB events: 11 fit the default bound of 4 MiB, 13 do not.
	var ids []string
	for range 13 {
		ids = append(ids, s.MustCreate(t, keyA, bigEvent(380_000)))
	}
	type page struct {
		Events     []json.RawMessage
		Pagination struct {
			NextCursor string `json:"next_cursor"`
		}
	}
	var got []string
	var pages []int
	path := "/v1/inbox?limit=100"
	for range 20 {
		r := s.Do(t, Req{Method: "GET", Path: path, Key: keyA})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, r.StatusCode, r.Body[:min(len(r.Body), 300)])
		}
		if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(r.Body)) {
			t.Errorf("Content-Length %q, body of %d bytes", cl, len(r.Body))
		}
		var p page
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, e := range p.Events {
			size += eventBytes(t, e)
			var id struct {
				EventID string `json:"event_id"`
			}
			json.Unmarshal(e, &id)
			got = append(got, id.EventID)
		}
		if len(p.Events) > 1 && size > triggers.MaxPageBytes {
			t.Errorf("a page of %d events holds %d event bytes, over the bound of %d", len(p.Events), size, triggers.MaxPageBytes)
		}
		pages = append(pages, len(p.Events))
		if p.Pagination.NextCursor == "" {
			break
		}
		path = "/v1/inbox?limit=100&cursor=" + p.Pagination.NextCursor
	}
	if fmt.Sprint(pages) != "[11 2]" {
		t.Errorf("pages of limit=100 over 13 events of 380 KB = %v events, want [11 2]", pages)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("paging returned %v, want every event once in order: %v", got, ids)
	}

	// A receive leases only what it returns: 11, then the other 2.
	for i, want := range []int{11, 2} {
		r := s.Do(t, Req{Method: "POST", Path: "/v1/inbox/receive", Key: keyA, Body: `{"max_events":25,"lease_seconds":60}`})
		var p page
		if err := json.Unmarshal(r.Body, &p); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("receive = %d, %v", r.StatusCode, err)
		}
		if len(p.Events) != want {
			t.Errorf("receive %d leased %d events of 380 KB, want %d", i+1, len(p.Events), want)
		}
	}
}

// rawConn opens a TCP connection to the test server.
func rawConn(t *testing.T, s *TestServer) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readResponse reads one response from conn within d, with its body.
func readResponse(t *testing.T, conn net.Conn, d time.Duration) (*http.Response, []byte) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", d, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the body: %v", err)
	}
	return resp, body
}

// checkEnvelope checks that a raw response is an error envelope with the
// status and code, and the request ID of its header.
func checkEnvelope(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var env struct {
		Error struct {
			Code      string         `json:"code"`
			Message   string         `json:"message"`
			Details   map[string]any `json:"details"`
			RequestID string         `json:"request_id"`
		} `json:"error"`
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &env) != nil ||
		env.Error.Code != code || env.Error.Details == nil || env.Error.RequestID == "" || env.Error.RequestID != resp.Header.Get("X-Request-ID") {
		t.Fatalf("response = %d %s %q, want %d %s in the error envelope", resp.StatusCode, resp.Header.Get("Content-Type"), body, status, code)
	}
}

func TestBodyBudget_Refuses503WithoutReadingTheBody(t *testing.T) {
	s := MustStartWith(t, nil, &triggershttp.Options{MaxBodyBytesInFlight: 1 << 20})
	host := strings.TrimPrefix(s.URL, "http://")
	// A bulk create of 900 KB whose body comes slowly holds 900 KB of the
	// 1 MiB budget while it is read.
	body := `{"items":[` + bigEvent(300_000) + `,` + bigEvent(300_000) + `,` + bigEvent(300_000) + `]}`
	slow := rawConn(t, s)
	fmt.Fprintf(slow, "POST /v1/events/bulk HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		host, keyA, len(body), body[:1000])
	time.Sleep(200 * time.Millisecond) // the server is reading it

	// Another body of 400 KB does not fit: 503 at once, its body unread.
	other := rawConn(t, s)
	fmt.Fprintf(other, "POST /v1/events HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: 400000\r\n\r\n", host, keyA)
	resp, got := readResponse(t, other, 3*time.Second)
	checkEnvelope(t, resp, got, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Errorf("503: Retry-After %q, connection closed %v; want 1 and the connection closed", resp.Header.Get("Retry-After"), resp.Close)
	}
	// A small one fits beside it.
	if r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: `{"source":"s","event_type":"t","payload":{"n":1}}`}); r.StatusCode != http.StatusCreated {
		t.Errorf("a small create beside it = %d %s, want 201", r.StatusCode, r.Body)
	}

	// Once the slow body is in and answered, its bytes are given back.
	io.WriteString(slow, body[1000:])
	if resp, got := readResponse(t, slow, 10*time.Second); resp.StatusCode != http.StatusOK {
		t.Fatalf("the slow bulk create = %d %s", resp.StatusCode, got)
	}
	if r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: bigEvent(390_000)}); r.StatusCode != http.StatusCreated {
		t.Errorf("a 390 KB create after it = %d %s, want 201", r.StatusCode, r.Body)
	}
}

func TestLog_TellsCutOffResponse(t *testing.T) {
	s := MustStartServer(t, nil, nil, func(hs *http.Server) {
		hs.WriteTimeout = time.Second
	})
	for range 11 {
		s.MustCreate(t, keyA, bigEvent(380_000))
	}
	// A client that asks for a 4 MB page and reads none of it: with its
	// window closed the server's writes block until the write timeout cuts
	// the response off.
	conn := rawConn(t, s)
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /v1/inbox?limit=100 HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nX-Request-ID: cut-off-reader\r\n\r\n", keyA)
	// And one that reads it whole.
	r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?limit=100", Key: keyA, Header: map[string]string{"X-Request-ID": "whole-reader"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("inbox = %d", r.StatusCode)
	}
	var line string
	for deadline := time.Now().Add(10 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		line = logLine(s, "cut-off-reader", "request")
	}
	if !strings.Contains(line, `"status":200`) || !strings.Contains(line, `"cut_off":true`) || !strings.Contains(line, `"write_error":`) {
		t.Errorf("log line of the cut-off response = %s, want status 200 with cut_off true and the write error", line)
	}
	if whole := logLine(s, "whole-reader", "request"); whole == "" || strings.Contains(whole, "cut_off") {
		t.Errorf("log line of the complete response = %s, want one without cut_off", whole)
	}
}

func TestRequestLimits_AnsweredInTheEnvelope(t *testing.T) {
	s := MustStart(t, nil)
	host := strings.TrimPrefix(s.URL, "http://")
	for _, tc := range []struct {
		name         string
		target, head string // the request target; extra header lines
		status       int
		code         string
	}{
		{"LongQuery", "/v1/inbox?source=" + strings.Repeat("a", triggershttp.MaxURLBytes), "", http.StatusRequestURITooLong, "URI_TOO_LONG"},
		{"LongPath", "/v1/events/" + strings.Repeat("a", triggershttp.MaxURLBytes), "", http.StatusRequestURITooLong, "URI_TOO_LONG"},
		{"LongHeaders", "/v1/inbox", "X-Padding: " + strings.Repeat("p", triggershttp.MaxHeaderBytes) + "\r\n",
			http.StatusRequestHeaderFieldsTooLarge, "REQUEST_HEADERS_TOO_LARGE"},
		{"ManyHeaders", "/v1/health", strings.Repeat("X-Padding: "+strings.Repeat("p", 1000)+"\r\n", 40),
			http.StatusRequestHeaderFieldsTooLarge, "REQUEST_HEADERS_TOO_LARGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := rawConn(t, s)
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\n%s\r\n", tc.target, host, keyA, tc.head)
			resp, body := readResponse(t, conn, 5*time.Second)
			checkEnvelope(t, resp, body, tc.status, tc.code)
		})
	}
	t.Run("JustUnderTheLimitsPass", func(t *testing.T) {
		target := "/v1/inbox?source=" + strings.Repeat("a", 90) + "&x=" + strings.Repeat("b", triggershttp.MaxURLBytes-120)
		conn := rawConn(t, s)
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\n\r\n", target, host, keyA)
		resp, body := readResponse(t, conn, 5*time.Second)
		checkEnvelope(t, resp, body, http.StatusBadRequest, "VALIDATION_ERROR") // the unknown parameter x
	})
	t.Run("FarOverIsNetHTTPs", func(t *testing.T) {
		// Beyond ServerMaxHeaderBytes, net/http answers before any handler
		// (docs/ERRORS.md lists these answers).
		conn := rawConn(t, s)
		fmt.Fprintf(conn, "GET /v1/health HTTP/1.1\r\nHost: %s\r\nX-Padding: %s\r\n\r\n", host, strings.Repeat("p", 2*triggershttp.ServerMaxHeaderBytes))
		resp, _ := readResponse(t, conn, 5*time.Second)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("headers of %d bytes = %d, want net/http's 431", 2*triggershttp.ServerMaxHeaderBytes, resp.StatusCode)
		}
	})
}

func TestStaticAssets_RangeIsIgnored(t *testing.T) {
	s := MustStart(t, nil)
	for _, path := range []string{"/ui/app.js", "/ui", "/docs", "/docs/reference.js"} {
		full, _ := getUI(t, s.URL+path)
		if full.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, full.StatusCode)
		}
		ranges := make([]string, 3000)
		for i := range ranges {
			ranges[i] = fmt.Sprintf("%d-%d", i, i)
		}
		for name, rng := range map[string]string{
			"OneRange":        "bytes=0-9",
			"ManyRanges":      "bytes=" + strings.Join(ranges[:1000], ","),
			"Unsatisfiable":   "bytes=99999999-",
			"Malformed":       "bytes=abc",
			"OtherUnit":       "lines=1-2",
			"SuffixTooLarge":  "bytes=-99999999",
			"OverlappingMany": "bytes=0-,0-,0-,0-,0-,0-",
		} {
			req, _ := http.NewRequest("GET", s.URL+path, nil)
			req.Header.Set("Range", rng)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || int64(len(body)) != full.ContentLength || resp.Header.Get("Content-Range") != "" {
				t.Errorf("GET %s with Range %s = %d, %d bytes, Content-Range %q; want 200 with the whole %d bytes",
					path, name, resp.StatusCode, len(body), resp.Header.Get("Content-Range"), full.ContentLength)
			}
		}
	}
}

func TestDocs_ServedUnderTheDashboardsHeaders(t *testing.T) {
	s := MustStart(t, nil)
	for _, tc := range []struct{ path, contentType string }{
		{"/docs", "text/html; charset=utf-8"},
		{"/docs/reference.js", "text/javascript; charset=utf-8"},
		{"/docs/reference.css", "text/css; charset=utf-8"},
	} {
		resp, body := getUI(t, s.URL+tc.path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.contentType || len(body) == 0 {
			t.Fatalf("GET %s = %d %q, %d bytes", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		checkUIHeaders(t, tc.path, resp)
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options = %q, want DENY", tc.path, got)
		}
	}
	// The page itself goes through Do too: it is an operation of the API.
	if r := s.Do(t, Req{Method: "GET", Path: "/docs"}); r.Header.Get("Content-Security-Policy") != ui.CSP {
		t.Errorf("GET /docs: Content-Security-Policy = %q, want the dashboard's", r.Header.Get("Content-Security-Policy"))
	}
}

func TestRefusal_AnsweredAtOnceWithoutReadingTheBody(t *testing.T) {
	s := MustStart(t, nil)
	host := strings.TrimPrefix(s.URL, "http://")
	for _, tc := range []struct {
		name, key string
		status    int
		code      string
	}{
		{"WrongKey", "not-a-key", http.StatusUnauthorized, "UNAUTHORIZED"},
		{"NoKey", "", http.StatusUnauthorized, "UNAUTHORIZED"},
		{"KeyButBadEventID", keyA, http.StatusUnprocessableEntity, "VALIDATION_ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Headers announcing a 100 KB body, of which only 10 bytes come.
			conn := rawConn(t, s)
			path := "/v1/events"
			if tc.code == "VALIDATION_ERROR" {
				path = "/v1/events/not-a-uuid/ack"
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"source\":", path, host, tc.key)
			start := time.Now()
			resp, body := readResponse(t, conn, 3*time.Second)
			checkEnvelope(t, resp, body, tc.status, tc.code)
			if !resp.Close { // http.ReadResponse takes Connection: close out of the header
				t.Errorf("no Connection: close")
			}
			// And the server closes the connection at once.
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			if n, err := conn.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the answer: read %d bytes, %v; want EOF", n, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("answered and closed after %v", d)
			}
		})
	}
}

// TestBodyBudget_WaitingReceiveHoldsNone checks that a long-polling receive
// gives its body's bytes back to the budget once parsed: two padded receives
// waiting must not make another tenant's create a 503.
func TestBodyBudget_WaitingReceiveHoldsNone(t *testing.T) {
	s := MustStartWith(t, nil, &triggershttp.Options{MaxBodyBytesInFlight: 1 << 20})
	body := `{"wait_seconds":2,"source":"nothing"` + strings.Repeat(" ", 400_000) + `}`
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { s.Do(t, Req{Method: "POST", Path: "/v1/inbox/receive", Key: keyA, Body: body}) })
	}
	time.Sleep(500 * time.Millisecond) // both are waiting now
	if r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyB, Body: bigEvent(300_000)}); r.StatusCode != http.StatusCreated {
		t.Errorf("create of another tenant while receives wait = %d %s, want 201", r.StatusCode, r.Body[:min(len(r.Body), 200)])
	}
	wg.Wait()
}
