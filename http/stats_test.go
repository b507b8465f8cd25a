package http_test

// Tests of GET /v1/stats (DESIGN §12) against a real listening server on the
// store under test (TRIGGERS_TEST_STORE): known events created,
// acknowledged, leased, dead-lettered and deleted, then the numbers, with
// each filter, per tenant; the refusals. Every response is checked against
// the OpenAPI document by Do. The clock is fake and moved by hand, so that
// the events fall in known minutes.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/teststore"
)

// statsAnswer is a decoded GET /v1/stats answer.
type statsAnswer struct {
	Pending                 int64   `json:"pending"`
	Leased                  int64   `json:"leased"`
	Dead                    int64   `json:"dead"`
	OldestPendingCreatedAt  *string `json:"oldest_pending_created_at"`
	OldestPendingAgeSeconds int64   `json:"oldest_pending_age_seconds"`
	PerMinute               []struct {
		Minute       string `json:"minute"`
		Created      int64  `json:"created"`
		Acknowledged int64  `json:"acknowledged"`
	} `json:"per_minute"`
	BySource []struct {
		Source  string `json:"source"`
		Pending int64  `json:"pending"`
	} `json:"by_source"`
	Approximate bool   `json:"approximate"`
	RequestID   string `json:"request_id"`
}

// counts is the part of a statsAnswer that tests compare in one go, with
// the per-minute counts summed over the window, as text.
func (a statsAnswer) counts() string {
	oldest := "null"
	if a.OldestPendingCreatedAt != nil {
		oldest = *a.OldestPendingCreatedAt
	}
	var created, acked int64
	for _, m := range a.PerMinute {
		created += m.Created
		acked += m.Acknowledged
	}
	var sources []string
	for _, s := range a.BySource {
		sources = append(sources, fmt.Sprintf("%s:%d", s.Source, s.Pending))
	}
	return fmt.Sprintf("pending=%d leased=%d dead=%d oldest=%s created=%d acked=%d by_source=[%s]",
		a.Pending, a.Leased, a.Dead, oldest, created, acked, strings.Join(sources, " "))
}

// wantApproximate is what "approximate" must be on the store under test:
// exact on the embedded store, counters on DynamoDB.
func wantApproximate() bool { return os.Getenv("TRIGGERS_TEST_STORE") == "dynamodb" }

// mustStats asks for key's statistics with query ("" for none), which
// must be answered 200, and checks what every answer keeps: the 60 minutes
// of the window ending in now's minute, oldest first, "by_source" an array,
// "approximate" as the store gives it and the age of the oldest event.
func (s *TestServer) mustStats(tb testing.TB, key, query string, now time.Time) statsAnswer {
	tb.Helper()
	path := "/v1/stats"
	if query != "" {
		path += "?" + query
	}
	r := s.Do(tb, Req{Method: "GET", Path: path, Key: key})
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s = %d %s, want 200", path, r.StatusCode, r.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil || string(raw["by_source"]) == "null" || raw["approximate"] == nil {
		tb.Fatalf("GET %s: by_source null or approximate missing: %s", path, r.Body)
	}
	var a statsAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		tb.Fatalf("GET %s: %v\n%s", path, err, r.Body)
	}
	if len(a.PerMinute) != triggers.StatsMinutes {
		tb.Fatalf("GET %s: %d minutes, want %d", path, len(a.PerMinute), triggers.StatsMinutes)
	}
	first := now.Truncate(time.Minute).Add(-(triggers.StatsMinutes - 1) * time.Minute)
	for i, m := range a.PerMinute {
		if want := triggers.FormatTimestamp(first.Add(time.Duration(i) * time.Minute)); m.Minute != want {
			tb.Fatalf("GET %s: minute %d is %s, want %s", path, i, m.Minute, want)
		}
	}
	if a.Approximate != wantApproximate() {
		tb.Fatalf("GET %s: approximate %t on TRIGGERS_TEST_STORE=%q", path, a.Approximate, os.Getenv("TRIGGERS_TEST_STORE"))
	}
	wantAge := int64(0)
	if a.OldestPendingCreatedAt != nil {
		oldest, err := time.Parse(time.RFC3339Nano, *a.OldestPendingCreatedAt)
		if err != nil {
			tb.Fatalf("GET %s: oldest_pending_created_at: %v", path, err)
		}
		wantAge = int64(now.Sub(oldest) / time.Second)
	}
	if a.OldestPendingAgeSeconds != wantAge {
		tb.Fatalf("GET %s: oldest_pending_age_seconds %d, want %d", path, a.OldestPendingAgeSeconds, wantAge)
	}
	return a
}

