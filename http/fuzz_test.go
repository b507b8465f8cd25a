package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/teststore"
)

// changeCounter counts the changes a store made: events inserted (not
// replays), acknowledged, deleted, leased, dead-lettered, nacked, whose
// lease was extended, redriven. A request answered 4xx must change nothing.
type changeCounter struct {
	triggers.Store
	changes atomic.Int64
}

func countChanges[R any](c *changeCounter, res []R, failed func(R) bool) {
	for _, r := range res {
		if !failed(r) {
			c.changes.Add(1)
		}
	}
}

func (c *changeCounter) InsertEvents(ctx context.Context, ins []triggers.Insert) ([]triggers.InsertResult, error) {
	res, err := c.Store.InsertEvents(ctx, ins)
	countChanges(c, res, func(r triggers.InsertResult) bool { return r.Err != nil || r.Replayed })
	return res, err
}

func (c *changeCounter) AckEvent(ctx context.Context, tenant string, a triggers.Ack, at, notBefore time.Time) (triggers.Event, error) {
	e, err := c.Store.AckEvent(ctx, tenant, a, at, notBefore)
	if err == nil {
		c.changes.Add(1)
	}
	return e, err
}

func (c *changeCounter) AckEvents(ctx context.Context, tenant string, acks []triggers.Ack, at, notBefore time.Time) ([]triggers.AckResult, error) {
	res, err := c.Store.AckEvents(ctx, tenant, acks, at, notBefore)
	countChanges(c, res, func(r triggers.AckResult) bool { return r.Err != nil })
	return res, err
}

func (c *changeCounter) DeleteEvent(ctx context.Context, tenant, id string, notBefore time.Time) (bool, error) {
	ok, err := c.Store.DeleteEvent(ctx, tenant, id, notBefore)
	if ok {
		c.changes.Add(1)
	}
	return ok, err
}

func (c *changeCounter) DeleteEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.DeleteResult, error) {
	res, err := c.Store.DeleteEvents(ctx, tenant, ids, notBefore)
	countChanges(c, res, func(r triggers.DeleteResult) bool { return r.Err != nil })
	return res, err
}

func (c *changeCounter) ReceiveEvents(ctx context.Context, q triggers.ReceiveQuery) (triggers.Received, error) {
	got, err := c.Store.ReceiveEvents(ctx, q)
	c.changes.Add(int64(len(got.Events) + got.DeadLettered))
	return got, err
}

func (c *changeCounter) NackEvents(ctx context.Context, tenant string, nacks []triggers.Nack, now, notBefore time.Time) ([]triggers.EventResult, error) {
	res, err := c.Store.NackEvents(ctx, tenant, nacks, now, notBefore)
	countChanges(c, res, func(r triggers.EventResult) bool { return r.Err != nil })
	return res, err
}

func (c *changeCounter) ExtendLease(ctx context.Context, tenant string, a triggers.Ack, expiresAt, now, notBefore time.Time) (triggers.Event, error) {
	e, err := c.Store.ExtendLease(ctx, tenant, a, expiresAt, now, notBefore)
	if err == nil {
		c.changes.Add(1)
	}
	return e, err
}

func (c *changeCounter) RedriveEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.EventResult, error) {
	res, err := c.Store.RedriveEvents(ctx, tenant, ids, notBefore)
	countChanges(c, res, func(r triggers.EventResult) bool { return r.Err != nil })
	return res, err
}

// webhookChangeCounter is a changeCounter over a store with webhooks: it
// counts the subscriptions created, updated and deleted, the deliveries
// retried and replayed.
type webhookChangeCounter struct {
	*changeCounter
	ws triggers.WebhookStore
}

func (c *webhookChangeCounter) count(err error) {
	if err == nil {
		c.changes.Add(1)
	}
}

func (c *webhookChangeCounter) CreateSubscription(ctx context.Context, sub triggers.Subscription, max int) error {
	err := c.ws.CreateSubscription(ctx, sub, max)
	c.count(err)
	return err
}

