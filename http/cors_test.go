package http_test

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/ratelimit"
)

// Preflights are not API operations (the OpenAPI document has no OPTIONS),
// so they are sent with plain net/http; actual requests go through
// TestServer.Do and are checked against the document as usual.

const (
	originApp   = "https://app.example.com"
	originOther = "http://localhost:5173"
	originEvil  = "https://evil.example"
)

// corsHeaders are the response headers CORS adds or depends on.
var corsHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Expose-Headers",
	"Access-Control-Allow-Credentials"}

// exposedHeaders are the response headers a browser script must be able to read.
var exposedHeaders = []string{"X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining",
	"X-RateLimit-Reset", "RateLimit", "RateLimit-Policy", "Retry-After", "Idempotent-Replayed"}

// startCORS starts a server with the in-process rate limiter, a fixed clock
// (so that a key's budget does not refill during a test) and these origins.
func startCORS(t *testing.T, origins ...string) *TestServer {
	t.Helper()
	now := time.Now()
	cors, err := triggershttp.ParseCORSOrigins(strings.Join(origins, ","))
	if err != nil {
		t.Fatal(err)
	}
	return MustStartWith(t, &triggers.Options{Now: func() time.Time { return now }},
		&triggershttp.Options{Limiter: ratelimit.NewLocal(), CORS: cors})
}