// lastMinutes returns the created and acknowledged counts of the last two
// minutes of a, the current one last.
func (a statsAnswer) lastMinutes() string {
	n := len(a.PerMinute)
	return fmt.Sprintf("%d/%d %d/%d", a.PerMinute[n-2].Created, a.PerMinute[n-2].Acknowledged,
		a.PerMinute[n-1].Created, a.PerMinute[n-1].Acknowledged)
}

// TestStats_CountsFiltersAndTenants builds every state in two tenants
// through the API and reads the numbers back, without filters, with each
// filter and with both; tenant B's numbers never show in tenant A's, nor
// A's in B's, by_source included.
func TestStats_CountsFiltersAndTenants(t *testing.T) {
	t0 := time.Now().UTC().Truncate(time.Minute).Add(10 * time.Second)
	clock := teststore.NewClock(t0)
	s := MustStart(t, &triggers.Options{Now: clock.Now})
	create := func(key, source, eventType string, n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = s.MustCreate(t, key, fmt.Sprintf(`{"source":%q,"event_type":%q,"payload":{"n":%d}}`, source, eventType, i))
			clock.Advance(time.Millisecond)
		}
		return ids
	}
	createdAt := func(key, id string) string { return s.mustEvent(t, key, id)["created_at"].(string) }
	ack := func(key, id string) {
		if r := s.post(t, key, "/v1/events/"+id+"/ack", ""); r.StatusCode != http.StatusOK {
			t.Fatalf("ack %s = %d %s", id, r.StatusCode, r.Body)
		}
	}

	billing := create(keyA, "billing", "invoice.paid", 3)
	shop := create(keyA, "shop", "order.created", 2)
	create(keyA, "poison", "job", 1)
	other := create(keyB, "b-secret", "b.only", 2)
	otherBilling := create(keyB, "billing", "invoice.paid", 1)
	ack(keyA, billing[0])
	ack(keyB, otherBilling[0])
	if got := s.mustReceive(t, keyA, `{"source":"shop","max_events":1,"lease_seconds":30}`).ids(); len(got) != 1 || got[0] != shop[0] {
		t.Fatalf("receive shop = %v, want %s", got, shop[0])
	}
	s.mustReceive(t, keyA, `{"source":"poison","lease_seconds":5}`)
	clock.Advance(6 * time.Second)
	if got := s.mustReceive(t, keyA, `{"source":"poison","max_attempts":1}`).ids(); len(got) != 0 {
		t.Fatalf("receive poison with max_attempts 1 = %v, want nothing (dead-lettered)", got)
	}
	b1, s0 := createdAt(keyA, billing[1]), createdAt(keyA, shop[0])

	for _, c := range []struct {
		name, key, query, want string
	}{
		{"A", keyA, "", "pending=4 leased=1 dead=1 oldest=" + b1 + " created=6 acked=1 by_source=[billing:2 shop:2]"},
		{"A source", keyA, "source=billing", "pending=2 leased=0 dead=0 oldest=" + b1 + " created=3 acked=1 by_source=[billing:2]"},
		{"A source trimmed", keyA, "source=%20billing%09", "pending=2 leased=0 dead=0 oldest=" + b1 + " created=3 acked=1 by_source=[billing:2]"},
		{"A event_type", keyA, "event_type=order.created", "pending=2 leased=1 dead=0 oldest=" + s0 + " created=2 acked=0 by_source=[shop:2]"},
		{"A both", keyA, "source=shop&event_type=order.created", "pending=2 leased=1 dead=0 oldest=" + s0 + " created=2 acked=0 by_source=[shop:2]"},
		{"A dead only", keyA, "source=poison", "pending=0 leased=0 dead=1 oldest=null created=1 acked=0 by_source=[]"},
		{"A no such pair", keyA, "source=shop&event_type=invoice.paid", "pending=0 leased=0 dead=0 oldest=null created=0 acked=0 by_source=[]"},
		{"A asks for B's source", keyA, "source=b-secret", "pending=0 leased=0 dead=0 oldest=null created=0 acked=0 by_source=[]"},
		{"A asks for B's type", keyA, "event_type=b.only", "pending=0 leased=0 dead=0 oldest=null created=0 acked=0 by_source=[]"},
		{"B", keyB, "", "pending=2 leased=0 dead=0 oldest=" + createdAt(keyB, other[0]) + " created=3 acked=1 by_source=[b-secret:2]"},
		{"B source shared with A", keyB, "source=billing", "pending=0 leased=0 dead=0 oldest=null created=1 acked=1 by_source=[]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := s.mustStats(t, c.key, c.query, clock.Now())
			if got := a.counts(); got != c.want {
				t.Fatalf("stats?%s =\n%s\nwant\n%s", c.query, got, c.want)
			}
			// Everything happened in the current minute.
			if got, want := a.lastMinutes(), "0/0 "+strings.Split(strings.Split(c.want, "created=")[1], " ")[0]+"/"+
				strings.Split(strings.Split(c.want, "acked=")[1], " ")[0]; got != want {
				t.Fatalf("stats?%s: last two minutes (created/acknowledged) %s, want %s", c.query, got, want)
			}
		})
	}

	// The shop lease expires: still pending, no longer leased.
	clock.Advance(25 * time.Second)
	if got, want := s.mustStats(t, keyA, "", clock.Now()).counts(),
		"pending=4 leased=0 dead=1 oldest="+b1+" created=6 acked=1 by_source=[billing:2 shop:2]"; got != want {
		t.Fatalf("after the lease expired:\n%s\nwant\n%s", got, want)
	}

	// In the next minute: one more ack and a delete. The history of the
	// minute before stays; the deleted event leaves the counts.
	clock.Set(t0.Truncate(time.Minute).Add(time.Minute + 5*time.Second))
	ack(keyA, billing[1])
	if r := s.Do(t, Req{Method: "DELETE", Path: "/v1/events/" + shop[1], Key: keyA}); r.StatusCode != http.StatusOK {
		t.Fatalf("delete = %d %s", r.StatusCode, r.Body)
	}
	a := s.mustStats(t, keyA, "", clock.Now())
	if got, want := a.counts(), "pending=2 leased=0 dead=1 oldest="+createdAt(keyA, billing[2])+" created=6 acked=2 by_source=[billing:1 shop:1]"; got != want {
		t.Fatalf("in the next minute:\n%s\nwant\n%s", got, want)
	}
	if got := a.lastMinutes(); got != "6/1 0/1" {
		t.Fatalf("last two minutes (created/acknowledged) = %s, want 6/1 0/1", got)
	}
	if b := s.mustStats(t, keyB, "", clock.Now()); b.counts() != "pending=2 leased=0 dead=0 oldest="+createdAt(keyB, other[0])+" created=3 acked=1 by_source=[b-secret:2]" {
		t.Fatalf("tenant B after A's changes: %s", b.counts())
	}
}

