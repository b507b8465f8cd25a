package http_test

// Tests of the lease routes (DESIGN §10) against a real listening server
// on the store under test (TRIGGERS_TEST_STORE): receive with long polling,
// nack, extend, the conditional ack, dead letters and redrive, the bulk
// forms, and their refusals. Every response is checked against the OpenAPI
// document by Do. Tests that move time use a fake clock and never wait
// (wait_seconds 0); the long-polling tests use the real clock.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/teststore"
)

// received is a decoded receive answer.
type received struct {
	Events []struct {
		EventID        string          `json:"event_id"`
		Source         string          `json:"source"`
		Status         string          `json:"status"`
		Attempts       int             `json:"attempts"`
		LeaseExpiresAt string          `json:"lease_expires_at"`
		Payload        json.RawMessage `json:"payload"`
		Lease          struct {
			LeaseID   string `json:"lease_id"`
			ExpiresAt string `json:"expires_at"`
		} `json:"lease"`
	} `json:"events"`
	RequestID string `json:"request_id"`
}

func (a received) ids() []string {
	ids := make([]string, len(a.Events))
	for i, e := range a.Events {
		ids[i] = e.EventID
	}
	return ids
}

// lease returns the lease id the receive gave for event id, failing tb if
// it did not receive it.
func (a received) lease(tb testing.TB, id string) string {
	tb.Helper()
	for _, e := range a.Events {
		if e.EventID == id {
			return e.Lease.LeaseID
		}
	}
	tb.Fatalf("the receive did not return event %s (it returned %v)", id, a.ids())
	return ""
}

// mustReceive receives with body, which must be answered 200.
func (s *TestServer) mustReceive(tb testing.TB, key, body string) received {
	tb.Helper()
	r := s.Do(tb, Req{Method: "POST", Path: "/v1/inbox/receive", Key: key, Body: body})
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("receive %s = %d %s, want 200", body, r.StatusCode, r.Body)
	}
	var a received
	if err := json.Unmarshal(r.Body, &a); err != nil {
		tb.Fatalf("receive answer: %v\n%s", err, r.Body)
	}
	return a
}

// post sends a POST with a JSON body ("" for none) and returns the answer.
func (s *TestServer) post(tb testing.TB, key, path, body string) Response {
	tb.Helper()
	return s.Do(tb, Req{Method: "POST", Path: path, Key: key, Body: body})
}

// mustConflict checks that r is a 409 CONFLICT with details.reason.
func mustConflict(tb testing.TB, r Response, reason string) {
	tb.Helper()
	details := mustEnvelope(tb, r, http.StatusConflict, "CONFLICT")
	if details["reason"] != reason {
		tb.Fatalf("409 details = %v, want reason %q: %s", details, reason, r.Body)
	}
}

// mustInvalid checks that r is a 400 VALIDATION_ERROR naming field.
func mustInvalid(tb testing.TB, r Response, field string) {
	tb.Helper()
	details := mustEnvelope(tb, r, http.StatusBadRequest, "VALIDATION_ERROR")
	fields, _ := details["fields"].([]any)
	var named []string
	for _, f := range fields {
		named = append(named, f.(map[string]any)["field"].(string))
	}
	if !slices.Contains(named, field) {
		tb.Fatalf("400 names %q, want %q among them: %s", named, field, r.Body)
	}
}

// mustEvent reads an event that must exist.
func (s *TestServer) mustEvent(tb testing.TB, key, id string) map[string]any {
	tb.Helper()
	r := s.Do(tb, Req{Method: "GET", Path: "/v1/events/" + id, Key: key})
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s = %d %s", id, r.StatusCode, r.Body)
	}
	return r.JSON(tb)
}

// startClocked starts a server whose service runs on a fake clock.
func startClocked(t *testing.T) (*TestServer, *teststore.Clock) {
	t.Helper()
	clock := teststore.NewClock(time.Now().UTC().Truncate(time.Second))
	return MustStart(t, &triggers.Options{Now: clock.Now}), clock
}

// mustCreateN creates n events of tenant key with source src, a
// millisecond apart on the clock so that they are received in this order.
func (s *TestServer) mustCreateN(tb testing.TB, clock *teststore.Clock, key, src string, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.MustCreate(tb, key, fmt.Sprintf(`{"source":%q,"event_type":"lease.test","payload":{"n":%d}}`, src, i))
		if clock != nil {
			clock.Advance(time.Millisecond)
		}
	}
	return ids
}

var leaseIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// otherLease is a well-formed lease id that no receive gave.
const otherLease = "0123456789abcdef0123456789abcdef"

func TestReceive_LeasesOldestFirstAndExclusively(t *testing.T) {
	s, clock := startClocked(t)
	ids := s.mustCreateN(t, clock, keyA, "shop", 3)
	now := clock.Now()

	a := s.mustReceive(t, keyA, `{"max_events":2,"lease_seconds":45}`)
	if got := a.ids(); !slices.Equal(got, ids[:2]) {
		t.Fatalf("first receive = %v, want the two oldest %v", got, ids[:2])
	}
	wantExpiry := triggers.FormatTimestamp(now.Add(45 * time.Second))
	for _, e := range a.Events {
		if e.Status != "pending" || e.Attempts != 1 || !leaseIDPattern.MatchString(e.Lease.LeaseID) ||
			e.Lease.ExpiresAt != wantExpiry || e.LeaseExpiresAt != wantExpiry || string(e.Payload) == "" {
			t.Fatalf("received event = %+v, want pending, attempts 1, a lease id, expiring at %s", e, wantExpiry)
		}
	}
	if a.Events[0].Lease.LeaseID == a.Events[1].Lease.LeaseID {
		t.Fatal("two leases share an id")
	}

	if got := s.mustReceive(t, keyA, ``).ids(); !slices.Equal(got, ids[2:]) {
		t.Fatalf("second receive = %v, want only the one not leased %v", got, ids[2:])
	}
	if got := s.mustReceive(t, keyA, `{}`).ids(); len(got) != 0 {
		t.Fatalf("third receive = %v, want none: every event is leased", got)
	}

	// The leased events stay pending: readable with their lease's expiry
	// and attempts, and listed by the inbox.
	ev := s.mustEvent(t, keyA, ids[0])
	if ev["status"] != "pending" || ev["attempts"] != 1.0 || ev["lease_expires_at"] != wantExpiry {
		t.Fatalf("GET leased event = %v", ev)
	}
	if _, ok := ev["lease"]; ok {
		t.Fatalf("GET shows the lease itself: %v", ev)
	}
	if n := s.inboxLen(t, keyA); n != 3 {
		t.Fatalf("inbox lists %d events, want all 3 (leased or not)", n)
	}
}

