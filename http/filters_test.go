package http_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// filterEvent is what TestInbox_Filters created, to compute the expected
// answer of each query.
type filterEvent struct {
	id, source, eventType, priority, user, region string
	amount                                        int
	vip                                           bool
	created                                       time.Time
}

// inboxIDs pages through GET /v1/inbox?query with the given limit and
// returns the event ids in order, checking that every page but the last is
// full (filters apply before the limit) and that next_cursor is absent only
// on the last page.
func inboxIDs(t *testing.T, s *TestServer, key, query string, limit int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for range 200 {
		q := query + fmt.Sprintf("&limit=%d", limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?" + strings.TrimPrefix(q, "&"), Key: key})
		if r.StatusCode != 200 {
			t.Fatalf("GET /v1/inbox?%s = %d %s", q, r.StatusCode, r.Body)
		}
		m := r.JSON(t)
		events := m["events"].([]any)
		for _, e := range events {
			out = append(out, e.(map[string]any)["event_id"].(string))
		}
		next, _ := m["pagination"].(map[string]any)["next_cursor"].(string)
		if next == "" {
			return out
		}
		if len(events) != limit {
			t.Fatalf("GET /v1/inbox?%s: a page of %d events with a next_cursor, want a full page of %d", q, len(events), limit)
		}
		cursor = next
	}
	t.Fatal("paging does not end")
	return nil
}

func TestInbox_Filters(t *testing.T) {
	s := MustStart(t, nil)
	var evs []filterEvent
	for i := range 36 {
		e := filterEvent{
			source:    []string{"billing", "shop", "billing"}[i%3],
			eventType: []string{"invoice.paid", "order.created"}[i%2],
			priority:  []string{"normal", "high", "normal", "low"}[i%4],
			user:      fmt.Sprintf("u%d", i%5),
			region:    []string{"eu", "us"}[(i/2)%2],
			amount:    i % 3,
			vip:       i%7 == 0,
		}
		r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: fmt.Sprintf(
			`{"source":%q,"event_type":%q,"payload":{"i":%d},"metadata":{"priority":%q,"user_id":%q,"region":%q,"amount":%d,"vip":%v,"a.b":"dotted"}}`,
			e.source, e.eventType, i, e.priority, e.user, e.region, e.amount, e.vip)})
		if r.StatusCode != 201 {
			t.Fatalf("create: %d %s", r.StatusCode, r.Body)
		}
		m := r.JSON(t)
		e.id = m["event_id"].(string)
		e.created, _ = time.Parse(time.RFC3339Nano, m["created_at"].(string))
		evs = append(evs, e)
	}
	// The other tenant has events matching every filter: none may show.
	s.MustCreate(t, keyB, `{"source":"billing","event_type":"invoice.paid","payload":{"x":1},"metadata":{"priority":"high","user_id":"u1","region":"eu"}}`)
	// An acknowledged and a deleted event: gone from every filter.
	for i, path := range []string{"/v1/events/" + evs[1].id + "/ack", "/v1/events/" + evs[6].id} {
		method := []string{"POST", "DELETE"}[i]
		if r := s.Do(t, Req{Method: method, Path: path, Key: keyA}); r.StatusCode != 200 && r.StatusCode != 204 {
			t.Fatalf("%s %s = %d %s", method, path, r.StatusCode, r.Body)
		}
	}
	gone := map[string]bool{evs[1].id: true, evs[6].id: true}
	want := func(match func(e filterEvent) bool) []string {
		var ids []string
		for _, e := range evs {
			if !gone[e.id] && match(e) {
				ids = append(ids, e.id)
			}
		}
		return ids
	}
	utc := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999Z") }
	noOffset := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999") }
	withOffset := func(t time.Time) string {
		return url.QueryEscape(t.In(time.FixedZone("", 2*3600+30*60)).Format("2006-01-02T15:04:05.999999-07:00"))
	}
	lo, hi := evs[9].created, evs[27].created
	inWindow := func(e filterEvent) bool { return e.created.After(lo) && e.created.Before(hi) }

	cases := []struct {
		name  string
		query string
		match func(e filterEvent) bool
	}{
		{"None", "", func(e filterEvent) bool { return true }},
		{"Source", "source=shop", func(e filterEvent) bool { return e.source == "shop" }},
		{"EventType", "event_type=order.created", func(e filterEvent) bool { return e.eventType == "order.created" }},
		{"PriorityHigh", "priority=high", func(e filterEvent) bool { return e.priority == "high" }},
		{"PriorityNormal", "priority=normal", func(e filterEvent) bool { return e.priority == "normal" }},
		{"PriorityLow", "priority=low", func(e filterEvent) bool { return e.priority == "low" }},
		{"WindowUTC", "created_after=" + utc(lo) + "&created_before=" + utc(hi), inWindow},
		{"WindowNoOffsetIsUTC", "created_after=" + noOffset(lo) + "&created_before=" + noOffset(hi), inWindow},
		{"WindowWithOffset", "created_after=" + withOffset(lo) + "&created_before=" + withOffset(hi), inWindow},
		{"AfterOnly", "created_after=" + utc(hi), func(e filterEvent) bool { return e.created.After(hi) }},
		{"BeforeOnly", "created_before=" + utc(lo), func(e filterEvent) bool { return e.created.Before(lo) }},
		{"MetadataString", "metadata.user_id=u3", func(e filterEvent) bool { return e.user == "u3" }},
		{"MetadataNumber", "metadata.amount=2", func(e filterEvent) bool { return e.amount == 2 }},
		{"MetadataBoolean", "metadata.vip=true", func(e filterEvent) bool { return e.vip }},
		{"MetadataDottedKey", "metadata.a.b=dotted", func(e filterEvent) bool { return true }},
		{"MetadataTwoKeys", "metadata.user_id=u2&metadata.region=us", func(e filterEvent) bool { return e.user == "u2" && e.region == "us" }},
		{"MetadataKeyValuePair", "metadata_key=user_id&metadata_value=u3", func(e filterEvent) bool { return e.user == "u3" }},
		{"MetadataPriorityIsPriority", "metadata.priority=low", func(e filterEvent) bool { return e.priority == "low" }},
		{"Combined", "source=billing&priority=normal&metadata.region=eu&created_after=" + utc(lo),
			func(e filterEvent) bool {
				return e.source == "billing" && e.priority == "normal" && e.region == "eu" && e.created.After(lo)
			}},
		{"CombinedAll", "source=billing&event_type=invoice.paid&priority=normal&metadata.user_id=u0&created_after=" + utc(evs[0].created.Add(-time.Second)) + "&created_before=" + utc(hi),
			func(e filterEvent) bool {
				return e.source == "billing" && e.eventType == "invoice.paid" && e.priority == "normal" && e.user == "u0" && e.created.Before(hi)
			}},
		{"EmptySource", "source=nobody", func(e filterEvent) bool { return false }},
		{"EmptyMetadata", "metadata.user_id=nobody", func(e filterEvent) bool { return false }},
		{"EmptyMetadataCase", "metadata.user_id=U3", func(e filterEvent) bool { return false }},
		{"EmptyWindow", "created_after=2001-01-01T00:00:00Z&created_before=2001-01-02", func(e filterEvent) bool { return false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := want(c.match)
			for _, limit := range []int{2, 100} {
				if got := inboxIDs(t, s, keyA, c.query, limit); !slices.Equal(got, w) {
					t.Fatalf("GET /v1/inbox?%s (limit %d) = %d events %v, want %d %v", c.query, limit, len(got), got, len(w), w)
				}
			}
		})
	}
}

