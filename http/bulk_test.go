package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// bulkAnswer is a decoded 200 answer of a bulk operation.
type bulkAnswer struct {
	Successful []struct {
		Index            int    `json:"index"`
		EventID          string `json:"event_id"`
		CreatedAt        string `json:"created_at"`
		Status           string `json:"status"`
		Message          string `json:"message"`
		AcknowledgedAt   string `json:"acknowledged_at"`
		IdempotentReplay bool   `json:"idempotent_replay"`
	} `json:"successful"`
	Failed []struct {
		Index int `json:"index"`
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	} `json:"failed"`
}

// outcome is one item's outcome: "OK" or its error code.
func (a bulkAnswer) outcomes(n int) []string {
	out := make([]string, n)
	for _, s := range a.Successful {
		out[s.Index] = "OK"
	}
	for _, f := range a.Failed {
		out[f.Index] = f.Error.Code
	}
	return out
}

// createdIDs returns the ids of a bulk create of n items, by index, and
// fails the test if any item failed.
func (a bulkAnswer) createdIDs(tb testing.TB, n int) []string {
	tb.Helper()
	if len(a.Failed) != 0 {
		tb.Fatalf("bulk create: failed items %+v", a.Failed)
	}
	ids := make([]string, n)
	for _, it := range a.Successful {
		ids[it.Index] = it.EventID
	}
	return ids
}

// mustBulk sends a bulk request that must answer 200 for n items, and checks
// that every index in 0..n-1 appears exactly once across successful and failed.
func (s *TestServer) mustBulk(tb testing.TB, method, path, key, body string, n int) bulkAnswer {
	tb.Helper()
	r := s.Do(tb, Req{Method: method, Path: path, Key: key, Body: body})
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("%s %s: status %d, want 200: %s", method, path, r.StatusCode, r.Body)
	}
	var a bulkAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		tb.Fatalf("bulk answer: %v\n%s", err, r.Body)
	}
	seen := make([]int, n)
	for _, s := range a.Successful {
		if s.Index < 0 || s.Index >= n {
			tb.Fatalf("successful index %d out of range 0..%d: %s", s.Index, n-1, r.Body)
		}
		seen[s.Index]++
	}
	for _, f := range a.Failed {
		if f.Index < 0 || f.Index >= n {
			tb.Fatalf("failed index %d out of range 0..%d: %s", f.Index, n-1, r.Body)
		}
		seen[f.Index]++
	}
	for i, c := range seen {
		if c != 1 {
			tb.Fatalf("index %d appears %d times, want exactly once: %s", i, c, r.Body)
		}
	}
	return a
}

func itemJSON(i int) string {
	return fmt.Sprintf(`{"source":"bulk","event_type":"bulk.test","payload":{"n":%d}}`, i)
}

func itemsBody(items ...string) string { return `{"items":[` + strings.Join(items, ",") + `]}` }

func idsBody(ids ...string) string {
	b, _ := json.Marshal(map[string][]string{"event_ids": ids})
	return string(b)
}

func nItems(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = itemJSON(i)
	}
	return out
}

func (s *TestServer) inboxLen(tb testing.TB, key string) int {
	tb.Helper()
	return len(s.Do(tb, Req{Method: "GET", Path: "/v1/inbox?limit=100", Key: key}).JSON(tb)["events"].([]any))
}

// bulkCreateIDs creates n events in one bulk request and returns their ids.
func (s *TestServer) bulkCreateIDs(tb testing.TB, key string, n int) []string {
	tb.Helper()
	return s.mustBulk(tb, "POST", "/v1/events/bulk", key, itemsBody(nItems(n)...), n).createdIDs(tb, n)
}

