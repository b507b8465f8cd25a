package http_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	triggers "github.com/triggersapi/triggers"
)

// Issue 14, items 1 (metadata bounds), 3 (duplicates and invalid Unicode),
// 4 (depth) and 6 (control and format characters, UTF-8 in queries), end to
// end: each request is refused with a 400 naming the field, and nothing is
// stored.

// strictBody is a create body with the given payload and metadata (JSON
// texts; metadata "" for none) and source "s", event type "e".
func strictBody(payload, metadata string) string {
	b := `{"source":"s","event_type":"e","payload":` + payload
	if metadata != "" {
		b += `,"metadata":` + metadata
	}
	return b + "}"
}

// deepObject returns {"a":{"a":...{}}} nested depth levels.
func deepObject(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
}

// metadataFields returns a metadata object of n fields.
func metadataFields(n int) string {
	var f []string
	for i := range n {
		f = append(f, fmt.Sprintf(`"k%d":"v%d"`, i, i))
	}
	return "{" + strings.Join(f, ",") + "}"
}

func TestStrict_CreateRefused(t *testing.T) {
	s := MustStart(t, nil)
	for _, c := range []struct {
		name, body, field string
	}{
		{"DuplicateNestedInPayload", strictBody(`{"a":{"b":1,"b":2}}`, ""), "payload.a.b"},
		{"DuplicateInArrayInPayload", strictBody(`{"a":[{"b":1},{"c":1,"c":1}]}`, ""), "payload.a[1].c"},
		{"DuplicateNestedInMetadata", strictBody(`{"a":1}`, `{"x":{"y":1,"y":2}}`), "metadata.x.y"},
		{"DuplicateEscapedName", strictBody(`{"a":{"b":1,"\u0062":2}}`, ""), "payload.a.b"},
		{"LoneHighSurrogate", strictBody(`{"s":"\ud800"}`, ""), "payload.s"},
		{"LoneLowSurrogate", strictBody(`{"s":"\udfff"}`, ""), "payload.s"},
		{"SurrogatesReversed", strictBody(`{"s":"\udc00\ud800"}`, ""), "payload.s"},
		{"LoneSurrogateInMetadata", strictBody(`{"a":1}`, `{"k":"\ud800"}`), "metadata.k"},
		{"LoneSurrogateInSource", `{"source":"\ud800","event_type":"e","payload":{"a":1}}`, "source"},
		{"PayloadTooDeep", strictBody(deepObject(triggers.MaxJSONDepth+1), ""), "payload" + strings.Repeat(".a", triggers.MaxJSONDepth)},
		{"PayloadFarTooDeep", strictBody(`{"a":`+strings.Repeat("[", 9000)+strings.Repeat("]", 9000)+`}`, ""), "payload.a" + strings.Repeat("[0]", triggers.MaxJSONDepth-1)},
		{"MetadataTooDeep", strictBody(`{"a":1}`, deepObject(triggers.MaxJSONDepth+1)), "metadata" + strings.Repeat(".a", triggers.MaxJSONDepth)},
		{"MetadataTooManyFields", strictBody(`{"a":1}`, metadataFields(triggers.MaxMetadataFields+1)), "metadata"},
		{"MetadataFarTooManyFields", strictBody(`{"a":1}`, metadataFields(16000)), "metadata"},
		{"SourceNUL", `{"source":"a\u0000b","event_type":"e","payload":{"a":1}}`, "source"},
		{"SourceNewline", `{"source":"a\nb","event_type":"e","payload":{"a":1}}`, "source"},
		{"SourceEscape", `{"source":"\u001b[31mred","event_type":"e","payload":{"a":1}}`, "source"},
		{"SourceBidiOverride", `{"source":"shop\u202egpj.exe","event_type":"e","payload":{"a":1}}`, "source"},
		{"EventTypeZeroWidthSpace", "{\"source\":\"s\",\"event_type\":\"order\u200b.created\",\"payload\":{\"a\":1}}", "event_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: c.body, Header: map[string]string{"Idempotency-Key": "strict-" + c.name}})
			if r.StatusCode != http.StatusBadRequest || r.ErrorCode(t) != "VALIDATION_ERROR" {
				t.Fatalf("status %d %.300s, want 400 VALIDATION_ERROR", r.StatusCode, r.Body)
			}
			if !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
				t.Fatalf("details do not name field %q: %.500s", c.field, r.Body)
			}
		})
	}
	if page := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: keyA}); len(page.JSON(t)["events"].([]any)) != 0 {
		t.Fatalf("refused creates stored events: %.500s", page.Body)
	}
}