// TestStats_Empty: a tenant without events gets zeros, a null oldest
// event, 60 empty minutes and an empty by_source.
func TestStats_Empty(t *testing.T) {
	clock := teststore.NewClock(time.Now().UTC())
	s := MustStart(t, &triggers.Options{Now: clock.Now})
	s.MustCreate(t, keyB, `{"source":"b-secret","event_type":"t","payload":{"n":1}}`)
	a := s.mustStats(t, keyA, "", clock.Now())
	if got, want := a.counts(), "pending=0 leased=0 dead=0 oldest=null created=0 acked=0 by_source=[]"; got != want {
		t.Fatalf("empty tenant: %s, want %s", got, want)
	}
}

// TestStats_TopSources: by_source holds the 20 sources with the most
// pending events, most first, ties by name.
func TestStats_TopSources(t *testing.T) {
	clock := teststore.NewClock(time.Now().UTC())
	s := MustStart(t, &triggers.Options{Now: clock.Now})
	var items, want []string
	for i := range 22 {
		for range 1 + i%3 {
			items = append(items, fmt.Sprintf(`{"source":"src-%02d","event_type":"t","payload":{"n":1}}`, i))
		}
	}
	for rest := items; len(rest) > 0; {
		batch := rest[:min(25, len(rest))]
		rest = rest[len(batch):]
		if r := s.post(t, keyA, "/v1/events/bulk", itemsBody(batch...)); r.StatusCode != http.StatusOK ||
			len(r.JSON(t)["failed"].([]any)) != 0 {
			t.Fatalf("bulk create = %d %s", r.StatusCode, r.Body)
		}
	}
	for _, n := range []int{3, 2, 1} {
		for i := range 22 {
			if 1+i%3 == n && len(want) < triggers.StatsTopSources {
				want = append(want, fmt.Sprintf("src-%02d:%d", i, n))
			}
		}
	}
	a := s.mustStats(t, keyA, "", clock.Now())
	if got := a.counts(); !strings.HasSuffix(got, "by_source=["+strings.Join(want, " ")+"]") || a.Pending != int64(len(items)) {
		t.Fatalf("stats = %s\nwant %d pending and by_source %v", got, len(items), want)
	}
}