func TestBulkCreate_Limits(t *testing.T) {
	s := MustStart(t, nil)
	a := s.mustBulk(t, "POST", "/v1/events/bulk", keyA, itemsBody(nItems(25)...), 25)
	if len(a.Successful) != 25 {
		t.Fatalf("25 items: %d successful, want 25: %+v", len(a.Successful), a.Failed)
	}
	for _, it := range a.Successful {
		if it.Status != "pending" || !timestampPattern.MatchString(it.CreatedAt) || it.IdempotentReplay || it.Message == "" {
			t.Fatalf("successful entry = %+v", it)
		}
	}
	if n := s.inboxLen(t, keyA); n != 25 {
		t.Fatalf("inbox holds %d events, want 25", n)
	}
	for _, body := range []string{itemsBody(), itemsBody(nItems(26)...)} {
		r := s.Do(t, Req{Method: "POST", Path: "/v1/events/bulk", Key: keyA, Body: body})
		if r.StatusCode != http.StatusBadRequest || r.ErrorCode(t) != "VALIDATION_ERROR" || !strings.Contains(string(r.Body), `"field":"items"`) {
			t.Fatalf("status %d %s, want 400 VALIDATION_ERROR naming items", r.StatusCode, r.Body)
		}
	}
	if n := s.inboxLen(t, keyA); n != 25 {
		t.Fatalf("refused bulk requests stored events: inbox holds %d, want 25", n)
	}
}