// mustKey creates a key of tenant-a with this rate limit and allowlist.
func mustKey(t *testing.T, s *TestServer, limit int, allowlist string) string {
	t.Helper()
	ips, err := triggers.ParseAllowlist(allowlist)
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := s.Service.CreateKey(t.Context(), triggers.KeySpec{Tenant: "tenant-a", RateLimit: limit, AllowedIPs: ips})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// send sends a request with plain net/http and reads the whole response.
func send(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// preflight sends what a browser sends before a cross-origin GET with a key.
func preflight(t *testing.T, s *TestServer, path, origin string) (*http.Response, []byte) {
	t.Helper()
	return send(t, http.MethodOptions, s.URL+path, map[string]string{"Origin": origin,
		"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key,x-request-id"})
}

// varies reports whether the response's Vary names the header.
func varies(h http.Header, name string) bool {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// checkNoCORS fails if the response carries any CORS header.
func checkNoCORS(t *testing.T, what string, h http.Header) {
	t.Helper()
	for _, name := range corsHeaders {
		if v := h.Values(name); len(v) > 0 {
			t.Errorf("%s: %s = %q, want none", what, name, v)
		}
	}
}

// checkActualCORS checks the headers of a response to an actual (not
// preflight) request from an allowed origin.
func checkActualCORS(t *testing.T, what string, h http.Header, wantOrigin string) {
	t.Helper()
	if got := h.Get("Access-Control-Allow-Origin"); got != wantOrigin {
		t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", what, got, wantOrigin)
	}
	if !varies(h, "Origin") {
		t.Errorf("%s: Vary = %q, want Origin in it", what, h.Values("Vary"))
	}
	exposed := strings.Split(h.Get("Access-Control-Expose-Headers"), ", ")
	for _, want := range exposedHeaders {
		if !slices.ContainsFunc(exposed, func(e string) bool { return strings.EqualFold(e, want) }) {
			t.Errorf("%s: Access-Control-Expose-Headers = %q, lacks %s", what, h.Get("Access-Control-Expose-Headers"), want)
		}
	}
	if v := h.Values("Access-Control-Allow-Credentials"); len(v) > 0 {
		t.Errorf("%s: Access-Control-Allow-Credentials = %q, want none", what, v)
	}
}

func TestCORS_Off(t *testing.T) {
	s := startCORS(t)
	key := mustKey(t, s, 100, "")
	// An OPTIONS is whatever the mux makes of it, with or without the
	// preflight headers: 405 with Allow on a known path, 404 elsewhere.
	for _, c := range []struct {
		path string
		want int
	}{{"/v1/inbox", http.StatusMethodNotAllowed}, {"/v1/events", http.StatusMethodNotAllowed}, {"/nope", http.StatusNotFound}} {
		plain, _ := send(t, http.MethodOptions, s.URL+c.path, nil)
		resp, body := preflight(t, s, c.path, originApp)
		if resp.StatusCode != c.want || plain.StatusCode != c.want {
			t.Errorf("OPTIONS %s = %d (preflight) and %d (plain), want %d: %s", c.path, resp.StatusCode, plain.StatusCode, c.want, body)
		}
		if resp.Header.Get("Allow") != plain.Header.Get("Allow") {
			t.Errorf("OPTIONS %s: Allow = %q (preflight), %q (plain)", c.path, resp.Header.Get("Allow"), plain.Header.Get("Allow"))
		}
		checkNoCORS(t, "OPTIONS "+c.path, resp.Header)
		if varies(resp.Header, "Origin") {
			t.Errorf("OPTIONS %s: Vary: Origin with CORS off", c.path)
		}
	}
	r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key, Header: map[string]string{"Origin": originApp}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/inbox = %d: %s", r.StatusCode, r.Body)
	}
	checkNoCORS(t, "GET /v1/inbox", r.Header)
	if varies(r.Header, "Origin") {
		t.Errorf("GET /v1/inbox: Vary: Origin with CORS off")
	}
}

func TestCORS_Preflight(t *testing.T) {
	cases := []struct {
		name    string
		origins []string
		path    string
		origin  string
		want    string // Access-Control-Allow-Origin; "" for no CORS headers at all
	}{
		{"OK", []string{originApp}, "/v1/inbox", originApp, originApp},
		{"OKSecondOfTwo", []string{originApp, originOther}, "/v1/events/bulk/ack", originOther, originOther},
		{"OKNormalizedConfig", []string{"HTTPS://App.Example.com:443"}, "/v1/inbox", originApp, originApp},
		{"OKAnyOrigin", []string{"*"}, "/v1/inbox", originEvil, "*"},
		{"OKUnknownPath", []string{originApp}, "/nope", originApp, originApp},
		{"OKEventPath", []string{originApp}, "/v1/events/0b7e5a3c-2f1d-4c8e-9a6b-1d2e3f4a5b6c", originApp, originApp},
		{"DisallowedOrigin", []string{originApp}, "/v1/inbox", originEvil, ""},
		{"DisallowedOtherPort", []string{originApp}, "/v1/inbox", originApp + ":8443", ""},
		{"DisallowedOtherScheme", []string{originApp}, "/v1/inbox", "http://app.example.com", ""},
		{"DisallowedNull", []string{originApp}, "/v1/inbox", "null", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startCORS(t, c.origins...)
			resp, body := preflight(t, s, c.path, c.origin)
			if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("preflight = %d %q, want 204 and no body", resp.StatusCode, body)
			}
			if resp.Header.Get("X-Request-ID") == "" {
				t.Errorf("preflight: no X-Request-ID")
			}
			for _, v := range []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"} {
				if !varies(resp.Header, v) {
					t.Errorf("preflight: Vary = %q, lacks %s", resp.Header.Values("Vary"), v)
				}
			}
			if c.want == "" {
				checkNoCORS(t, "preflight", resp.Header)
				return
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":  c.want,
				"Access-Control-Allow-Methods": "GET, HEAD, POST, DELETE",
				"Access-Control-Allow-Headers": "X-API-Key, Authorization, Content-Type, Idempotency-Key, X-Request-ID",
				"Access-Control-Max-Age":       "600",
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("preflight: %s = %q, want %q", k, got, v)
				}
			}
			if v := resp.Header.Values("Access-Control-Allow-Credentials"); len(v) > 0 {
				t.Errorf("preflight: Access-Control-Allow-Credentials = %q, want none", v)
			}
			if resp.Header.Get("X-RateLimit-Limit") != "" {
				t.Errorf("preflight: rate-limit headers on a request without a key")
			}
		})
	}
}