// TestStrict_CreateAtTheLimits checks that what is at each limit is stored
// and comes back as sent.
func TestStrict_CreateAtTheLimits(t *testing.T) {
	s := MustStart(t, nil)
	for _, c := range []struct{ name, payload, metadata string }{
		{"Depth", deepObject(triggers.MaxJSONDepth), deepObject(triggers.MaxJSONDepth)},
		{"MetadataFields", `{"a":1}`, `{"priority":"high",` + metadataFields(triggers.MaxMetadataFields)[1:]},
		{"SurrogatePairsAndReplacementCharacter", `{"s":"\ud83d\ude00 \ufffd","\ud83d\ude00":1}`, `{"k":"\uDBFF\uDFFF"}`},
		{"EqualNamesInOtherObjects", `{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}`, `{"a":{"a":1}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := s.MustCreate(t, keyA, strictBody(c.payload, c.metadata))
			got := s.Do(t, Req{Method: "GET", Path: "/v1/events/" + id, Key: keyA})
			if !strings.Contains(string(got.Body), `"payload":`+c.payload+`,`) {
				t.Fatalf("GET = %.500s, want the payload %.200s as sent", got.Body, c.payload)
			}
		})
	}
}

// TestStrict_IdempotencyTellsValuesApart is a regression test: the second
// request of each pair replayed the first (201, Idempotent-Replayed), since
// a lone surrogate decoded to U+FFFD and only the last of duplicate members
// counted. It is now refused.
func TestStrict_IdempotencyTellsValuesApart(t *testing.T) {
	s := MustStart(t, nil)
	for _, c := range []struct{ name, first, second string }{
		{"LoneSurrogate", `{"s":"\ufffd"}`, `{"s":"\ud800"}`},
		{"OtherLoneSurrogate", `{"s":"\ufffd"}`, `{"s":"\udfff"}`},
		{"DuplicateMember", `{"a":{"b":2}}`, `{"a":{"b":1,"b":2}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{"Idempotency-Key": "strict-idem-" + c.name}
			first := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: strictBody(c.first, ""), Header: h})
			if first.StatusCode != http.StatusCreated {
				t.Fatalf("first create: status %d %s, want 201", first.StatusCode, first.Body)
			}
			second := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: keyA, Body: strictBody(c.second, ""), Header: h})
			if second.StatusCode != http.StatusBadRequest || second.Header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("second create: status %d (Idempotent-Replayed %q) %s, want 400",
					second.StatusCode, second.Header.Get("Idempotent-Replayed"), second.Body)
			}
		})
	}
}

// TestStrict_BulkItemRefusedAlone checks that in a bulk create the rules
// fail the item that breaks them, alone, naming its field.
func TestStrict_BulkItemRefusedAlone(t *testing.T) {
	s := MustStart(t, nil)
	body := `{"items":[` + strictBody(`{"a":1}`, "") + `,` + strictBody(`{"a":{"b":1,"b":2}}`, "") + `,` +
		strictBody(`{"a":1}`, metadataFields(triggers.MaxMetadataFields+1)) + `]}`
	r := s.Do(t, Req{Method: "POST", Path: "/v1/events/bulk", Key: keyA, Body: body})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s, want 200", r.StatusCode, r.Body)
	}
	m := r.JSON(t)
	if n := len(m["successful"].([]any)); n != 1 {
		t.Fatalf("successful = %d items, want 1: %s", n, r.Body)
	}
	for _, field := range []string{"items[1].payload.a.b", "items[2].metadata"} {
		if !strings.Contains(string(r.Body), `"field":"`+field+`"`) {
			t.Fatalf("failed items do not name %q: %s", field, r.Body)
		}
	}
}

