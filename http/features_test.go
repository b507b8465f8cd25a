package http_test

// The "all features together" suite (TestAllFeatures_*): the request
// pipeline of DESIGN §3, authentication → IP allowlist → rate limit →
// handler, exercised end to end against a real listening server with every
// stage switched on at once, on the store under test (TRIGGERS_TEST_STORE).
// On the DynamoDB store the rate-limit state lives in DynamoDB too
// (dynamodb.RateLimiter on its own fresh tables), as in a deployment; on
// SQLite it is the in-process limiter, as in `triggers serve`.
//
// The single features have their own tests (pipeline_test.go,
// allowlist_test.go, ratelimit_test.go, bulk_test.go, events_test.go); these
// are about how the stages interact: what a refusal at one stage does (or
// does not do) to the next, and that the tenant boundary holds through all
// of them.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/clientip"
	"github.com/triggersapi/triggers/dynamodb"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/ratelimit"
)

// countingLimiter counts the Take calls per key id on its way to the real
// limiter: a request that spends budget is exactly one Take.
type countingLimiter struct {
	inner ratelimit.Limiter
	mu    sync.Mutex
	takes map[string]int
	total int
}

func (c *countingLimiter) Take(ctx context.Context, key string, limit int, now time.Time) (ratelimit.Decision, error) {
	c.mu.Lock()
	c.takes[key]++
	c.total++
	c.mu.Unlock()
	return c.inner.Take(ctx, key, limit, now)
}

func (c *countingLimiter) count(keyID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.takes[keyID]
}