func TestCORS_ActualRequests(t *testing.T) {
	s := startCORS(t, originApp, originOther)
	star := startCORS(t, "*")
	key := mustKey(t, s, 100, "")
	starKey := mustKey(t, star, 100, "")
	limited := mustKey(t, s, 1, "")
	s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: limited}) // spends the only request of the minute
	blocked := mustKey(t, s, 100, "192.0.2.0/24")
	event := s.MustCreate(t, key, `{"source":"s","event_type":"t","payload":{"a":1}}`)

	cases := []struct {
		name       string
		srv        *TestServer
		rq         Req
		origin     string
		status     int
		wantOrigin string // "" for no CORS headers
		rateLimit  bool   // X-RateLimit-* expected
	}{
		{"InboxOK", s, Req{Method: "GET", Path: "/v1/inbox", Key: key}, originApp, 200, originApp, true},
		{"InboxOtherOrigin", s, Req{Method: "GET", Path: "/v1/inbox", Key: key}, originOther, 200, originOther, true},
		{"InboxAnyOrigin", star, Req{Method: "GET", Path: "/v1/inbox", Key: starKey}, originEvil, 200, "*", true},
		{"Create", s, Req{Method: "POST", Path: "/v1/events", Key: key, Body: `{"source":"s","event_type":"t","payload":{"a":1}}`}, originApp, 201, originApp, true},
		{"Delete", s, Req{Method: "DELETE", Path: "/v1/events/" + event, Key: key}, originApp, 200, originApp, true},
		{"Health", s, Req{Method: "GET", Path: "/v1/health"}, originApp, 200, originApp, false},
		{"Err401NoKey", s, Req{Method: "GET", Path: "/v1/inbox"}, originApp, 401, originApp, false},
		{"Err401BadKey", s, Req{Method: "GET", Path: "/v1/inbox", Key: "not-a-key-0000000000"}, originApp, 401, originApp, false},
		{"Err403Allowlist", s, Req{Method: "GET", Path: "/v1/inbox", Key: blocked}, originApp, 403, originApp, false},
		{"Err429", s, Req{Method: "GET", Path: "/v1/inbox", Key: limited}, originApp, 429, originApp, true},
		{"Err404Route", s, Req{Method: "GET", Path: "/v1/nope", Key: key}, originApp, 404, originApp, false},
		{"Err405", s, Req{Method: "PUT", Path: "/v1/inbox", Key: key}, originApp, 405, originApp, false},
		{"DisallowedOrigin", s, Req{Method: "GET", Path: "/v1/inbox", Key: key}, originEvil, 200, "", true},
		{"Disallowed401", s, Req{Method: "GET", Path: "/v1/inbox"}, originEvil, 401, "", false},
		{"NoOrigin", s, Req{Method: "GET", Path: "/v1/inbox", Key: key}, "", 200, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rq := c.rq
			if c.origin != "" {
				rq.Header = map[string]string{"Origin": c.origin}
			}
			r := c.srv.Do(t, rq)
			what := rq.Method + " " + rq.Path
			if r.StatusCode != c.status {
				t.Fatalf("%s = %d, want %d: %s", what, r.StatusCode, c.status, r.Body)
			}
			// With CORS on, every response varies by Origin.
			if !varies(r.Header, "Origin") {
				t.Errorf("%s: Vary = %q, want Origin in it", what, r.Header.Values("Vary"))
			}
			if c.wantOrigin == "" {
				checkNoCORS(t, what, r.Header)
			} else {
				checkActualCORS(t, what, r.Header, c.wantOrigin)
			}
			if got := r.Header.Get("X-RateLimit-Limit") != ""; got != c.rateLimit {
				t.Errorf("%s: X-RateLimit-Limit %q, want present = %v", what, r.Header.Get("X-RateLimit-Limit"), c.rateLimit)
			}
			if c.status == 429 && r.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 429 without Retry-After", what)
			}
		})
	}
}