func TestBulk_WholeRequestRefused(t *testing.T) {
	s := MustStart(t, nil)
	ids := s.bulkCreateIDs(t, keyA, 2)
	valid := itemJSON(0)
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"create: not JSON", "POST", "/v1/events/bulk", `{"items":[`, 400, "VALIDATION_ERROR"},
		{"create: an array", "POST", "/v1/events/bulk", `[` + valid + `]`, 400, "VALIDATION_ERROR"},
		{"create: items missing", "POST", "/v1/events/bulk", `{}`, 400, "VALIDATION_ERROR"},
		{"create: items null", "POST", "/v1/events/bulk", `{"items":null}`, 400, "VALIDATION_ERROR"},
		{"create: items an object", "POST", "/v1/events/bulk", `{"items":` + valid + `}`, 400, "VALIDATION_ERROR"},
		{"create: unknown field", "POST", "/v1/events/bulk", `{"items":[` + valid + `],"extra":1}`, 400, "VALIDATION_ERROR"},
		{"create: event_ids instead", "POST", "/v1/events/bulk", idsBody(ids...), 400, "VALIDATION_ERROR"},
		{"create: trailing data", "POST", "/v1/events/bulk", itemsBody(valid) + ` {}`, 400, "VALIDATION_ERROR"},
		{"ack: empty", "POST", "/v1/events/bulk/ack", `{"event_ids":[]}`, 400, "VALIDATION_ERROR"},
		{"ack: 26", "POST", "/v1/events/bulk/ack", idsBody(slicesRepeat(ids[0], 26)...), 400, "VALIDATION_ERROR"},
		{"ack: ids not strings", "POST", "/v1/events/bulk/ack", `{"event_ids":[1,2]}`, 400, "VALIDATION_ERROR"},
		{"ack: unknown field", "POST", "/v1/events/bulk/ack", `{"event_ids":["` + ids[0] + `"],"force":true}`, 400, "VALIDATION_ERROR"},
		{"ack: event_ids and items", "POST", "/v1/events/bulk/ack", `{"event_ids":["` + ids[0] + `"],"items":[{"event_id":"` + ids[1] + `"}]}`, 400, "VALIDATION_ERROR"},
		{"ack: neither", "POST", "/v1/events/bulk/ack", `{}`, 400, "VALIDATION_ERROR"},
		{"ack: items an object", "POST", "/v1/events/bulk/ack", `{"items":{"event_id":"` + ids[0] + `"}}`, 400, "VALIDATION_ERROR"},
		{"ack: 26 items", "POST", "/v1/events/bulk/ack", `{"items":[` + strings.Repeat(`{"event_id":"`+ids[0]+`"},`, 25) + `{"event_id":"` + ids[0] + `"}]}`, 400, "VALIDATION_ERROR"},
		{"delete: empty", "DELETE", "/v1/events/bulk", `{"event_ids":[]}`, 400, "VALIDATION_ERROR"},
		{"delete: missing", "DELETE", "/v1/events/bulk", `{}`, 400, "VALIDATION_ERROR"},
		{"delete (POST): 26", "POST", "/v1/events/bulk/delete", idsBody(slicesRepeat(ids[0], 26)...), 400, "VALIDATION_ERROR"},
		{"delete (POST): not JSON", "POST", "/v1/events/bulk/delete", `nope`, 400, "VALIDATION_ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, Req{Method: c.method, Path: c.path, Key: keyA, Body: c.body})
			if r.StatusCode != c.status || r.ErrorCode(t) != c.code {
				t.Fatalf("status %d %s, want %d %s", r.StatusCode, r.Body, c.status, c.code)
			}
		})
	}
	t.Run("not application/json", func(t *testing.T) {
		r := s.Do(t, Req{Method: "POST", Path: "/v1/events/bulk", Key: keyA, Body: itemsBody(valid), NoJSONType: true})
		if r.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d %s, want 415", r.StatusCode, r.Body)
		}
	})
	t.Run("no key", func(t *testing.T) {
		r := s.Do(t, Req{Method: "POST", Path: "/v1/events/bulk/ack", Body: idsBody(ids[0])})
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d %s, want 401", r.StatusCode, r.Body)
		}
	})
	t.Run("body over the bulk limit", func(t *testing.T) {
		big := strings.Repeat(" ", triggers.BulkLimit*triggers.MaxEventBytes+1)
		r := s.Do(t, Req{Method: "POST", Path: "/v1/events/bulk", Key: keyA, Body: `{"items":[` + valid + `]` + big + `}`})
		if r.StatusCode != http.StatusRequestEntityTooLarge || r.ErrorCode(t) != "PAYLOAD_TOO_LARGE" {
			t.Fatalf("status %d %s, want 413", r.StatusCode, r.Body)
		}
	})
	// Nothing was done by any refused request.
	if n := s.inboxLen(t, keyA); n != 2 {
		t.Fatalf("inbox holds %d events after refused requests, want 2", n)
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestBulkCreate_PartialSuccess(t *testing.T) {
	s := MustStart(t, nil)
	body := itemsBody(
		itemJSON(0),
		`{"event_type":"x","payload":{"a":1}}`, // missing source
		`{"source":"a","event_type":"b","payload":{"a":1},"bad":1}`, // unknown field inside an item
		`"not an object"`,
		`{"source":"a","event_type":"b","payload":{}}`, // empty payload
		`{"source":"a","event_type":"b","payload":{"a":1},"metadata":{"priority":"urgent"}}`,
		itemJSON(6),
	)
	a := s.mustBulk(t, "POST", "/v1/events/bulk", keyA, body, 7)
	want := []string{"OK", "VALIDATION_ERROR", "VALIDATION_ERROR", "VALIDATION_ERROR", "VALIDATION_ERROR", "VALIDATION_ERROR", "OK"}
	if got := a.outcomes(7); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
	fields := map[int]string{1: "items[1].source", 2: "items[2].bad", 3: "items[3]", 4: "items[4].payload", 5: "items[5].metadata.priority"}
	for _, f := range a.Failed {
		b, _ := json.Marshal(f.Error.Details)
		if !strings.Contains(string(b), `"field":"`+fields[f.Index]+`"`) {
			t.Errorf("item %d: details %s do not name %s", f.Index, b, fields[f.Index])
		}
		if !strings.HasPrefix(f.Error.Message, fields[f.Index]) {
			t.Errorf("item %d: message %q does not start with %s", f.Index, f.Error.Message, fields[f.Index])
		}
	}
	// The same messages as a single create of the same body.
	single := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: `{"event_type":"x","payload":{"a":1}}`})
	if msg := single.JSON(t)["error"].(map[string]any)["message"].(string); "items[1]."+msg != a.Failed[0].Error.Message {
		t.Errorf("bulk message %q, single create message %q", a.Failed[0].Error.Message, msg)
	}
	if n := s.inboxLen(t, keyA); n != 2 {
		t.Fatalf("inbox holds %d events, want the 2 valid items", n)
	}
}