func TestInbox_FilterErrors(t *testing.T) {
	s := MustStart(t, nil)
	s.MustCreate(t, keyA, `{"source":"s","event_type":"t","payload":{"x":1},"metadata":{"user_id":"u1"}}`)
	s.MustCreate(t, keyA, `{"source":"s","event_type":"t","payload":{"x":1},"metadata":{"user_id":"u1"}}`)
	r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?limit=1&metadata.user_id=u1", Key: keyA})
	cursor, _ := r.JSON(t)["pagination"].(map[string]any)["next_cursor"].(string)
	if cursor == "" {
		t.Fatalf("no next_cursor: %s", r.Body)
	}
	tests := []struct{ name, query, field string }{
		{"BadPriority", "priority=urgent", "priority"},
		{"BadTimestamp", "created_after=yesterday", "created_after"},
		{"BadTimestampBefore", "created_before=2026-02-30T00:00:00Z", "created_before"},
		{"AfterNotBeforeBefore", "created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z", "created_after"},
		{"AfterEqualsBefore", "created_after=2026-01-01T00:00:00Z&created_before=2026-01-01T01:00:00%2B01:00", "created_after"},
		{"MetadataBadKey", "metadata.user%20id=u1", "metadata.user id"},
		{"MetadataEmptyKey", "metadata.=u1", "metadata."},
		{"MetadataKeyTooLong", "metadata." + strings.Repeat("k", 65) + "=1", "metadata." + strings.Repeat("k", 65)},
		{"MetadataValueTooLong", "metadata.k=" + strings.Repeat("v", 257), "metadata.k"},
		{"MetadataRepeated", "metadata.k=1&metadata.k=2", "metadata.k"},
		{"MetadataKeyWithoutValue", "metadata_key=user_id", "metadata_value"},
		{"MetadataValueWithoutKey", "metadata_value=u1", "metadata_key"},
		{"MetadataBracketForm", "metadata[user_id]=u1", "metadata[user_id]"},
		{"MetadataPriorityInvalid", "metadata.priority=urgent", "metadata.priority"},
		{"Unknown", "sort=desc", "sort"},
		{"LimitOutOfRange", "limit=500", "limit"},
		{"CursorOtherMetadata", "metadata.user_id=u2&cursor=" + cursor, "cursor"},
		{"CursorWithoutFilters", "cursor=" + cursor, "cursor"},
		{"CursorExtraFilter", "metadata.user_id=u1&priority=high&cursor=" + cursor, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?" + tt.query, Key: keyA})
			if r.StatusCode != 400 || r.ErrorCode(t) != "VALIDATION_ERROR" || !strings.Contains(string(r.Body), `"field":`+fmt.Sprintf("%q", tt.field)) {
				t.Fatalf("GET /v1/inbox?%s = %d %s, want 400 VALIDATION_ERROR naming %q", tt.query, r.StatusCode, r.Body, tt.field)
			}
		})
	}
	t.Run("CursorSameFiltersOtherOrder", func(t *testing.T) {
		r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?metadata_key=user_id&metadata_value=u1&limit=1&cursor=" + cursor, Key: keyA})
		if r.StatusCode != 200 || len(r.JSON(t)["events"].([]any)) != 1 {
			t.Fatalf("cursor with the same filter in its other form = %d %s, want 200 and the second event", r.StatusCode, r.Body)
		}
	})
}