func (c *countingLimiter) sum() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// storeLimiter returns the limiter a deployment on the store under test
// uses: the in-process one for SQLite, a dynamodb.RateLimiter on fresh
// tables for DynamoDB.
func storeLimiter(t *testing.T) ratelimit.Limiter {
	t.Helper()
	if os.Getenv("TRIGGERS_TEST_STORE") != "dynamodb" {
		return ratelimit.NewLocal()
	}
	client := teststore.MustClient(t)
	stage := teststore.MustStage(t, client, "features-rl")
	l, err := dynamodb.NewRateLimiter(client, stage, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// featureServer is a TestServer with every stage of the pipeline on: keys
// with rate limits and allowlists, the store's limiter behind a counter, and
// a fake clock (standing still unless advanced: no budget refills by itself).
type featureServer struct {
	*TestServer
	clock   *teststore.Clock
	limiter *countingLimiter
}

type featureOpts struct {
	trustLoopbackProxy bool // 127.0.0.1 is a trusted proxy: its X-Forwarded-For is honoured
	defaultLimit       int
}

func startFeatures(t *testing.T, o featureOpts) *featureServer {
	t.Helper()
	clock := teststore.NewClock(time.Now())
	lim := &countingLimiter{inner: storeLimiter(t), takes: map[string]int{}}
	h := &triggershttp.Options{Limiter: lim, DefaultRateLimit: o.defaultLimit}
	if o.trustLoopbackProxy {
		h.ClientIP = clientip.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	}
	s := MustStartWith(t, &triggers.Options{Now: clock.Now}, h)
	return &featureServer{TestServer: s, clock: clock, limiter: lim}
}

// fkey is a key made for a test: its raw secret and its key_id.
type fkey struct{ raw, id string }

func (s *featureServer) key(tb testing.TB, tenant string, limit int, allowlist string) fkey {
	tb.Helper()
	ips, err := triggers.ParseAllowlist(allowlist)
	if err != nil {
		tb.Fatal(err)
	}
	k, raw, err := s.Service.CreateKey(tb.Context(), triggers.KeySpec{Tenant: tenant, RateLimit: limit, AllowedIPs: ips})
	if err != nil {
		tb.Fatal(err)
	}
	return fkey{raw: raw, id: k.ID}
}

var rateLimitHeaders = []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit", "Retry-After"}

// mustNoRateLimitHeaders checks that a response refused before the limiter
// carries none of its headers.
func mustNoRateLimitHeaders(tb testing.TB, r Response) {
	tb.Helper()
	for _, h := range rateLimitHeaders {
		if v := r.Header.Get(h); v != "" {
			tb.Fatalf("status %d carries %s: %q; a request refused before the limiter carries no rate-limit header", r.StatusCode, h, v)
		}
	}
}

// mustRateLimitHeaders checks the headers of a request the limiter decided
// on: limit, remaining, a reset in whole Unix seconds not before now, and the
// IETF draft headers saying the same.
func mustRateLimitHeaders(tb testing.TB, r Response, now time.Time, limit, remaining int) int64 {
	tb.Helper()
	h := r.Header
	if h.Get("X-RateLimit-Limit") != strconv.Itoa(limit) || h.Get("X-RateLimit-Remaining") != strconv.Itoa(remaining) {
		tb.Fatalf("status %d: X-RateLimit-Limit %q, X-RateLimit-Remaining %q; want %d and %d",
			r.StatusCode, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), limit, remaining)
	}
	reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < now.Unix() {
		tb.Fatalf("X-RateLimit-Reset = %q, want Unix seconds not before now (%d)", h.Get("X-RateLimit-Reset"), now.Unix())
	}
	if want := fmt.Sprintf(`"default";q=%d;w=60`, limit); h.Get("RateLimit-Policy") != want {
		tb.Fatalf("RateLimit-Policy = %q, want %q", h.Get("RateLimit-Policy"), want)
	}
	if want := fmt.Sprintf(`"default";r=%d;t=`, remaining); !strings.HasPrefix(h.Get("RateLimit"), want) {
		tb.Fatalf("RateLimit = %q, want %s...", h.Get("RateLimit"), want)
	}
	return reset
}

// mustEnvelope checks that r is exactly the error envelope of DESIGN §1.2
// with the status and code, and returns its details.
func mustEnvelope(tb testing.TB, r Response, status int, code string) map[string]any {
	tb.Helper()
	if r.StatusCode != status {
		tb.Fatalf("status %d %s, want %d %s", r.StatusCode, r.Body, status, code)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 1 || body["error"] == nil {
		tb.Fatalf("body is not exactly {\"error\": {...}}: %s", r.Body)
	}
	var e map[string]any
	if err := json.Unmarshal(body["error"], &e); err != nil {
		tb.Fatalf("error is not an object: %s", r.Body)
	}
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	if len(e) != 4 || e["code"] != code {
		tb.Fatalf("error = %s, want exactly code %s, message, details, request_id (got keys %v)", r.Body, code, keys)
	}
	if msg, ok := e["message"].(string); !ok || strings.TrimSpace(msg) == "" {
		tb.Fatalf("error.message is empty: %s", r.Body)
	}
	details, ok := e["details"].(map[string]any)
	if !ok {
		tb.Fatalf("error.details is not an object: %s", r.Body)
	}
	if rid := r.Header.Get("X-Request-ID"); rid == "" || e["request_id"] != rid {
		tb.Fatalf("error.request_id %v, X-Request-ID %q: want equal", e["request_id"], rid)
	}
	return details
}

// must429 checks a 429: the envelope, Retry-After in whole seconds agreeing
// with details, reset_at agreeing with X-RateLimit-Reset, Remaining 0.
func must429(tb testing.TB, r Response, now time.Time, limit int) int {
	tb.Helper()
	details := mustEnvelope(tb, r, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED")
	reset := mustRateLimitHeaders(tb, r, now, limit, 0)
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 {
		tb.Fatalf("Retry-After = %q, want whole seconds in 1..60", r.Header.Get("Retry-After"))
	}
	if details["limit"] != float64(limit) || details["retry_after"] != float64(retry) || details["reset_at"] != float64(reset) {
		tb.Fatalf("429 details = %v; want limit %d, retry_after %d (Retry-After), reset_at %d (X-RateLimit-Reset)", details, limit, retry, reset)
	}
	return retry
}

const featureEvent = `{"source":"features","event_type":"feature.tested","payload":{"x":1}}`

// TestAllFeatures_RefusedBeforeTheLimiterSpendNoBudget: a request refused by
// authentication (401) or by the allowlist (403) spends no budget and
// carries no rate-limit header, however often it is repeated (more often
// than the limit); a 403 names the client IP as the server resolved it,
// which ignores X-Forwarded-For and X-Real-IP from an untrusted peer and
// honours them from a trusted proxy.
func TestAllFeatures_RefusedBeforeTheLimiterSpendNoBudget(t *testing.T) {
	const limit = 3
	direct := startFeatures(t, featureOpts{})
	proxied := startFeatures(t, featureOpts{trustLoopbackProxy: true})

	// A revoked key and an expired key that were once good.
	revoked := direct.key(t, "tenant-a", limit, "")
	if r := direct.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: revoked.raw}); r.StatusCode != 200 {
		t.Fatalf("key before revocation: %d %s", r.StatusCode, r.Body)
	}
	if _, err := direct.Service.RevokeKey(t.Context(), revoked.id); err != nil {
		t.Fatal(err)
	}
	direct.clock.Advance(3 * time.Second) // past the key cache's 2 s
	k, expiredRaw, err := direct.Service.CreateKey(t.Context(), triggers.KeySpec{Tenant: "tenant-a", RateLimit: limit,
		ExpiresAt: direct.clock.Now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	expired := fkey{raw: expiredRaw, id: k.ID}
	directFenced := direct.key(t, "tenant-a", limit, "10.0.0.0/8")
	proxiedFenced := proxied.key(t, "tenant-a", limit, "10.0.0.0/8")

	tests := []struct {
		name     string
		s        *featureServer
		key      fkey // zero: the header carries whatever it carries
		header   map[string]string
		status   int
		clientIP string // details.client_ip of a 403
		spentNow int    // Take calls of the key before the test (the revoked key's one use)
	}{
		{"ErrMissingKey", direct, fkey{}, nil, 401, "", 0},
		{"ErrUnknownKey", direct, fkey{}, map[string]string{"X-API-Key": "tk_not-a-key-at-all-0000000"}, 401, "", 0},
		{"ErrUnknownBearer", direct, fkey{}, map[string]string{"Authorization": "Bearer tk_not-a-key-either-00000"}, 401, "", 0},
		{"ErrRevokedKey", direct, revoked, nil, 401, "", 1},
		{"ErrExpiredKey", direct, expired, nil, 401, "", 0},
		{"ErrPeerNotInAllowlist", direct, directFenced, nil, 403, "127.0.0.1", 0},
		{"ErrXFFFromUntrustedPeerIgnored", direct, directFenced, map[string]string{"X-Forwarded-For": "10.1.2.3"}, 403, "127.0.0.1", 0},
		{"ErrXRealIPFromUntrustedPeerIgnored", direct, directFenced, map[string]string{"X-Real-IP": "10.1.2.3"}, 403, "127.0.0.1", 0},
		{"ErrTrustedProxyClientNotInAllowlist", proxied, proxiedFenced, map[string]string{"X-Forwarded-For": "203.0.113.7"}, 403, "203.0.113.7", 0},
		{"ErrTrustedProxySpoofedLeftmostIgnored", proxied, proxiedFenced, map[string]string{"X-Forwarded-For": "10.9.9.9, 203.0.113.7"}, 403, "203.0.113.7", 0},
		{"ErrTrustedProxyNoXFFIsPeer", proxied, proxiedFenced, nil, 403, "127.0.0.1", 0},
		{"ErrTrustedProxyUnparsableChain", proxied, proxiedFenced, map[string]string{"X-Forwarded-For": "10.1.2.3, not-an-ip"}, 403, "unknown", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			before := tt.s.limiter.sum()
			// More refusals than the limit: if they spent budget, the last
			// ones would be 429s.
			for i := range limit + 2 {
				rq := Req{Method: "POST", Path: "/v1/events", Key: key.raw, Body: featureEvent, Header: tt.header}
				r := tt.s.Do(t, rq)
				code := map[int]string{401: "UNAUTHORIZED", 403: "FORBIDDEN"}[tt.status]
				details := mustEnvelope(t, r, tt.status, code)
				mustNoRateLimitHeaders(t, r)
				if tt.status == 403 && details["client_ip"] != tt.clientIP {
					t.Fatalf("request %d: 403 details = %v, want client_ip %s", i+1, details, tt.clientIP)
				}
			}
			if got := tt.s.limiter.sum() - before; got != 0 {
				t.Fatalf("%d refused requests made %d rate-limit decisions, want 0", limit+2, got)
			}
			if key.id != "" {
				if got := tt.s.limiter.count(key.id); got != tt.spentNow {
					t.Fatalf("key %s: %d rate-limit decisions, want %d", key.id, got, tt.spentNow)
				}
			}
		})
	}

	// After all of that, each allowed party still has its whole budget, and
	// nothing was stored by the refused creates.
	t.Run("TrustedProxyClientInAllowlistSpendsOne", func(t *testing.T) {
		r := proxied.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: proxiedFenced.raw, Header: map[string]string{"X-Forwarded-For": "10.1.2.3"}})
		if r.StatusCode != 200 {
			t.Fatalf("status %d %s, want 200", r.StatusCode, r.Body)
		}
		mustRateLimitHeaders(t, r, proxied.clock.Now(), limit, limit-1)
		if n := len(r.JSON(t)["events"].([]any)); n != 0 {
			t.Fatalf("the inbox holds %d events after refused creates only", n)
		}
	})
	t.Run("SameTenantOtherKeyUntouched", func(t *testing.T) {
		k := direct.key(t, "tenant-a", limit, "")
		r := direct.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: k.raw})
		mustRateLimitHeaders(t, r, direct.clock.Now(), limit, limit-1)
		if n := len(r.JSON(t)["events"].([]any)); n != 0 {
			t.Fatalf("the inbox holds %d events after refused creates only", n)
		}
	})
}