func TestBulkCreate_OversizedItem(t *testing.T) {
	s := MustStart(t, nil)
	big := `{"source":"a","event_type":"b","payload":{"x":"` + strings.Repeat("y", triggers.MaxEventBytes) + `"}}`
	a := s.mustBulk(t, "POST", "/v1/events/bulk", keyA, itemsBody(itemJSON(0), big, itemJSON(2)), 3)
	if got := a.outcomes(3); fmt.Sprint(got) != "[OK PAYLOAD_TOO_LARGE OK]" {
		t.Fatalf("outcomes = %v, want [OK PAYLOAD_TOO_LARGE OK]", got)
	}
	if n := s.inboxLen(t, keyA); n != 2 {
		t.Fatalf("inbox holds %d events, want 2", n)
	}
}

func TestBulkCreate_Idempotency(t *testing.T) {
	s := MustStart(t, nil)
	withKey := func(key string, n int) string {
		return fmt.Sprintf(`{"source":"a","event_type":"b","payload":{"n":%d},"metadata":{"idempotency_key":%q}}`, n, key)
	}
	// Two items with one key in one request resolve to one event.
	a := s.mustBulk(t, "POST", "/v1/events/bulk", keyA, itemsBody(withKey("k1", 1), itemJSON(1), withKey("k1", 1)), 3)
	if len(a.Successful) != 3 {
		t.Fatalf("outcomes = %v, want all OK", a.outcomes(3))
	}
	byIndex := map[int]int{}
	for n, s := range a.Successful {
		byIndex[s.Index] = n
	}
	first, dup := a.Successful[byIndex[0]], a.Successful[byIndex[2]]
	if first.EventID != dup.EventID || first.IdempotentReplay || !dup.IdempotentReplay {
		t.Fatalf("items with one key: %+v and %+v; want one event_id, the second a replay", first, dup)
	}
	// A later request replays it; the same key with another event fails alone.
	b := s.mustBulk(t, "POST", "/v1/events/bulk", keyA, itemsBody(withKey("k1", 1), withKey("k1", 2), itemJSON(3)), 3)
	if got := b.outcomes(3); fmt.Sprint(got) != "[OK IDEMPOTENCY_KEY_REUSED OK]" {
		t.Fatalf("outcomes = %v, want [OK IDEMPOTENCY_KEY_REUSED OK]", got)
	}
	for _, it := range b.Successful {
		if it.Index == 0 && (it.EventID != first.EventID || !it.IdempotentReplay || it.CreatedAt != first.CreatedAt) {
			t.Fatalf("replay = %+v, want event %s replayed", it, first.EventID)
		}
	}
	// A single create with the key replays the bulk-created event too.
	r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: withKey("k1", 1)})
	if r.StatusCode != http.StatusCreated || r.JSON(t)["event_id"] != first.EventID {
		t.Fatalf("single replay: %d %s, want 201 with %s", r.StatusCode, r.Body, first.EventID)
	}
	// Keys are per tenant.
	c := s.mustBulk(t, "POST", "/v1/events/bulk", keyB, itemsBody(withKey("k1", 1)), 1)
	if len(c.Successful) != 1 || c.Successful[0].IdempotentReplay || c.Successful[0].EventID == first.EventID {
		t.Fatalf("other tenant's create with the same key = %+v", c.Successful)
	}
	if n := s.inboxLen(t, keyA); n != 3 {
		t.Fatalf("inbox holds %d events, want 3", n)
	}
}

