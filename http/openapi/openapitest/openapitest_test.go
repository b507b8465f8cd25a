package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/triggersapi/triggers/http/openapi/openapitest"
)

const (
	reqID   = "7d4c0a39-95b6-4d0a-8f0e-1f2b3c4d5e6f"
	eventID = "0193a5c2-7e4b-7c1d-9f2a-5b8e3d6c4a10"
	ts      = "2025-11-10T12:00:00.123456Z"
)

// sample is one request and the response a handler might give to it.
type sample struct {
	name    string
	method  string
	target  string
	status  int
	header  map[string]string // X-Request-ID and a JSON Content-Type unless set
	body    string
	wantErr string // "" if Check must accept the response
}

func errorBody(code string) string {
	return fmt.Sprintf(`{"error":{"code":%q,"message":"m","details":{},"request_id":%q}}`, code, reqID)
}

func event(status, extra string) string {
	return `{"event_id":"` + eventID + `","created_at":"` + ts + `","source":"shop","event_type":"order.created",` +
		`"payload":{"order_id":"A-1","n":12345678901234567890},"status":"` + status + `",` +
		`"metadata":{"priority":"normal","custom":[1,2]},"attempts":0` + extra + `}`
}

// leased is a pending event as a receive returns it, with attempts and
// extra fields, before its lease.
func leased(extra string) string {
	return strings.Replace(event("pending", `,"lease_expires_at":"`+ts+`"`+extra), `"attempts":0`, `"attempts":2`, 1)
}

const (
	leaseID = "6f1c2a9e0b3d4c5e8f7a6b5c4d3e2f10"
	lease   = `"lease":{"lease_id":"` + leaseID + `","expires_at":"` + ts + `"}`
)

// stats is a stats answer: the counts, oldest (a JSON value), the 60
// minutes (each with created and acknowledged), bySource (a JSON array) and
// the rest of the fields.
func stats(oldest string, minutes int, bySource, rest string) string {
	pm := make([]string, minutes)
	for i := range pm {
		pm[i] = fmt.Sprintf(`{"minute":"2025-11-10T11:%02d:00.000000Z","created":%d,"acknowledged":1}`, i%60, i)
	}
	return `{"pending":3,"leased":1,"dead":0,"oldest_pending_created_at":` + oldest + `,"oldest_pending_age_seconds":42,` +
		`"per_minute":[` + strings.Join(pm, ",") + `],"by_source":` + bySource + `,"approximate":false` + rest + `}`
}

func conflictBody(details string) string {
	return `{"error":{"code":"CONFLICT","message":"m","details":` + details + `,"request_id":"` + reqID + `"}}`
}