// TestAllFeatures_StagesRunInOrder: with a key that is over its limit, a
// bad key is still a 401 and a disallowed IP still a 403 (auth and
// allowlist come first), and any request the allowlist admits is a 429
// before the handler looks at it (not 400, 404, 415 or 422), and does
// nothing. The limit is per key: another key of the same tenant is not
// limited. Health is never limited.
func TestAllFeatures_StagesRunInOrder(t *testing.T) {
	s := startFeatures(t, featureOpts{trustLoopbackProxy: true})
	const limit = 2
	k := s.key(t, "tenant-a", limit, "10.0.0.0/8")
	other := s.key(t, "tenant-a", 100, "")
	allowed := map[string]string{"X-Forwarded-For": "10.1.2.3"}
	for i := range limit {
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: k.raw, Header: allowed})
		if r.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.StatusCode, r.Body)
		}
	}
	unknownID := triggers.NewEventID(time.Now())
	tests := []struct {
		name   string
		req    Req
		status int
		code   string
	}{
		{"ErrUnknownKeyIs401NotOverLimit", Req{Method: "POST", Path: "/v1/events", Key: "tk_unknown-key-000000000000", Body: `{"bad":1}`, Header: allowed}, 401, "UNAUTHORIZED"},
		{"ErrDisallowedIPIs403NotOverLimit", Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: `{"bad":1}`, Header: map[string]string{"X-Forwarded-For": "203.0.113.9"}}, 403, "FORBIDDEN"},
		{"ErrInvalidBodyIs429Not400", Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: `{"bad":1}`, Header: allowed}, 429, "RATE_LIMIT_EXCEEDED"},
		{"ErrValidCreateIs429", Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: featureEvent, Header: allowed}, 429, "RATE_LIMIT_EXCEEDED"},
		{"ErrValidBulkCreateIs429", Req{Method: "POST", Path: "/v1/events/bulk", Key: k.raw, Body: itemsBody(nItems(25)...), Header: allowed}, 429, "RATE_LIMIT_EXCEEDED"},
		{"ErrWrongMediaTypeIs429Not415", Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: featureEvent, NoJSONType: true, Header: allowed}, 429, "RATE_LIMIT_EXCEEDED"},
		{"ErrUnknownEventIs429Not404", Req{Method: "GET", Path: "/v1/events/" + unknownID, Key: k.raw, Header: allowed}, 429, "RATE_LIMIT_EXCEEDED"},
		{"ErrNonUUIDIs429Not422", Req{Method: "GET", Path: "/v1/events/not-a-uuid", Key: k.raw, Header: allowed}, 429, "RATE_LIMIT_EXCEEDED"},
		{"ErrBadQueryIs429Not400", Req{Method: "GET", Path: "/v1/inbox?nope=1", Key: k.raw, Header: allowed}, 429, "RATE_LIMIT_EXCEEDED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Do(t, tt.req)
			mustEnvelope(t, r, tt.status, tt.code)
			if tt.status == 429 {
				must429(t, r, s.clock.Now(), limit)
			} else {
				mustNoRateLimitHeaders(t, r)
			}
		})
	}
	t.Run("HealthIsNotLimited", func(t *testing.T) {
		r := s.Do(t, Req{Method: "GET", Path: "/v1/health", Key: k.raw, Header: allowed})
		if r.StatusCode != 200 {
			t.Fatalf("health with an exhausted key = %d", r.StatusCode)
		}
		mustNoRateLimitHeaders(t, r)
	})
	t.Run("OtherKeyOfTheTenantIsNotLimitedAndSeesNothingCreated", func(t *testing.T) {
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: other.raw})
		mustRateLimitHeaders(t, r, s.clock.Now(), 100, 99)
		if n := len(r.JSON(t)["events"].([]any)); n != 0 {
			t.Fatalf("the tenant's inbox holds %d events; 429'd creates must store nothing", n)
		}
	})
	t.Run("AdmittedAgainAfterRetryAfter", func(t *testing.T) {
		r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: featureEvent, Header: allowed})
		retry := must429(t, r, s.clock.Now(), limit)
		s.clock.Advance(time.Duration(retry) * time.Second)
		r = s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: featureEvent, Header: allowed})
		if r.StatusCode != 201 {
			t.Fatalf("after Retry-After (%d s): %d %s, want 201", retry, r.StatusCode, r.Body)
		}
		mustRateLimitHeaders(t, r, s.clock.Now(), limit, 0)
	})
}