// TestCORS_PreflightNeedsNoKeyAndSpendsNoBudget: browsers send preflights
// without credentials, so one must not be refused for want of a key, and
// it must not spend the key's rate limit.
func TestCORS_PreflightNeedsNoKeyAndSpendsNoBudget(t *testing.T) {
	s := startCORS(t, originApp)
	key := mustKey(t, s, 3, "")
	for i := range 10 {
		resp, body := preflight(t, s, "/v1/inbox", originApp)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != originApp {
			t.Fatalf("preflight %d = %d (Allow-Origin %q), want 204: %s", i+1, resp.StatusCode,
				resp.Header.Get("Access-Control-Allow-Origin"), body)
		}
	}
	// A preflight with a key (browsers never send one) changes nothing either.
	resp, _ := send(t, http.MethodOptions, s.URL+"/v1/inbox", map[string]string{"Origin": originApp,
		"Access-Control-Request-Method": "DELETE", "X-API-Key": key})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("preflight with a key = %d, rate-limit headers %q; want 204 and none", resp.StatusCode, resp.Header.Get("X-RateLimit-Limit"))
	}
	for i, want := range []int{2, 1, 0} {
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key, Header: map[string]string{"Origin": originApp}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET %d after preflights = %d, want 200: %s", i+1, r.StatusCode, r.Body)
		}
		if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(want) {
			t.Fatalf("GET %d after preflights: X-RateLimit-Remaining = %q, want %d", i+1, got, want)
		}
	}
}

// TestCORS_PlainOptions: an OPTIONS that is not a preflight (no
// Access-Control-Request-Method) is routed as before, and from an allowed
// origin its error carries the CORS headers.
func TestCORS_PlainOptions(t *testing.T) {
	s := startCORS(t, originApp)
	resp, body := send(t, http.MethodOptions, s.URL+"/v1/inbox", map[string]string{"Origin": originApp})
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), "METHOD_NOT_ALLOWED") {
		t.Fatalf("OPTIONS without Access-Control-Request-Method = %d %s, want 405", resp.StatusCode, body)
	}
	checkActualCORS(t, "OPTIONS /v1/inbox", resp.Header, originApp)
}