func TestReceive_Filters(t *testing.T) {
	s, clock := startClocked(t)
	s.mustCreateN(t, clock, keyA, "billing", 2)
	high := s.MustCreate(t, keyA, `{"source":"shop","event_type":"order.created","payload":{"x":1},"metadata":{"priority":"high","region":"eu"}}`)
	clock.Advance(time.Millisecond)
	s.MustCreate(t, keyA, `{"source":"shop","event_type":"order.created","payload":{"x":2},"metadata":{"region":"us"}}`)
	cases := []struct {
		name, body string
		want       int
	}{
		{"source", `{"source":"billing"}`, 2},
		{"priority", `{"priority":"high"}`, 1},
		{"metadata", `{"metadata":{"region":"eu"}}`, 1},
		{"all together", `{"source":"shop","event_type":"order.created","priority":"high","metadata":{"region":"eu"},"created_after":"2000-01-01T00:00:00Z","created_before":"2999-01-01T00:00:00Z"}`, 1},
		{"no match", `{"source":"nobody"}`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock.Advance(time.Hour) // every earlier lease (30 s) has expired
			a := s.mustReceive(t, keyA, c.body)
			if len(a.Events) != c.want {
				t.Fatalf("receive %s = %v, want %d events", c.body, a.ids(), c.want)
			}
			if c.want == 1 && c.name != "source" && a.Events[0].EventID != high {
				t.Fatalf("receive %s = %v, want %s", c.body, a.ids(), high)
			}
		})
	}
}

// TestLeases_ExpiryAndReasons walks one event through its leases: an
// expired lease cannot be nacked or extended (lease_expired), the event is
// received again with one more attempt, and the old lease is then lost for
// everything (lease_lost), while an expired lease nobody replaced still
// acknowledges.
func TestLeases_ExpiryAndReasons(t *testing.T) {
	s, clock := startClocked(t)
	id := s.MustCreate(t, keyA, itemJSON(0))
	first := s.mustReceive(t, keyA, `{"lease_seconds":10}`).lease(t, id)
	path := "/v1/events/" + id

	clock.Advance(11 * time.Second)
	ev := s.mustEvent(t, keyA, id)
	if _, ok := ev["lease_expires_at"]; ok || ev["attempts"] != 1.0 || ev["status"] != "pending" {
		t.Fatalf("GET after the lease expired = %v, want pending, attempts 1, no lease_expires_at", ev)
	}
	mustConflict(t, s.post(t, keyA, path+"/nack", `{"lease_id":"`+first+`"}`), "lease_expired")
	mustConflict(t, s.post(t, keyA, path+"/lease", `{"lease_id":"`+first+`"}`), "lease_expired")

	again := s.mustReceive(t, keyA, `{"lease_seconds":10}`)
	second := again.lease(t, id)
	if again.Events[0].Attempts != 2 || second == first {
		t.Fatalf("receive after expiry = %+v, want attempts 2 and a new lease", again.Events[0])
	}
	for _, verb := range []string{"ack", "nack", "lease"} {
		mustConflict(t, s.post(t, keyA, path+"/"+verb, `{"lease_id":"`+first+`"}`), "lease_lost")
	}
	mustConflict(t, s.post(t, keyA, path+"/ack", `{"lease_id":"`+otherLease+`"}`), "lease_lost")

	clock.Advance(11 * time.Second) // the second lease expired too, but nobody took the event
	r := s.post(t, keyA, path+"/ack", `{"lease_id":"`+second+`"}`)
	if r.StatusCode != http.StatusOK || r.JSON(t)["status"] != "acknowledged" {
		t.Fatalf("ack with the expired but recorded lease = %d %s, want 200", r.StatusCode, r.Body)
	}
	for _, verb := range []string{"nack", "lease"} {
		mustConflict(t, s.post(t, keyA, path+"/"+verb, `{"lease_id":"`+second+`"}`), "already_acknowledged")
	}
	mustConflict(t, s.post(t, keyA, path+"/ack", `{"lease_id":"`+second+`"}`), "already_acknowledged")
	mustConflict(t, s.post(t, keyA, path+"/ack", ``), "already_acknowledged")
	if got := s.mustReceive(t, keyA, ``).ids(); len(got) != 0 {
		t.Fatalf("receive after the ack = %v, want none", got)
	}
}