// TestAllFeatures_BulkCountsAsOneRequest: a bulk request of 25 items costs
// one request of the budget, whatever it does (create, ack, delete by either
// route, or a whole-request 400), and a 429'd bulk create stores nothing.
func TestAllFeatures_BulkCountsAsOneRequest(t *testing.T) {
	s := startFeatures(t, featureOpts{})
	const limit = 6
	k := s.key(t, "tenant-a", limit, "")
	watcher := s.key(t, "tenant-a", 100, "")

	first := bulkCreate(t, s, k, 25, limit, limit-1)
	r := s.Do(t, Req{Method: "POST", Path: "/v1/events/bulk", Key: k.raw, Body: itemsBody(nItems(26)...)})
	mustEnvelope(t, r, 400, "VALIDATION_ERROR")
	mustRateLimitHeaders(t, r, s.clock.Now(), limit, limit-2)
	second := bulkCreate(t, s, k, 25, limit, limit-3)

	steps := []struct {
		name, method, path string
		ids                []string
		remaining          int
		outcome            string // every item's outcome
	}{
		{"Ack25", "POST", "/v1/events/bulk/ack", first, limit - 4, "OK"},
		{"Delete25", "DELETE", "/v1/events/bulk", first, limit - 5, "OK"},
		{"DeleteAgainByPOST25", "POST", "/v1/events/bulk/delete", first, limit - 6, "NOT_FOUND"},
	}
	for _, st := range steps {
		a, r := bulkDo(t, s, Req{Method: st.method, Path: st.path, Key: k.raw, Body: idsBody(st.ids...)}, len(st.ids))
		mustRateLimitHeaders(t, r, s.clock.Now(), limit, st.remaining)
		for i, o := range a.outcomes(len(st.ids)) {
			if o != st.outcome {
				t.Fatalf("%s: item %d = %s, want %s", st.name, i, o, st.outcome)
			}
		}
	}
	r = s.Do(t, Req{Method: "POST", Path: "/v1/events/bulk", Key: k.raw, Body: itemsBody(nItems(25)...)})
	must429(t, r, s.clock.Now(), limit)
	if got := s.limiter.count(k.id); got != limit+1 {
		t.Fatalf("%d bulk requests made %d rate-limit decisions, want one each", limit+1, got)
	}
	page := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?limit=100", Key: watcher.raw}).JSON(t)["events"].([]any)
	if len(page) != len(second) {
		t.Fatalf("the inbox holds %d events, want the second batch's %d (the first deleted, the 429'd one never stored)", len(page), len(second))
	}
}

// bulkCreate creates n events in one bulk request that must leave remaining.
func bulkCreate(t *testing.T, s *featureServer, k fkey, n, limit, remaining int) []string {
	t.Helper()
	a, r := bulkDo(t, s, Req{Method: "POST", Path: "/v1/events/bulk", Key: k.raw, Body: itemsBody(nItems(n)...)}, n)
	mustRateLimitHeaders(t, r, s.clock.Now(), limit, remaining)
	return a.createdIDs(t, n)
}

