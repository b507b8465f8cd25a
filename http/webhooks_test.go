package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/egress"
	"github.com/triggersapi/triggers/internal/teststore"
)

// startWebhooks starts a server whose store must implement
// triggers.WebhookStore, and returns the store too, so that tests can play
// the dispatcher's part (ClaimDeliveries, CompleteDelivery).
func startWebhooks(t *testing.T, opts *triggers.Options) (*TestServer, triggers.WebhookStore) {
	t.Helper()
	var ws triggers.WebhookStore
	ts := mustStart(t, opts, nil, func(s triggers.Store) triggers.Store {
		w, ok := s.(triggers.WebhookStore)
		if !ok {
			t.Fatalf("the store under test (%T) does not implement triggers.WebhookStore", s)
		}
		ws = w
		return s
	}, nil)
	return ts, ws
}

// subscription is a subscription as the API answers it.
type subscription struct {
	SubscriptionID string         `json:"subscription_id"`
	URL            string         `json:"url"`
	Description    *string        `json:"description"`
	Filter         map[string]any `json:"filter"`
	AckOnDelivery  bool           `json:"ack_on_delivery"`
	Status         string         `json:"status"`
	FailingSince   string         `json:"failing_since"`
	CreatedAt      string         `json:"created_at"`
	UpdatedAt      string         `json:"updated_at"`
	Secret         *string        `json:"secret"`
}

func decode[T any](tb testing.TB, r Response) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		tb.Fatalf("decode %T: %v\n%s", v, err, r.Body)
	}
	return v
}

// mustSubscribe creates a subscription with body, which must be a 201.
func (s *TestServer) mustSubscribe(tb testing.TB, key, body string) subscription {
	tb.Helper()
	r := s.Do(tb, Req{Method: "POST", Path: "/v1/subscriptions", Key: key, Body: body})
	if r.StatusCode != http.StatusCreated {
		tb.Fatalf("create subscription %s = %d %s, want 201", body, r.StatusCode, r.Body)
	}
	return decode[subscription](tb, r)
}