func TestNack(t *testing.T) {
	s, clock := startClocked(t)
	id := s.MustCreate(t, keyA, itemJSON(0))
	path := "/v1/events/" + id
	lease := s.mustReceive(t, keyA, ``).lease(t, id)

	r := s.post(t, keyA, path+"/nack", `{"lease_id":"`+lease+`"}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("nack = %d %s", r.StatusCode, r.Body)
	}
	m := r.JSON(t)
	if m["event_id"] != id || m["status"] != "pending" || m["attempts"] != 1.0 || m["available_at"] != triggers.FormatTimestamp(clock.Now()) {
		t.Fatalf("nack = %s, want pending, attempts 1, available now (%s)", r.Body, triggers.FormatTimestamp(clock.Now()))
	}
	// A nack ends the lease: nothing more can be done with it.
	mustConflict(t, s.post(t, keyA, path+"/nack", `{"lease_id":"`+lease+`"}`), "lease_lost")
	mustConflict(t, s.post(t, keyA, path+"/ack", `{"lease_id":"`+lease+`"}`), "lease_lost")

	a := s.mustReceive(t, keyA, ``)
	lease = a.lease(t, id)
	if a.Events[0].Attempts != 2 {
		t.Fatalf("receive after the nack: attempts %d, want 2", a.Events[0].Attempts)
	}
	r = s.post(t, keyA, path+"/nack", `{"lease_id":"`+lease+`","delay_seconds":60}`)
	if want := triggers.FormatTimestamp(clock.Now().Add(time.Minute)); r.StatusCode != http.StatusOK || r.JSON(t)["available_at"] != want {
		t.Fatalf("nack with a delay = %d %s, want available_at %s", r.StatusCode, r.Body, want)
	}
	clock.Advance(59 * time.Second)
	if got := s.mustReceive(t, keyA, ``).ids(); len(got) != 0 {
		t.Fatalf("receive during the nack delay = %v, want none", got)
	}
	if ev := s.mustEvent(t, keyA, id); ev["status"] != "pending" || ev["lease_expires_at"] != nil {
		t.Fatalf("GET during the nack delay = %v, want pending without a lease", ev)
	}
	clock.Advance(time.Second)
	if a := s.mustReceive(t, keyA, ``); len(a.Events) != 1 || a.Events[0].Attempts != 3 {
		t.Fatalf("receive once the delay is over = %+v, want the event with attempts 3", a.Events)
	}
	// A nack of an event never leased with that id.
	fresh := s.MustCreate(t, keyA, itemJSON(1))
	mustConflict(t, s.post(t, keyA, "/v1/events/"+fresh+"/nack", `{"lease_id":"`+otherLease+`"}`), "lease_lost")
}

func TestExtendLease(t *testing.T) {
	s, clock := startClocked(t)
	id := s.MustCreate(t, keyA, itemJSON(0))
	lease := s.mustReceive(t, keyA, `{"lease_seconds":10}`).lease(t, id)
	clock.Advance(5 * time.Second)

	r := s.post(t, keyA, "/v1/events/"+id+"/lease", `{"lease_id":"`+lease+`","lease_seconds":60}`)
	want := triggers.FormatTimestamp(clock.Now().Add(time.Minute))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("extend = %d %s", r.StatusCode, r.Body)
	}
	var ext struct {
		EventID string `json:"event_id"`
		Lease   struct {
			LeaseID   string `json:"lease_id"`
			ExpiresAt string `json:"expires_at"`
		} `json:"lease"`
	}
	json.Unmarshal(r.Body, &ext)
	if ext.EventID != id || ext.Lease.LeaseID != lease || ext.Lease.ExpiresAt != want {
		t.Fatalf("extend = %s, want the same lease expiring at %s (now + 60 s)", r.Body, want)
	}
	clock.Advance(30 * time.Second) // past the first expiry, within the extension
	if got := s.mustReceive(t, keyA, ``).ids(); len(got) != 0 {
		t.Fatalf("receive within the extended lease = %v, want none", got)
	}
	if ev := s.mustEvent(t, keyA, id); ev["lease_expires_at"] != want {
		t.Fatalf("GET within the extended lease = %v, want lease_expires_at %s", ev, want)
	}
	// The default extension is 30 s from now.
	r = s.post(t, keyA, "/v1/events/"+id+"/lease", `{"lease_id":"`+lease+`"}`)
	if want := triggers.FormatTimestamp(clock.Now().Add(30 * time.Second)); r.StatusCode != http.StatusOK ||
		r.JSON(t)["lease"].(map[string]any)["expires_at"] != want {
		t.Fatalf("extend without lease_seconds = %d %s, want expires_at %s", r.StatusCode, r.Body, want)
	}
	if r := s.post(t, keyA, "/v1/events/"+id+"/ack", `{"lease_id":"`+lease+`"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("ack under the extended lease = %d %s", r.StatusCode, r.Body)
	}
}

// TestAck_BodyIsOptional: without a body (any Content-Type, as before
// leases) or with {} the ack is unconditional; with a lease id that is not
// the event's, nothing changes.
func TestAck_BodyIsOptional(t *testing.T) {
	s, _ := startClocked(t)
	cases := []struct {
		name string
		req  Req
	}{
		{"no body", Req{}},
		{"empty object", Req{Body: `{}`}},
		{"blank body, no Content-Type", Req{Body: " \n", NoJSONType: true}},
		{"null lease_id", Req{Body: `{"lease_id":null}`}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := s.MustCreate(t, keyA, itemJSON(i))
			s.mustReceive(t, keyA, ``) // leased: an unconditional ack still acknowledges it
			c.req.Method, c.req.Path, c.req.Key = "POST", "/v1/events/"+id+"/ack", keyA
			if r := s.Do(t, c.req); r.StatusCode != http.StatusOK || r.JSON(t)["status"] != "acknowledged" {
				t.Fatalf("ack = %d %s, want 200", r.StatusCode, r.Body)
			}
		})
	}
	t.Run("lease_lost changes nothing", func(t *testing.T) {
		id := s.MustCreate(t, keyA, itemJSON(9))
		lease := s.mustReceive(t, keyA, ``).lease(t, id)
		mustConflict(t, s.post(t, keyA, "/v1/events/"+id+"/ack", `{"lease_id":"`+otherLease+`"}`), "lease_lost")
		if ev := s.mustEvent(t, keyA, id); ev["status"] != "pending" || ev["lease_expires_at"] == nil {
			t.Fatalf("GET after a refused ack = %v, want still pending and leased", ev)
		}
		if r := s.post(t, keyA, "/v1/events/"+id+"/ack", `{"lease_id":"`+lease+`"}`); r.StatusCode != http.StatusOK {
			t.Fatalf("ack with the right lease = %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestDeadLetterAndRedrive: an event whose attempts reached max_attempts is
// dead-lettered by the next receive; it leaves the pending inbox, is
// listed with status=dead, and a redrive makes it pending with attempts 0.
func TestDeadLetterAndRedrive(t *testing.T) {
	s, clock := startClocked(t)
	id := s.MustCreate(t, keyA, `{"source":"poison","event_type":"t","payload":{"x":1}}`)
	clock.Advance(time.Millisecond)
	other := s.MustCreate(t, keyA, itemJSON(1))
	path := "/v1/events/" + id

	lease := s.mustReceive(t, keyA, `{"max_events":1,"lease_seconds":5}`).lease(t, id)
	clock.Advance(6 * time.Second)
	a := s.mustReceive(t, keyA, `{"max_events":1,"max_attempts":1}`)
	if got := a.ids(); !slices.Equal(got, []string{other}) {
		t.Fatalf("receive with max_attempts 1 = %v, want only %s (the other is dead)", got, other)
	}
	deadAt := triggers.FormatTimestamp(clock.Now())
	ev := s.mustEvent(t, keyA, id)
	if ev["status"] != "dead" || ev["dead_at"] != deadAt || ev["attempts"] != 1.0 || ev["lease_expires_at"] != nil {
		t.Fatalf("GET dead event = %v, want dead at %s with attempts 1 and no lease", ev, deadAt)
	}
	mustConflict(t, s.post(t, keyA, path+"/nack", `{"lease_id":"`+lease+`"}`), "lease_lost")
	mustConflict(t, s.post(t, keyA, path+"/lease", `{"lease_id":"`+lease+`"}`), "lease_lost")
	mustConflict(t, s.post(t, keyA, "/v1/events/"+other+"/redrive", ``), "not_dead")

	pending := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: keyA}).JSON(t)["events"].([]any)
	if len(pending) != 1 || pending[0].(map[string]any)["event_id"] != other {
		t.Fatalf("pending inbox = %v, want only %s", pending, other)
	}
	dead := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?status=dead&source=poison", Key: keyA}).JSON(t)["events"].([]any)
	if len(dead) != 1 || dead[0].(map[string]any)["event_id"] != id || dead[0].(map[string]any)["dead_at"] != deadAt {
		t.Fatalf("dead inbox = %v, want %s dead at %s", dead, id, deadAt)
	}
	if dead := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?status=dead", Key: keyB}).JSON(t)["events"].([]any); len(dead) != 0 {
		t.Fatalf("tenant B's dead inbox = %v, want none", dead)
	}

	r := s.post(t, keyA, path+"/redrive", ``)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("redrive = %d %s", r.StatusCode, r.Body)
	}
	if m := r.JSON(t); m["event_id"] != id || m["status"] != "pending" || m["attempts"] != 0.0 {
		t.Fatalf("redrive = %s, want pending with attempts 0", r.Body)
	}
	mustConflict(t, s.post(t, keyA, path+"/redrive", `{}`), "not_dead")
	if ev := s.mustEvent(t, keyA, id); ev["status"] != "pending" || ev["attempts"] != 0.0 || ev["dead_at"] != nil {
		t.Fatalf("GET after redrive = %v, want pending, attempts 0, no dead_at", ev)
	}
	if a := s.mustReceive(t, keyA, `{"max_attempts":1}`); len(a.Events) != 1 || a.Events[0].EventID != id || a.Events[0].Attempts != 1 {
		t.Fatalf("receive after redrive = %+v, want %s with attempts 1", a.Events, id)
	}

	// A dead event can still be acknowledged (the work was done elsewhere).
	clock.Advance(time.Minute)
	s.mustReceive(t, keyA, `{"max_attempts":1}`) // dead-letters both again
	if r := s.post(t, keyA, path+"/ack", ``); r.StatusCode != http.StatusOK {
		t.Fatalf("ack of a dead event = %d %s", r.StatusCode, r.Body)
	}
	if ev := s.mustEvent(t, keyA, id); ev["status"] != "acknowledged" || ev["dead_at"] != nil {
		t.Fatalf("GET of an acknowledged once-dead event = %v, want acknowledged without dead_at", ev)
	}
}

// TestInbox_StatusParameter: status=pending is the default, anything but
// pending or dead is a 400 naming it, and a cursor is bound to its status.
func TestInbox_StatusParameter(t *testing.T) {
	s := MustStart(t, nil)
	s.bulkCreateIDs(t, keyA, 3)
	for _, q := range []string{"status=acknowledged", "status=", "status=DEAD", "status=dead&status=pending"} {
		mustInvalid(t, s.Do(t, Req{Method: "GET", Path: "/v1/inbox?" + q, Key: keyA}), "status")
	}
	if n := len(s.Do(t, Req{Method: "GET", Path: "/v1/inbox?status=pending", Key: keyA}).JSON(t)["events"].([]any)); n != 3 {
		t.Fatalf("status=pending lists %d events, want 3", n)
	}
	page := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?limit=1", Key: keyA}).JSON(t)
	cursor := page["pagination"].(map[string]any)["next_cursor"].(string)
	mustInvalid(t, s.Do(t, Req{Method: "GET", Path: "/v1/inbox?limit=1&status=dead&cursor=" + cursor, Key: keyA}), "cursor")
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?limit=1&status=pending&cursor=" + cursor, Key: keyA}); r.StatusCode != http.StatusOK {
		t.Fatalf("a pending cursor with status=pending = %d %s, want 200", r.StatusCode, r.Body)
	}
}