// bulkDo sends a bulk request that must answer 200 with every index once.
func bulkDo(t *testing.T, s *featureServer, rq Req, n int) (bulkAnswer, Response) {
	t.Helper()
	r := s.Do(t, rq)
	method, path := rq.Method, rq.Path
	if r.StatusCode != 200 {
		t.Fatalf("%s %s = %d %s, want 200", method, path, r.StatusCode, r.Body)
	}
	var a bulkAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Successful)+len(a.Failed) != n {
		t.Fatalf("%s %s: %d outcomes for %d items", method, path, len(a.Successful)+len(a.Failed), n)
	}
	return a, r
}

// TestAllFeatures_SuccessfulResponsesCarryRateLimitHeaders: every kind of
// successful request of a key carries the rate-limit headers, Remaining
// counts down by exactly one per request across all endpoints, and Reset is
// when the spent budget is back (one request per 60 s / limit).
func TestAllFeatures_SuccessfulResponsesCarryRateLimitHeaders(t *testing.T) {
	s := startFeatures(t, featureOpts{})
	const limit = 30
	k := s.key(t, "tenant-a", limit, "127.0.0.0/8")
	var id string
	withIdem := `{"source":"features","event_type":"feature.tested","payload":{"x":1},"metadata":{"idempotency_key":"features-1","priority":"high"}}`
	var bulkIDs []string
	steps := []struct {
		name   string
		req    func() Req
		status int
		after  func(t *testing.T, r Response)
	}{
		{"Create", func() Req { return Req{Method: "POST", Path: "/v1/events", Body: withIdem} }, 201, func(t *testing.T, r Response) { id = r.JSON(t)["event_id"].(string) }},
		{"CreateIdempotentReplay", func() Req { return Req{Method: "POST", Path: "/v1/events", Body: withIdem} }, 201, func(t *testing.T, r Response) {
			if r.Header.Get("Idempotent-Replayed") != "true" || r.JSON(t)["event_id"] != id {
				t.Fatalf("replay: %v %s", r.Header, r.Body)
			}
		}},
		{"Get", func() Req { return Req{Method: "GET", Path: "/v1/events/" + id} }, 200, nil},
		{"Inbox", func() Req { return Req{Method: "GET", Path: "/v1/inbox"} }, 200, nil},
		{"InboxFiltered", func() Req { return Req{Method: "GET", Path: "/v1/inbox?priority=high&source=features&limit=10"} }, 200, func(t *testing.T, r Response) {
			if n := len(r.JSON(t)["events"].([]any)); n != 1 {
				t.Fatalf("filtered inbox holds %d events, want 1", n)
			}
		}},
		{"Ack", func() Req { return Req{Method: "POST", Path: "/v1/events/" + id + "/ack"} }, 200, nil},
		{"Delete", func() Req { return Req{Method: "DELETE", Path: "/v1/events/" + id} }, 200, nil},
		{"BulkCreate", func() Req { return Req{Method: "POST", Path: "/v1/events/bulk", Body: itemsBody(nItems(3)...)} }, 200, func(t *testing.T, r Response) {
			var a bulkAnswer
			json.Unmarshal(r.Body, &a)
			for _, it := range a.Successful {
				bulkIDs = append(bulkIDs, it.EventID)
			}
		}},
		{"BulkAck", func() Req { return Req{Method: "POST", Path: "/v1/events/bulk/ack", Body: idsBody(bulkIDs[:1]...)} }, 200, nil},
		{"BulkDelete", func() Req { return Req{Method: "DELETE", Path: "/v1/events/bulk", Body: idsBody(bulkIDs[1:2]...)} }, 200, nil},
		{"BulkDeleteByPOST", func() Req { return Req{Method: "POST", Path: "/v1/events/bulk/delete", Body: idsBody(bulkIDs[2:]...)} }, 200, nil},
		{"BearerAuth", func() Req {
			return Req{Method: "GET", Path: "/v1/inbox", Header: map[string]string{"Authorization": "Bearer " + k.raw}}
		}, 200, nil},
	}
	now := s.clock.Now()
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			rq := st.req()
			if rq.Header == nil {
				rq.Key = k.raw
			}
			r := s.Do(t, rq)
			if r.StatusCode != st.status {
				t.Fatalf("status %d %s, want %d", r.StatusCode, r.Body, st.status)
			}
			reset := mustRateLimitHeaders(t, r, now, limit, limit-i-1)
			// i+1 requests spent, each worth 60 s / limit: the bucket is
			// full again at now + (i+1) × 2 s, rounded up to whole seconds.
			full := now.Add(time.Duration(i+1) * ratelimit.Interval(limit))
			want := full.Unix()
			if full.Nanosecond() > 0 {
				want++
			}
			if reset < want-1 || reset > want {
				t.Fatalf("X-RateLimit-Reset = %d, want %d (now %d + %d requests × %v)", reset, want, now.Unix(), i+1, ratelimit.Interval(limit))
			}
			if r.Header.Get("Retry-After") != "" {
				t.Fatalf("a %d carries Retry-After", r.StatusCode)
			}
			if st.after != nil {
				st.after(t, r)
			}
		})
	}
	if got := s.limiter.count(k.id); got != len(steps) {
		t.Fatalf("%d requests made %d rate-limit decisions", len(steps), got)
	}
}

