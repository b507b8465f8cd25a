package http_test

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/clientip"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/ratelimit"
)

// startLimited starts a server with the in-process limiter and a fake clock.
func startLimited(t *testing.T, httpOpts *triggershttp.Options) (*TestServer, *teststore.Clock) {
	t.Helper()
	clock := teststore.NewClock(time.Now())
	o := triggershttp.Options{}
	if httpOpts != nil {
		o = *httpOpts
	}
	o.Limiter = ratelimit.NewLocal()
	return MustStartWith(t, &triggers.Options{Now: clock.Now}, &o), clock
}

func (s *TestServer) mustLimitedKey(tb testing.TB, limit int, allowlist string) string {
	tb.Helper()
	ips, _ := triggers.ParseAllowlist(allowlist)
	_, raw, err := s.Service.CreateKey(tb.Context(), triggers.KeySpec{Tenant: "tenant-a", RateLimit: limit, AllowedIPs: ips})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func TestRateLimit_BurstThen429ThenRetryAfter(t *testing.T) {
	s, clock := startLimited(t, nil)
	key := s.mustLimitedKey(t, 5, "")
	for i := range 5 {
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key})
		if r.StatusCode != 200 {
			t.Fatalf("request %d = %d, want 200", i+1, r.StatusCode)
		}
		if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(4-i) {
			t.Fatalf("request %d: X-RateLimit-Remaining = %q, want %d", i+1, got, 4-i)
		}
		if r.Header.Get("X-RateLimit-Limit") != "5" || r.Header.Get("RateLimit-Policy") != `"default";q=5;w=60` ||
			!strings.HasPrefix(r.Header.Get("RateLimit"), `"default";r=`+strconv.Itoa(4-i)+";t=") {
			t.Fatalf("request %d headers: %v", i+1, r.Header)
		}
	}
	r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key, Header: map[string]string{"X-Request-ID": "limited-1"}})
	if r.StatusCode != 429 || r.ErrorCode(t) != "RATE_LIMIT_EXCEEDED" {
		t.Fatalf("6th request = %d %s, want 429", r.StatusCode, r.Body)
	}
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 12 {
		t.Fatalf("Retry-After = %q, want whole seconds in 1..12 (one request costs 12 s at 5/min)", r.Header.Get("Retry-After"))
	}
	details := r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)
	if details["limit"] != 5.0 || details["retry_after"] != float64(retry) || details["reset_at"] == nil ||
		r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429 details = %v, headers %v", details, r.Header)
	}
	if line := logLine(s, "limited-1", "rate limited"); !strings.Contains(line, `"key_id":"key_`) {
		t.Fatalf("429 log line lacks key_id: %q", line)
	}
	clock.Advance(time.Duration(retry-1) * time.Second)
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key}); r.StatusCode != 429 {
		t.Fatalf("a second before Retry-After = %d, want still 429", r.StatusCode)
	}
	clock.Advance(time.Second)
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key}); r.StatusCode != 200 {
		t.Fatalf("after Retry-After = %d %s, want 200", r.StatusCode, r.Body)
	}
}

// logLine returns the log line with the request ID and message.
func logLine(s *TestServer, requestID, msg string) string {
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, `"request_id":"`+requestID+`"`) && strings.Contains(l, `"msg":"`+msg+`"`) {
			return l
		}
	}
	return ""
}

func TestRateLimit_HeadersOnEveryAuthenticatedResponse(t *testing.T) {
	s, _ := startLimited(t, nil)
	key := s.mustLimitedKey(t, 100, "")
	for _, rq := range []Req{
		{Method: "GET", Path: "/v1/inbox"},
		{Method: "POST", Path: "/v1/events", Body: `{"source":"a","event_type":"b","payload":{"x":1}}`},
		{Method: "POST", Path: "/v1/events", Body: `{"bad":1}`},                  // 400
		{Method: "GET", Path: "/v1/events/0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"}, // 404
		{Method: "GET", Path: "/v1/events/nope"},                                 // 422
		{Method: "POST", Path: "/v1/events", Body: `{}`, NoJSONType: true},       // 415
	} {
		rq.Key = key
		r := s.Do(t, rq)
		if r.Header.Get("X-RateLimit-Limit") != "100" || r.Header.Get("X-RateLimit-Reset") == "" || r.Header.Get("RateLimit") == "" {
			t.Fatalf("%s %s = %d without rate-limit headers: %v", rq.Method, rq.Path, r.StatusCode, r.Header)
		}
	}
	for _, rq := range []Req{
		{Method: "GET", Path: "/v1/inbox", Key: "unknown-key-0000000000"}, // 401
		{Method: "GET", Path: "/v1/health"},
		{Method: "GET", Path: "/metrics"},
	} {
		if r := s.Do(t, rq); r.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("%s %s = %d carries rate-limit headers", rq.Method, rq.Path, r.StatusCode)
		}
	}
}