// leaseAnswer is a decoded bulk answer of nack or redrive.
type leaseAnswer struct {
	Successful []struct {
		Index       int    `json:"index"`
		EventID     string `json:"event_id"`
		Status      string `json:"status"`
		Attempts    int    `json:"attempts"`
		AvailableAt string `json:"available_at"`
	} `json:"successful"`
	Failed []struct {
		Index int `json:"index"`
		Error struct {
			Code    string         `json:"code"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	} `json:"failed"`
}

// outcomes returns each item's outcome: OK, the error code, or the
// conflict's reason.
func (a leaseAnswer) outcomes(n int) []string {
	out := make([]string, n)
	for _, s := range a.Successful {
		out[s.Index] = "OK"
	}
	for _, f := range a.Failed {
		out[f.Index] = f.Error.Code
		if r, ok := f.Error.Details["reason"].(string); ok {
			out[f.Index] = r
		}
	}
	return out
}

func TestBulkNack(t *testing.T) {
	s, clock := startClocked(t)
	ids := s.mustCreateN(t, clock, keyA, "bulk", 3)
	a := s.mustReceive(t, keyA, `{"max_events":2}`)
	l0, l1 := a.lease(t, ids[0]), a.lease(t, ids[1])
	unknown := triggers.NewEventID(clock.Now())
	body := fmt.Sprintf(`{"items":[
		{"event_id":%q,"lease_id":%q},
		{"event_id":%q,"lease_id":%q,"delay_seconds":30},
		{"event_id":%q,"lease_id":%q},
		{"event_id":%q,"lease_id":%q},
		{"event_id":%q,"lease_id":%q},
		{"event_id":%q,"lease_id":"nope"},
		{"event_id":%q,"lease_id":%q}]}`,
		ids[0], l0, strings.ToUpper(ids[1]), l1, ids[2], otherLease, unknown, l0, ids[0], l0, ids[0], ids[1], l0)
	got := s.bulkLeases(t, "/v1/events/bulk/nack", keyA, body, 7)
	want := []string{"OK", "OK", "lease_lost", "NOT_FOUND", "lease_lost", "VALIDATION_ERROR", "lease_lost"}
	if o := got.outcomes(7); !slices.Equal(o, want) {
		t.Fatalf("bulk nack outcomes = %v, want %v", o, want)
	}
	now := triggers.FormatTimestamp(clock.Now())
	later := triggers.FormatTimestamp(clock.Now().Add(30 * time.Second))
	for _, it := range got.Successful {
		wantAt := map[int]string{0: now, 1: later}[it.Index]
		if it.EventID != ids[it.Index] || it.Status != "pending" || it.Attempts != 1 || it.AvailableAt != wantAt {
			t.Fatalf("successful item %+v, want %s pending, attempts 1, available_at %s", it, ids[it.Index], wantAt)
		}
	}
	if got := s.mustReceive(t, keyA, ``).ids(); !slices.Equal(got, []string{ids[0], ids[2]}) {
		t.Fatalf("receive after the bulk nack = %v, want %s (nacked) and %s (never leased), not the delayed one",
			got, ids[0], ids[2])
	}
}

// bulkLeases sends a bulk nack or redrive that must answer 200 with every
// index once, and decodes it.
func (s *TestServer) bulkLeases(tb testing.TB, path, key, body string, n int) leaseAnswer {
	tb.Helper()
	r := s.Do(tb, Req{Method: "POST", Path: path, Key: key, Body: body})
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("POST %s = %d %s, want 200", path, r.StatusCode, r.Body)
	}
	var a leaseAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		tb.Fatal(err)
	}
	seen := make([]int, n)
	for _, s := range a.Successful {
		seen[s.Index]++
	}
	for _, f := range a.Failed {
		seen[f.Index]++
	}
	for i, c := range seen {
		if c != 1 {
			tb.Fatalf("index %d appears %d times, want once: %s", i, c, r.Body)
		}
	}
	return a
}

func TestBulkRedrive(t *testing.T) {
	s, clock := startClocked(t)
	ids := s.mustCreateN(t, clock, keyA, "bulk", 3)
	s.mustReceive(t, keyA, `{"max_events":2}`) // leases ids[0] and ids[1]
	clock.Advance(time.Minute)
	s.mustReceive(t, keyA, `{"max_attempts":1}`) // dead-letters them, leases ids[2]
	unknown := triggers.NewEventID(clock.Now())
	got := s.bulkLeases(t, "/v1/events/bulk/redrive", keyA, idsBody(ids[0], ids[2], unknown, "nope", ids[1], strings.ToUpper(ids[0])), 6)
	want := []string{"OK", "not_dead", "NOT_FOUND", "VALIDATION_ERROR", "OK", "not_dead"}
	if o := got.outcomes(6); !slices.Equal(o, want) {
		t.Fatalf("bulk redrive outcomes = %v, want %v", o, want)
	}
	redriven := map[int]string{0: ids[0], 4: ids[1]}
	for _, it := range got.Successful {
		if it.Status != "pending" || it.Attempts != 0 || it.EventID != redriven[it.Index] {
			t.Fatalf("successful item %+v, want pending with attempts 0", it)
		}
	}
	if n := len(s.Do(t, Req{Method: "GET", Path: "/v1/inbox?status=dead", Key: keyA}).JSON(t)["events"].([]any)); n != 0 {
		t.Fatalf("%d dead events left after redriving both", n)
	}
}

func TestBulkAck_Items(t *testing.T) {
	s, clock := startClocked(t)
	ids := s.mustCreateN(t, clock, keyA, "bulk", 4)
	a := s.mustReceive(t, keyA, `{"max_events":3}`)
	body := fmt.Sprintf(`{"items":[
		{"event_id":%q,"lease_id":%q},
		{"event_id":%q,"lease_id":%q},
		{"event_id":%q},
		{"event_id":%q},
		{"event_id":%q,"lease_id":"short"},
		{"event_id":%q,"lease_id":%q,"extra":1},
		{"event_id":%q,"lease_id":%q}]}`,
		ids[0], a.lease(t, ids[0]), ids[1], otherLease, ids[2], ids[3], ids[3], ids[3], otherLease,
		ids[0], a.lease(t, ids[0]))
	got := s.bulkLeases(t, "/v1/events/bulk/ack", keyA, body, 7)
	want := []string{"OK", "lease_lost", "OK", "OK", "VALIDATION_ERROR", "VALIDATION_ERROR", "already_acknowledged"}
	if o := got.outcomes(7); !slices.Equal(o, want) {
		t.Fatalf("bulk ack items outcomes = %v, want %v", o, want)
	}
	var fields []string
	for _, f := range got.Failed {
		if f.Error.Code == "VALIDATION_ERROR" {
			for _, x := range f.Error.Details["fields"].([]any) {
				fields = append(fields, x.(map[string]any)["field"].(string))
			}
		}
	}
	sort.Strings(fields)
	if !slices.Equal(fields, []string{"items[4].lease_id", "items[5].extra"}) {
		t.Fatalf("invalid items name %v, want items[4].lease_id and items[5].extra", fields)
	}
	if ev := s.mustEvent(t, keyA, ids[1]); ev["status"] != "pending" {
		t.Fatalf("event acked under a lease it does not hold: %v", ev)
	}
}

// TestLeases_InvalidFields: every field of every lease route is validated
// with a 400 that names it, before anything is done.
func TestLeases_InvalidFields(t *testing.T) {
	s := MustStart(t, nil)
	id := s.MustCreate(t, keyA, itemJSON(0))
	ev := "/v1/events/" + id
	lease := `"lease_id":"` + otherLease + `"`
	cases := []struct {
		name, path, body, field string
	}{
		{"receive: max_events 0", "/v1/inbox/receive", `{"max_events":0}`, "max_events"},
		{"receive: max_events 26", "/v1/inbox/receive", `{"max_events":26}`, "max_events"},
		{"receive: max_events a string", "/v1/inbox/receive", `{"max_events":"5"}`, "max_events"},
		{"receive: max_events a fraction", "/v1/inbox/receive", `{"max_events":1.5}`, "max_events"},
		{"receive: lease_seconds 0", "/v1/inbox/receive", `{"lease_seconds":0}`, "lease_seconds"},
		{"receive: lease_seconds 43201", "/v1/inbox/receive", `{"lease_seconds":43201}`, "lease_seconds"},
		{"receive: wait_seconds -1", "/v1/inbox/receive", `{"wait_seconds":-1}`, "wait_seconds"},
		{"receive: wait_seconds 21", "/v1/inbox/receive", `{"wait_seconds":21}`, "wait_seconds"},
		{"receive: max_attempts 0", "/v1/inbox/receive", `{"max_attempts":0}`, "max_attempts"},
		{"receive: max_attempts 1001", "/v1/inbox/receive", `{"max_attempts":1001}`, "max_attempts"},
		{"receive: source a number", "/v1/inbox/receive", `{"source":5}`, "source"},
		{"receive: blank source", "/v1/inbox/receive", `{"source":"  "}`, "source"},
		{"receive: event_type a boolean", "/v1/inbox/receive", `{"event_type":true}`, "event_type"},
		{"receive: priority", "/v1/inbox/receive", `{"priority":"urgent"}`, "priority"},
		{"receive: created_after", "/v1/inbox/receive", `{"created_after":"yesterday"}`, "created_after"},
		{"receive: created_before", "/v1/inbox/receive", `{"created_before":"2025-13-01"}`, "created_before"},
		{"receive: range reversed", "/v1/inbox/receive", `{"created_after":"2025-11-11","created_before":"2025-11-10"}`, "created_after"},
		{"receive: metadata an array", "/v1/inbox/receive", `{"metadata":["a"]}`, "metadata"},
		{"receive: metadata value a number", "/v1/inbox/receive", `{"metadata":{"k":1}}`, "metadata.k"},
		{"receive: metadata key", "/v1/inbox/receive", `{"metadata":{"bad key":"x"}}`, "metadata.bad key"},
		{"receive: unknown field", "/v1/inbox/receive", `{"visibility_timeout":30}`, "visibility_timeout"},
		{"receive: not an object", "/v1/inbox/receive", `[]`, "body"},
		{"receive: malformed", "/v1/inbox/receive", `{"max_events":`, "body"},
		{"receive: duplicate member", "/v1/inbox/receive", `{"max_events":1,"max_events":2}`, "body"},
		{"nack: no lease_id", ev + "/nack", `{}`, "lease_id"},
		{"nack: lease_id upper case", ev + "/nack", `{"lease_id":"` + strings.ToUpper(otherLease) + `"}`, "lease_id"},
		{"nack: lease_id short", ev + "/nack", `{"lease_id":"abc"}`, "lease_id"},
		{"nack: lease_id a number", ev + "/nack", `{"lease_id":5}`, "lease_id"},
		{"nack: lease_id null", ev + "/nack", `{"lease_id":null}`, "lease_id"},
		{"nack: delay_seconds -1", ev + "/nack", `{` + lease + `,"delay_seconds":-1}`, "delay_seconds"},
		{"nack: delay_seconds 43201", ev + "/nack", `{` + lease + `,"delay_seconds":43201}`, "delay_seconds"},
		{"nack: delay_seconds a string", ev + "/nack", `{` + lease + `,"delay_seconds":"5"}`, "delay_seconds"},
		{"nack: unknown field", ev + "/nack", `{` + lease + `,"requeue":true}`, "requeue"},
		{"nack: empty body", ev + "/nack", ``, "body"},
		{"nack: not an object", ev + "/nack", `"` + otherLease + `"`, "body"},
		{"lease: no lease_id", ev + "/lease", `{"lease_seconds":10}`, "lease_id"},
		{"lease: lease_seconds 0", ev + "/lease", `{` + lease + `,"lease_seconds":0}`, "lease_seconds"},
		{"lease: lease_seconds 43201", ev + "/lease", `{` + lease + `,"lease_seconds":43201}`, "lease_seconds"},
		{"lease: delay_seconds", ev + "/lease", `{` + lease + `,"delay_seconds":1}`, "delay_seconds"},
		{"lease: empty body", ev + "/lease", ``, "body"},
		{"ack: lease_id malformed", ev + "/ack", `{"lease_id":"not-a-lease"}`, "lease_id"},
		{"ack: unknown field", ev + "/ack", `{"force":true}`, "force"},
		{"ack: not an object", ev + "/ack", `[]`, "body"},
		{"redrive: a field", ev + "/redrive", `{"reset_attempts":true}`, "reset_attempts"},
		{"redrive: not an object", ev + "/redrive", `[1]`, "body"},
		{"bulk nack: no items", "/v1/events/bulk/nack", `{}`, "items"},
		{"bulk nack: empty items", "/v1/events/bulk/nack", `{"items":[]}`, "items"},
		{"bulk nack: 26 items", "/v1/events/bulk/nack", `{"items":[` + strings.TrimSuffix(strings.Repeat(`{"event_id":"`+id+`",`+lease+`},`, 26), ",") + `]}`, "items"},
		{"bulk nack: unknown field", "/v1/events/bulk/nack", `{"items":[{"event_id":"` + id + `",` + lease + `}],"all":true}`, "body"},
		{"bulk nack: items an object", "/v1/events/bulk/nack", `{"items":{}}`, "body"},
		{"bulk redrive: no event_ids", "/v1/events/bulk/redrive", `{}`, "event_ids"},
		{"bulk redrive: 26", "/v1/events/bulk/redrive", idsBody(slicesRepeat(id, 26)...), "event_ids"},
		{"bulk redrive: items", "/v1/events/bulk/redrive", `{"items":[{"event_id":"` + id + `"}]}`, "body"},
		{"bulk ack: both forms", "/v1/events/bulk/ack", `{"event_ids":["` + id + `"],"items":[{"event_id":"` + id + `"}]}`, "items"},
		{"bulk ack: items not an array", "/v1/events/bulk/ack", `{"items":"` + id + `"}`, "items"},
		{"bulk ack: empty items", "/v1/events/bulk/ack", `{"items":[]}`, "items"},
		{"bulk ack: event_ids not strings", "/v1/events/bulk/ack", `{"event_ids":[1]}`, "event_ids"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustInvalid(t, s.Do(t, Req{Method: "POST", Path: c.path, Key: keyA, Body: c.body,
				Header: map[string]string{"Content-Type": "application/json"}}), c.field)
		})
	}
	// Nothing was done: the event is still pending, never leased.
	if ev := s.mustEvent(t, keyA, id); ev["status"] != "pending" || ev["attempts"] != 0.0 {
		t.Fatalf("event after refused requests = %v, want pending and never leased", ev)
	}
}

// TestBulkNack_InvalidItems: an invalid item of a bulk nack fails alone,
// naming its field.
func TestBulkNack_InvalidItems(t *testing.T) {
	s := MustStart(t, nil)
	id := s.MustCreate(t, keyA, itemJSON(0))
	lease := s.mustReceive(t, keyA, ``).lease(t, id)
	body := `{"items":[
		{"event_id":"` + id + `"},
		{"event_id":"` + id + `","lease_id":"` + lease + `","delay_seconds":43201},
		{"event_id":"nope","lease_id":"` + lease + `"},
		{"lease_id":"` + lease + `"},
		{"event_id":"` + id + `","lease_id":"` + lease + `","priority":"high"},
		"` + id + `",
		{"event_id":"` + id + `","lease_id":"` + lease + `"}]}`
	a := s.bulkLeases(t, "/v1/events/bulk/nack", keyA, body, 7)
	fields := map[int]string{0: "items[0].lease_id", 1: "items[1].delay_seconds", 2: "items[2].event_id",
		3: "items[3].event_id", 4: "items[4].priority", 5: "items[5]"}
	if o := a.outcomes(7); !slices.Equal(o, []string{"VALIDATION_ERROR", "VALIDATION_ERROR", "VALIDATION_ERROR",
		"VALIDATION_ERROR", "VALIDATION_ERROR", "VALIDATION_ERROR", "OK"}) {
		t.Fatalf("outcomes = %v, want six invalid items and the valid one done", o)
	}
	for _, f := range a.Failed {
		b, _ := json.Marshal(f.Error.Details)
		if !strings.Contains(string(b), `"field":"`+fields[f.Index]+`"`) {
			t.Errorf("item %d: details %s do not name %s", f.Index, b, fields[f.Index])
		}
	}
}

// TestLeases_MediaTypeAndSize: a body with content must be JSON (415) and
// within 400 KiB (413); an empty body needs no Content-Type.
func TestLeases_MediaTypeAndSize(t *testing.T) {
	s := MustStart(t, nil)
	id := s.MustCreate(t, keyA, itemJSON(0))
	cases := []struct {
		path  string
		limit int // bytes
	}{
		{"/v1/inbox/receive", triggers.MaxEventBytes},
		{"/v1/events/" + id + "/ack", triggers.MaxEventBytes},
		{"/v1/events/" + id + "/nack", triggers.MaxEventBytes},
		{"/v1/events/" + id + "/lease", triggers.MaxEventBytes},
		{"/v1/events/" + id + "/redrive", triggers.MaxEventBytes},
		{"/v1/events/bulk/nack", triggershttp.MaxBulkBytes},
		{"/v1/events/bulk/redrive", triggershttp.MaxBulkBytes},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			r := s.Do(t, Req{Method: "POST", Path: c.path, Key: keyA, Body: `{}`, Header: map[string]string{"Content-Type": "text/plain"}})
			mustEnvelope(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
			big := `{"lease_id":"` + otherLease + `"` + strings.Repeat(" ", c.limit) + `}`
			r = s.Do(t, Req{Method: "POST", Path: c.path, Key: keyA, Body: big})
			mustEnvelope(t, r, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
			// The media type is checked before the size (API.md).
			r = s.Do(t, Req{Method: "POST", Path: c.path, Key: keyA, Body: big, Header: map[string]string{"Content-Type": "text/plain"}})
			mustEnvelope(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		})
	}
	// Without a body and without a Content-Type: a receive with every
	// default and a redrive (of a pending event: not_dead) need none.
	if r := s.Do(t, Req{Method: "POST", Path: "/v1/inbox/receive", Key: keyA}); r.StatusCode != http.StatusOK {
		t.Fatalf("receive without a body = %d %s", r.StatusCode, r.Body)
	}
	mustConflict(t, s.Do(t, Req{Method: "POST", Path: "/v1/events/" + id + "/redrive", Key: keyA}), "not_dead")
	mustInvalid(t, s.Do(t, Req{Method: "POST", Path: "/v1/events/" + id + "/nack", Key: keyA}), "body")
}

// TestLeases_PathIDs: an event id in the path that is not a UUID is a 422,
// whatever the body; an unknown one is a 404.
func TestLeases_PathIDs(t *testing.T) {
	s := MustStart(t, nil)
	unknown := triggers.NewEventID(time.Now())
	for _, verb := range []string{"ack", "nack", "lease", "redrive"} {
		t.Run(verb, func(t *testing.T) {
			r := s.post(t, keyA, "/v1/events/not-a-uuid/"+verb, `{"lease_id":"`+otherLease+`"}`)
			mustEnvelope(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
			r = s.post(t, keyA, "/v1/events/not-a-uuid/"+verb, `{"bad":`)
			mustEnvelope(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
			r = s.post(t, keyA, "/v1/events/"+unknown+"/"+verb, `{"lease_id":"`+otherLease+`"}`)
			if verb == "redrive" {
				r = s.post(t, keyA, "/v1/events/"+unknown+"/"+verb, ``)
			}
			mustEnvelope(t, r, http.StatusNotFound, "NOT_FOUND")
		})
	}
}

// TestLeases_OtherTenantIsNotFound: another tenant's event is an unknown
// one for every lease route, and nothing of it changes.
func TestLeases_OtherTenantIsNotFound(t *testing.T) {
	s, clock := startClocked(t)
	dead := s.MustCreate(t, keyA, itemJSON(0))
	s.mustReceive(t, keyA, ``)
	clock.Advance(time.Minute)
	s.mustReceive(t, keyA, `{"max_attempts":1}`) // dead-letters it
	id := s.MustCreate(t, keyA, itemJSON(1))
	lease := s.mustReceive(t, keyA, ``).lease(t, id)
	body := `{"lease_id":"` + lease + `"}`

	if got := s.mustReceive(t, keyB, `{"max_attempts":1}`).ids(); len(got) != 0 {
		t.Fatalf("tenant B received %v", got)
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/events/" + id + "/ack", body}, {"/v1/events/" + id + "/nack", body},
		{"/v1/events/" + id + "/lease", body}, {"/v1/events/" + dead + "/redrive", ``},
		{"/v1/events/" + dead + "/ack", ``},
	} {
		mustEnvelope(t, s.post(t, keyB, c.path, c.body), http.StatusNotFound, "NOT_FOUND")
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/events/bulk/nack", `{"items":[{"event_id":"` + id + `",` + body[1:] + `]}`},
		{"/v1/events/bulk/ack", `{"items":[{"event_id":"` + id + `",` + body[1:] + `]}`},
		{"/v1/events/bulk/redrive", idsBody(dead)},
	} {
		if o := s.bulkLeases(t, c.path, keyB, c.body, 1).outcomes(1); o[0] != "NOT_FOUND" {
			t.Fatalf("tenant B %s = %v, want NOT_FOUND", c.path, o)
		}
	}
	if n := len(s.Do(t, Req{Method: "GET", Path: "/v1/inbox?status=dead", Key: keyB}).JSON(t)["events"].([]any)); n != 0 {
		t.Fatalf("tenant B's dead inbox lists %d events", n)
	}
	if ev := s.mustEvent(t, keyA, dead); ev["status"] != "dead" {
		t.Fatalf("tenant A's dead event after tenant B's calls = %v", ev)
	}
	if r := s.post(t, keyA, "/v1/events/"+id+"/ack", body); r.StatusCode != http.StatusOK {
		t.Fatalf("tenant A's lease after tenant B's calls = %d %s, want still held", r.StatusCode, r.Body)
	}
}

func TestLeases_MethodNotAllowed(t *testing.T) {
	s := MustStart(t, nil)
	id := triggers.NewEventID(time.Now())
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/inbox/receive"}, {"PUT", "/v1/inbox/receive"},
		{"GET", "/v1/events/" + id + "/nack"}, {"DELETE", "/v1/events/" + id + "/lease"},
		{"PUT", "/v1/events/" + id + "/redrive"}, {"GET", "/v1/events/bulk/nack"}, {"DELETE", "/v1/events/bulk/redrive"},
	} {
		r := s.Do(t, Req{Method: c.method, Path: c.path, Key: keyA})
		mustEnvelope(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "POST") {
			t.Fatalf("%s %s: Allow = %q, want POST", c.method, c.path, allow)
		}
	}
}

// asyncReceive sends a receive from another goroutine; its answer is
// checked (OpenAPI included) by the test goroutine with wait.
type asyncReceive struct {
	done chan struct{}
	r    Response
	at   time.Time // when the answer arrived
	rec  *recordingTB
}

type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(r)
}

func (s *TestServer) receiveAsync(t *testing.T, key, body string) *asyncReceive {
	a := &asyncReceive{done: make(chan struct{}), rec: &recordingTB{TB: t}}
	go func() {
		defer close(a.done)
		defer func() {
			if v := recover(); v != nil && v != a.rec {
				panic(v)
			}
		}()
		a.r = s.Do(a.rec, Req{Method: "POST", Path: "/v1/inbox/receive", Key: key, Body: body})
		a.at = time.Now()
	}()
	return a
}

// wait returns the answer, failing t if it does not come within d or is not
// a valid 200.
func (a *asyncReceive) wait(t *testing.T, d time.Duration) received {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(d):
		t.Fatalf("the receive did not answer within %v", d)
	}
	if len(a.rec.msgs) > 0 {
		t.Fatalf("receive: %s", strings.Join(a.rec.msgs, "\n"))
	}
	if a.r.StatusCode != http.StatusOK {
		t.Fatalf("receive = %d %s", a.r.StatusCode, a.r.Body)
	}
	var got received
	if err := json.Unmarshal(a.r.Body, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// waitForWaiting waits until n receives wait in the service.
func waitForWaiting(t *testing.T, s *TestServer, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Service.WaitingReceives() != n {
		if time.Now().After(deadline) {
			t.Fatalf("WaitingReceives() = %d after 5 s, want %d", s.Service.WaitingReceives(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReceive_LongPollWokenByCreate: a waiting receive answers as soon as
// an event is created (DESIGN §10.2: within 50 ms on the embedded store).
// The delay from the create's 201 to the receive's answer is logged; the
// test asserts only a generous bound, as a sanity check on a shared
// machine.
func TestReceive_LongPollWokenByCreate(t *testing.T) {
	s := MustStart(t, nil)
	const rounds = 5
	var delays []time.Duration
	for i := range rounds {
		a := s.receiveAsync(t, keyA, `{"wait_seconds":10,"source":"wake"}`)
		waitForWaiting(t, s, 1)
		s.MustCreate(t, keyA, `{"source":"other","event_type":"t","payload":{"x":1}}`) // does not match: keeps waiting
		id := s.MustCreate(t, keyA, fmt.Sprintf(`{"source":"wake","event_type":"t","payload":{"round":%d}}`, i))
		created := time.Now()
		got := a.wait(t, 5*time.Second)
		if !slices.Equal(got.ids(), []string{id}) {
			t.Fatalf("round %d: the woken receive returned %v, want %s", i, got.ids(), id)
		}
		delays = append(delays, a.at.Sub(created))
	}
	slices.Sort(delays)
	t.Logf("create (201 received) → waiting receive answered: min %v, median %v, max %v over %d rounds",
		delays[0], delays[rounds/2], delays[rounds-1], rounds)
	if delays[rounds/2] > time.Second {
		t.Fatalf("median wake delay %v, want well under 1 s (50 ms on the embedded store)", delays[rounds/2])
	}
}

// TestReceive_LongPollEndsEmpty: with nothing to receive, a receive waits
// its wait_seconds and answers no events.
func TestReceive_LongPollEndsEmpty(t *testing.T) {
	s := MustStart(t, nil)
	start := time.Now()
	a := s.mustReceive(t, keyA, `{"wait_seconds":1}`)
	if took := time.Since(start); len(a.Events) != 0 || took < time.Second || took > 5*time.Second {
		t.Fatalf("receive with nothing available = %v after %v, want none after about 1 s", a.ids(), took)
	}
	if s.Service.WaitingReceives() != 0 {
		t.Fatalf("WaitingReceives() = %d after the receive answered", s.Service.WaitingReceives())
	}
}

// TestReceive_StopWaitingAnswersAtOnce: when the server shuts down
// (Service.StopWaiting, as internal/app calls it), waiting receives answer
// at once, and later ones do not wait.
func TestReceive_StopWaitingAnswersAtOnce(t *testing.T) {
	s := MustStart(t, nil)
	a := s.receiveAsync(t, keyA, `{"wait_seconds":20}`)
	b := s.receiveAsync(t, keyB, `{"wait_seconds":20}`)
	waitForWaiting(t, s, 2)
	stopped := time.Now()
	s.Service.StopWaiting()
	for _, r := range []*asyncReceive{a, b} {
		if got := r.wait(t, 5*time.Second); len(got.Events) != 0 {
			t.Fatalf("stopped receive returned %v", got.ids())
		}
		if d := r.at.Sub(stopped); d > time.Second {
			t.Fatalf("a waiting receive answered %v after StopWaiting, want at once", d)
		}
	}
	start := time.Now()
	if got := s.mustReceive(t, keyA, `{"wait_seconds":20}`); len(got.Events) != 0 || time.Since(start) > time.Second {
		t.Fatalf("a receive after StopWaiting took %v, want no wait", time.Since(start))
	}
}

// TestReceive_WaitIsOneRequestForTheLimiter: however long a receive waits,
// it spends one request of the key's budget (DESIGN §10.2).
func TestReceive_WaitIsOneRequestForTheLimiter(t *testing.T) {
	lim := &countingLimiter{inner: storeLimiter(t), takes: map[string]int{}}
	s := MustStartWith(t, nil, &triggershttp.Options{Limiter: lim})
	k, raw, err := s.Service.CreateKey(t.Context(), triggers.KeySpec{Tenant: "tenant-a", RateLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Do(t, Req{Method: "POST", Path: "/v1/inbox/receive", Key: raw, Body: `{"wait_seconds":2}`})
	if r.StatusCode != http.StatusOK || r.Header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("waiting receive = %d, X-RateLimit-Remaining %q; want 200 and 2", r.StatusCode, r.Header.Get("X-RateLimit-Remaining"))
	}
	if n := lim.count(k.ID); n != 1 {
		t.Fatalf("a receive that waited 2 s took %d tokens, want 1", n)
	}
}

// TestReceive_LogAndMetrics: one log line per receive with its counts and
// filter kinds, never a payload; the lease metrics of DESIGN §10.5.
func TestReceive_LogAndMetrics(t *testing.T) {
	s, clock := startClocked(t)
	ids := s.mustCreateN(t, clock, keyA, "metrics", 2)
	if a := s.mustReceive(t, keyA, ``); len(a.Events) != 2 {
		t.Fatalf("receive = %v, want 2", a.ids())
	}
	secret := s.MustCreate(t, keyA, `{"source":"metrics","event_type":"t","payload":{"card":"SECRET-4111"}}`)
	clock.Advance(time.Minute) // the two leases expired
	r := s.Do(t, Req{Method: "POST", Path: "/v1/inbox/receive", Key: keyA, Body: `{"max_events":1,"source":"metrics","metadata":{"k":"v"}}`,
		Header: map[string]string{"X-Request-ID": "receive-log-1"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("filtered receive = %d %s", r.StatusCode, r.Body)
	}
	r = s.Do(t, Req{Method: "POST", Path: "/v1/inbox/receive", Key: keyA, Body: `{"max_events":1,"max_attempts":1}`,
		Header: map[string]string{"X-Request-ID": "receive-log-2"}})
	var second received
	json.Unmarshal(r.Body, &second)
	if r.StatusCode != http.StatusOK || len(second.Events) != 1 || second.Events[0].EventID != secret {
		t.Fatalf("receive with max_attempts 1 = %d %s, want only %s (the two older ones dead)", r.StatusCode, r.Body, secret)
	}
	// A redelivery: nacked, then received again.
	s.post(t, keyA, "/v1/events/"+secret+"/nack", `{"lease_id":"`+second.lease(t, secret)+`"}`)
	if a := s.mustReceive(t, keyA, ``); len(a.Events) != 1 || a.Events[0].Attempts != 2 {
		t.Fatalf("receive after the nack = %+v, want the nacked event with attempts 2", a.Events)
	}
	s.post(t, keyA, "/v1/events/"+ids[0]+"/redrive", ``)
	s.bulkLeases(t, "/v1/events/bulk/redrive", keyA, idsBody(ids[1]), 1)

	var line map[string]any
	json.Unmarshal([]byte(logLine(s, "receive-log-2", "receive")), &line)
	if line["leased"] != 1.0 || line["dead_lettered"] != 2.0 || line["redelivered"] != 0.0 || line["waited_ms"] != 0.0 ||
		line["max_events"] != 1.0 || line["wait_seconds"] != 0.0 || line["filters"] != "none" ||
		!strings.HasPrefix(fmt.Sprint(line["key_id"]), "key_") {
		t.Fatalf("receive log line = %v", line)
	}
	line = nil
	json.Unmarshal([]byte(logLine(s, "receive-log-1", "receive")), &line)
	if line["leased"] != 0.0 || line["filters"] != "source,metadata" {
		t.Fatalf("filtered receive log line = %v, want leased 0, filters source,metadata", line)
	}
	if strings.Contains(s.Logs.String(), "SECRET-4111") {
		t.Fatal("a payload reached the logs")
	}
	m := string(s.Do(t, Req{Method: "GET", Path: "/metrics"}).Body)
	for _, want := range []string{
		"triggers_leases_granted_total 4", // 2, 0, 1, then the nacked one again
		"triggers_leases_redelivered_total 1",
		"triggers_events_nacked_total 1",
		"triggers_events_dead_lettered_total 2",
		"triggers_events_redriven_total 2",
		"triggers_receives_waiting 0",
		`triggers_bulk_items_total{code="OK",op="redrive"} 1`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestReceive_WaitingGauge: the gauge counts the receives waiting now.
func TestReceive_WaitingGauge(t *testing.T) {
	s := MustStart(t, nil)
	a := s.receiveAsync(t, keyA, `{"wait_seconds":10}`)
	waitForWaiting(t, s, 1)
	if m := string(s.Do(t, Req{Method: "GET", Path: "/metrics"}).Body); !strings.Contains(m, "triggers_receives_waiting 1\n") {
		t.Errorf("metrics while a receive waits lack triggers_receives_waiting 1")
	}
	s.MustCreate(t, keyA, itemJSON(0))
	a.wait(t, 5*time.Second)
}

// TestBulk_RepeatWithAnotherLeaseIsApplied checks that bulk items are applied
// as if in order when an event comes twice with different leases: a failed
// item changes nothing, so the next one, naming another lease (or none), is
// applied on its own.
func TestBulk_RepeatWithAnotherLeaseIsApplied(t *testing.T) {
	s, clock := startClocked(t)
	ids := s.mustCreateN(t, clock, keyA, "shop", 2)
	a := s.mustReceive(t, keyA, `{"max_events":2}`)
	l1 := a.lease(t, ids[1])

	// Ack with a lost lease (fails, changes nothing), then unconditionally.
	s.post(t, keyA, "/v1/events/bulk/ack", `{"items":[{"event_id":"`+ids[0]+`","lease_id":"`+otherLease+`"},{"event_id":"`+ids[0]+`"}]}`)
	if ev := s.mustEvent(t, keyA, ids[0]); ev["status"] != "acknowledged" {
		t.Errorf("the unconditional ack after a failed one was not applied: event %v", ev["status"])
	}
	// Nack with a wrong lease, then with the right one.
	s.post(t, keyA, "/v1/events/bulk/nack", `{"items":[{"event_id":"`+ids[1]+`","lease_id":"`+otherLease+`"},{"event_id":"`+ids[1]+`","lease_id":"`+l1+`"}]}`)
	if got := s.mustReceive(t, keyA, `{}`); len(got.Events) != 1 {
		t.Errorf("the nack under the right lease after a failed one was not applied: a receive got %v", got.ids())
	}
}