func TestSubscriptions_CRUD(t *testing.T) {
	ts, _ := startWebhooks(t, nil)
	r := ts.Do(t, Req{Method: "POST", Path: "/v1/subscriptions", Key: keyA, Body: `{"url":"https://example.com/hooks","description":"orders",
		"filter":{"source":"shop","event_type":"order.created","priority":"high","metadata":{"region":"eu"}},"ack_on_delivery":true}`})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", r.StatusCode, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create Cache-Control = %q, want no-store (the answer carries the secret)", cc)
	}
	sub := decode[subscription](t, r)
	if loc := r.Header.Get("Location"); loc != "/v1/subscriptions/"+sub.SubscriptionID {
		t.Errorf("Location = %q", loc)
	}
	want := map[string]any{"source": "shop", "event_type": "order.created", "priority": "high", "metadata": map[string]any{"region": "eu"}}
	if sub.URL != "https://example.com/hooks" || sub.Description == nil || *sub.Description != "orders" || !sub.AckOnDelivery ||
		sub.Status != "active" || fmt.Sprint(sub.Filter) != fmt.Sprint(want) || sub.CreatedAt == "" || sub.UpdatedAt != sub.CreatedAt {
		t.Errorf("created = %s", r.Body)
	}
	if sub.Secret == nil || !strings.HasPrefix(*sub.Secret, "whsec_") {
		t.Fatalf("create answer has no whsec_ secret: %s", r.Body)
	}
	secret := *sub.Secret
	path := "/v1/subscriptions/" + sub.SubscriptionID

	// Only url is required; description is then "" and filter {}.
	minimal := ts.mustSubscribe(t, keyA, `{"url":"https://example.org/x?token=abc"}`)
	if minimal.Description == nil || *minimal.Description != "" || len(minimal.Filter) != 0 || minimal.AckOnDelivery || minimal.Status != "active" {
		t.Errorf("minimal subscription = %+v", minimal)
	}

	r = ts.Do(t, Req{Method: "GET", Path: path, Key: keyA})
	if r.StatusCode != http.StatusOK || decode[subscription](t, r).Secret != nil || decode[subscription](t, r).URL != sub.URL {
		t.Errorf("GET = %d %s, want 200 without secret", r.StatusCode, r.Body)
	}
	r = ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions/" + strings.ToUpper(sub.SubscriptionID), Key: keyA})
	if r.StatusCode != http.StatusOK {
		t.Errorf("GET with the id in upper case = %d, want 200", r.StatusCode)
	}

	r = ts.Do(t, Req{Method: "GET", Path: path + "/secret", Key: keyA})
	if got := decode[map[string]string](t, r)["secret"]; r.StatusCode != http.StatusOK || got != secret || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET secret = %d %s (Cache-Control %q), want the create's secret, no-store", r.StatusCode, r.Body, r.Header.Get("Cache-Control"))
	}

	r = ts.Do(t, Req{Method: "PATCH", Path: path, Key: keyA, Body: `{"description":null,"filter":{"source":"billing"},"status":"disabled","ack_on_delivery":false}`})
	patched := decode[subscription](t, r)
	if r.StatusCode != http.StatusOK || patched.Secret != nil || *patched.Description != "" || fmt.Sprint(patched.Filter) != "map[source:billing]" ||
		patched.Status != "disabled" || patched.AckOnDelivery || patched.URL != sub.URL || patched.CreatedAt != sub.CreatedAt {
		t.Errorf("PATCH = %d %s", r.StatusCode, r.Body)
	}
	r = ts.Do(t, Req{Method: "PATCH", Path: path, Key: keyA, Body: `{"url":"https://example.com/v2","status":"active"}`})
	if p := decode[subscription](t, r); r.StatusCode != http.StatusOK || p.URL != "https://example.com/v2" || p.Status != "active" || fmt.Sprint(p.Filter) != "map[source:billing]" {
		t.Errorf("second PATCH = %d %s", r.StatusCode, r.Body)
	}

	r = ts.Do(t, Req{Method: "POST", Path: path + "/rotate-secret", Key: keyA})
	rotated := decode[subscription](t, r)
	if r.StatusCode != http.StatusOK || rotated.Secret == nil || *rotated.Secret == secret || !strings.HasPrefix(*rotated.Secret, "whsec_") ||
		r.Header.Get("Cache-Control") != "no-store" || rotated.SubscriptionID != sub.SubscriptionID {
		t.Fatalf("rotate = %d %s, want a new secret with no-store", r.StatusCode, r.Body)
	}
	r = ts.Do(t, Req{Method: "GET", Path: path + "/secret", Key: keyA})
	if got := decode[map[string]string](t, r)["secret"]; got != *rotated.Secret {
		t.Errorf("secret after rotation = %q, want %q", got, *rotated.Secret)
	}

	r = ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions", Key: keyA})
	list := decode[struct {
		Subscriptions []map[string]any `json:"subscriptions"`
		Pagination    map[string]any   `json:"pagination"`
	}](t, r)
	if r.StatusCode != http.StatusOK || len(list.Subscriptions) != 2 || list.Subscriptions[0]["subscription_id"] != sub.SubscriptionID ||
		list.Pagination["next_cursor"] != nil {
		t.Errorf("list = %d %s, want both, oldest first, one page", r.StatusCode, r.Body)
	}
	for _, s := range list.Subscriptions {
		if _, ok := s["secret"]; ok {
			t.Errorf("list shows a secret: %s", r.Body)
		}
	}

	r = ts.Do(t, Req{Method: "DELETE", Path: path, Key: keyA})
	if m := r.JSON(t); r.StatusCode != http.StatusOK || m["subscription_id"] != sub.SubscriptionID || m["message"] != "subscription deleted" {
		t.Errorf("DELETE = %d %s", r.StatusCode, r.Body)
	}
	for _, rq := range []Req{{Method: "GET", Path: path}, {Method: "DELETE", Path: path}, {Method: "GET", Path: path + "/secret"}} {
		rq.Key = keyA
		if r := ts.Do(t, rq); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s after delete = %d, want 404", rq.Method, rq.Path, r.StatusCode)
		}
	}
	if strings.Contains(ts.Logs.String(), secret) || strings.Contains(ts.Logs.String(), *rotated.Secret) || strings.Contains(ts.Logs.String(), "token=abc") {
		t.Errorf("the logs show a secret or a url's query:\n%s", ts.Logs.String())
	}
}