func TestBulkAck(t *testing.T) {
	s := MustStart(t, nil)
	ids := s.bulkCreateIDs(t, keyA, 3)
	other := s.MustCreate(t, keyB, itemJSON(9))
	if r := s.Do(t, Req{Method: "POST", Path: "/v1/events/" + ids[2] + "/ack", Key: keyA}); r.StatusCode != 200 {
		t.Fatalf("single ack: %d %s", r.StatusCode, r.Body)
	}
	unknown := triggers.NewEventID(time.Now())
	req := []string{ids[0], strings.ToUpper(ids[1]), ids[0], ids[2], other, unknown, "not-a-uuid"}
	a := s.mustBulk(t, "POST", "/v1/events/bulk/ack", keyA, idsBody(req...), len(req))
	want := "[OK OK CONFLICT CONFLICT NOT_FOUND NOT_FOUND VALIDATION_ERROR]"
	if got := a.outcomes(len(req)); fmt.Sprint(got) != want {
		t.Fatalf("outcomes = %v, want %s", got, want)
	}
	for _, it := range a.Successful {
		if it.Status != "acknowledged" || !timestampPattern.MatchString(it.AcknowledgedAt) || it.EventID != ids[it.Index%2] {
			t.Fatalf("successful entry = %+v", it)
		}
	}
	for _, f := range a.Failed {
		if f.Index == 6 && !strings.Contains(fmt.Sprint(f.Error.Details), "event_ids[6]") {
			t.Fatalf("invalid id details = %v, want event_ids[6] named", f.Error.Details)
		}
	}
	// The other tenant's event is untouched.
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/events/" + other, Key: keyB}); r.JSON(t)["status"] != "pending" {
		t.Fatalf("other tenant's event after bulk ack: %s", r.Body)
	}
	if n := s.inboxLen(t, keyA); n != 0 {
		t.Fatalf("inbox holds %d events, want 0", n)
	}
}

func TestBulkDelete(t *testing.T) {
	for _, route := range []struct{ method, path string }{{"DELETE", "/v1/events/bulk"}, {"POST", "/v1/events/bulk/delete"}} {
		t.Run(route.method, func(t *testing.T) {
			s := MustStart(t, nil)
			ids := s.bulkCreateIDs(t, keyA, 3)
			other := s.MustCreate(t, keyB, itemJSON(9))
			req := []string{ids[0], ids[0], other, triggers.NewEventID(time.Now()), "x", strings.ToUpper(ids[1])}
			a := s.mustBulk(t, route.method, route.path, keyA, idsBody(req...), len(req))
			want := "[OK NOT_FOUND NOT_FOUND NOT_FOUND VALIDATION_ERROR OK]"
			if got := a.outcomes(len(req)); fmt.Sprint(got) != want {
				t.Fatalf("outcomes = %v, want %s", got, want)
			}
			for _, it := range a.Successful {
				if want := ids[map[int]int{0: 0, 5: 1}[it.Index]]; it.EventID != want {
					t.Fatalf("successful entry %+v, want event_id %s", it, want)
				}
			}
			for _, id := range ids[:2] {
				if r := s.Do(t, Req{Method: "GET", Path: "/v1/events/" + id, Key: keyA}); r.StatusCode != http.StatusNotFound {
					t.Fatalf("deleted event: %d %s", r.StatusCode, r.Body)
				}
			}
			if r := s.Do(t, Req{Method: "GET", Path: "/v1/events/" + other, Key: keyB}); r.StatusCode != http.StatusOK {
				t.Fatalf("other tenant's event after bulk delete: %d %s", r.StatusCode, r.Body)
			}
			if n := s.inboxLen(t, keyA); n != 1 {
				t.Fatalf("inbox holds %d events, want 1", n)
			}
		})
	}
}

// TestBulk_Routes checks that the bulk routes are not taken by the
// {event_id} routes, and that the single routes still work beside them.
func TestBulk_Routes(t *testing.T) {
	s := MustStart(t, nil)
	id := s.MustCreate(t, keyA, itemJSON(0))
	// DELETE /v1/events/bulk with a body is bulk delete (a single delete of
	// "bulk" would be 422).
	a := s.mustBulk(t, "DELETE", "/v1/events/bulk", keyA, idsBody(id), 1)
	if len(a.Successful) != 1 {
		t.Fatalf("DELETE /v1/events/bulk: %+v", a.Failed)
	}
	r := s.Do(t, Req{Method: "DELETE", Path: "/v1/events/" + id, Key: keyA})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("single delete: %d %s", r.StatusCode, r.Body)
	}
	// GET /v1/events/bulk is a GET of the event "bulk": not a UUID (422).
	r = s.Do(t, Req{Method: "GET", Path: "/v1/events/bulk", Key: keyA})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("GET /v1/events/bulk: %d %s, want 422", r.StatusCode, r.Body)
	}
	r = s.Do(t, Req{Method: "GET", Path: "/v1/events/bulk/ack", Key: keyA})
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/events/bulk/ack: %d %s, want 405", r.StatusCode, r.Body)
	}
	r = s.Do(t, Req{Method: "POST", Path: "/v1/events/not-a-uuid/ack", Key: keyA})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("single ack of a bad id: %d %s, want 422", r.StatusCode, r.Body)
	}
}