// TestStats_InvalidParameters: a bad query is a 400 naming each bad
// parameter, whatever the store.
func TestStats_InvalidParameters(t *testing.T) {
	s := MustStart(t, nil)
	long := strings.Repeat("a", triggers.MaxSourceLen+1)
	for _, c := range []struct {
		name, query string
		fields      []string
	}{
		{"unknown parameter", "limit=5", []string{"limit"}},
		{"inbox filter", "priority=high", []string{"priority"}},
		{"several unknown", "cursor=x&status=dead&source=ok", []string{"cursor", "status"}},
		{"unknown parameter, invalid UTF-8", "%ff=1", []string{"\ufffd"}},
		{"empty source", "source=", []string{"source"}},
		{"blank source", "source=%20%20", []string{"source"}},
		{"NUL in source", "source=a%00b", []string{"source"}},
		{"escape in source", "source=%1b%5B31mred", []string{"source"}},
		{"newline in source", "source=a%0Ab", []string{"source"}},
		{"bidi override in source", "source=shop%E2%80%AEgpj", []string{"source"}},
		{"source too long", "source=" + long, []string{"source"}},
		{"source invalid UTF-8", "source=%ff%fe", []string{"source"}},
		{"source twice", "source=a&source=b", []string{"source"}},
		{"empty event_type", "event_type=", []string{"event_type"}},
		{"event_type too long", "event_type=" + long, []string{"event_type"}},
		{"zero-width space in event_type", "event_type=order%E2%80%8B.created", []string{"event_type"}},
		{"both bad", "source=&event_type=a%00", []string{"source", "event_type"}},
		{"malformed query", "source=%zz", []string{"query"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, Req{Method: "GET", Path: "/v1/stats?" + c.query, Key: keyA})
			for _, f := range c.fields {
				mustInvalid(t, r, f)
			}
		})
	}
}