// TestStrict_InboxQueryRefused is a regression test: ?source=%ff%fe was a
// 200 with an empty list, and control and format characters were accepted
// as filters although no event can have them now.
func TestStrict_InboxQueryRefused(t *testing.T) {
	s := MustStart(t, nil)
	for _, c := range []struct{ query, field string }{
		{"source=%ff%fe", "source"},
		{"event_type=order%c3", "event_type"},
		{"limit=%ff", "limit"},
		{"created_after=2025-01-01%ff", "created_after"},
		{"metadata.k=%ff", "metadata.k"},
		{"source=a%00b", "source"},
		{"source=a%0Ab", "source"},
		{"source=a%1B%5B0m", "source"},
		{"event_type=shop%E2%80%AEgpj", "event_type"},
		{"source=%E2%80%8Bshop", "source"},
	} {
		t.Run(c.query, func(t *testing.T) {
			r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox?" + c.query, Key: keyA})
			if r.StatusCode != http.StatusBadRequest || r.ErrorCode(t) != "VALIDATION_ERROR" {
				t.Fatalf("status %d %s, want 400 VALIDATION_ERROR", r.StatusCode, r.Body)
			}
			if !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
				t.Fatalf("details do not name field %q: %s", c.field, r.Body)
			}
		})
	}
}

// TestStrict_ReceiveRefused checks that a receive's filters refuse what the
// inbox's refuse, and its body what a create's payload refuses.
func TestStrict_ReceiveRefused(t *testing.T) {
	s := MustStart(t, nil)
	for _, c := range []struct{ name, body, field string }{
		{"SourceNUL", `{"source":"a\u0000b"}`, "source"},
		{"EventTypeBidiOverride", `{"event_type":"a\u202eb"}`, "event_type"},
		{"LoneSurrogate", `{"metadata":{"k":"\udfff"}}`, "metadata.k"},
		{"DuplicateMetadataKey", `{"metadata":{"k":"a","k":"b"}}`, "metadata.k"},
		{"NotUTF8", "{\"source\":\"a\xffb\"}", "body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, Req{Method: "POST", Path: "/v1/inbox/receive", Key: keyA, Body: c.body})
			if r.StatusCode != http.StatusBadRequest || r.ErrorCode(t) != "VALIDATION_ERROR" {
				t.Fatalf("status %d %s, want 400 VALIDATION_ERROR", r.StatusCode, r.Body)
			}
			if !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
				t.Fatalf("details do not name field %q: %s", c.field, r.Body)
			}
		})
	}
}