func TestRateLimit_RefusedRequestsSpendNoBudget(t *testing.T) {
	trusted := clientip.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	s, _ := startLimited(t, &triggershttp.Options{ClientIP: trusted})
	key := s.mustLimitedKey(t, 3, "10.0.0.0/8")
	for range 5 { // blocked by the allowlist: 403, no headers, no budget spent
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key, Header: map[string]string{"X-Forwarded-For": "203.0.113.7"}})
		if r.StatusCode != 403 || r.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("blocked request = %d with headers %v, want 403 without rate-limit headers", r.StatusCode, r.Header)
		}
	}
	r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key, Header: map[string]string{"X-Forwarded-For": "10.1.1.1"}})
	if r.StatusCode != 200 || r.Header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("first allowed request = %d, Remaining %q; want 200 and 2 (nothing spent by the 403s)", r.StatusCode, r.Header.Get("X-RateLimit-Remaining"))
	}
}

func TestRateLimit_ConcurrentBurstAdmitsLimit(t *testing.T) {
	s, _ := startLimited(t, nil) // the fake clock stands still: nothing refills
	const limit = 20
	key := s.mustLimitedKey(t, limit, "")
	statuses := make([]int, 3*limit)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { statuses[i] = s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key}).StatusCode })
	}
	wg.Wait()
	count := map[int]int{}
	for _, st := range statuses {
		count[st]++
	}
	if count[200] != limit || count[429] != 2*limit {
		t.Fatalf("burst of %d with limit %d: %v, want %d admitted", 3*limit, limit, count, limit)
	}
}

func TestRateLimit_ChangedLimitAppliesWithinFiveSeconds(t *testing.T) {
	s := MustStartWith(t, nil, &triggershttp.Options{Limiter: ratelimit.NewLocal()})
	key := s.mustLimitedKey(t, 10, "")
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key}); r.Header.Get("X-RateLimit-Limit") != "10" {
		t.Fatalf("X-RateLimit-Limit = %q, want 10", r.Header.Get("X-RateLimit-Limit"))
	}
	k, _ := s.Service.Authenticate(t.Context(), key)
	n := 500
	if _, err := s.Service.UpdateKey(t.Context(), k.ID, triggers.KeyUpdate{RateLimit: &n}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: key}).Header.Get("X-RateLimit-Limit") != "500" {
		if time.Now().After(deadline) {
			t.Fatal("a changed limit is not applied after 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRateLimit_DefaultLimit(t *testing.T) {
	s := MustStartWith(t, nil, &triggershttp.Options{Limiter: ratelimit.NewLocal(), DefaultRateLimit: 77})
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: keyA}); r.Header.Get("X-RateLimit-Limit") != "77" {
		t.Fatalf("a key without its own limit: X-RateLimit-Limit = %q, want the default 77", r.Header.Get("X-RateLimit-Limit"))
	}
}

// failingLimiter is a Limiter whose store is down.
type failingLimiter struct{}

func (failingLimiter) Take(context.Context, string, int, time.Time) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, triggers.Unavailable(errors.New("limiter store down"))
}

func TestRateLimit_StoreFailure(t *testing.T) {
	t.Run("FailOpen", func(t *testing.T) {
		s := MustStartWith(t, nil, &triggershttp.Options{Limiter: failingLimiter{}})
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: keyA, Header: map[string]string{"X-Request-ID": "open-1"}})
		if r.StatusCode != 200 || logLine(s, "open-1", "rate limiter store failed") == "" {
			t.Fatalf("fail open = %d, log %q; want 200 and a logged failure", r.StatusCode, logLine(s, "open-1", "rate limiter store failed"))
		}
		if m := string(s.Do(t, Req{Method: "GET", Path: "/metrics"}).Body); !strings.Contains(m, "triggers_ratelimit_store_errors_total 1") {
			t.Fatal("limiter store errors are not counted")
		}
	})
	t.Run("FailClosed", func(t *testing.T) {
		s := MustStartWith(t, nil, &triggershttp.Options{Limiter: failingLimiter{}, RateLimitFailClosed: true})
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: keyA})
		if r.StatusCode != 503 || r.ErrorCode(t) != "SERVICE_UNAVAILABLE" {
			t.Fatalf("fail closed = %d %s, want 503 SERVICE_UNAVAILABLE", r.StatusCode, r.Body)
		}
	})
}