// TestAllFeatures_ErrorEnvelopeOnEveryRefusal: every refusal, whichever
// stage gives it, is exactly the error envelope with the client's request ID
// in both the header and the body; the rate-limit headers are there exactly
// when the request got past authentication and the allowlist, and
// Retry-After only on a 429.
func TestAllFeatures_ErrorEnvelopeOnEveryRefusal(t *testing.T) {
	s := startFeatures(t, featureOpts{})
	k := s.key(t, "tenant-a", 1000, "")
	blocked := s.key(t, "tenant-a", 1000, "192.0.2.0/24")
	spent := s.key(t, "tenant-a", 1, "")
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: spent.raw}); r.StatusCode != 200 {
		t.Fatalf("spending the only request: %d", r.StatusCode)
	}
	acked := s.MustCreate(t, k.raw, featureEvent)
	if r := s.Do(t, Req{Method: "POST", Path: "/v1/events/" + acked + "/ack", Key: k.raw}); r.StatusCode != 200 {
		t.Fatalf("ack: %d %s", r.StatusCode, r.Body)
	}
	idem := `{"source":"features","event_type":"feature.tested","payload":{"x":1},"metadata":{"idempotency_key":"envelope-1"}}`
	s.MustCreate(t, k.raw, idem)
	big := `{"source":"a","event_type":"b","payload":{"x":"` + strings.Repeat("y", triggers.MaxEventBytes) + `"}}`

	const (
		none        = iota // no rate-limit header
		some               // the rate-limit headers
		unspecified        // not specified by DESIGN (refused before authentication)
	)
	tests := []struct {
		name    string
		req     Req
		status  int
		code    string
		headers int
	}{
		{"400MalformedJSON", Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: `{"source":`}, 400, "VALIDATION_ERROR", some},
		{"400UnknownQueryParameter", Req{Method: "GET", Path: "/v1/inbox?colour=red", Key: k.raw}, 400, "VALIDATION_ERROR", some},
		{"400BulkOf26", Req{Method: "POST", Path: "/v1/events/bulk", Key: k.raw, Body: itemsBody(nItems(26)...)}, 400, "VALIDATION_ERROR", some},
		{"401MissingKey", Req{Method: "GET", Path: "/v1/inbox"}, 401, "UNAUTHORIZED", none},
		{"401BadKey", Req{Method: "POST", Path: "/v1/events/bulk", Key: "tk_bad-key-00000000000000", Body: itemsBody(nItems(1)...)}, 401, "UNAUTHORIZED", none},
		{"403NotInAllowlist", Req{Method: "GET", Path: "/v1/inbox", Key: blocked.raw}, 403, "FORBIDDEN", none},
		{"404UnknownEvent", Req{Method: "GET", Path: "/v1/events/" + triggers.NewEventID(time.Now()), Key: k.raw}, 404, "NOT_FOUND", some},
		{"404UnknownRoute", Req{Method: "GET", Path: "/v1/nothing-here", Key: k.raw}, 404, "NOT_FOUND", unspecified},
		{"405WrongMethod", Req{Method: "PUT", Path: "/v1/inbox", Key: k.raw}, 405, "METHOD_NOT_ALLOWED", unspecified},
		{"409AckedTwice", Req{Method: "POST", Path: "/v1/events/" + acked + "/ack", Key: k.raw}, 409, "CONFLICT", some},
		{"413BodyTooLarge", Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: big}, 413, "PAYLOAD_TOO_LARGE", some},
		{"415NotJSON", Req{Method: "POST", Path: "/v1/events", Key: k.raw, Body: featureEvent, Header: map[string]string{"Content-Type": "text/plain"}}, 415, "UNSUPPORTED_MEDIA_TYPE", some},
		{"422EventIDNotAUUID", Req{Method: "DELETE", Path: "/v1/events/12345", Key: k.raw}, 422, "VALIDATION_ERROR", some},
		{"422IdempotencyKeyReused", Req{Method: "POST", Path: "/v1/events", Key: k.raw,
			Body: `{"source":"features","event_type":"other","payload":{"x":2},"metadata":{"idempotency_key":"envelope-1"}}`}, 422, "IDEMPOTENCY_KEY_REUSED", some},
		{"429OverLimit", Req{Method: "GET", Path: "/v1/inbox", Key: spent.raw}, 429, "RATE_LIMIT_EXCEEDED", some},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rid := "features-" + tt.name
			if tt.req.Header == nil {
				tt.req.Header = map[string]string{}
			}
			tt.req.Header["X-Request-ID"] = rid
			r := s.Do(t, tt.req)
			mustEnvelope(t, r, tt.status, tt.code)
			if got := r.Header.Get("X-Request-ID"); got != rid {
				t.Fatalf("X-Request-ID = %q, want the client's %q", got, rid)
			}
			switch tt.headers {
			case none:
				mustNoRateLimitHeaders(t, r)
			case some:
				for _, h := range rateLimitHeaders[:5] {
					if r.Header.Get(h) == "" {
						t.Fatalf("a %d past authentication and the allowlist lacks %s", r.StatusCode, h)
					}
				}
			}
			if (r.Header.Get("Retry-After") != "") != (tt.status == 429) {
				t.Fatalf("status %d, Retry-After %q: want it on a 429 only", r.StatusCode, r.Header.Get("Retry-After"))
			}
			if tt.status == 405 && r.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
}