func TestBulk_LogAndMetrics(t *testing.T) {
	s := MustStart(t, nil)
	s.mustBulk(t, "POST", "/v1/events/bulk", keyA, itemsBody(itemJSON(0), `{}`, itemJSON(2)), 3)
	var line map[string]any
	for l := range strings.SplitSeq(s.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "bulk" {
			if line != nil {
				t.Fatalf("more than one bulk log line:\n%s", s.Logs.String())
			}
			line = m
		}
	}
	if line == nil || line["op"] != "create" || line["items"] != 3.0 || line["succeeded"] != 2.0 || line["failed"] != 1.0 {
		t.Fatalf("bulk log line = %v", line)
	}
	r := s.Do(t, Req{Method: "GET", Path: "/metrics"})
	for _, want := range []string{`triggers_bulk_items_total{code="OK",op="create"} 2`, `triggers_bulk_items_total{code="VALIDATION_ERROR",op="create"} 1`} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// countingStore counts the calls made to a store.
type countingStore struct {
	triggers.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[name]++
}

func (c *countingStore) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.calls
	c.calls = map[string]int{}
	return got
}

func (c *countingStore) InsertEvents(ctx context.Context, in []triggers.Insert) ([]triggers.InsertResult, error) {
	c.count("InsertEvents")
	return c.Store.InsertEvents(ctx, in)
}

func (c *countingStore) GetEvent(ctx context.Context, tenant, id string, nb time.Time) (triggers.Event, error) {
	c.count("GetEvent")
	return c.Store.GetEvent(ctx, tenant, id, nb)
}

func (c *countingStore) AckEvent(ctx context.Context, tenant string, a triggers.Ack, at, nb time.Time) (triggers.Event, error) {
	c.count("AckEvent")
	return c.Store.AckEvent(ctx, tenant, a, at, nb)
}

func (c *countingStore) DeleteEvent(ctx context.Context, tenant, id string, nb time.Time) (bool, error) {
	c.count("DeleteEvent")
	return c.Store.DeleteEvent(ctx, tenant, id, nb)
}

func (c *countingStore) AckEvents(ctx context.Context, tenant string, acks []triggers.Ack, at, nb time.Time) ([]triggers.AckResult, error) {
	c.count("AckEvents")
	return c.Store.AckEvents(ctx, tenant, acks, at, nb)
}

func (c *countingStore) DeleteEvents(ctx context.Context, tenant string, ids []string, nb time.Time) ([]triggers.DeleteResult, error) {
	c.count("DeleteEvents")
	return c.Store.DeleteEvents(ctx, tenant, ids, nb)
}

func (c *countingStore) ListPending(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error) {
	c.count("ListPending")
	return c.Store.ListPending(ctx, q)
}

func (c *countingStore) KeyByHash(ctx context.Context, hash string) (triggers.APIKey, error) {
	c.count("KeyByHash")
	return c.Store.KeyByHash(ctx, hash)
}

