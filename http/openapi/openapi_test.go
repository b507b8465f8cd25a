package openapi_test

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/http/openapi"
)

// MustLoad loads and validates openapi.Document.
func MustLoad(tb testing.TB) *openapi3.T {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Document)
	if err != nil {
		tb.Fatalf("LoadFromData(openapi.json) = %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		tb.Fatalf("Validate(openapi.json) = %v", err)
	}
	return doc
}

func TestDocument_Validate(t *testing.T) {
	doc := MustLoad(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
}

// public are the operations that need no API key (DESIGN §1.3).
var public = map[string]bool{
	"GET /": true, "GET /v1/health": true, "GET /v1/health/ready": true,
	"GET /openapi.json": true, "GET /openapi.yaml": true, "GET /docs": true, "GET /metrics": true,
}

func TestDocument_Operations(t *testing.T) {
	doc := MustLoad(t)
	want := []string{
		"DELETE /v1/events/bulk",
		"DELETE /v1/events/{event_id}",
		"GET /",
		"GET /docs",
		"GET /metrics",
		"GET /openapi.json", "GET /openapi.yaml",
		"GET /v1/events/{event_id}",
		"GET /v1/health",
		"GET /v1/health/ready",
		"GET /v1/inbox",
		"GET /v1/stats",
		"POST /v1/events",
		"POST /v1/events/bulk",
		"POST /v1/events/bulk/ack",
		"POST /v1/events/bulk/delete",
		"POST /v1/events/bulk/nack",
		"POST /v1/events/bulk/redrive",
		"POST /v1/events/{event_id}/ack",
		"POST /v1/events/{event_id}/lease",
		"POST /v1/events/{event_id}/nack",
		"POST /v1/events/{event_id}/redrive",
		"POST /v1/inbox/receive",
		"GET /v1/subscriptions",
		"POST /v1/subscriptions",
		"DELETE /v1/subscriptions/{subscription_id}",
		"GET /v1/subscriptions/{subscription_id}",
		"PATCH /v1/subscriptions/{subscription_id}",
		"GET /v1/subscriptions/{subscription_id}/deliveries",
		"POST /v1/subscriptions/{subscription_id}/deliveries/{event_id}/retry",
		"POST /v1/subscriptions/{subscription_id}/replay",
		"POST /v1/subscriptions/{subscription_id}/rotate-secret",
		"GET /v1/subscriptions/{subscription_id}/secret",
	}
	slices.Sort(want)
	var got []string
	ids := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			got = append(got, name)
			t.Run(name, func(t *testing.T) {
				if op.OperationID == "" || ids[op.OperationID] {
					t.Errorf("operationId %q is empty or not unique", op.OperationID)
				}
				ids[op.OperationID] = true
				if len(op.Tags) != 1 || op.Summary == "" || op.Description == "" {
					t.Errorf("tags = %v, summary = %q, description = %q; want one tag, a summary and a description",
						op.Tags, op.Summary, op.Description)
				}
				for _, code := range []string{"500", "default"} {
					ref := op.Responses.Value(code)
					if ref == nil || !strings.HasPrefix(ref.Ref, "#/components/responses/") {
						t.Errorf("response %s is missing or not a components/responses reference", code)
					}
				}
				for code, ref := range op.Responses.Map() {
					h := ref.Value.Headers["X-Request-ID"]
					if h == nil || !h.Value.Required {
						t.Errorf("response %s does not document a required X-Request-ID header", code)
					}
				}
				needsKey := op.Security == nil || len(*op.Security) > 0
				if needsKey == public[name] {
					t.Errorf("needs an API key = %v, want %v", needsKey, !public[name])
				}
			})
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("operations = %q\nwant %q", got, want)
	}

	var schemes []string
	for _, req := range doc.Security {
		for name := range req {
			schemes = append(schemes, name)
		}
	}
	slices.Sort(schemes)
	if !slices.Equal(schemes, []string{"ApiKeyAuth", "BearerAuth"}) {
		t.Errorf("top-level security = %v, want ApiKeyAuth or BearerAuth", schemes)
	}
}

func TestDocument_ErrorCodes(t *testing.T) {
	doc := MustLoad(t)
	inner := doc.Components.Schemas["Error"].Value.Properties["error"].Value
	var got []string
	for _, v := range inner.Properties["code"].Value.Enum {
		got = append(got, v.(string))
	}
	want := []string{ // DESIGN §1.2
		"VALIDATION_ERROR", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "METHOD_NOT_ALLOWED", "CONFLICT",
		"PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "IDEMPOTENCY_KEY_REUSED", "RATE_LIMIT_EXCEEDED",
		"INTERNAL_ERROR", "SERVICE_UNAVAILABLE",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Error code enum = %q\nwant %q", got, want)
	}
	if !slices.Equal(inner.Required, []string{"code", "message", "details", "request_id"}) {
		t.Errorf("Error required = %q", inner.Required)
	}
}