// TestSubscriptions_TenantScoping: another tenant's subscription is a 404
// on every route, exactly like an unknown one, and is left alone.
func TestSubscriptions_TenantScoping(t *testing.T) {
	ts, _ := startWebhooks(t, nil)
	sub := ts.mustSubscribe(t, keyA, `{"url":"https://example.com/a"}`)
	evt := ts.MustCreate(t, keyA, `{"source":"s","event_type":"t","payload":{"n":1}}`)
	p := "/v1/subscriptions/" + sub.SubscriptionID
	unknown := "/v1/subscriptions/0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"
	routes := []struct{ method, suffix, body string }{
		{"GET", "", ""},
		{"PATCH", "", `{"status":"disabled"}`},
		{"DELETE", "", ""},
		{"GET", "/secret", ""},
		{"POST", "/rotate-secret", ""},
		{"GET", "/deliveries", ""},
		{"POST", "/deliveries/" + evt + "/retry", ""},
		{"POST", "/replay", `{"created_after":"2020-01-01T00:00:00Z"}`},
	}
	for _, rt := range routes {
		for _, c := range []struct{ key, path string }{{keyB, p}, {keyA, unknown}, {keyA, "/v1/subscriptions/not-a-uuid"}} {
			r := ts.Do(t, Req{Method: rt.method, Path: c.path + rt.suffix, Key: c.key, Body: rt.body})
			mustEnvelope(t, r, http.StatusNotFound, "NOT_FOUND")
		}
	}
	r := ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions", Key: keyB})
	if n := len(r.JSON(t)["subscriptions"].([]any)); n != 0 {
		t.Errorf("tenant B lists %d subscriptions, want 0", n)
	}
	r = ts.Do(t, Req{Method: "GET", Path: p, Key: keyA})
	if got := decode[subscription](t, r); got.Status != "active" {
		t.Errorf("A's subscription after B's attempts = %s, want unchanged", r.Body)
	}
}