func (c *webhookChangeCounter) GetSubscription(ctx context.Context, tenant, id string) (triggers.Subscription, error) {
	return c.ws.GetSubscription(ctx, tenant, id)
}

func (c *webhookChangeCounter) ListSubscriptions(ctx context.Context, tenant string) ([]triggers.Subscription, error) {
	return c.ws.ListSubscriptions(ctx, tenant)
}

func (c *webhookChangeCounter) UpdateSubscription(ctx context.Context, tenant, id string, fn func(*triggers.Subscription) error) (triggers.Subscription, error) {
	sub, err := c.ws.UpdateSubscription(ctx, tenant, id, fn)
	c.count(err)
	return sub, err
}

func (c *webhookChangeCounter) DeleteSubscription(ctx context.Context, tenant, id string) (bool, error) {
	ok, err := c.ws.DeleteSubscription(ctx, tenant, id)
	if ok {
		c.changes.Add(1)
	}
	return ok, err
}

func (c *webhookChangeCounter) ClaimDeliveries(ctx context.Context, q triggers.ClaimQuery) ([]triggers.Delivery, error) {
	return c.ws.ClaimDeliveries(ctx, q)
}

func (c *webhookChangeCounter) CompleteDelivery(ctx context.Context, o triggers.DeliveryOutcome) (triggers.Delivery, error) {
	return c.ws.CompleteDelivery(ctx, o)
}

func (c *webhookChangeCounter) ListDeliveries(ctx context.Context, q triggers.DeliveryQuery) ([]triggers.Delivery, bool, error) {
	return c.ws.ListDeliveries(ctx, q)
}

func (c *webhookChangeCounter) RetryDelivery(ctx context.Context, k triggers.DeliveryKey, now time.Time) (triggers.Delivery, error) {
	d, err := c.ws.RetryDelivery(ctx, k, now)
	c.count(err)
	return d, err
}

func (c *webhookChangeCounter) ReplayDeliveries(ctx context.Context, tenant, id string, after, before, notBefore, now time.Time, max int) (int, time.Time, error) {
	n, next, err := c.ws.ReplayDeliveries(ctx, tenant, id, after, before, notBefore, now, max)
	c.changes.Add(int64(n))
	return n, next, err
}

// fuzzRoutes are the routes FuzzServer_Requests sends to; {id} is replaced
// by an event id, {sub} by a subscription id, and the fuzzed query is
// added to every path.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/events"},
	{"POST", "/v1/events/bulk"},
	{"POST", "/v1/events/bulk/ack"},
	{"DELETE", "/v1/events/bulk"},
	{"POST", "/v1/events/bulk/delete"},
	{"POST", "/v1/events/bulk/nack"},
	{"POST", "/v1/events/bulk/redrive"},
	{"POST", "/v1/inbox/receive"},
	{"POST", "/v1/events/{id}/ack"},
	{"POST", "/v1/events/{id}/nack"},
	{"POST", "/v1/events/{id}/lease"},
	{"POST", "/v1/events/{id}/redrive"},
	{"GET", "/v1/inbox"},
	{"GET", "/v1/events/{id}"},
	{"DELETE", "/v1/events/{id}"},
	{"GET", "/v1/stats"},
	{"POST", "/v1/subscriptions"},
	{"GET", "/v1/subscriptions"},
	{"GET", "/v1/subscriptions/{sub}"},
	{"PATCH", "/v1/subscriptions/{sub}"},
	{"GET", "/v1/subscriptions/{sub}/deliveries"},
	{"POST", "/v1/subscriptions/{sub}/deliveries/{id}/retry"},
	{"POST", "/v1/subscriptions/{sub}/replay"},
	{"POST", "/v1/subscriptions/{sub}/rotate-secret"},
	{"DELETE", "/v1/subscriptions/{sub}"},
}

