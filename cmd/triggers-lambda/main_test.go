package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/app"
)

// The raw keys and addresses the fixtures in testdata use.
const (
	openKey      = "tk_lambda_fixture_open_key_0001"
	allowKey     = "tk_lambda_fixture_allowlisted_0001"
	allowlist    = "203.0.113.0/24"
	fixtureReqID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// newTestHandler builds the app the way main does, from the environment,
// with TRIGGERS_TRUSTED_PROXIES set to trust everything (which Lambda must
// ignore), but over SQLite in a temporary directory instead of DynamoDB: the
// handler does not care which store it has.
func newTestHandler(t *testing.T) func(context.Context, json.RawMessage) (any, error) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	cfg, err := lambdaConfig(env(map[string]string{"TRIGGERS_TRUSTED_PROXIES": "0.0.0.0/0,::/0", "TRIGGERS_STAGE": "test"}), logger)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != "dynamodb" || len(cfg.TrustedProxies) != 0 {
		t.Fatalf("lambdaConfig: store %q, trusted proxies %v; want dynamodb and none", cfg.Store, cfg.TrustedProxies)
	}
	cfg.Store = "sqlite"
	cfg.DataDir = t.TempDir()
	a, err := app.Open(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx := context.Background()
	if _, _, err := a.Service.CreateKey(ctx, triggers.KeySpec{Tenant: "acme", Name: "open", Raw: openKey}); err != nil {
		t.Fatal(err)
	}
	prefixes, err := triggers.ParseAllowlist(allowlist)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Service.CreateKey(ctx, triggers.KeySpec{Tenant: "acme", Name: "office only", Raw: allowKey,
		AllowedIPs: prefixes}); err != nil {
		t.Fatal(err)
	}
	return newHandler(a.Server.Handler())
}

func fixture(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// response is what the tests read of either response type.
type response struct {
	status  int
	headers http.Header
	body    map[string]any
}

// invoke runs a fixture through the handler and checks that the response
// type matches the event's payload version.
func invoke(t *testing.T, h func(context.Context, json.RawMessage) (any, error), version, name string) response {
	t.Helper()
	out, err := h(context.Background(), fixture(t, version+"_"+name+".json"))
	if err != nil {
		t.Fatalf("%s_%s: %v", version, name, err)
	}
	var r response
	var body string
	switch version {
	case "v1":
		resp, ok := out.(events.APIGatewayProxyResponse)
		if !ok {
			t.Fatalf("v1 event: response is %T, want events.APIGatewayProxyResponse", out)
		}
		r.status, r.headers, body = resp.StatusCode, http.Header(resp.MultiValueHeaders), resp.Body
		if resp.IsBase64Encoded {
			t.Errorf("v1 response body is base64-encoded")
		}
	case "v2":
		resp, ok := out.(events.APIGatewayV2HTTPResponse)
		if !ok {
			t.Fatalf("v2 event: response is %T, want events.APIGatewayV2HTTPResponse", out)
		}
		r.status, body = resp.StatusCode, resp.Body
		r.headers = http.Header{}
		for k, v := range resp.Headers {
			r.headers.Set(k, v)
		}
		if resp.IsBase64Encoded {
			t.Errorf("v2 response body is base64-encoded")
		}
	}
	if err := json.Unmarshal([]byte(body), &r.body); err != nil {
		t.Fatalf("%s_%s: body is not JSON: %v\n%s", version, name, err, body)
	}
	// Lambda marshals what the handler returns: it must be valid JSON.
	if _, err := json.Marshal(out); err != nil {
		t.Fatalf("%s_%s: response does not marshal: %v", version, name, err)
	}
	if got := r.headers.Values("X-Request-ID"); len(got) != 1 || got[0] != fixtureReqID {
		t.Errorf("%s_%s: X-Request-ID = %q, want [%q]", version, name, got, fixtureReqID)
	}
	if ct := r.headers.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s_%s: Content-Type = %q", version, name, ct)
	}
	return r
}

func errorCode(r response) (string, map[string]any) {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	details, _ := e["details"].(map[string]any)
	return code, details
}

func TestAPIGatewayEvents(t *testing.T) {
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			h := newTestHandler(t)

			r := invoke(t, h, version, "create")
			if r.status != http.StatusCreated {
				t.Fatalf("create: status %d, body %v", r.status, r.body)
			}
			id, _ := r.body["event_id"].(string)
			if _, err := triggers.ParseEventID(id); err != nil {
				t.Fatalf("create: event_id %q: %v", id, err)
			}
			if r.body["status"] != "pending" || r.body["request_id"] != fixtureReqID {
				t.Errorf("create: body %v", r.body)
			}

			r = invoke(t, h, version, "inbox")
			if r.status != http.StatusOK {
				t.Fatalf("inbox: status %d, body %v", r.status, r.body)
			}
			evs, _ := r.body["events"].([]any)
			if len(evs) != 1 {
				t.Fatalf("inbox: %d events, want 1: %v", len(evs), r.body)
			}
			ev, _ := evs[0].(map[string]any)
			if ev["event_id"] != id || ev["source"] != "crm" || ev["event_type"] != "contact.updated" {
				t.Errorf("inbox: event %v, want %s from crm", ev, id)
			}
			if p, _ := ev["payload"].(map[string]any); p["contact_id"] != 7.0 {
				t.Errorf("inbox: payload %v", ev["payload"])
			}
			if pg, _ := r.body["pagination"].(map[string]any); pg["limit"] != 10.0 {
				t.Errorf("inbox: pagination %v, want limit 10 from the query string", r.body["pagination"])
			}

			r = invoke(t, h, version, "not_found")
			if code, _ := errorCode(r); r.status != http.StatusNotFound || code != "NOT_FOUND" {
				t.Errorf("unknown route: status %d, body %v", r.status, r.body)
			}

			r = invoke(t, h, version, "bad_body")
			if code, _ := errorCode(r); r.status != http.StatusBadRequest || code != "VALIDATION_ERROR" {
				t.Errorf("bad body: status %d, body %v", r.status, r.body)
			}

			// A key with an allowlist: the client IP is the event's source IP.
			r = invoke(t, h, version, "allowlist_inside")
			if r.status != http.StatusOK {
				t.Errorf("allowlisted source IP: status %d, body %v", r.status, r.body)
			}
			// Outside the allowlist, with X-Forwarded-For and X-Real-IP
			// claiming an address inside it: refused, and the client IP
			// reported is the source IP.
			r = invoke(t, h, version, "allowlist_outside")
			code, details := errorCode(r)
			if r.status != http.StatusForbidden || code != "FORBIDDEN" {
				t.Fatalf("source IP outside the allowlist: status %d, body %v", r.status, r.body)
			}
			if details["client_ip"] != "198.51.100.23" {
				t.Errorf("details.client_ip = %v, want the event's source IP 198.51.100.23", details["client_ip"])
			}
			if strings.Contains(r.body["error"].(map[string]any)["message"].(string), allowlist) {
				t.Errorf("403 reveals the allowlist: %v", r.body)
			}
		})
	}
}