func TestParseCORSOrigin(t *testing.T) {
	cases := []struct {
		in, want string // want "" for an error
	}{
		{"*", "*"},
		{"https://app.example.com", "https://app.example.com"},
		{"HTTPS://App.Example.COM", "https://app.example.com"},
		{"http://localhost:5173", "http://localhost:5173"},
		{"http://localhost:80", "http://localhost"},
		{"https://app.example.com:443", "https://app.example.com"},
		{"http://app.example.com:443", "http://app.example.com:443"},
		{"https://app.example.com:0080", "https://app.example.com:80"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://[::1]:3000", "http://[::1]:3000"},
		{"http://[2001:DB8:0:0::1]", "http://[2001:db8::1]"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"https://a-b.c-d.example", "https://a-b.c-d.example"},

		{"", ""},
		{"app.example.com", ""},
		{"//app.example.com", ""},
		{"https://", ""},
		{"https://app.example.com/", ""},
		{"https://app.example.com/ui", ""},
		{"https://app.example.com?x=1", ""},
		{"https://app.example.com#x", ""},
		{"https://user@app.example.com", ""},
		{"https://*.example.com", ""},
		{"https://bücher.example", ""},
		{"https://app.example.com:", ""},
		{"https://app.example.com:0", ""},
		{"https://app.example.com:65536", ""},
		{"https://app.example.com:+80", ""},
		{"https://app.example.com:http", ""},
		{"https://app..example.com", ""},
		{"https://app.example.com.", ""},
		{"https://app_x.example.com", ""},
		{"https://app example.com", ""},
		{"ftp://app.example.com", ""},
		{"chrome-extension://abcdef", ""},
		{"null", ""},
		{"http://127.1", ""},
		{"http://256.0.0.1", ""},
		{"http://[::1", ""},
		{"http://[fe80::1%25eth0]", ""},
		{"http://[127.0.0.1]", ""},
		{"http://[::1]x", ""},
		{"http://[::1]:", ""},
		{"http://::1", ""},
		{" https://app.example.com", ""},
	}
	for _, c := range cases {
		got, err := triggershttp.ParseCORSOrigin(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("ParseCORSOrigin(%q) = %q, want an error", c.in, got)
		case c.want == "":
			if !strings.Contains(err.Error(), strconv.Quote(c.in)) {
				t.Errorf("ParseCORSOrigin(%q) error %q does not name the entry", c.in, err)
			}
		case err != nil || got != c.want:
			t.Errorf("ParseCORSOrigin(%q) = %q, %v, want %q", c.in, got, err, c.want)
		}
	}
}

func TestParseCORSOrigins(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		wantErr string // a substring of the error
	}{
		{"", nil, ""},
		{" , ", nil, ""},
		{"*", []string{"*"}, ""},
		{"https://a.example, http://localhost:3000 ,,https://A.example:443", []string{"https://a.example", "http://localhost:3000"}, ""},
		{"*,*", []string{"*"}, ""},
		{"https://a.example,https://b.example/", nil, `"https://b.example/"`},
		{"*,https://a.example", nil, `"*"`},
	}
	for _, c := range cases {
		p, err := triggershttp.ParseCORSOrigins(c.in)
		got := p.Origins()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseCORSOrigins(%q) = %q, %v, want an error with %s", c.in, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseCORSOrigins(%q) = %q, %v, want %q", c.in, got, err, c.want)
		}
		// String is the list ParseCORSOrigins reads back to the same policy.
		again, err := triggershttp.ParseCORSOrigins(p.String())
		if err != nil || !slices.Equal(again.Origins(), c.want) {
			t.Errorf("ParseCORSOrigins(%q).String() = %q, which parses to %q, %v", c.in, p.String(), again.Origins(), err)
		}
	}
}

// TestCORSPolicy_OriginsIsACopy checks that a caller cannot change a parsed
// policy (one a running server holds) through the slice Origins returns.
func TestCORSPolicy_OriginsIsACopy(t *testing.T) {
	p, err := triggershttp.ParseCORSOrigins("https://a.example,https://b.example")
	if err != nil {
		t.Fatal(err)
	}
	p.Origins()[0] = "https://evil.example"
	if got := p.Origins(); got[0] != "https://a.example" {
		t.Fatalf("Origins() after writing to a previous result = %q", got)
	}
}

// FuzzParseCORSOrigin checks that parsing never panics, that a parsed
// origin parses to itself, and that it agrees with net/url: an accepted
// origin is an absolute http(s) URL with just a scheme and a host.
func FuzzParseCORSOrigin(f *testing.F) {
	for _, s := range []string{
		"*", "https://app.example.com", "HTTP://LocalHost:80", "http://[2001:DB8::1]:8080",
		"http://127.0.0.1:0443", "https://app.example.com/", "https://u@h", "http://127.1",
		"https://*.example.com", "http://[::1]x", "https://h:65535", "https://h:65536",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := triggershttp.ParseCORSOrigin(s)
		if err != nil {
			return
		}
		again, err := triggershttp.ParseCORSOrigin(o)
		if err != nil || again != o {
			t.Fatalf("ParseCORSOrigin(%q) = %q, which parses to %q, %v", s, o, again, err)
		}
		if o == "*" {
			return
		}
		u, err := url.Parse(o)
		if err != nil {
			t.Fatalf("ParseCORSOrigin(%q) = %q, which net/url refuses: %v", s, o, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Path != "" ||
			u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.Scheme+"://"+u.Host != o {
			t.Fatalf("ParseCORSOrigin(%q) = %q, which net/url reads as %#v", s, o, u)
		}
		if p := u.Port(); p == "80" && u.Scheme == "http" || p == "443" && u.Scheme == "https" {
			t.Fatalf("ParseCORSOrigin(%q) = %q keeps the default port", s, o)
		}
	})
}