// TestStrict_BodyNamesRefused is a regression test: the bulk envelopes
// (decoded with encoding/json) let the last of two members of one name win,
// so {"event_ids":[A],"event_ids":[B]} acknowledged B alone, and matched
// names without regard to case ("ITEMS", "itemſ" with a long s). Every body
// is now refused, naming the body, for a member name given twice, written
// otherwise than the API spells it, or bytes that are not UTF-8; and nothing
// is done.
func TestStrict_BodyNamesRefused(t *testing.T) {
	s := MustStart(t, nil)
	ids := s.bulkCreateIDs(t, keyA, 2)
	a, b := ids[0], ids[1]
	lease := triggers.NewLeaseID()
	items := func(x string) string { return `[{"event_id":"` + x + `","lease_id":"` + lease + `"}]` }
	ev := "/v1/events/" + a
	for _, c := range []struct{ name, method, path, body, field string }{
		{"BulkCreateDuplicateItems", "POST", "/v1/events/bulk", `{"items":[` + itemJSON(0) + `],"items":[` + itemJSON(1) + `]}`, "body"},
		{"BulkCreateDuplicateEscaped", "POST", "/v1/events/bulk", `{"items":[` + itemJSON(0) + `],"\u0069tems":[` + itemJSON(1) + `]}`, "body"},
		{"BulkCreateUpperCase", "POST", "/v1/events/bulk", `{"ITEMS":[` + itemJSON(0) + `]}`, "body"},
		{"BulkCreateCaseFolded", "POST", "/v1/events/bulk", `{"itemſ":[` + itemJSON(0) + `]}`, "body"},
		{"BulkCreateNotUTF8", "POST", "/v1/events/bulk", "{\"items\":[{\"source\":\"\xff\",\"event_type\":\"e\",\"payload\":{\"a\":1}}]}", "body"},
		{"BulkAckDuplicateEventIDs", "POST", "/v1/events/bulk/ack", `{"event_ids":["` + a + `"],"event_ids":["` + b + `"]}`, "body"},
		{"BulkAckDuplicateItems", "POST", "/v1/events/bulk/ack", `{"items":` + items(a) + `,"items":` + items(b) + `}`, "body"},
		{"BulkAckMixedCase", "POST", "/v1/events/bulk/ack", `{"Event_IDs":["` + a + `"]}`, "body"},
		{"BulkAckNotUTF8", "POST", "/v1/events/bulk/ack", "{\"event_ids\":[\"" + a + "\xfe\"]}", "body"},
		{"BulkDeleteDuplicateEventIDs", "DELETE", "/v1/events/bulk", `{"event_ids":["` + a + `"],"event_ids":["` + b + `"]}`, "body"},
		{"BulkDeletePostDuplicateEventIDs", "POST", "/v1/events/bulk/delete", `{"event_ids":["` + a + `"],"event_ids":["` + b + `"]}`, "body"},
		{"BulkDeleteNotUTF8", "POST", "/v1/events/bulk/delete", "{\"event_ids\":[\"\xc3\"]}", "body"},
		{"BulkNackDuplicateItems", "POST", "/v1/events/bulk/nack", `{"items":` + items(a) + `,"items":` + items(b) + `}`, "body"},
		{"BulkNackNotUTF8", "POST", "/v1/events/bulk/nack", "{\"items\":[{\"event_id\":\"\xff\"}]}", "body"},
		{"BulkRedriveDuplicateEventIDs", "POST", "/v1/events/bulk/redrive", `{"event_ids":["` + a + `"],"event_ids":["` + b + `"]}`, "body"},
		{"BulkRedriveUpperCase", "POST", "/v1/events/bulk/redrive", `{"EVENT_IDS":["` + a + `"]}`, "body"},
		{"AckDuplicateLeaseID", "POST", ev + "/ack", `{"lease_id":"` + lease + `","lease_id":"` + lease + `"}`, "body"},
		{"AckNotUTF8", "POST", ev + "/ack", "{\"lease_id\":\"\xff\"}", "body"},
		{"NackDuplicateLeaseID", "POST", ev + "/nack", `{"lease_id":"` + lease + `","lease_id":"` + lease + `"}`, "body"},
		{"NackNotUTF8", "POST", ev + "/nack", "{\"lease_id\":\"" + lease + "\",\"delay_seconds\":1,\"\xff\":1}", "body"},
		{"ExtendDuplicateSeconds", "POST", ev + "/lease", `{"lease_id":"` + lease + `","lease_seconds":5,"lease_seconds":10}`, "body"},
		{"ExtendNotUTF8", "POST", ev + "/lease", "{\"lease_id\":\"\xff\"}", "body"},
		{"RedriveNotUTF8", "POST", ev + "/redrive", "{\"\xff\":1}", "body"},
		{"ReceiveDuplicateMetadata", "POST", "/v1/inbox/receive", `{"metadata":{"k":"a"},"metadata":{"k":"b"}}`, "body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mustInvalid(t, s.Do(t, Req{Method: c.method, Path: c.path, Key: keyA, Body: c.body}), c.field)
		})
	}
	for _, id := range ids {
		if e := s.mustEvent(t, keyA, id); e["status"] != "pending" || e["attempts"] != 0.0 {
			t.Fatalf("event %s after refused requests = %v, want pending, never leased", id, e)
		}
	}
	if n := s.inboxLen(t, keyA); n != len(ids) {
		t.Fatalf("inbox holds %d events after refused requests, want %d", n, len(ids))
	}
}