// The fixtures must say what the tests assume of them.
func TestFixtureSourceIPs(t *testing.T) {
	prefix := netip.MustParsePrefix(allowlist)
	for _, c := range []struct {
		name   string
		inside bool
	}{{"allowlist_inside", true}, {"allowlist_outside", false}} {
		var v1 events.APIGatewayProxyRequest
		if err := json.Unmarshal(fixture(t, "v1_"+c.name+".json"), &v1); err != nil {
			t.Fatal(err)
		}
		var v2 events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(fixture(t, "v2_"+c.name+".json"), &v2); err != nil {
			t.Fatal(err)
		}
		for _, ip := range []string{v1.RequestContext.Identity.SourceIP, v2.RequestContext.HTTP.SourceIP} {
			if prefix.Contains(netip.MustParseAddr(ip)) != c.inside {
				t.Errorf("%s: source IP %s inside %s = %v", c.name, ip, allowlist, !c.inside)
			}
		}
	}
	var v1 events.APIGatewayProxyRequest
	if err := json.Unmarshal(fixture(t, "v1_allowlist_outside.json"), &v1); err != nil {
		t.Fatal(err)
	}
	xff := v1.MultiValueHeaders["X-Forwarded-For"]
	if len(xff) != 1 || !prefix.Contains(netip.MustParseAddr(strings.Split(xff[0], ",")[0])) {
		t.Errorf("v1_allowlist_outside: X-Forwarded-For %q does not spoof an address inside %s", xff, allowlist)
	}
}