var samples = []sample{
	// Accepted.
	{name: "Index", method: "GET", target: "/", status: 200,
		body: `{"name":"Triggers API","version":"1.0.0","links":{"docs":"/docs","openapi":"/openapi.json","health":"/v1/health"}}`},
	{name: "Health", method: "GET", target: "/v1/health", status: 200,
		body: `{"status":"healthy","timestamp":"` + ts + `","version":"dev","request_id":"` + reqID + `"}`},
	{name: "Ready", method: "GET", target: "/v1/health/ready", status: 200,
		body: `{"status":"ready","timestamp":"` + ts + `","version":"dev","request_id":"` + reqID + `"}`},
	{name: "NotReady", method: "GET", target: "/v1/health/ready", status: 503,
		header: map[string]string{"Retry-After": "5"}, body: errorBody("SERVICE_UNAVAILABLE")},
	{name: "Docs", method: "GET", target: "/docs", status: 200,
		header: map[string]string{"Content-Type": "text/html; charset=utf-8"}, body: "<!doctype html><title>x</title>"},
	{name: "Metrics", method: "GET", target: "/metrics", status: 200,
		header: map[string]string{"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}, body: "# HELP x\nx 1\n"},
	{name: "OpenAPI", method: "GET", target: "/openapi.json", status: 200,
		body: `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{}}`},
	{name: "Create", method: "POST", target: "/v1/events", status: 201,
		header: map[string]string{"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "999", "X-RateLimit-Reset": "1762776000",
			"RateLimit-Policy": `"default";q=1000;w=60`, "RateLimit": `"default";r=999;t=1`},
		body: `{"event_id":"` + eventID + `","created_at":"` + ts + `","status":"pending","message":"Event created","request_id":"` + reqID + `"}`},
	{name: "CreateReplay", method: "POST", target: "/v1/events", status: 201,
		header: map[string]string{"Idempotent-Replayed": "true"},
		body:   `{"event_id":"` + eventID + `","created_at":"` + ts + `","status":"pending","message":"Event created","request_id":"` + reqID + `"}`},
	{name: "CreateInvalid", method: "POST", target: "/v1/events", status: 400,
		body: `{"error":{"code":"VALIDATION_ERROR","message":"source: must not be blank","details":{"fields":[{"field":"source","message":"must not be blank"}]},"request_id":"` + reqID + `"}}`},
	{name: "CreateKeyReused", method: "POST", target: "/v1/events", status: 422, body: errorBody("IDEMPOTENCY_KEY_REUSED")},
	{name: "CreateRateLimited", method: "POST", target: "/v1/events", status: 429,
		header: map[string]string{"Retry-After": "3"},
		body:   `{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"m","details":{"limit":10,"retry_after":3,"reset_at":1762776000},"request_id":"` + reqID + `"}}`},
	{name: "GetPending", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: event("pending", `,"request_id":"`+reqID+`"`)},
	{name: "GetAcknowledged", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: event("acknowledged", `,"acknowledged_at":"`+ts+`","request_id":"`+reqID+`"`)},
	{name: "GetNotFound", method: "GET", target: "/v1/events/" + eventID, status: 404, body: errorBody("NOT_FOUND")},
	{name: "GetBadID", method: "GET", target: "/v1/events/nope", status: 422, body: errorBody("VALIDATION_ERROR")},
	{name: "Ack", method: "POST", target: "/v1/events/" + eventID + "/ack", status: 200,
		body: `{"event_id":"` + eventID + `","status":"acknowledged","acknowledged_at":"` + ts + `","message":"Event acknowledged","request_id":"` + reqID + `"}`},
	{name: "AckConflict", method: "POST", target: "/v1/events/" + eventID + "/ack", status: 409,
		body: conflictBody(`{"reason":"already_acknowledged"}`)},
	{name: "AckLeaseLost", method: "POST", target: "/v1/events/" + eventID + "/ack", status: 409,
		body: conflictBody(`{"reason":"lease_lost"}`)},
	{name: "AckBadLeaseID", method: "POST", target: "/v1/events/" + eventID + "/ack", status: 400,
		body: `{"error":{"code":"VALIDATION_ERROR","message":"m","details":{"fields":[{"field":"lease_id","message":"m"}]},"request_id":"` + reqID + `"}}`},
	{name: "AckNotJSON", method: "POST", target: "/v1/events/" + eventID + "/ack", status: 415, body: errorBody("UNSUPPORTED_MEDIA_TYPE")},
	{name: "GetLeased", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: leased(`,"request_id":"` + reqID + `"`)},
	{name: "GetDead", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: event("dead", `,"dead_at":"`+ts+`","request_id":"`+reqID+`"`)},
	{name: "Receive", method: "POST", target: "/v1/inbox/receive", status: 200,
		body: `{"events":[` + strings.TrimSuffix(leased(""), "}") + `,` + lease + `}],"request_id":"` + reqID + `"}`},
	{name: "ReceiveNothing", method: "POST", target: "/v1/inbox/receive", status: 200,
		body: `{"events":[],"request_id":"` + reqID + `"}`},
	{name: "Nack", method: "POST", target: "/v1/events/" + eventID + "/nack", status: 200,
		body: `{"event_id":"` + eventID + `","status":"pending","attempts":1,"available_at":"` + ts + `","message":"m","request_id":"` + reqID + `"}`},
	{name: "NackLeaseExpired", method: "POST", target: "/v1/events/" + eventID + "/nack", status: 409,
		body: conflictBody(`{"reason":"lease_expired"}`)},
	{name: "Extend", method: "POST", target: "/v1/events/" + eventID + "/lease", status: 200,
		body: `{"event_id":"` + eventID + `",` + lease + `,"request_id":"` + reqID + `"}`},
	{name: "Redrive", method: "POST", target: "/v1/events/" + eventID + "/redrive", status: 200,
		body: `{"event_id":"` + eventID + `","status":"pending","attempts":0,"message":"m","request_id":"` + reqID + `"}`},
	{name: "RedriveNotDead", method: "POST", target: "/v1/events/" + eventID + "/redrive", status: 409,
		body: conflictBody(`{"reason":"not_dead"}`)},
	{name: "BulkNack", method: "POST", target: "/v1/events/bulk/nack", status: 200,
		body: `{"successful":[{"index":0,"event_id":"` + eventID + `","status":"pending","attempts":3,"available_at":"` + ts + `"}],` +
			`"failed":[{"index":1,"error":{"code":"CONFLICT","message":"m","details":{"reason":"lease_lost"}}}],"request_id":"` + reqID + `"}`},
	{name: "BulkRedrive", method: "POST", target: "/v1/events/bulk/redrive", status: 200,
		body: `{"successful":[{"index":0,"event_id":"` + eventID + `","status":"pending","attempts":0}],"failed":[],"request_id":"` + reqID + `"}`},
	{name: "Delete", method: "DELETE", target: "/v1/events/" + eventID, status: 200,
		body: `{"event_id":"` + eventID + `","message":"Event deleted","request_id":"` + reqID + `"}`},
	{name: "Inbox", method: "GET", target: "/v1/inbox?limit=2&source=shop", status: 200,
		body: `{"events":[` + event("pending", "") + `],"pagination":{"limit":2,"next_cursor":"abc"},"request_id":"` + reqID + `"}`},
	{name: "InboxDead", method: "GET", target: "/v1/inbox?status=dead", status: 200,
		body: `{"events":[` + event("dead", `,"dead_at":"`+ts+`"`) + `],"pagination":{"limit":50},"request_id":"` + reqID + `"}`},
	{name: "InboxLastPage", method: "GET", target: "/v1/inbox", status: 200,
		body: `{"events":[],"pagination":{"limit":50},"request_id":"` + reqID + `"}`},
	{name: "Stats", method: "GET", target: "/v1/stats?source=shop", status: 200,
		body: stats(`"`+ts+`"`, 60, `[{"source":"shop","pending":3}]`, `,"request_id":"`+reqID+`"`)},
	{name: "StatsNothingPending", method: "GET", target: "/v1/stats", status: 200,
		body: stats("null", 60, `[]`, `,"request_id":"`+reqID+`"`)},
	{name: "StatsUnknownParameter", method: "GET", target: "/v1/stats?limit=5", status: 400,
		body: `{"error":{"code":"VALIDATION_ERROR","message":"m","details":{"fields":[{"field":"limit","message":"m"}]},"request_id":"` + reqID + `"}}`},
	{name: "StatsRateLimited", method: "GET", target: "/v1/stats", status: 429,
		header: map[string]string{"Retry-After": "3"},
		body:   `{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"m","details":{"limit":10,"retry_after":3,"reset_at":1762776000},"request_id":"` + reqID + `"}}`},
	{name: "Unauthorized", method: "GET", target: "/v1/inbox", status: 401, body: errorBody("UNAUTHORIZED")},
	{name: "UnknownPath", method: "GET", target: "/v2/nothing", status: 404, body: errorBody("NOT_FOUND")},
	{name: "UnknownPathUnauthorized", method: "GET", target: "/v2/nothing", status: 401, body: errorBody("UNAUTHORIZED")},
	{name: "WrongMethod", method: "PUT", target: "/v1/inbox", status: 405,
		header: map[string]string{"Allow": "GET"}, body: errorBody("METHOD_NOT_ALLOWED")},

	// Refused.
	{name: "ErrNoRequestID", method: "GET", target: "/v1/health", status: 200,
		header:  map[string]string{"X-Request-ID": ""},
		body:    `{"status":"healthy","timestamp":"` + ts + `","version":"dev","request_id":"` + reqID + `"}`,
		wantErr: "no X-Request-ID header"},
	{name: "ErrRequestIDMismatch", method: "GET", target: "/v1/health", status: 200,
		body:    `{"status":"healthy","timestamp":"` + ts + `","version":"dev","request_id":"other"}`,
		wantErr: "want the X-Request-ID header"},
	{name: "ErrHealthStatus", method: "GET", target: "/v1/health", status: 200,
		body:    `{"status":"ready","timestamp":"` + ts + `","version":"dev","request_id":"` + reqID + `"}`,
		wantErr: "doesn't match schema"},
	{name: "ErrTimestampNoMicroseconds", method: "GET", target: "/v1/health", status: 200,
		body:    `{"status":"healthy","timestamp":"2025-11-10T12:00:00Z","version":"dev","request_id":"` + reqID + `"}`,
		wantErr: "doesn't match schema"},
	{name: "ErrUndocumentedStatus", method: "GET", target: "/v1/events/" + eventID, status: 400,
		body: errorBody("VALIDATION_ERROR"), wantErr: "status 400 is not documented for GET /v1/events/{event_id}"},
	{name: "ErrWrongErrorCode", method: "GET", target: "/v1/events/" + eventID, status: 404,
		body: errorBody("CONFLICT"), wantErr: "doesn't match schema"},
	{name: "ErrErrorWithoutDetails", method: "POST", target: "/v1/events", status: 401,
		body:    `{"error":{"code":"UNAUTHORIZED","message":"m","request_id":"` + reqID + `"}}`,
		wantErr: "doesn't match schema"},
	{name: "ErrCreateUnknownField", method: "POST", target: "/v1/events", status: 201,
		body:    `{"event_id":"` + eventID + `","created_at":"` + ts + `","status":"pending","message":"ok","request_id":"` + reqID + `","extra":1}`,
		wantErr: "doesn't match schema"},
	{name: "ErrCreateBadEventID", method: "POST", target: "/v1/events", status: 201,
		body:    `{"event_id":"not-a-uuid","created_at":"` + ts + `","status":"pending","message":"ok","request_id":"` + reqID + `"}`,
		wantErr: "doesn't match schema"},
	{name: "ErrReplayedHeader", method: "POST", target: "/v1/events", status: 201,
		header:  map[string]string{"Idempotent-Replayed": "yes"},
		body:    `{"event_id":"` + eventID + `","created_at":"` + ts + `","status":"pending","message":"ok","request_id":"` + reqID + `"}`,
		wantErr: "Idempotent-Replayed"},
	{name: "ErrRateLimitedNoRetryAfter", method: "POST", target: "/v1/events", status: 429,
		body:    `{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"m","details":{"limit":10,"retry_after":3,"reset_at":1762776000},"request_id":"` + reqID + `"}}`,
		wantErr: "Retry-After"},
	{name: "ErrPendingWithAckedAt", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: event("pending", `,"acknowledged_at":"`+ts+`","request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrAcknowledgedWithoutAckedAt", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: event("acknowledged", `,"request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrMetadataWithoutPriority", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body:    strings.Replace(event("pending", `,"request_id":"`+reqID+`"`), `"priority":"normal",`, "", 1),
		wantErr: "doesn't match schema"},
	{name: "ErrEventUnknownField", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: event("pending", `,"tenant":"t1","request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrInboxEventWithRequestID", method: "GET", target: "/v1/inbox", status: 200,
		body:    `{"events":[` + event("pending", `,"request_id":"x"`) + `],"pagination":{"limit":50},"request_id":"` + reqID + `"}`,
		wantErr: "doesn't match schema"},
	{name: "ErrEventWithoutAttempts", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: strings.Replace(event("pending", `,"request_id":"`+reqID+`"`), `,"attempts":0`, "", 1), wantErr: "doesn't match schema"},
	{name: "ErrDeadWithoutDeadAt", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: event("dead", `,"request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrPendingWithDeadAt", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body: event("pending", `,"dead_at":"`+ts+`","request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrAcknowledgedWithLease", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body:    event("acknowledged", `,"acknowledged_at":"`+ts+`","lease_expires_at":"`+ts+`","request_id":"`+reqID+`"`),
		wantErr: "doesn't match schema"},
	{name: "ErrDeadWithLease", method: "GET", target: "/v1/events/" + eventID, status: 200,
		body:    event("dead", `,"dead_at":"`+ts+`","lease_expires_at":"`+ts+`","request_id":"`+reqID+`"`),
		wantErr: "doesn't match schema"},
	{name: "ErrInboxEventWithLease", method: "GET", target: "/v1/inbox", status: 200,
		body:    `{"events":[` + strings.TrimSuffix(leased(""), "}") + `,` + lease + `}],"pagination":{"limit":50},"request_id":"` + reqID + `"}`,
		wantErr: "doesn't match schema"},
	{name: "ErrReceivedWithoutLease", method: "POST", target: "/v1/inbox/receive", status: 200,
		body: `{"events":[` + leased("") + `],"request_id":"` + reqID + `"}`, wantErr: "doesn't match schema"},
	{name: "ErrReceivedBadLeaseID", method: "POST", target: "/v1/inbox/receive", status: 200,
		body:    `{"events":[` + strings.TrimSuffix(leased(""), "}") + `,` + strings.Replace(lease, leaseID, "ABC", 1) + `}],"request_id":"` + reqID + `"}`,
		wantErr: "doesn't match schema"},
	{name: "ErrConflictWithoutReason", method: "POST", target: "/v1/events/" + eventID + "/ack", status: 409,
		body: errorBody("CONFLICT"), wantErr: "doesn't match schema"},
	{name: "ErrConflictUnknownReason", method: "POST", target: "/v1/events/" + eventID + "/nack", status: 409,
		body: conflictBody(`{"reason":"busy"}`), wantErr: "doesn't match schema"},
	{name: "ErrBulkConflictWithoutReason", method: "POST", target: "/v1/events/bulk/nack", status: 200,
		body:    `{"successful":[],"failed":[{"index":0,"error":{"code":"CONFLICT","message":"m","details":{}}}],"request_id":"` + reqID + `"}`,
		wantErr: "doesn't match schema"},
	{name: "ErrRedriveAttempts", method: "POST", target: "/v1/events/" + eventID + "/redrive", status: 200,
		body:    `{"event_id":"` + eventID + `","status":"pending","attempts":3,"message":"m","request_id":"` + reqID + `"}`,
		wantErr: "doesn't match schema"},
	{name: "ErrStatsMissingMinutes", method: "GET", target: "/v1/stats", status: 200,
		body: stats(`"`+ts+`"`, 59, `[]`, `,"request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrStatsBySourceNull", method: "GET", target: "/v1/stats", status: 200,
		body: stats(`"`+ts+`"`, 60, `null`, `,"request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrStatsOldestMissing", method: "GET", target: "/v1/stats", status: 200,
		body:    strings.Replace(stats("null", 60, `[]`, `,"request_id":"`+reqID+`"`), `"oldest_pending_created_at":null,`, "", 1),
		wantErr: "doesn't match schema"},
	{name: "ErrStatsOldestNotTimestamp", method: "GET", target: "/v1/stats", status: 200,
		body: stats(`"yesterday"`, 60, `[]`, `,"request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrStatsNegativeCount", method: "GET", target: "/v1/stats", status: 200,
		body:    strings.Replace(stats("null", 60, `[]`, `,"request_id":"`+reqID+`"`), `"pending":3`, `"pending":-1`, 1),
		wantErr: "doesn't match schema"},
	{name: "ErrStatsWithoutApproximate", method: "GET", target: "/v1/stats", status: 200,
		body:    strings.Replace(stats("null", 60, `[]`, `,"request_id":"`+reqID+`"`), `,"approximate":false`, "", 1),
		wantErr: "doesn't match schema"},
	{name: "ErrStatsSourceWithoutCount", method: "GET", target: "/v1/stats", status: 200,
		body: stats("null", 60, `[{"source":"shop"}]`, `,"request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrStatsUnknownField", method: "GET", target: "/v1/stats", status: 200,
		body: stats("null", 60, `[]`, `,"tenant":"t1","request_id":"`+reqID+`"`), wantErr: "doesn't match schema"},
	{name: "ErrInboxNoPagination", method: "GET", target: "/v1/inbox", status: 200,
		body: `{"events":[],"request_id":"` + reqID + `"}`, wantErr: "doesn't match schema"},
	{name: "ErrWrongContentType", method: "GET", target: "/v1/inbox", status: 200,
		header:  map[string]string{"Content-Type": "text/plain"},
		body:    `{"events":[],"pagination":{"limit":50},"request_id":"` + reqID + `"}`,
		wantErr: `Content-Type "text/plain" is not documented`},
	{name: "ErrNotJSON", method: "GET", target: "/v1/inbox", status: 200, body: `{"events":`, wantErr: "failed to decode"},
	{name: "ErrUnknownRouteSuccess", method: "POST", target: "/v1/things", status: 200,
		body: `{"ok":true}`, wantErr: "no such operation"},
	{name: "ErrUnknownRouteWrongCode", method: "GET", target: "/v2/nothing", status: 404,
		body: errorBody("VALIDATION_ERROR"), wantErr: "want NOT_FOUND"},
	{name: "ErrUnknownRouteBadEnvelope", method: "GET", target: "/v2/nothing", status: 404,
		body: `{"error":"not found"}`, wantErr: "does not match components/schemas/Error"},
	{name: "ErrWrongMethodNoAllow", method: "PUT", target: "/v1/inbox", status: 405,
		body: errorBody("METHOD_NOT_ALLOWED"), wantErr: "no Allow header"},
}

func TestValidator_Check(t *testing.T) {
	v := openapitest.New(t)
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			req := httptest.NewRequest(s.method, "http://127.0.0.1:39123"+s.target, nil)
			rec := httptest.NewRecorder()
			rec.Header().Set("X-Request-ID", reqID)
			rec.Header().Set("Content-Type", "application/json")
			for k, val := range s.header {
				if val == "" {
					rec.Header().Del(k)
				} else {
					rec.Header().Set(k, val)
				}
			}
			rec.WriteHeader(s.status)
			io.WriteString(rec, s.body)
			resp := rec.Result()
			body, _ := io.ReadAll(resp.Body)

			rt := &recordingTB{TB: t}
			v.Check(rt, req, nil, resp, body)
			switch {
			case s.wantErr == "" && rt.failed:
				t.Errorf("Check refused a valid response:\n%s", rt.msg)
			case s.wantErr != "" && !rt.failed:
				t.Errorf("Check accepted an invalid response, want an error containing %q", s.wantErr)
			case s.wantErr != "" && !strings.Contains(rt.msg, s.wantErr):
				t.Errorf("Check error = %s\nwant it to contain %q", rt.msg, s.wantErr)
			}
		})
	}
}

// recordingTB records failures instead of failing the test.
type recordingTB struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.failed = true
	r.msg += fmt.Sprintf(format, args...)
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.TB.Fatalf(format, args...)
}

// TestValidator_Check_server checks a real round trip: the client's request
// has an absolute URL with an arbitrary port. Parallel calls share v.
func TestValidator_Check_server(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", reqID)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"healthy","timestamp":"`+ts+`","version":"dev","request_id":"`+reqID+`"}`)
	}))
	defer srv.Close()
	v := openapitest.New(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			req, err := http.NewRequest("GET", srv.URL+"/v1/health", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			v.Check(t, req, nil, resp, body)
		})
	}
	wg.Wait()
}