// TestDocument_ConflictReasons: the reasons a 409 may give are exactly the
// domain's (DESIGN §10.3), so a new reason cannot ship undocumented.
func TestDocument_ConflictReasons(t *testing.T) {
	doc := MustLoad(t)
	var got []string
	for _, v := range doc.Components.Schemas["ConflictReason"].Value.Enum {
		got = append(got, v.(string))
	}
	want := []string{triggers.ReasonAlreadyAcknowledged, triggers.ReasonLeaseLost, triggers.ReasonLeaseExpired, triggers.ReasonNotDead,
		triggers.ReasonSubscriptionLimit}
	if !slices.Equal(got, want) {
		t.Errorf("ConflictReason enum = %q\nwant %q", got, want)
	}
}

// TestDocument_LeaseLimits: the bounds and defaults of the lease bodies
// are the parsers' (lease.go).
func TestDocument_LeaseLimits(t *testing.T) {
	doc := MustLoad(t)
	cases := []struct {
		schema, field string
		lo, hi, def   int
	}{
		{"ReceiveRequest", "max_events", 1, triggers.MaxReceiveMax, triggers.DefaultReceiveMax},
		{"ReceiveRequest", "lease_seconds", 1, triggers.MaxLeaseSeconds, triggers.DefaultLeaseSeconds},
		{"ReceiveRequest", "wait_seconds", 0, triggers.MaxWaitSeconds, 0},
		{"ReceiveRequest", "max_attempts", 1, triggers.MaxMaxAttempts, triggers.DefaultMaxAttempts},
		{"NackEventRequest", "delay_seconds", 0, triggers.MaxNackDelaySeconds, 0},
		{"ExtendLeaseRequest", "lease_seconds", 1, triggers.MaxLeaseSeconds, triggers.DefaultLeaseSeconds},
	}
	for _, c := range cases {
		p := doc.Components.Schemas[c.schema].Value.Properties[c.field].Value
		if p.Min == nil || p.Max == nil || int(*p.Min) != c.lo || int(*p.Max) != c.hi || p.Default != float64(c.def) {
			t.Errorf("%s.%s: minimum %v, maximum %v, default %v; want %d, %d, %d",
				c.schema, c.field, p.Min, p.Max, p.Default, c.lo, c.hi, c.def)
		}
	}
}

// TestDocument_StatsLimits: the document's bounds on a stats answer are the
// domain's (DESIGN §12): every minute of the window, at most the top
// sources.
func TestDocument_StatsLimits(t *testing.T) {
	doc := MustLoad(t)
	props := doc.Components.Schemas["StatsResponse"].Value.Properties
	perMinute, bySource := props["per_minute"].Value, props["by_source"].Value
	if perMinute.MinItems != triggers.StatsMinutes || perMinute.MaxItems == nil || int(*perMinute.MaxItems) != triggers.StatsMinutes {
		t.Errorf("StatsResponse.per_minute: %d to %v items, want exactly %d", perMinute.MinItems, perMinute.MaxItems, triggers.StatsMinutes)
	}
	if bySource.MaxItems == nil || int(*bySource.MaxItems) != triggers.StatsTopSources {
		t.Errorf("StatsResponse.by_source: at most %v items, want %d", bySource.MaxItems, triggers.StatsTopSources)
	}
	if src := doc.Components.Schemas["SourceCount"].Value.Properties["source"].Value; src.MaxLength == nil || int(*src.MaxLength) != triggers.MaxSourceLen {
		t.Errorf("SourceCount.source maxLength = %v, want %d", src.MaxLength, triggers.MaxSourceLen)
	}
}

func TestDocsPage(t *testing.T) {
	page := openapi.DocsPage
	if !bytes.HasPrefix(page, []byte("<!doctype html>")) {
		t.Fatalf("DocsPage does not start with <!doctype html>")
	}
	if !bytes.Contains(openapi.DocsScript, []byte("'openapi.json'")) {
		t.Errorf("DocsScript does not fetch openapi.json")
	}
	// Nothing inline, so that a CSP without 'unsafe-inline' lets it run:
	// its script and style come from its own origin, by relative URLs.
	for _, want := range []string{`<script src="docs/reference.js"></script>`, `<link rel="stylesheet" href="docs/reference.css">`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("DocsPage lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|\sstyle=|<style|\son[a-z]+=`).Match(page) {
		t.Errorf("DocsPage has an inline script, style or event handler")
	}
	// Nothing from elsewhere: no external scripts, styles, fonts or images.
	for name, b := range map[string][]byte{"DocsPage": page, "DocsScript": openapi.DocsScript, "DocsStyle": openapi.DocsStyle} {
		for _, s := range []string{"http://", "https://", "@import", "//cdn"} {
			if bytes.Contains(bytes.ToLower(b), []byte(s)) {
				t.Errorf("%s contains %q; it must load nothing from elsewhere", name, s)
			}
		}
	}
}