// FuzzServer_Requests sends fuzzed bodies and queries through the whole
// handler (pipeline, parsers, service, a real store) as one tenant, and
// checks what every answer must be: a success with a JSON body, or an error
// envelope with a 4xx (never a 5xx) after which the store changed nothing.
//
// route picks the route (fuzzRoutes); variant the Content-Type (bits 0-1:
// application/json, none, text/plain, application/json; charset=utf-8) and
// the {id} (bits 2-3: one of two events created at the start, a UUID that
// names no event, or not a UUID).
func FuzzServer_Requests(f *testing.F) {
	const create = `{"source":"s","event_type":"t","payload":{"n":1}}`
	seeds := []struct {
		route, variant uint8
		body, query    string
	}{
		{0, 0, create, ""},
		{0, 0, `{"source":"s","event_type":"t","payload":{"a":{"b":[1,2.5e300,"\u00e9"]}},"metadata":{"priority":"high","idempotency_key":"k1","x":1}}`, ""},
		{0, 0, `{"source":"s","event_type":"t","payload":{"n":1,"n":2}}`, ""},
		{0, 0, `{"source":"s","event_type":"t","payload":{"s":"\ud800"}}`, ""},
		{0, 0, `{"source":"\u0000","event_type":"t","payload":{}}`, ""},
		{0, 0, `{"source":"s","event_type":"t","payload":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100) + `}`, ""},
		{0, 1, create, ""},
		{0, 2, create, ""},
		{0, 0, `{"source":"s"`, ""},
		{0, 0, `[]`, ""},
		{1, 0, `{"items":[` + create + `,{"bad":1},` + create + `]}`, ""},
		{1, 0, `{"items":[]}`, ""},
		{2, 0, `{"event_ids":["0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6","x"]}`, ""},
		{2, 0, `{"items":[{"event_id":"0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6","lease_id":"l"}]}`, ""},
		{3, 0, `{"event_ids":["0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"]}`, ""},
		{5, 0, `{"items":[{"event_id":"0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6","lease_id":"l","delay_seconds":5}]}`, ""},
		{7, 0, `{"max_events":25,"lease_seconds":30,"wait_seconds":20,"metadata":{"k":"v"}}`, ""},
		{7, 1, ``, ""},
		{7, 0, `{"max_events":0}`, ""},
		{8, 0, ``, ""},
		{8, 0, `{"lease_id":"x"}`, ""},
		{9, 0, `{"lease_id":"x","delay_seconds":-1}`, ""},
		{10, 4, `{"lease_id":"x","lease_seconds":43201}`, ""},
		{11, 8, `{}`, ""},
		{12, 0, ``, "limit=100&source=s&metadata.k=v&priority=high"},
		{12, 0, ``, "source=%ff%fe&cursor=abc"},
		{12, 0, ``, "created_after=2026-01-01T00:00:00Z&created_before=2025-01-01"},
		{13, 12, ``, ""},
		{14, 0, ``, "x=1"},
		{15, 0, ``, "source=s&event_type=t"},
		{15, 0, ``, "source=%00&event_type=%ff&limit=1"},
		{15, 0, ``, "source=a&source=b&%zz"},
		{16, 0, `{"url":"https://example.com/hooks","description":"d","filter":{"source":"s","event_type":"t","priority":"high","metadata":{"k":"v"}},"ack_on_delivery":true}`, ""},
		{16, 0, `{"url":"http://[::1]:0/x#y","filter":{"metadata":{"k":1},"x":null}}`, ""},
		{16, 0, `{"url":"https://example.com","url":"https://example.org"}`, ""},
		{16, 1, `{"url":"https://example.com"}`, ""},
		{17, 0, ``, "limit=1&cursor=c3Vic2NyaXB0aW9uczp4"},
		{18, 0, ``, ""},
		{19, 0, `{"status":"disabled","description":null,"filter":null}`, ""},
		{19, 0, `{"status":"paused","url":""}`, ""},
		{20, 0, ``, "status=failed&event_id=0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6&limit=5"},
		{20, 0, ``, "cursor=%%%&status=x"},
		{21, 0, ``, ""},
		{21, 12, `{}`, ""},
		{22, 0, `{"created_after":"2020-01-01T00:00:00Z","created_before":"2030-01-01"}`, ""},
		{22, 0, `{"created_after":null}`, ""},
		{23, 0, ``, ""},
		{24, 0, ``, ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.variant, []byte(s.body), s.query)
	}

	store := &changeCounter{Store: teststore.Open(f, "fuzz")}
	var backing triggers.Store = store
	if ws, ok := store.Store.(triggers.WebhookStore); ok {
		backing = &webhookChangeCounter{changeCounter: store, ws: ws}
	}
	svc := triggers.NewService(backing, nil)
	if _, _, err := svc.CreateKey(context.Background(), triggers.KeySpec{Tenant: "tenant-a", Raw: keyA}); err != nil {
		f.Fatal(err)
	}
	h := triggershttp.NewServer(svc, &triggershttp.Options{Logger: slog.New(slog.DiscardHandler)}).Handler()
	serve := func(method, target string, body []byte, contentType string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/", bytes.NewReader(body))
		path, query, _ := strings.Cut(target, "?")
		req.URL.Path, req.URL.RawQuery, req.RequestURI = path, query, target
		req.Header.Set("X-API-Key", keyA)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		// A receive's wait ends before this deadline (Service.Receive), so
		// that wait_seconds cannot hold the fuzzer.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))
		return rec
	}
	var ids []string
	for range 2 {
		rec := serve("POST", "/v1/events", []byte(create), "application/json")
		var res struct {
			EventID string `json:"event_id"`
		}
		if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &res) != nil {
			f.Fatalf("create = %d %s", rec.Code, rec.Body)
		}
		ids = append(ids, res.EventID)
	}
	ids = append(ids, "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", "not-a-uuid")
	// A subscription to send to. (A store without webhooks answers 404.)
	// The events above came before it: retrying their deliveries is a 404,
	// replaying them gives some.
	sub := "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f7"
	if rec := serve("POST", "/v1/subscriptions", []byte(`{"url":"https://example.com/fuzz"}`), "application/json"); rec.Code == http.StatusCreated {
		var res struct {
			ID string `json:"subscription_id"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			f.Fatalf("create subscription: %v %s", err, rec.Body)
		}
		sub = res.ID
	}
	contentTypes := []string{"application/json", "", "text/plain", "application/json; charset=utf-8"}

	f.Fuzz(func(t *testing.T, route, variant uint8, body []byte, query string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		target := strings.ReplaceAll(rt.path, "{id}", ids[variant>>2%4])
		target = strings.ReplaceAll(target, "{sub}", sub)
		if query != "" {
			target += "?" + query
		}
		before := store.changes.Load()
		rec := serve(rt.method, target, body, contentTypes[variant%4])
		changed := store.changes.Load() - before

		rid := rec.Header().Get("X-Request-ID")
		var got map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rid == "" {
			t.Fatalf("%s %s %q = %d, X-Request-ID %q, body not a JSON object (%v): %s", rt.method, target, body, rec.Code, rid, err, rec.Body)
		}
		switch {
		case rec.Code >= 200 && rec.Code < 300:
			if _, ok := got["error"]; ok {
				t.Fatalf("%s %s %q = %d with an error: %s", rt.method, target, body, rec.Code, rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var env struct {
				Code      string         `json:"code"`
				Message   string         `json:"message"`
				Details   map[string]any `json:"details"`
				RequestID string         `json:"request_id"`
			}
			if len(got) != 1 || json.Unmarshal(got["error"], &env) != nil || env.Code == "" || env.Message == "" ||
				env.Details == nil || env.RequestID != rid {
				t.Fatalf("%s %s %q = %d, not an error envelope: %s", rt.method, target, body, rec.Code, rec.Body)
			}
			if changed != 0 {
				t.Fatalf("%s %s %q = %d %s, but the store changed %d events", rt.method, target, body, rec.Code, env.Code, changed)
			}
		default:
			t.Fatalf("%s %s %q = %d: %s", rt.method, target, body, rec.Code, rec.Body)
		}
	})
}