func TestSubscriptions_Limit(t *testing.T) {
	ts, _ := startWebhooks(t, &triggers.Options{Webhooks: triggers.WebhookOptions{MaxSubscriptions: 2}})
	for range 2 {
		ts.mustSubscribe(t, keyA, `{"url":"https://example.com/a"}`)
	}
	r := ts.Do(t, Req{Method: "POST", Path: "/v1/subscriptions", Key: keyA, Body: `{"url":"https://example.com/c"}`})
	mustConflict(t, r, triggers.ReasonSubscriptionLimit)
	// The limit is per tenant.
	ts.mustSubscribe(t, keyB, `{"url":"https://example.com/b"}`)
	// A delete makes room.
	first := decode[struct {
		Subscriptions []subscription `json:"subscriptions"`
	}](t, ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions", Key: keyA})).Subscriptions[0]
	ts.Do(t, Req{Method: "DELETE", Path: "/v1/subscriptions/" + first.SubscriptionID, Key: keyA})
	ts.mustSubscribe(t, keyA, `{"url":"https://example.com/c"}`)
}

// TestSubscriptions_Validation: a bad body is a 400 naming the field, and
// creates or changes nothing.
func TestSubscriptions_Validation(t *testing.T) {
	ts, _ := startWebhooks(t, nil)
	sub := ts.mustSubscribe(t, keyA, `{"url":"https://example.com/a"}`)
	long := strings.Repeat("x", 257)
	cases := []struct {
		name, body, field string
		patchToo          bool
	}{
		{"url missing", `{}`, "url", false},
		{"url not a string", `{"url":1}`, "url", true},
		{"url relative", `{"url":"/hooks"}`, "url", true},
		{"url ftp", `{"url":"ftp://example.com/x"}`, "url", true},
		{"url with user", `{"url":"https://u:p@example.com/x"}`, "url", true},
		{"url with fragment", `{"url":"https://example.com/x#f"}`, "url", true},
		{"url too long", `{"url":"https://example.com/` + strings.Repeat("a", 2100) + `"}`, "url", true},
		{"description too long", `{"url":"https://example.com/","description":"` + long + `"}`, "description", true},
		{"description not a string", `{"url":"https://example.com/","description":5}`, "description", true},
		{"ack_on_delivery not a bool", `{"url":"https://example.com/","ack_on_delivery":"yes"}`, "ack_on_delivery", true},
		{"filter not an object", `{"url":"https://example.com/","filter":"shop"}`, "filter", true},
		{"filter unknown field", `{"url":"https://example.com/","filter":{"sorce":"shop"}}`, "filter.sorce", true},
		{"filter bad priority", `{"url":"https://example.com/","filter":{"priority":"urgent"}}`, "filter.priority", true},
		{"filter metadata not strings", `{"url":"https://example.com/","filter":{"metadata":{"k":1}}}`, "filter.metadata.k", true},
		{"unknown field", `{"url":"https://example.com/","secret":"whsec_x"}`, "secret", true},
		{"status at create", `{"url":"https://example.com/","status":"active"}`, "status", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustInvalid(t, ts.Do(t, Req{Method: "POST", Path: "/v1/subscriptions", Key: keyA, Body: c.body}), c.field)
			if c.patchToo {
				mustInvalid(t, ts.Do(t, Req{Method: "PATCH", Path: "/v1/subscriptions/" + sub.SubscriptionID, Key: keyA, Body: c.body}), c.field)
			}
		})
	}
	mustInvalid(t, ts.Do(t, Req{Method: "PATCH", Path: "/v1/subscriptions/" + sub.SubscriptionID, Key: keyA, Body: `{"status":"paused"}`}), "status")
	mustInvalid(t, ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions?limit=0", Key: keyA}), "limit")
	mustInvalid(t, ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions?cursor=nope", Key: keyA}), "cursor")
	mustInvalid(t, ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions?colour=red", Key: keyA}), "colour")
	r := ts.Do(t, Req{Method: "POST", Path: "/v1/subscriptions", Key: keyA, Body: `{"url":"https://example.com/"}`, NoJSONType: true})
	mustEnvelope(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	r = ts.Do(t, Req{Method: "POST", Path: "/v1/subscriptions", Key: keyA, Body: `{"url":"https://example.com/","description":"` + strings.Repeat("x", triggershttp.MaxSubscriptionBodyBytes) + `"}`})
	mustEnvelope(t, r, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")

	r = ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions", Key: keyA})
	if n := len(r.JSON(t)["subscriptions"].([]any)); n != 1 {
		t.Errorf("%d subscriptions after the refusals, want 1", n)
	}
	r = ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions/" + sub.SubscriptionID, Key: keyA})
	if got := decode[subscription](t, r); got.UpdatedAt != sub.UpdatedAt || got.URL != sub.URL {
		t.Errorf("subscription after refused patches = %s, want unchanged", r.Body)
	}
}

// stubResolver resolves names from a table, never from the network.
type stubResolver map[string][]netip.Addr

func (s stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := s[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestSubscriptions_URLPolicy: the server's url check (internal/app wires
// egress's, as here) refuses http:// unless insecure URLs are allowed, and
// hosts that are or resolve to loopback, private or link-local addresses
// unless private ones are; a refusal is a 400 naming url. Nothing is ever
// connected to: names resolve through a stub.
func TestSubscriptions_URLPolicy(t *testing.T) {
	resolver := stubResolver{
		"public.example":  {netip.MustParseAddr("93.184.215.14")},
		"private.example": {netip.MustParseAddr("10.1.2.3")},
		"localhost":       {netip.MustParseAddr("127.0.0.1")},
		"mixed.example":   {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("169.254.169.254")},
	}
	cases := []struct {
		url                     string
		strict, insecure, local bool // allowed by default, with allow-insecure, with allow-private
	}{
		{"https://public.example/hooks", true, true, true},
		{"http://public.example/hooks", false, true, false},
		{"https://93.184.215.14/hooks", true, true, true},
		{"https://127.0.0.1:8443/hooks", false, false, true},
		{"https://[::1]/hooks", false, false, true},
		{"https://10.0.0.7/hooks", false, false, true},
		{"https://192.168.1.1/hooks", false, false, true},
		{"https://169.254.169.254/latest/meta-data", false, false, true},
		{"https://[::ffff:127.0.0.1]/hooks", false, false, true},
		{"https://localhost/hooks", false, false, true},
		{"https://private.example/hooks", false, false, true},
		{"https://mixed.example/hooks", false, false, true},
		{"https://unknown.example/hooks", false, false, false},
		{"http://127.0.0.1/hooks", false, false, false},
	}
	servers := []struct {
		name            string
		insecure, local bool
		allowed         func(c int) bool
	}{
		{"default", false, false, func(c int) bool { return cases[c].strict }},
		{"allow-insecure", true, false, func(c int) bool { return cases[c].insecure }},
		{"allow-private", false, true, func(c int) bool { return cases[c].local }},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			g := &egress.Guard{AllowPrivate: srv.local, Resolver: resolver}
			ts, _ := startWebhooks(t, &triggers.Options{Webhooks: triggers.WebhookOptions{CheckURL: g.URLCheck(srv.insecure)}})
			sub := ts.mustSubscribe(t, keyA, `{"url":"https://public.example/start"}`)
			for i, c := range cases {
				body := fmt.Sprintf(`{"url":%q}`, c.url)
				r := ts.Do(t, Req{Method: "POST", Path: "/v1/subscriptions", Key: keyA, Body: body})
				rp := ts.Do(t, Req{Method: "PATCH", Path: "/v1/subscriptions/" + sub.SubscriptionID, Key: keyA, Body: body})
				if srv.allowed(i) {
					if r.StatusCode != http.StatusCreated || rp.StatusCode != http.StatusOK {
						t.Errorf("%s: create %d, patch %d; want 201, 200: %s %s", c.url, r.StatusCode, rp.StatusCode, r.Body, rp.Body)
					}
					if r.StatusCode == http.StatusCreated {
						ts.Do(t, Req{Method: "DELETE", Path: "/v1/subscriptions/" + decode[subscription](t, r).SubscriptionID, Key: keyA})
					}
					continue
				}
				mustInvalid(t, r, "url")
				mustInvalid(t, rp, "url")
				if strings.Contains(string(r.Body), "no such host") || strings.Contains(string(r.Body), "10.1.2.3") {
					t.Errorf("%s: the refusal shows the resolver's answer: %s", c.url, r.Body)
				}
			}
		})
	}
}

func TestSubscriptions_Paging(t *testing.T) {
	ts, _ := startWebhooks(t, nil)
	var want []string
	for i := range 5 {
		want = append(want, ts.mustSubscribe(t, keyA, fmt.Sprintf(`{"url":"https://example.com/%d"}`, i)).SubscriptionID)
	}
	ts.mustSubscribe(t, keyB, `{"url":"https://example.com/b"}`)
	var got []string
	path := "/v1/subscriptions?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := ts.Do(t, Req{Method: "GET", Path: path, Key: keyA})
		page := decode[struct {
			Subscriptions []subscription `json:"subscriptions"`
			Pagination    struct {
				Limit      int    `json:"limit"`
				NextCursor string `json:"next_cursor"`
			} `json:"pagination"`
		}](t, r)
		if r.StatusCode != http.StatusOK || page.Pagination.Limit != 2 || len(page.Subscriptions) > 2 {
			t.Fatalf("page = %d %s", r.StatusCode, r.Body)
		}
		for _, s := range page.Subscriptions {
			got = append(got, s.SubscriptionID)
		}
		if page.Pagination.NextCursor == "" {
			break
		}
		path = "/v1/subscriptions?limit=2&cursor=" + url.QueryEscape(page.Pagination.NextCursor)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged through %v, want %v", got, want)
	}
}

// delivery is a delivery as the API answers it.
type delivery struct {
	EventID       string `json:"event_id"`
	Status        string `json:"status"`
	NextAttemptAt string `json:"next_attempt_at"`
	Attempts      []struct {
		At         string   `json:"at"`
		StatusCode *int     `json:"status_code"`
		Error      *string  `json:"error"`
		LatencyMS  *float64 `json:"latency_ms"`
	} `json:"attempts"`
}

type deliveriesPage struct {
	Deliveries []delivery `json:"deliveries"`
	Pagination struct {
		Limit      int    `json:"limit"`
		NextCursor string `json:"next_cursor"`
	} `json:"pagination"`
}

// deliveries lists a subscription's deliveries with the query.
func (s *TestServer) deliveries(tb testing.TB, key, sub, query string) deliveriesPage {
	tb.Helper()
	r := s.Do(tb, Req{Method: "GET", Path: "/v1/subscriptions/" + sub + "/deliveries" + query, Key: key})
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("deliveries%s = %d %s", query, r.StatusCode, r.Body)
	}
	return decode[deliveriesPage](tb, r)
}

// claimAll plays the dispatcher: it leases every delivery due at now.
func claimAll(tb testing.TB, ws triggers.WebhookStore, now time.Time) []triggers.Delivery {
	tb.Helper()
	const max = 100
	ids := make([]string, max)
	for i := range ids {
		ids[i] = triggers.NewLeaseID()
	}
	ds, err := ws.ClaimDeliveries(context.Background(), triggers.ClaimQuery{Now: now, Max: max, LeaseIDs: ids, LeaseExpiresAt: now.Add(time.Minute)})
	if err != nil {
		tb.Fatalf("ClaimDeliveries: %v", err)
	}
	return ds
}

// TestDeliveries_LogRetryReplay: the delivery log of a subscription shows
// the outbox's deliveries and their attempts as the dispatcher records
// them (played here through the store), filtered and paged; a retry makes a
// delivery pending again; a replay queues the events of a range again.
func TestDeliveries_LogRetryReplay(t *testing.T) {
	clock := teststore.NewClock(time.Now().UTC().Truncate(time.Second))
	ts, ws := startWebhooks(t, &triggers.Options{Now: clock.Now})
	sub := ts.mustSubscribe(t, keyA, `{"url":"https://example.com/hooks","filter":{"source":"shop"}}`)
	other := ts.mustSubscribe(t, keyA, `{"url":"https://example.com/other","filter":{"source":"nobody"}}`)
	start := clock.Now()
	ids := ts.mustCreateN(t, clock, keyA, "shop", 3)
	ts.MustCreate(t, keyA, `{"source":"billing","event_type":"t","payload":{"n":1}}`) // not matched
	clock.Advance(time.Second)

	// The store may write the deliveries when the dispatcher claims them
	// (WebhookStore's outbox); claim, then record one success, one failure
	// with a status, one without a response.
	claimed := claimAll(t, ws, clock.Now())
	if len(claimed) != 3 {
		t.Fatalf("claimed %d deliveries, want 3 (one per matching event)", len(claimed))
	}
	byEvent := map[string]triggers.Delivery{}
	for _, d := range claimed {
		byEvent[d.EventID] = d
	}
	now := clock.Now()
	outcomes := []triggers.DeliveryOutcome{
		{Attempt: triggers.DeliveryAttempt{At: now, StatusCode: 204, Latency: 12 * time.Millisecond}, Status: triggers.DeliverySucceeded},
		{Attempt: triggers.DeliveryAttempt{At: now, StatusCode: 500, Error: "the receiver answered 500", Latency: 30 * time.Millisecond},
			Status: triggers.DeliveryPending, NextAttemptAt: now.Add(5 * time.Second)},
		{Attempt: triggers.DeliveryAttempt{At: now, Error: "connection refused", Latency: time.Millisecond}, Status: triggers.DeliveryFailed},
	}
	for i, o := range outcomes {
		d := byEvent[ids[i]]
		o.Key, o.LeaseID = d.Key(), d.LeaseID
		if _, err := ws.CompleteDelivery(context.Background(), o); err != nil {
			t.Fatalf("CompleteDelivery: %v", err)
		}
	}

	page := ts.deliveries(t, keyA, sub.SubscriptionID, "")
	if len(page.Deliveries) != 3 || page.Pagination.NextCursor != "" {
		t.Fatalf("deliveries = %+v, want 3 on one page", page)
	}
	wantStatus := []string{"succeeded", "pending", "failed"}
	for i, d := range page.Deliveries {
		if d.EventID != ids[i] || d.Status != wantStatus[i] || len(d.Attempts) != 1 || d.Attempts[0].LatencyMS == nil {
			t.Errorf("delivery %d = %+v, want event %s %s with one attempt", i, d, ids[i], wantStatus[i])
			continue
		}
		a := d.Attempts[0]
		if (d.Status == "pending") != (d.NextAttemptAt != "") {
			t.Errorf("delivery %d: next_attempt_at %q with status %s; want it exactly while pending", i, d.NextAttemptAt, d.Status)
		}
		switch i {
		case 0:
			if a.StatusCode == nil || *a.StatusCode != 204 || a.Error != nil || *a.LatencyMS != 12 {
				t.Errorf("success attempt = %+v", a)
			}
		case 1:
			if a.StatusCode == nil || *a.StatusCode != 500 || a.Error == nil {
				t.Errorf("500 attempt = %+v", a)
			}
		case 2:
			if a.StatusCode != nil || a.Error == nil || *a.Error != "connection refused" {
				t.Errorf("no-response attempt = %+v, want no status_code and the error", a)
			}
		}
	}
	if got := ts.deliveries(t, keyA, other.SubscriptionID, ""); len(got.Deliveries) != 0 {
		t.Errorf("the other subscription has deliveries %+v, want none", got)
	}

	// Filters and paging.
	if got := ts.deliveries(t, keyA, sub.SubscriptionID, "?status=failed"); len(got.Deliveries) != 1 || got.Deliveries[0].EventID != ids[2] {
		t.Errorf("status=failed = %+v", got)
	}
	if got := ts.deliveries(t, keyA, sub.SubscriptionID, "?event_id="+ids[1]); len(got.Deliveries) != 1 || got.Deliveries[0].EventID != ids[1] {
		t.Errorf("event_id = %+v", got)
	}
	first := ts.deliveries(t, keyA, sub.SubscriptionID, "?limit=2")
	if len(first.Deliveries) != 2 || first.Pagination.NextCursor == "" {
		t.Fatalf("limit=2 = %+v, want 2 and a cursor", first)
	}
	second := ts.deliveries(t, keyA, sub.SubscriptionID, "?limit=2&cursor="+url.QueryEscape(first.Pagination.NextCursor))
	if len(second.Deliveries) != 1 || second.Deliveries[0].EventID != ids[2] || second.Pagination.NextCursor != "" {
		t.Errorf("second page = %+v", second)
	}
	mustInvalid(t, ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions/" + sub.SubscriptionID + "/deliveries?status=lost", Key: keyA}), "status")
	mustInvalid(t, ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions/" + sub.SubscriptionID + "/deliveries?event_id=x", Key: keyA}), "event_id")
	mustInvalid(t, ts.Do(t, Req{Method: "GET", Path: "/v1/subscriptions/" + sub.SubscriptionID + "/deliveries?status=failed&cursor=" +
		url.QueryEscape(first.Pagination.NextCursor), Key: keyA}), "cursor")

	// Retry: the failed delivery is pending again, its log kept.
	r := ts.post(t, keyA, "/v1/subscriptions/"+sub.SubscriptionID+"/deliveries/"+ids[2]+"/retry", "")
	retried := decode[delivery](t, r)
	if r.StatusCode != http.StatusAccepted || retried.EventID != ids[2] || retried.Status != "pending" || retried.NextAttemptAt == "" ||
		len(retried.Attempts) != 1 || r.JSON(t)["subscription_id"] != sub.SubscriptionID {
		t.Errorf("retry = %d %s", r.StatusCode, r.Body)
	}
	for _, path := range []string{
		"/v1/subscriptions/" + other.SubscriptionID + "/deliveries/" + ids[0] + "/retry", // no such delivery
		"/v1/subscriptions/" + sub.SubscriptionID + "/deliveries/not-an-id/retry",        // not an event id
		"/v1/subscriptions/" + sub.SubscriptionID + "/deliveries/0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6/retry",
	} {
		mustEnvelope(t, ts.post(t, keyA, path, ""), http.StatusNotFound, "NOT_FOUND")
	}

	// Replay: every matching event of the range, whatever became of it.
	ts.post(t, keyA, "/v1/events/"+ids[0]+"/ack", "")
	clock.Advance(time.Second)
	body := fmt.Sprintf(`{"created_after":%q}`, start.Add(-time.Second).Format(time.RFC3339Nano))
	r = ts.post(t, keyA, "/v1/subscriptions/"+sub.SubscriptionID+"/replay", body)
	if m := r.JSON(t); r.StatusCode != http.StatusAccepted || m["queued"] != 3.0 || m["next_created_after"] != nil {
		t.Errorf("replay = %d %s, want 202 queued 3", r.StatusCode, r.Body)
	}
	if got := ts.deliveries(t, keyA, sub.SubscriptionID, "?status=pending"); len(got.Deliveries) != 3 {
		t.Errorf("pending after the replay = %+v, want all 3", got)
	}
	r = ts.post(t, keyA, "/v1/subscriptions/"+other.SubscriptionID+"/replay", body)
	if m := r.JSON(t); r.StatusCode != http.StatusAccepted || m["queued"] != 0.0 {
		t.Errorf("replay to a subscription matching none = %d %s, want queued 0", r.StatusCode, r.Body)
	}
	for _, c := range []struct{ body, field string }{
		{`{}`, "created_after"},
		{`{"created_after":"yesterday"}`, "created_after"},
		{`{"created_after":"2026-01-02T00:00:00Z","created_before":"2026-01-01T00:00:00Z"}`, "created_after"},
		{`{"created_after":"2026-01-02T00:00:00Z","until":"x"}`, "body"}, // DecodeStrict names the body
	} {
		mustInvalid(t, ts.post(t, keyA, "/v1/subscriptions/"+sub.SubscriptionID+"/replay", c.body), c.field)
	}
}