// doHeaders sends a create with body and the given Idempotency-Key header
// lines (each its own line, an empty one included), checked as Do checks.
func (s *TestServer) doHeaders(tb testing.TB, body string, keys []string) Response {
	tb.Helper()
	req, err := http.NewRequest("POST", s.URL+"/v1/events", strings.NewReader(body))
	if err != nil {
		tb.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("X-API-Key", keyA)
	req.Header.Set("Content-Type", "application/json")
	for _, k := range keys {
		req.Header.Add("Idempotency-Key", k)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatalf("POST /v1/events: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	s.oas.Check(tb, req, []byte(body), resp, b)
	return Response{Response: resp, Body: b}
}

// TestStrict_IdempotencyKeyHeader is a regression test: the Idempotency-Key
// header was taken as sent, invalid UTF-8, tabs, C1 controls and bidi
// overrides included, and a second one was ignored. It now follows
// metadata.idempotency_key's bound (255 characters) and the names' rule (no
// control or format characters), given once, or is a 400 naming the header;
// nothing is stored. An empty header still counts as absent.
func TestStrict_IdempotencyKeyHeader(t *testing.T) {
	s := MustStart(t, nil)
	body := strictBody(`{"a":1}`, "")
	for _, c := range []struct {
		name string
		keys []string
	}{
		{"NotUTF8", []string{"order-\xff"}},
		{"Truncated UTF8", []string{"order-\xc3"}},
		{"Tab", []string{"order\t1"}},
		{"C1Control", []string{"order\u00851"}},
		{"BidiOverride", []string{"order-\u202e1"}},
		{"ZeroWidthSpace", []string{"order\u200b1"}},
		{"LineSeparator", []string{"order\u20281"}},
		{"TooLong", []string{strings.Repeat("k", triggers.MaxIdempotencyKeyLen+1)}},
		{"TooLongNonASCII", []string{strings.Repeat("é", triggers.MaxIdempotencyKeyLen+1)}},
		{"Twice", []string{"order-1", "order-2"}},
		{"TwiceEqual", []string{"order-1", "order-1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mustInvalid(t, s.doHeaders(t, body, c.keys), "Idempotency-Key")
		})
	}
	if n := s.inboxLen(t, keyA); n != 0 {
		t.Fatalf("refused creates stored %d events", n)
	}
	for _, blank := range []string{"", "   "} {
		first, again := s.doHeaders(t, body, []string{blank}), s.doHeaders(t, body, []string{blank})
		if first.StatusCode != http.StatusCreated || again.StatusCode != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "" ||
			first.JSON(t)["event_id"] == again.JSON(t)["event_id"] {
			t.Fatalf("Idempotency-Key %q: %d %s then %d %s, want two events, as without the header", blank, first.StatusCode, first.Body, again.StatusCode, again.Body)
		}
	}
	for _, key := range []string{"order-1001", "order 1001 (created)", strings.Repeat("é", triggers.MaxIdempotencyKeyLen), "注文-1001"} {
		first := s.doHeaders(t, body, []string{key})
		again := s.doHeaders(t, body, []string{key})
		if first.StatusCode != http.StatusCreated || again.StatusCode != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("Idempotency-Key %q: %d then %d (replayed %q), want 201 then a replayed 201: %s",
				key, first.StatusCode, again.StatusCode, again.Header.Get("Idempotent-Replayed"), again.Body)
		}
	}
}