func TestUnsupportedEvent(t *testing.T) {
	h := newHandler(http.NotFoundHandler())
	for _, raw := range []string{`{"Records":[{"eventSource":"aws:sqs"}]}`, `[]`, `"x"`, `{}`} {
		if out, err := h(context.Background(), json.RawMessage(raw)); err == nil {
			t.Errorf("%s: no error, response %v", raw, out)
		}
	}
}

func TestLambdaConfig(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	cfg, err := lambdaConfig(env(map[string]string{"TRIGGERS_STAGE": "prod", "TRIGGERS_RETENTION": "24h",
		"TRIGGERS_DYNAMODB_ENDPOINT": "http://127.0.0.1:4567", "TRIGGERS_DEV_KEY": "devdevdevdevdevdev",
		"TRIGGERS_CORS_ORIGINS": "https://App.example:443"}), logger)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != "dynamodb" || cfg.Stage != "prod" || cfg.Retention.Hours() != 24 ||
		cfg.DynamoDBEndpoint != "http://127.0.0.1:4567" || cfg.DevKey != "" || cfg.CreateTables ||
		cfg.CORS.String() != "https://app.example" {
		t.Errorf("config %+v", cfg)
	}
	if _, err := lambdaConfig(env(map[string]string{"TRIGGERS_STORE": "sqlite"}), logger); err == nil ||
		!strings.Contains(err.Error(), "sqlite") {
		t.Errorf("sqlite on Lambda: err = %v, want a refusal", err)
	}
	for k, v := range map[string]string{"TRIGGERS_RETENTION": "soon", "TRIGGERS_TRUSTED_PROXIES": "not-a-cidr",
		"TRIGGERS_CORS_ORIGINS": "https://app.example/"} {
		if _, err := lambdaConfig(env(map[string]string{k: v}), logger); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: err = %v, want one naming it", k, v, err)
		}
	}
}

// TestRuntimeInvoke goes through aws-lambda-go's own handler wrapper (what
// lambda.Start uses): the signature is accepted and the responses marshal
// to the JSON API Gateway expects.
func TestRuntimeInvoke(t *testing.T) {
	h := lambda.NewHandler(newTestHandler(t))
	for _, version := range []string{"v1", "v2"} {
		out, err := h.Invoke(context.Background(), fixture(t, version+"_not_found.json"))
		if err != nil {
			t.Fatalf("%s: %v", version, err)
		}
		var resp struct {
			StatusCode        int                 `json:"statusCode"`
			Headers           map[string]string   `json:"headers"`
			MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
			Body              string              `json:"body"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("%s: %v\n%s", version, err, out)
		}
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Body, `"NOT_FOUND"`) {
			t.Errorf("%s: %s", version, out)
		}
		if version == "v1" && len(resp.MultiValueHeaders["X-Request-Id"]) != 1 {
			t.Errorf("v1: multiValueHeaders %v, want X-Request-Id", resp.MultiValueHeaders)
		}
		if version == "v2" && resp.Headers["X-Request-Id"] != fixtureReqID {
			t.Errorf("v2: headers %v, want X-Request-Id", resp.Headers)
		}
	}
}