// TestAllFeatures_KeyRateLimitOverridesDefault: a key's own limit replaces
// the server default, both lower and higher; a key without one gets the
// default. Each admits exactly its limit from idle, then refuses with its
// own limit in the headers and the 429 details.
func TestAllFeatures_KeyRateLimitOverridesDefault(t *testing.T) {
	const def = 4
	s := startFeatures(t, featureOpts{defaultLimit: def})
	tests := []struct {
		name      string
		own, want int
	}{
		{"OwnLowerThanDefault", 2, 2},
		{"OwnHigherThanDefault", 7, 7},
		{"NoOwnLimitGetsDefault", 0, def},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := s.key(t, "tenant-b", tt.own, "")
			for i := range tt.want {
				r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: k.raw})
				if r.StatusCode != 200 {
					t.Fatalf("request %d of %d: %d %s", i+1, tt.want, r.StatusCode, r.Body)
				}
				mustRateLimitHeaders(t, r, s.clock.Now(), tt.want, tt.want-i-1)
			}
			must429(t, s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: k.raw}), s.clock.Now(), tt.want)
		})
	}
}

// TestAllFeatures_TenantIsolationThroughThePipeline: with allowlists and
// limits on, a key of tenant B cannot see, ack or delete tenant A's events,
// one at a time or in bulk, and every answer is the one an unknown id gets;
// idempotency keys do not collide across tenants; another key of tenant A
// sees and changes tenant A's events (tenancy is per tenant, the budget per
// key).
func TestAllFeatures_TenantIsolationThroughThePipeline(t *testing.T) {
	s := startFeatures(t, featureOpts{trustLoopbackProxy: true})
	a1 := s.key(t, "tenant-a", 200, "10.0.0.0/8")
	a2 := s.key(t, "tenant-a", 200, "")
	b := s.key(t, "tenant-b", 200, "")
	viaProxy := map[string]string{"X-Forwarded-For": "10.20.30.40"}

	idemA := `{"source":"iso","event_type":"t","payload":{"tenant":"a"},"metadata":{"idempotency_key":"shared-idem","priority":"high"}}`
	r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: a1.raw, Body: idemA, Header: viaProxy})
	if r.StatusCode != 201 {
		t.Fatalf("tenant A create: %d %s", r.StatusCode, r.Body)
	}
	ids := []string{r.JSON(t)["event_id"].(string)}
	a, _ := bulkDo(t, s, Req{Method: "POST", Path: "/v1/events/bulk", Key: a1.raw, Body: itemsBody(nItems(4)...), Header: viaProxy}, 4)
	for _, it := range a.Successful {
		ids = append(ids, it.EventID)
	}
	if len(ids) != 5 {
		t.Fatalf("tenant A has %d events, want 5", len(ids))
	}
	unknown := triggers.NewEventID(time.Now())
	targets := append(slices.Clone(ids), unknown)

	// Answers to B about A's events must equal answers about an unknown id,
	// but for the id itself and the request ID.
	same := func(t *testing.T, got, want Response, gotID string) {
		t.Helper()
		norm := func(r Response, id string) string {
			m := r.JSON(t)
			delete(m, "request_id")
			if e, ok := m["error"].(map[string]any); ok {
				delete(e, "request_id")
			}
			out, _ := json.Marshal(m)
			return strings.ReplaceAll(strings.ReplaceAll(string(out), id, "ID"), strings.ToUpper(id), "ID")
		}
		if got.StatusCode != want.StatusCode || norm(got, gotID) != norm(want, unknown) {
			t.Fatalf("tenant B about tenant A's event: %d %s\nabout an unknown id: %d %s", got.StatusCode, got.Body, want.StatusCode, want.Body)
		}
	}
	for _, c := range []struct{ name, method, suffix string }{
		{"Get", "GET", ""}, {"Ack", "POST", "/ack"}, {"Delete", "DELETE", ""},
	} {
		t.Run("Single"+c.name+"LikeUnknown", func(t *testing.T) {
			got := s.Do(t, Req{Method: c.method, Path: "/v1/events/" + ids[0] + c.suffix, Key: b.raw})
			want := s.Do(t, Req{Method: c.method, Path: "/v1/events/" + unknown + c.suffix, Key: b.raw})
			same(t, got, want, ids[0])
		})
	}
	for _, c := range []struct{ name, method, path string }{
		{"BulkAck", "POST", "/v1/events/bulk/ack"},
		{"BulkDelete", "DELETE", "/v1/events/bulk"},
		{"BulkDeleteByPOST", "POST", "/v1/events/bulk/delete"},
	} {
		t.Run(c.name+"AllNotFound", func(t *testing.T) {
			ba, _ := bulkDo(t, s, Req{Method: c.method, Path: c.path, Key: b.raw, Body: idsBody(targets...)}, len(targets))
			if len(ba.Successful) != 0 {
				t.Fatalf("tenant B's %s succeeded on %d of tenant A's events", c.name, len(ba.Successful))
			}
			// Each item's error, with its id and index replaced, equals the
			// unknown id's (the last item).
			norm := make([]string, len(targets))
			for _, f := range ba.Failed {
				msg, _ := json.Marshal(f.Error)
				n := strings.ReplaceAll(string(msg), targets[f.Index], "ID")
				norm[f.Index] = strings.ReplaceAll(n, fmt.Sprintf("[%d]", f.Index), "[N]")
				if f.Error.Code != "NOT_FOUND" {
					t.Fatalf("item %d: %s, want NOT_FOUND", f.Index, msg)
				}
			}
			for i, n := range norm[:len(ids)] {
				if n != norm[len(ids)] {
					t.Fatalf("item %d (tenant A's event): %s\nunknown id: %s", i, n, norm[len(ids)])
				}
			}
		})
	}
	t.Run("InboxAndFilteredInboxEmpty", func(t *testing.T) {
		for _, q := range []string{"", "?source=iso", "?priority=high", "?source=bulk&event_type=bulk.test"} {
			r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox" + q, Key: b.raw})
			if n := len(r.JSON(t)["events"].([]any)); r.StatusCode != 200 || n != 0 {
				t.Fatalf("tenant B's inbox%s = %d with %d events, want 200 and none", q, r.StatusCode, n)
			}
		}
	})
	t.Run("IdempotencyKeyDoesNotCrossTenants", func(t *testing.T) {
		idemB := `{"source":"iso","event_type":"t","payload":{"tenant":"b"},"metadata":{"idempotency_key":"shared-idem"}}`
		r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: b.raw, Body: idemB})
		if r.StatusCode != 201 || r.Header.Get("Idempotent-Replayed") != "" || r.JSON(t)["event_id"] == ids[0] {
			t.Fatalf("tenant B with tenant A's idempotency key: %d %v %s; want a new event", r.StatusCode, r.Header.Get("Idempotent-Replayed"), r.Body)
		}
	})
	t.Run("OtherKeyOfTheSameTenantSeesAndActs", func(t *testing.T) {
		page := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?limit=100", Key: a2.raw}).JSON(t)["events"].([]any)
		if len(page) != len(ids) {
			t.Fatalf("tenant A's other key sees %d events, want %d (tenant B's calls changed nothing)", len(page), len(ids))
		}
		if r := s.Do(t, Req{Method: "POST", Path: "/v1/events/" + ids[0] + "/ack", Key: a2.raw}); r.StatusCode != 200 {
			t.Fatalf("ack by tenant A's other key: %d %s", r.StatusCode, r.Body)
		}
		r := s.Do(t, Req{Method: "GET", Path: "/v1/events/" + ids[0], Key: a1.raw, Header: viaProxy})
		if r.JSON(t)["status"] != "acknowledged" {
			t.Fatalf("the first key of tenant A sees %s", r.Body)
		}
		if r := s.Do(t, Req{Method: "GET", Path: "/v1/events/" + ids[0], Key: a1.raw}); r.StatusCode != 403 {
			t.Fatalf("tenant A's fenced key from outside its allowlist: %d, want 403", r.StatusCode)
		}
	})
	t.Run("BudgetsArePerKey", func(t *testing.T) {
		got := map[string]int{"a1": s.limiter.count(a1.id), "a2": s.limiter.count(a2.id), "b": s.limiter.count(b.id)}
		// a1: create, bulk create, GET via the proxy (its 403 spent nothing);
		// a2: inbox, ack; b: 3 singles and their unknown-id twins, 3 bulks,
		// 4 inbox pages, 1 create.
		want := map[string]int{"a1": 3, "a2": 2, "b": 6 + 3 + 4 + 1}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rate-limit decisions per key = %v, want %v", got, want)
		}
	})
}