// TestInbox_FilteredPagingWhileWriting pages through a filtered inbox over
// HTTP while other clients create matching and non-matching events and
// acknowledge matching ones: no event is returned twice, and every matching
// event pending throughout is returned exactly once.
func TestInbox_FilteredPagingWhileWriting(t *testing.T) {
	s := MustStart(t, nil)
	create := func(i int, group string) string {
		return s.MustCreate(t, keyA, fmt.Sprintf(`{"source":"s","event_type":"t","payload":{"i":%d},"metadata":{"group":%q,"priority":"high"}}`, i, group))
	}
	var initial []string
	for i := range 60 {
		group := "other"
		if i%3 != 0 {
			group = "g"
		}
		id := create(i, group)
		if group == "g" {
			initial = append(initial, id)
		}
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // creator: matching and non-matching events
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			create(1000+i, []string{"g", "other"}[i%2])
		}
	})
	wg.Go(func() { // acknowledger: every fourth initial match
		for i := 0; i < len(initial); i += 4 {
			r := s.Do(t, Req{Method: "POST", Path: "/v1/events/" + initial[i] + "/ack", Key: keyA})
			if r.StatusCode != 200 {
				t.Errorf("ack = %d %s", r.StatusCode, r.Body)
				return
			}
			mu.Lock()
			acked[initial[i]] = true
			mu.Unlock()
		}
	})
	seen := map[string]int{}
	cursor := ""
	for pages := 0; pages < 100; pages++ {
		q := "/v1/inbox?metadata.group=g&priority=high&limit=4"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := s.Do(t, Req{Method: "GET", Path: q, Key: keyA})
		if r.StatusCode != 200 {
			t.Fatalf("GET %s = %d %s", q, r.StatusCode, r.Body)
		}
		m := r.JSON(t)
		for _, e := range m["events"].([]any) {
			ev := e.(map[string]any)
			if ev["metadata"].(map[string]any)["group"] != "g" {
				t.Fatalf("event %v does not match the filter", ev["event_id"])
			}
			seen[ev["event_id"].(string)]++
		}
		next, _ := m["pagination"].(map[string]any)["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	close(stop)
	wg.Wait()
	for id, n := range seen {
		if n > 1 {
			t.Fatalf("event %s returned %d times", id, n)
		}
	}
	for _, id := range initial {
		if !acked[id] && seen[id] != 1 {
			t.Fatalf("event %s, pending and matching throughout, returned %d times, want 1", id, seen[id])
		}
	}
}

func TestInbox_FilterUsageLoggedAndCounted(t *testing.T) {
	s := MustStart(t, nil)
	s.Do(t, Req{Method: "GET", Path: "/v1/inbox?source=secret-source&metadata.user_id=secret-user&priority=high", Key: keyA,
		Header: map[string]string{"X-Request-ID": "filters-log-1"}})
	s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: keyA, Header: map[string]string{"X-Request-ID": "filters-log-2"}})
	var line1, line2 string
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		switch {
		case strings.Contains(l, `"request_id":"filters-log-1"`):
			line1 = l
		case strings.Contains(l, `"request_id":"filters-log-2"`):
			line2 = l
		}
	}
	if !strings.Contains(line1, `"filters":"source,priority,metadata"`) {
		t.Errorf("request log line lacks the filter kinds: %s", line1)
	}
	if !strings.Contains(line2, `"filters":"none"`) {
		t.Errorf("request log line of an unfiltered inbox lacks filters none: %s", line2)
	}
	if strings.Contains(s.Logs.String(), "secret-source") || strings.Contains(s.Logs.String(), "secret-user") {
		t.Error("logs contain a filter value")
	}
	metrics := string(s.Do(t, Req{Method: "GET", Path: "/metrics"}).Body)
	for _, want := range []string{
		`triggers_inbox_filters_total{kind="metadata"} 1`,
		`triggers_inbox_filters_total{kind="priority"} 1`,
		`triggers_inbox_filters_total{kind="source"} 1`,
		`triggers_inbox_filters_total{kind="none"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "secret") {
		t.Error("/metrics contains a filter value")
	}
}