// TestBulk_StoreRoundTrips checks that a bulk request of 25 items costs one
// store call, not one per item (at most 3 sequential calls, the key lookup
// of authentication included).
func TestBulk_StoreRoundTrips(t *testing.T) {
	cs := &countingStore{calls: map[string]int{}}
	s := MustStartWrapped(t, func(st triggers.Store) triggers.Store { cs.Store = st; return cs })
	items := nItems(25)
	items[3] = `{"source":"a","event_type":"b","payload":{"k":1},"metadata":{"idempotency_key":"rt"}}`
	items[7] = items[3]
	cs.reset()
	a := s.mustBulk(t, "POST", "/v1/events/bulk", keyA, itemsBody(items...), 25)
	check := func(op string, got map[string]int, want string) {
		t.Helper()
		total := 0
		for name, n := range got {
			if name != "KeyByHash" {
				total += n
			}
		}
		if got[want] != 1 || total != 1 || got["KeyByHash"] > 1 {
			t.Fatalf("%s of 25 items made store calls %v, want one %s (and at most one key lookup)", op, got, want)
		}
	}
	check("bulk create", cs.reset(), "InsertEvents")
	ids := make([]string, 0, 25)
	for _, it := range a.Successful {
		ids = append(ids, it.EventID)
	}
	for len(ids) < 25 {
		ids = append(ids, ids[0])
	}
	s.mustBulk(t, "POST", "/v1/events/bulk/ack", keyA, idsBody(ids...), 25)
	check("bulk ack", cs.reset(), "AckEvents")
	s.mustBulk(t, "DELETE", "/v1/events/bulk", keyA, idsBody(ids...), 25)
	check("bulk delete", cs.reset(), "DeleteEvents")
}

// failingStore fails chosen items of bulk calls as a store failure would.
type failingStore struct {
	triggers.Store
	failItem  int   // this item's result becomes EUNAVAILABLE (nothing written)
	wholeCall error // if set, bulk calls fail whole with it
}

func (f *failingStore) AckEvents(ctx context.Context, tenant string, acks []triggers.Ack, at, nb time.Time) ([]triggers.AckResult, error) {
	if f.wholeCall != nil {
		return nil, f.wholeCall
	}
	res := make([]triggers.AckResult, len(acks))
	for i, a := range acks {
		if i == f.failItem {
			res[i].Err = triggers.Unavailable(fmt.Errorf("injected failure"))
			continue
		}
		r, err := f.Store.AckEvents(ctx, tenant, []triggers.Ack{a}, at, nb)
		if err != nil {
			return nil, err
		}
		res[i] = r[0]
	}
	return res, nil
}

func (f *failingStore) InsertEvents(ctx context.Context, in []triggers.Insert) ([]triggers.InsertResult, error) {
	if f.wholeCall != nil && len(in) > 1 {
		return nil, f.wholeCall
	}
	return f.Store.InsertEvents(ctx, in)
}

// TestBulk_StoreFailure: an item the store failed is reported failed with
// SERVICE_UNAVAILABLE, never as a success; a failure of the whole store call
// is a 503 for the whole request.
func TestBulk_StoreFailure(t *testing.T) {
	fs := &failingStore{failItem: 1}
	s := MustStartWrapped(t, func(st triggers.Store) triggers.Store { fs.Store = st; return fs })
	ids := []string{s.MustCreate(t, keyA, itemJSON(0)), s.MustCreate(t, keyA, itemJSON(1)), s.MustCreate(t, keyA, itemJSON(2))}
	a := s.mustBulk(t, "POST", "/v1/events/bulk/ack", keyA, idsBody(ids...), 3)
	if got := a.outcomes(3); fmt.Sprint(got) != "[OK SERVICE_UNAVAILABLE OK]" {
		t.Fatalf("outcomes = %v, want [OK SERVICE_UNAVAILABLE OK]", got)
	}
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/events/" + ids[1], Key: keyA}); r.JSON(t)["status"] != "pending" {
		t.Fatalf("failed item's event: %s, want pending", r.Body)
	}
	fs.wholeCall = triggers.Unavailable(fmt.Errorf("injected failure"))
	for _, rq := range []Req{
		{Method: "POST", Path: "/v1/events/bulk/ack", Key: keyA, Body: idsBody(ids[1])},
		{Method: "POST", Path: "/v1/events/bulk", Key: keyA, Body: itemsBody(itemJSON(0), itemJSON(1))},
	} {
		r := s.Do(t, rq)
		if r.StatusCode != http.StatusServiceUnavailable || r.ErrorCode(t) != "SERVICE_UNAVAILABLE" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s %s with a failing store: %d %s, want 503 with Retry-After", rq.Method, rq.Path, r.StatusCode, r.Body)
		}
	}
}