// TestAllFeatures_ConcurrentMixedTraffic: a concurrent mix of one key's
// admitted, allowlist-refused and unauthenticated requests admits exactly
// the key's limit; the refusals spend nothing even while racing the
// admitted requests.
func TestAllFeatures_ConcurrentMixedTraffic(t *testing.T) {
	s := startFeatures(t, featureOpts{trustLoopbackProxy: true})
	const limit = 10
	k := s.key(t, "tenant-a", limit, "10.0.0.0/8")
	type kind struct {
		name   string
		req    Req
		n      int
		status map[int]int // want: status → count
	}
	kinds := []kind{
		{"allowed", Req{Method: "GET", Path: "/v1/inbox", Key: k.raw, Header: map[string]string{"X-Forwarded-For": "10.1.2.3"}}, 3 * limit, map[int]int{200: limit, 429: 2 * limit}},
		{"blocked", Req{Method: "GET", Path: "/v1/inbox", Key: k.raw, Header: map[string]string{"X-Forwarded-For": "198.51.100.1"}}, 2 * limit, map[int]int{403: 2 * limit}},
		{"unauthenticated", Req{Method: "GET", Path: "/v1/inbox", Key: "tk_wrong-key-0000000000000", Header: map[string]string{"X-Forwarded-For": "10.1.2.3"}}, 2 * limit, map[int]int{401: 2 * limit}},
	}
	got := make([]map[int]int, len(kinds))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, kd := range kinds {
		got[i] = map[int]int{}
		for range kd.n {
			wg.Go(func() {
				st := s.Do(t, kd.req).StatusCode
				mu.Lock()
				got[i][st]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for i, kd := range kinds {
		if !reflect.DeepEqual(got[i], kd.status) {
			t.Errorf("%s requests: statuses %v, want %v", kd.name, got[i], kd.status)
		}
	}
	if n := s.limiter.count(k.id); n != kinds[0].n {
		t.Errorf("%d rate-limit decisions for the key, want %d (one per request past the allowlist)", n, kinds[0].n)
	}
}