// TestStats_RefusedBeforeTheHandler: without a usable key 401, another
// method 405, over the key's budget 429, each in the error envelope.
func TestStats_RefusedBeforeTheHandler(t *testing.T) {
	s, _ := startLimited(t, nil)
	mustEnvelope(t, s.Do(t, Req{Method: "GET", Path: "/v1/stats"}), http.StatusUnauthorized, "UNAUTHORIZED")
	mustEnvelope(t, s.Do(t, Req{Method: "GET", Path: "/v1/stats", Key: "no-such-key-0000000000"}), http.StatusUnauthorized, "UNAUTHORIZED")
	r := s.Do(t, Req{Method: "POST", Path: "/v1/stats", Key: keyA, Body: `{}`})
	mustEnvelope(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("405 Allow = %q, want GET in it", allow)
	}
	key := s.mustLimitedKey(t, 1, "")
	s.Do(t, Req{Method: "GET", Path: "/v1/stats?limit=1", Key: key}) // spends the budget, a 400 too
	r = s.Do(t, Req{Method: "GET", Path: "/v1/stats", Key: key})
	mustEnvelope(t, r, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("X-RateLimit-Limit") != "1" {
		t.Errorf("429 headers = %v, want Retry-After and X-RateLimit-Limit 1", r.Header)
	}
}

// statsStore is a store whose Stats answers what it is given and records
// the query, so that the wire form and what Service asks can be checked
// whatever the store under test.
type statsStore struct {
	triggers.Store
	stats triggers.Stats
	err   error
	got   chan triggers.StatsQuery
}

func (s *statsStore) Stats(_ context.Context, q triggers.StatsQuery) (triggers.Stats, error) {
	s.got <- q
	return s.stats, s.err
}

// TestStats_WireForm: the answer is the store's numbers with every minute
// filled in and the oldest event's age, in the wire form of DESIGN §12
// (timestamps as created_at's); the store is asked for the key's tenant
// and the filters, over the 60 minutes ending now. A failing store is a
// 503 or a 500 in the envelope, logged.
func TestStats_WireForm(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 30, 15, 250000000, time.UTC)
	st := &statsStore{got: make(chan triggers.StatsQuery, 1), stats: triggers.Stats{
		Pending: 7, Leased: 2, Dead: 1, OldestPending: now.Add(-90*time.Second - 500*time.Microsecond),
		PerMinute: []triggers.MinuteStats{
			{Minute: now.Truncate(time.Minute), Created: 4, Acknowledged: 3},
			{Minute: now.Truncate(time.Minute).Add(-59 * time.Minute), Created: 1},
		},
		BySource:    []triggers.SourceCount{{Source: "shop", Pending: 5}, {Source: "crm <&>", Pending: 2}},
		Approximate: true,
	}}
	s := mustStart(t, &triggers.Options{Now: func() time.Time { return now }}, nil, func(store triggers.Store) triggers.Store {
		st.Store = store
		return st
	}, nil)

	r := s.Do(t, Req{Method: "GET", Path: "/v1/stats?source=shop&event_type=%20order.created", Key: keyA,
		Header: map[string]string{"X-Request-ID": "stats-wire-1"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("stats = %d %s", r.StatusCode, r.Body)
	}
	q := <-st.got
	if q.Tenant != "tenant-a" || q.Source != "shop" || q.EventType != "order.created" || !q.Now.Equal(now) ||
		!q.Since.Equal(time.Date(2026, 11, 25, 11, 31, 0, 0, time.UTC)) || q.TopSources != triggers.StatsTopSources ||
		!q.NotBefore.Equal(now.Add(-triggers.DefaultRetention)) {
		t.Fatalf("store asked %+v", q)
	}
	var minutes []string
	for i := range triggers.StatsMinutes {
		c, a := 0, 0
		switch i {
		case 0:
			c = 1
		case 59:
			c, a = 4, 3
		}
		minutes = append(minutes, fmt.Sprintf(`{"minute":"2026-11-25T%02d:%02d:00.000000Z","created":%d,"acknowledged":%d}`,
			11+(31+i)/60, (31+i)%60, c, a))
	}
	want := `{"pending":7,"leased":2,"dead":1,"oldest_pending_created_at":"2026-11-25T12:28:45.249500Z",` +
		`"oldest_pending_age_seconds":90,"per_minute":[` + strings.Join(minutes, ",") + `],` +
		`"by_source":[{"source":"shop","pending":5},{"source":"crm \u003c\u0026\u003e","pending":2}],` +
		`"approximate":true,"request_id":"stats-wire-1"}` + "\n"
	if string(r.Body) != want {
		t.Fatalf("body =\n%s\nwant\n%s", r.Body, want)
	}
	var line map[string]any
	json.Unmarshal([]byte(logLine(s, "stats-wire-1", "request")), &line)
	if line["route"] != "GET /v1/stats" || line["status"] != 200.0 || line["filters"] != "source,event_type" ||
		!strings.HasPrefix(fmt.Sprint(line["key_id"]), "key_") {
		t.Fatalf("log line = %v", line)
	}

	// Nothing pending: null, not a zero time; [] not null.
	st.stats = triggers.Stats{}
	r = s.Do(t, Req{Method: "GET", Path: "/v1/stats", Key: keyA})
	<-st.got
	if !strings.Contains(string(r.Body), `"oldest_pending_created_at":null,"oldest_pending_age_seconds":0,`) ||
		!strings.Contains(string(r.Body), `"by_source":[],"approximate":false,`) {
		t.Fatalf("empty stats = %s", r.Body)
	}

	// A store that cannot answer is a 503 with Retry-After.
	st.err = triggers.Unavailable(fmt.Errorf("throttled"))
	r = s.Do(t, Req{Method: "GET", Path: "/v1/stats", Key: keyA})
	<-st.got
	mustEnvelope(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}

	m := string(s.Do(t, Req{Method: "GET", Path: "/metrics"}).Body)
	for _, want := range []string{
		`triggers_http_requests_total{route="GET /v1/stats",status="200"} 2`,
		`triggers_http_requests_total{route="GET /v1/stats",status="503"} 1`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}
