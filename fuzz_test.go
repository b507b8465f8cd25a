package triggers_test

// Fuzz targets for the parsers of client input, after golang/go's
// src/net/netip/fuzz_test.go: a commented seed corpus (plus every case of the
// table tests), then properties every input must satisfy: no panics,
// results that round-trip through their text form, and agreement with the
// standard library where our grammar and the stdlib's coincide.
//
// Run one with, for example:
//
//	go test -run XXX -fuzz FuzzParseTimestamp -fuzztime 10s .
//
// Crashers the fuzzer finds go under testdata/fuzz/FuzzName/ and then run
// with every go test.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/triggersapi/triggers"
)

// Seed corpora beyond the table cases.
var (
	newEventSeeds = []struct{ body, header string }{
		// Metadata with every known field, and any other value.
		{`{"source":"s","event_type":"e","payload":{"a":1},"metadata":{"priority":"low","correlation_id":"c","idempotency_key":"k","x":[1,{"y":null}]}}`, ""},
		// Header and metadata keys, equal and different.
		{`{"source":"s","event_type":"e","payload":{"a":1},"metadata":{"idempotency_key":"k"}}`, "k"},
		{`{"source":"s","event_type":"e","payload":{"a":1},"metadata":{"idempotency_key":"k"}}`, "other"},
		// Duplicate members, refused at every depth of the body, payload
		// and metadata, also when written with escapes.
		{`{"source":"a","source":"b","event_type":"e","payload":{"a":1,"a":2},"metadata":{"priority":"bogus","priority":"high"}}`, ""},
		{`{"source":"s","event_type":"e","payload":{"a":{"b":1,"b":[]}},"metadata":{"x":{"priority":"no","priority":"no"}}}`, ""},
		{`{"source":"s","event_type":"e","payload":{"a":[{"b":1,"\u0062":1}]}}`, ""},
		// Escapes that decode to whitespace, to nothing printable, or to a
		// lone surrogate (which encoding/json decodes to U+FFFD).
		{`{"source":"\u0020s\u2003","event_type":"\u0000","payload":{"\ud800":"\udfff"}}`, ""},
		{`{"source":"s","event_type":"e","payload":{"a":"\udc00\ud800","b":"\ud83d\ude00","c":"\ufffd"}}`, ""},
		// Control and format characters in names.
		{`{"source":"a\u001b[0m","event_type":"e\u202e","payload":{"a":1}}`, ""},
		{"{\"source\":\"\u200b\",\"event_type\":\"\ufeffe\",\"payload\":{\"a\":1}}", ""},
		// Deep nesting, long numbers, exponents.
		{`{"source":"s","event_type":"e","payload":{"a":[[[[[[[[[[{}]]]]]]]]]],"n":-1.0e-999999,"m":1E+9999999999}}`, ""},
		{`{"source":"s","event_type":"e","payload":` + strings.Repeat(`{"a":[`, 40) + strings.Repeat(`]}`, 40) + `}`, ""},
		// Many metadata fields.
		{`{"source":"s","event_type":"e","payload":{"a":1},"metadata":` + manyFields(triggers.MaxMetadataFields+1) + `}`, ""},
		// Trailing data of several kinds.
		{`{"source":"s","event_type":"e","payload":{"a":1}} `, ""},
		{`{"source":"s","event_type":"e","payload":{"a":1}}{"source":"s"}`, ""},
		{`{"source":"s","event_type":"e","payload":{"a":1}}x`, ""},
		// HTML-sensitive characters, which json.Marshal would escape.
		{`{"source":"<s>","event_type":"a&b","payload":{"h":"<script>&amp;</script>","l":"\u2028"}}`, ""},
		// A byte-order mark, invalid UTF-8 in a header.
		{"\ufeff{\"source\":\"s\",\"event_type\":\"e\",\"payload\":{\"a\":1}}", "\xff"},
		// Control and format characters in a header, and in a metadata key
		// that a header could not carry.
		{`{"source":"s","event_type":"e","payload":{"a":1}}`, "k\t\u202e"},
		{`{"source":"s","event_type":"e","payload":{"a":1},"metadata":{"idempotency_key":"k\u0000\u202e"}}`, ""},
	}

	cursorSeeds = []string{
		// A "+" sign and leading zeros that strconv.ParseInt accepts.
		cursorText("c1|+0001762776000123456|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab"),
		// Uppercase hex in the filter hash.
		cursorText("c1|1762776000123456|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789AB"),
		// Non-zero trailing bits in the last base64 character.
		testCursorText[:len(testCursorText)-1] + "b",
		// Newlines, which base64 decoding skips.
		testCursorText[:10] + "\r\n" + testCursorText[10:],
		// Separators inside fields.
		cursorText("c1||0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab|"),
	}

	timestampSeeds = []string{
		// Forms time.Parse accepts and RFC 3339 does not (go.dev/issue/54580).
		"2025-11-10T1:02:03Z",
		"2025-11-10T12:00:00,123Z",
		"2025-11-10T12:00:00.1234567891234Z",
		"2025-11-10T12:00:00-24:00",
		"2025-11-10T12:00:00+00:60",
		"0000-01-01T00:00:00Z",
		// Boundaries of the year range, with offsets.
		"0001-01-01T00:00:00+00:00",
		"0001-01-01T00:00:00-00:01",
		"9999-12-31T23:59:59.999999999-00:00",
		"9999-12-31T23:59:59.999999999+00:01",
		// February in leap and common years.
		"2100-02-29",
		"2400-02-29",
		// Mixed case and signs.
		"2025-11-10t12:00:00Z",
		"2025-11-10T12:00:00z",
		"2025-11-10T12:00:00+-1:00",
	}

	inboxQuerySeeds = []string{
		// Invalid escapes and separators that url.ParseQuery reports.
		"limit=%zz",
		"limit=1;source=s",
		"source=%00&event_type=%ff",
		// Repeats of every parameter, and values that are empty.
		"limit&cursor&source&event_type",
		"source=a&source=b&event_type=c&event_type=d&cursor=x&cursor=y",
		// Parameters of DESIGN §4 and unknown ones.
		"created_after=2025-11-10T12:00:00Z&created_before=2025-11-11&priority=high&metadata.tenant_ref=42&metadata_key=a&metadata_value=b",
		"limit=+5",
		"limit=0x10",
		// Invalid UTF-8 and control or format characters.
		"source=%ff%fe",
		"%ff=1&event_type=%c3",
		"source=a%1B%5B0m&event_type=%E2%80%AE",
		"source=%0Ashop%0A&event_type=%E2%80%8B",
	}

	allowlistSeeds = []string{
		// Forms of IPv4 that some parsers accept and netip refuses.
		"1.2.3",
		"0x7f.0.0.1",
		"127.1",
		"3232235777",
		// IPv4 embedded in IPv6 in several ways.
		"::1.2.3.4",
		"::ffff:1.2.3.4/95",
		"::ffff:1.2.3.4/96",
		"64:ff9b::192.0.2.33",
		"2001:db8::ffff:1.2.3.4/128",
		// Long IPv6 forms.
		"0000:0000:0000:0000:0000:0000:0000:0001/127",
		"2001:0db8:85a3:0000:0000:8a2e:0370:7334",
		// Prefix lengths with leading zeros or signs.
		"10.0.0.0/08",
		"10.0.0.0/+8",
		// Zones in odd places.
		"fe80::1%25eth0",
		"%",
	}
)

// FuzzParseNewEvent checks that ParseNewEvent never panics, that what it
// accepts is well formed and what it refuses names fields, and that a body
// rebuilt from an accepted event parses to the same event (round trip).
func FuzzParseNewEvent(f *testing.F) {
	for _, tt := range parseNewEventTests {
		f.Add(tt.body, tt.header)
	}
	for _, s := range newEventSeeds {
		f.Add(s.body, s.header)
	}

	f.Fuzz(func(t *testing.T, body, header string) {
		ne, err := triggers.ParseNewEvent([]byte(body), header, "")
		if err != nil {
			checkFieldDetails(t, "ParseNewEvent", err, triggers.EINVALID)
			return
		}
		checkNewEvent(t, ne)
		if header == "" && ne.IdempotencyKey != "" && !strings.Contains(string(ne.Metadata), "idempotency_key") {
			t.Fatalf("IdempotencyKey = %q without a header or metadata.idempotency_key", ne.IdempotencyKey)
		}

		// Round trip: source, event_type, payload and metadata as stored make
		// a request that parses to the same event. The raw JSON is spliced in
		// as is: json.Marshal would escape <, > and & and change the bytes.
		rebuilt := fmt.Sprintf(`{"source":%s,"event_type":%s,"payload":%s,"metadata":%s}`,
			mustMarshal(t, ne.Source), mustMarshal(t, ne.EventType), ne.Payload, ne.Metadata)
		ne2, err := triggers.ParseNewEvent([]byte(rebuilt), header, "")
		if err != nil {
			t.Fatalf("ParseNewEvent(%q) of the accepted %q error = %v", rebuilt, body, err)
		}
		if ne2.Source != ne.Source || ne2.EventType != ne.EventType || !bytes.Equal(ne2.Payload, ne.Payload) ||
			!bytes.Equal(ne2.Metadata, ne.Metadata) || ne2.Priority != ne.Priority ||
			ne2.IdempotencyKey != ne.IdempotencyKey || ne2.RequestHash != ne.RequestHash {
			t.Fatalf("ParseNewEvent(%q) =\n%s\nwant, as for %q,\n%s", rebuilt, describeNewEvent(ne2), body, describeNewEvent(ne))
		}

		// The same JSON values re-encoded (members sorted, escapes and
		// white space changed, the key moved to the header when a header
		// can carry it) are the same request: the RequestHash does not
		// change.
		headerKey, moved := ne.IdempotencyKey, "idempotency_key"
		if strings.ContainsFunc(headerKey, invisible) {
			headerKey, moved = "", ""
		}
		reencoded := fmt.Sprintf(`{"event_type":%s,"metadata":%s,"payload":%s,"source":%s}`,
			mustMarshal(t, ne.EventType), reencodeJSON(t, ne.Metadata, moved), reencodeJSON(t, ne.Payload, ""), mustMarshal(t, " "+ne.Source+"\t"))
		ne3, err := triggers.ParseNewEvent([]byte(reencoded), headerKey, "")
		if err != nil {
			t.Fatalf("ParseNewEvent(%q) of the accepted %q error = %v", reencoded, body, err)
		}
		if ne3.RequestHash != ne.RequestHash || ne3.Priority != ne.Priority || ne3.IdempotencyKey != ne.IdempotencyKey {
			t.Fatalf("ParseNewEvent(%q) =\n%s\nwant the RequestHash, priority and key, as for %q,\n%s", reencoded, describeNewEvent(ne3), body, describeNewEvent(ne))
		}
	})
}

// FuzzRequestHash checks that two create requests have the same RequestHash
// exactly when their JSON values are equal (issue 14, item 3). The second
// request is the first with a piece cut out and another put in its place;
// the seeds are the pairs the issue found hashed equal.
func FuzzRequestHash(f *testing.F) {
	for _, s := range []struct {
		body   string
		at     uint16
		cut    uint8
		insert string
	}{
		// A lone surrogate for U+FFFD, and lone surrogates of both kinds.
		{`{"source":"s","event_type":"e","payload":{"s":"\ufffd"}}`, 47, 6, `\ud800`},
		{`{"source":"s","event_type":"e","payload":{"s":"\udfff"}}`, 47, 6, `\ud800`},
		{`{"source":"s","event_type":"e","payload":{"\ufffd":1}}`, 43, 6, `\udc00`},
		{`{"source":"s\ufffd","event_type":"e","payload":{"a":1}}`, 12, 6, `\ud800`},
		// Another value of the first of duplicate members.
		{`{"source":"s","event_type":"e","payload":{"a":{"b":2}}}`, 47, 0, `"b":1,`},
		{`{"source":"s","event_type":"e","payload":{"a":{"b":1,"b":2}}}`, 51, 1, `3`},
		// Equal values written differently, and numbers that are not.
		{`{"source":"s","event_type":"e","payload":{"a":"d"}}`, 47, 1, `\u0064`},
		{`{"source":"s","event_type":"e","payload":{"a":1,"b":2}}`, 42, 11, `"b":2,"a":1`},
		{`{"source":"s","event_type":"e","payload":{"a":2.5}}`, 49, 0, `0`},
		{`{"source":"s","event_type":"e","payload":{"a":1},"metadata":{"priority":"normal"}}`, 61, 19, ``},
	} {
		f.Add(s.body, s.at, s.cut, s.insert)
	}
	for _, tt := range parseNewEventTests {
		f.Add(tt.body, uint16(len(tt.body)/2), uint8(1), "")
	}

	f.Fuzz(func(t *testing.T, body string, at uint16, cut uint8, insert string) {
		i := int(at) % (len(body) + 1)
		other := body[:i] + insert + body[min(i+int(cut), len(body)):]
		a, errA := parseWithKey(body)
		b, errB := parseWithKey(other)
		if errA != nil || errB != nil || a.IdempotencyKey != b.IdempotencyKey {
			return
		}
		equal := a.Source == b.Source && a.EventType == b.EventType &&
			readJSON(t, a.Payload, "").canon == readJSON(t, b.Payload, "").canon &&
			readJSON(t, a.Metadata, "idempotency_key").canon == readJSON(t, b.Metadata, "idempotency_key").canon
		if (a.RequestHash == b.RequestHash) != equal {
			t.Fatalf("RequestHash equal = %t for\n%s\nand\n%s\nwhose JSON values are equal = %t",
				a.RequestHash == b.RequestHash, body, other, equal)
		}
		checkNewEvent(t, a)
		checkNewEvent(t, b)
	})
}

// FuzzPayloadJSON puts the input in a payload, where the fuzzer's work goes
// into the JSON rules of issue 14, and checks them against encoding/json:
// an accepted payload is valid JSON compacted exactly as json.Compact does,
// with no duplicate names, lone surrogates or excess depth; valid JSON is
// refused only for one of these, naming a field inside payload.
func FuzzPayloadJSON(f *testing.F) {
	for _, s := range []string{`1`, `"x"`, `{"a":{"b":1,"b":2}}`, `["\ud800"]`, `"\ud83d\ude00\udc00"`,
		`{"\u0061":1,"a":2}`, strings.Repeat("[", 63) + strings.Repeat("]", 63), strings.Repeat("[", 64) + strings.Repeat("]", 64),
		`{ "a" : [ 1 , 2.50e+3 , -0 , true , null ] }`, `[01]`, `{"a":1,}`, "\"\xff\"", `"\u00zz"`, `[1] x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		body := `{"source":"s","event_type":"e","payload":{"p":` + s + `}}`
		payload := []byte(`{"p":` + s + `}`)
		// s may also close the payload and go on: then the payload is not
		// this text, and only the general checks apply.
		valid := utf8.Valid(payload) && json.Valid(payload)
		ne, err := triggers.ParseNewEvent([]byte(body), "", "")
		if err == nil {
			checkNewEvent(t, ne)
			var want bytes.Buffer
			if valid && (json.Compact(&want, payload) != nil || !bytes.Equal(ne.Payload, want.Bytes())) {
				t.Fatalf("Payload = %s, want %s as json.Compact writes it", ne.Payload, want.Bytes())
			}
			return
		}
		checkFieldDetails(t, "ParseNewEvent", err, triggers.EINVALID)
		if !valid {
			return
		}
		for _, field := range fieldNames(err) {
			if field != "body" && !strings.HasPrefix(field, "payload") {
				t.Fatalf("ParseNewEvent refused the payload %s naming %q, want a field inside payload (error %v)", payload, field, err)
			}
		}
		if facts := readJSON(t, payload, ""); !facts.duplicate && !facts.loneSurrogate && facts.depth <= triggers.MaxJSONDepth {
			t.Fatalf("ParseNewEvent refused the payload %s, valid JSON with no duplicate, lone surrogate or excess depth: %v", payload, err)
		}
	})
}

// parseWithKey parses a create request body with an idempotency key: its
// own in metadata, else "k" in the header.
func parseWithKey(body string) (triggers.NewEvent, error) {
	ne, err := triggers.ParseNewEvent([]byte(body), "", "")
	if err == nil && ne.IdempotencyKey == "" {
		ne, err = triggers.ParseNewEvent([]byte(body), "k", "")
	}
	return ne, err
}

// checkNewEvent checks the invariants of an accepted create request.
func checkNewEvent(t *testing.T, ne triggers.NewEvent) {
	t.Helper()
	for name, s := range map[string]string{"Source": ne.Source, "EventType": ne.EventType} {
		if s == "" || s != strings.TrimSpace(s) || utf8.RuneCountInString(s) > 100 || !utf8.ValidString(s) {
			t.Fatalf("%s = %q, want trimmed, valid UTF-8, 1 to 100 runes", name, s)
		}
		if i := strings.IndexFunc(s, invisible); i >= 0 {
			t.Fatalf("%s = %q holds the control or format character %U", name, s, []rune(s[i:])[0])
		}
	}
	for name, raw := range map[string]json.RawMessage{"Payload": ne.Payload, "Metadata": ne.Metadata} {
		facts := readJSON(t, raw, "")
		if facts.depth > triggers.MaxJSONDepth || facts.duplicate || facts.loneSurrogate {
			t.Fatalf("%s = %s: depth %d (at most %d), a duplicate name %t, a lone surrogate %t; want none of these",
				name, raw, facts.depth, triggers.MaxJSONDepth, facts.duplicate, facts.loneSurrogate)
		}
	}
	if n := readJSON(t, ne.Metadata, "priority").members; n > triggers.MaxMetadataFields {
		t.Fatalf("Metadata = %s has %d fields besides priority, want at most %d", ne.Metadata, n, triggers.MaxMetadataFields)
	}
	var payload map[string]json.RawMessage
	if !json.Valid(ne.Payload) || json.Unmarshal(ne.Payload, &payload) != nil || len(payload) == 0 {
		t.Fatalf("Payload = %s, want a non-empty JSON object", ne.Payload)
	}
	var metadata map[string]json.RawMessage
	if !json.Valid(ne.Metadata) || json.Unmarshal(ne.Metadata, &metadata) != nil || metadata == nil {
		t.Fatalf("Metadata = %s, want a JSON object", ne.Metadata)
	}
	for name, raw := range map[string]json.RawMessage{"Payload": ne.Payload, "Metadata": ne.Metadata} {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil || !bytes.Equal(buf.Bytes(), raw) {
			t.Fatalf("%s = %s, want it compact", name, raw)
		}
	}
	var priority string
	if err := json.Unmarshal(metadata["priority"], &priority); err != nil || !triggers.Priority(priority).Valid() {
		t.Fatalf("Metadata = %s, want a string priority of low, normal or high", ne.Metadata)
	}
	if triggers.Priority(priority) != ne.Priority {
		t.Fatalf("Priority = %q, want %q as in Metadata %s", ne.Priority, priority, ne.Metadata)
	}
	if n := utf8.RuneCountInString(ne.IdempotencyKey); n > 255 {
		t.Fatalf("IdempotencyKey has %d characters, want at most 255", n)
	}
	if ne.IdempotencyKey == "" {
		if ne.RequestHash != "" {
			t.Fatalf("RequestHash = %q without an IdempotencyKey, want none", ne.RequestHash)
		}
	} else if _, err := hex.DecodeString(ne.RequestHash); err != nil || len(ne.RequestHash) != 64 {
		t.Fatalf("RequestHash = %q, want 64 hex digits", ne.RequestHash)
	}
}

// reencodeJSON decodes a JSON object and encodes it again with members
// sorted, numbers as written and encoding/json's escapes, without the member
// drop ("" for none).
func reencodeJSON(t *testing.T, raw json.RawMessage, drop string) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	if drop != "" {
		delete(v, drop)
	}
	return mustMarshal(t, v)
}

// invisible reports whether r is a control character, a format character
// or a line or paragraph separator: what source and event_type refuse.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// jsonFacts is what readJSON finds in a JSON value.
type jsonFacts struct {
	// canon is a text equal for two values exactly when they are equal JSON
	// values: strings are their UTF-16 code units after unescaping, objects
	// the sorted list of their members (duplicates kept), numbers their text.
	canon         string
	depth         int  // how deeply objects and arrays nest; 0 for a scalar
	duplicate     bool // an object has two members of one name
	loneSurrogate bool // a string holds half of a surrogate pair
	members       int  // an object's members, after the drop
}

// readJSON reads raw, one valid JSON value, independently of the code under
// test (encoding/json cannot see duplicates or lone surrogates), without
// the top-level member named drop ("" for none).
func readJSON(t *testing.T, raw []byte, drop string) jsonFacts {
	t.Helper()
	r := &jsonReader{data: raw}
	var f jsonFacts
	r.skipSpace()
	f.canon, f.depth = r.value(&f, 0, drop)
	if r.skipSpace(); r.i != len(raw) {
		t.Fatalf("readJSON(%s): data after the value at %d", raw, r.i)
	}
	if r.bad != "" {
		t.Fatalf("readJSON(%s): %s", raw, r.bad)
	}
	return f
}

type jsonReader struct {
	data []byte
	i    int
	bad  string // the first syntax error, which valid JSON never has
}

func (r *jsonReader) skipSpace() {
	for r.i < len(r.data) && strings.IndexByte(" \t\r\n", r.data[r.i]) >= 0 {
		r.i++
	}
}

// value reads the value at r.i and returns its canon and depth; level is
// the depth of the container it is in.
func (r *jsonReader) value(f *jsonFacts, level int, drop string) (string, int) {
	if r.i >= len(r.data) {
		r.bad = "truncated"
		return "", 0
	}
	switch c := r.data[r.i]; c {
	case '{':
		r.i++
		var members []string
		var names []string
		depth := level + 1
		for r.skipSpace(); r.i < len(r.data) && r.data[r.i] != '}'; r.skipSpace() {
			if r.data[r.i] == ',' {
				r.i++
				r.skipSpace()
			}
			name := r.str(f)
			r.skipSpace()
			r.i++ // ':'
			r.skipSpace()
			v, d := r.value(f, level+1, "")
			depth = max(depth, d)
			if level == 0 && drop != "" && name == utf16Canon(drop) {
				continue
			}
			names = append(names, name)
			members = append(members, name+":"+v)
		}
		r.i++
		slices.Sort(names)
		for i := 1; i < len(names); i++ {
			f.duplicate = f.duplicate || names[i] == names[i-1]
		}
		if level == 0 {
			f.members = len(members)
		}
		slices.Sort(members)
		return "{" + strings.Join(members, ",") + "}", depth
	case '[':
		r.i++
		var elems []string
		depth := level + 1
		for r.skipSpace(); r.i < len(r.data) && r.data[r.i] != ']'; r.skipSpace() {
			if r.data[r.i] == ',' {
				r.i++
				r.skipSpace()
			}
			v, d := r.value(f, level+1, "")
			depth = max(depth, d)
			elems = append(elems, v)
		}
		r.i++
		return "[" + strings.Join(elems, ",") + "]", depth
	case '"':
		return r.str(f), level
	default:
		start := r.i
		for r.i < len(r.data) && strings.IndexByte(",]} \t\r\n", r.data[r.i]) < 0 {
			r.i++
		}
		if r.i == start {
			r.bad = fmt.Sprintf("unexpected %q at %d", c, r.i)
			r.i++
		}
		return "#" + string(r.data[start:r.i]), level
	}
}

// str reads the string at r.i and returns its canon, made of its UTF-16
// code units, noting a surrogate without its other half.
func (r *jsonReader) str(f *jsonFacts) string {
	var units []uint16
	r.i++ // '"'
	for r.i < len(r.data) && r.data[r.i] != '"' {
		if r.data[r.i] != '\\' {
			c, size := utf8.DecodeRune(r.data[r.i:])
			units = utf16.AppendRune(units, c)
			r.i += size
			continue
		}
		r.i++
		if r.i >= len(r.data) {
			break
		}
		e := r.data[r.i]
		if e == 'u' && r.i+4 < len(r.data) {
			u, err := strconv.ParseUint(string(r.data[r.i+1:r.i+5]), 16, 16)
			if err != nil {
				r.bad = "bad \\u escape"
			}
			units = append(units, uint16(u))
			r.i += 5
			continue
		}
		units = append(units, uint16(map[byte]rune{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[e]))
		r.i++
	}
	r.i++ // '"'
	for i := 0; i < len(units); i++ {
		switch u := rune(units[i]); {
		case 0xd800 <= u && u < 0xdc00 && i+1 < len(units) && 0xdc00 <= units[i+1] && units[i+1] < 0xe000:
			i++ // a pair
		case utf16.IsSurrogate(u):
			f.loneSurrogate = true
		}
	}
	return fmt.Sprintf("%q", fmt.Sprint(units))
}

// utf16Canon is the canon readJSON gives the string s.
func utf16Canon(s string) string {
	return fmt.Sprintf("%q", fmt.Sprint(utf16.Encode([]rune(s))))
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v) error = %v", v, err)
	}
	return b
}

// FuzzParseCursor checks that ParseCursor never panics and that a cursor it
// accepts encodes to a text that parses back to the same cursor.
func FuzzParseCursor(f *testing.F) {
	for _, tt := range parseCursorTests {
		f.Add(tt.in)
	}
	for _, s := range cursorSeeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, s string) {
		c, err := triggers.ParseCursor(s)
		if err != nil {
			checkInvalidFields(t, "ParseCursor", err, "cursor")
			return
		}
		checkCursor(t, c)
	})
}

// FuzzCursorRoundTrip checks that every valid cursor (a time after 1970 to
// the microsecond and no later than year 9999, a lowercase UUID, 12 lowercase
// hex digits) encodes to a text that parses back to it.
func FuzzCursorRoundTrip(f *testing.F) {
	// time in Unix microseconds, 16 bytes of id, 6 bytes of filter hash
	f.Add(testCursor.CreatedAt.UnixMicro(), []byte("0123456789abcdef"), []byte{1, 2, 3, 4, 5, 6})
	f.Add(int64(1), make([]byte, 16), make([]byte, 6))
	f.Add(int64(-1), bytes.Repeat([]byte{0xff}, 16), bytes.Repeat([]byte{0xff}, 6))
	f.Add(int64(maxCursorMicros), []byte{}, []byte{})

	f.Fuzz(func(t *testing.T, us int64, id, hash []byte) {
		// Map any input onto a valid cursor.
		us = int64(uint64(us)%maxCursorMicros) + 1
		var u [16]byte
		var h [6]byte
		copy(u[:], id)
		copy(h[:], hash)
		x := hex.EncodeToString(u[:])
		c := triggers.Cursor{
			Position: triggers.Position{
				CreatedAt: time.UnixMicro(us).In(time.FixedZone("", int(us%86400))),
				ID:        x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:],
			},
			FilterHash: hex.EncodeToString(h[:]),
		}
		got, err := triggers.ParseCursor(c.Encode())
		if err != nil || !equalCursors(got, c) {
			t.Fatalf("ParseCursor(%q) = %+v, %v, want %+v", c.Encode(), got, err, c)
		}
		checkCursor(t, got)
	})
}

// maxCursorMicros is 9999-12-31T23:59:59Z in Unix microseconds, the latest
// time a cursor may hold.
var maxCursorMicros = uint64(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMicro())

// checkCursor checks that c encodes to a text that parses back to c, and
// that encoding is then stable.
func checkCursor(t *testing.T, c triggers.Cursor) {
	t.Helper()
	if c.CreatedAt.Location() != time.UTC || c.CreatedAt.Nanosecond()%1000 != 0 {
		t.Fatalf("CreatedAt = %v, want UTC to the microsecond", c.CreatedAt)
	}
	enc := c.Encode()
	c2, err := triggers.ParseCursor(enc)
	if err != nil || !equalCursors(c, c2) {
		t.Fatalf("ParseCursor(%q) = %+v, %v, want %+v", enc, c2, err, c)
	}
	if enc2 := c2.Encode(); enc2 != enc {
		t.Fatalf("Encode() = %q, then %q after a round trip", enc, enc2)
	}
}

// rfc3339 is the shape of an RFC 3339 date-time (section 5.6) with at most 9
// fraction digits. time.Parse(time.RFC3339Nano, ...) accepts more than this
// (go.dev/issue/54580): a one-digit hour, a comma before the fraction, more
// than 9 fraction digits, and offsets of +24:00 or +hh:60. ParseTimestamp
// refuses those, so they are left out of the agreement check.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

// timestampGrammar is what ParseTimestamp accepts, at the level of
// characters: a date, or a date-time with 't' and 'z' in either case and an
// optional offset.
var timestampGrammar = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?)?$`)

// FuzzParseTimestamp checks that ParseTimestamp never panics, returns UTC
// instants that round-trip through RFC 3339, and agrees with time.Parse on
// RFC 3339 both ways: what it accepts, written as strict RFC 3339, time.Parse
// accepts as the same instant; what time.Parse accepts in the shape of RFC
// 3339 within years 1 to 9999, it accepts as the same instant.
func FuzzParseTimestamp(f *testing.F) {
	for _, tt := range parseTimestampTests {
		f.Add(tt.in)
	}
	for _, s := range timestampSeeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, s string) {
		got, err := triggers.ParseTimestamp(s)
		if err != nil {
			checkCode(t, "ParseTimestamp", err, triggers.EINVALID)
		} else {
			if got.Location() != time.UTC {
				t.Fatalf("ParseTimestamp(%q) = %v, want UTC", s, got)
			}
			if y := got.Year(); y < 1 || y > 9999 {
				t.Fatalf("ParseTimestamp(%q) = %v, want a year from 1 to 9999", s, got)
			}
			if !timestampGrammar.MatchString(s) {
				t.Fatalf("ParseTimestamp(%q) = %v, want an error: not a timestamp form", s, got)
			}
			for _, text := range []string{got.Format(time.RFC3339Nano), strings.ToUpper(s), normalizeTimestamp(s)} {
				back, err := triggers.ParseTimestamp(text)
				if err != nil || !back.Equal(got) {
					t.Fatalf("ParseTimestamp(%q) = %v, %v, want %v as for %q", text, back, err, got, s)
				}
			}
			if back, err := triggers.ParseTimestamp(triggers.FormatTimestamp(got)); err != nil || !back.Equal(got.Truncate(time.Microsecond)) {
				t.Fatalf("ParseTimestamp(FormatTimestamp(%v)) = %v, %v", got, back, err)
			}
			norm := normalizeTimestamp(s)
			std, err := time.Parse(time.RFC3339Nano, norm)
			if err != nil || !std.Equal(got) {
				t.Fatalf("time.Parse(RFC3339Nano, %q) = %v, %v, want %v as ParseTimestamp(%q)", norm, std, err, got, s)
			}
		}

		std, stdErr := time.Parse(time.RFC3339Nano, s)
		if stdErr != nil || !rfc3339.MatchString(s) {
			return
		}
		if y := std.UTC().Year(); y < 1 || y > 9999 {
			return
		}
		if err != nil || !got.Equal(std) {
			t.Fatalf("ParseTimestamp(%q) = %v, %v, want %v as time.Parse(RFC3339Nano)", s, got, err, std)
		}
	})
}

// normalizeTimestamp writes an accepted timestamp in strict RFC 3339:
// uppercase, with a time and an offset.
func normalizeTimestamp(s string) string {
	s = strings.ToUpper(s)
	if len(s) == len("2006-01-02") {
		return s + "T00:00:00Z"
	}
	if !strings.HasSuffix(s, "Z") && !strings.ContainsAny(s[len("2006-01-02T15:04:05"):], "+-") {
		return s + "Z"
	}
	return s
}

// FuzzParseInboxQuery checks that ParseInboxQuery never panics on any query
// a client can send, and that its answers are consistent.
func FuzzParseInboxQuery(f *testing.F) {
	for _, tt := range parseInboxQueryTests {
		f.Add(tt.query)
	}
	for _, s := range inboxQuerySeeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, rawQuery string) {
		// Like http.Request.URL.Query: malformed pairs are dropped, the rest kept.
		q, _ := url.ParseQuery(rawQuery)
		req, err := triggers.ParseInboxQuery(q)
		if err != nil {
			checkFieldDetails(t, "ParseInboxQuery", err, triggers.EINVALID)
			return
		}
		if req.Limit < 1 || req.Limit > triggers.MaxInboxLimit {
			t.Fatalf("ParseInboxQuery(%q).Limit = %d, want 1 to %d", rawQuery, req.Limit, triggers.MaxInboxLimit)
		}
		if req.Cursor != nil && req.Cursor.FilterHash != req.Filter.Hash() {
			t.Fatalf("ParseInboxQuery(%q) accepted a cursor for filters %s, want it refused for filters %s",
				rawQuery, req.Cursor.FilterHash, req.Filter.Hash())
		}
		if req.Cursor == nil && q.Has("cursor") {
			t.Fatalf("ParseInboxQuery(%q) dropped the cursor", rawQuery)
		}
		for _, v := range []string{req.Filter.Source, req.Filter.EventType} {
			if v != strings.TrimSpace(v) {
				t.Fatalf("ParseInboxQuery(%q) filter %q, want it trimmed", rawQuery, v)
			}
			if strings.ContainsFunc(v, invisible) {
				t.Fatalf("ParseInboxQuery(%q) filter %q, want no control or format characters", rawQuery, v)
			}
		}
		for name, vs := range q {
			if !utf8.ValidString(name) || !utf8.ValidString(strings.Join(vs, "")) {
				t.Fatalf("ParseInboxQuery(%q) accepted the parameter %q = %q, not valid UTF-8", rawQuery, name, vs)
			}
		}
		md := req.Filter.Metadata
		if len(md) > triggers.MaxMetadataFilters {
			t.Fatalf("ParseInboxQuery(%q) accepted %d metadata conditions", rawQuery, len(md))
		}
		for i, m := range md {
			if !triggers.ValidMetadataKey(m.Key) || m.Key == "priority" || !utf8.ValidString(m.Value) ||
				utf8.RuneCountInString(m.Value) > triggers.MaxMetadataValueLen {
				t.Fatalf("ParseInboxQuery(%q) accepted metadata condition %q=%q", rawQuery, m.Key, m.Value)
			}
			if i > 0 && md[i-1].Key >= m.Key {
				t.Fatalf("ParseInboxQuery(%q) metadata conditions not in strict key order: %v", rawQuery, md)
			}
		}
	})
}

// FuzzMetadataTerms checks that MetadataTerms never panics on a stored
// metadata object and agrees with the filters: every term it returns has a
// key a filter can name, and a filter on that term matches the event.
func FuzzMetadataTerms(f *testing.F) {
	for _, s := range []string{`{"priority":"normal"}`, `{"user_id":"u-42","n":1.50,"b":true,"z":null,"o":{"a":1}}`,
		`{"a.b":"x","a b":"y","":"z"}`, `{"k":"\u00e9\ud83d\ude00"}`, `[]`, `{"k":-0e-0}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		if !json.Valid([]byte(md)) {
			return
		}
		e := triggers.Event{Metadata: json.RawMessage(md)}
		terms := triggers.MetadataTerms(e.Metadata)
		for _, term := range terms {
			if !triggers.ValidMetadataKey(term.Key) || term.Key == "priority" || utf8.RuneCountInString(term.Value) > triggers.MaxMetadataValueLen {
				t.Fatalf("MetadataTerms(%s) returned %q=%q", md, term.Key, term.Value)
			}
			if f := (triggers.InboxFilter{Metadata: []triggers.MetadataMatch{term}}); !f.Matches(&e) {
				t.Fatalf("MetadataTerms(%s) returned %q=%q, but a filter on it does not match", md, term.Key, term.Value)
			}
		}
	})
}

// FuzzParseAllowlist checks that ParseAllowlist never panics, that its
// prefixes are normalized and round-trip through FormatAllowlist, and that
// it accepts every address and prefix net/netip accepts (without a zone).
func FuzzParseAllowlist(f *testing.F) {
	for _, tt := range parseAllowlistTests {
		f.Add(tt.in)
	}
	for _, s := range allowlistSeeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, list string) {
		got, err := triggers.ParseAllowlist(list)
		if err != nil {
			checkCode(t, "ParseAllowlist", err, triggers.EINVALID)
		} else {
			seen := map[netip.Prefix]bool{}
			for _, p := range got {
				if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
					t.Fatalf("ParseAllowlist(%q) holds %v, want a valid masked prefix, no IPv4-mapped address, no zone", list, p)
				}
				if seen[p] {
					t.Fatalf("ParseAllowlist(%q) holds %v twice", list, p)
				}
				seen[p] = true
			}
			text := strings.Join(triggers.FormatAllowlist(got), ",")
			again, err := triggers.ParseAllowlist(text)
			if err != nil || !slices.Equal(again, got) {
				t.Fatalf("ParseAllowlist(%q) = %v, %v, want %v as for %q", text, again, err, got, list)
			}
			if len(got) == 0 && got != nil {
				t.Fatalf("ParseAllowlist(%q) = %#v, want nil", list, got)
			}
		}

		// Agreement with net/netip for a single entry.
		var want netip.Prefix
		if p, err := netip.ParsePrefix(list); err == nil {
			want = p
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				want = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			want = want.Masked()
		} else if a, err := netip.ParseAddr(list); err == nil && a.Zone() == "" {
			want = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		} else {
			return
		}
		if err != nil || len(got) != 1 || got[0] != want {
			t.Fatalf("ParseAllowlist(%q) = %v, %v, want [%v] as net/netip reads it", list, got, err, want)
		}
	})
}

// FuzzParseReceiveRequest checks that a receive body never panics the
// parser, and that whatever it accepts is within DESIGN §10.2's ranges.
func FuzzParseReceiveRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"max_events":25,"lease_seconds":43200,"wait_seconds":20,"max_attempts":1000}`,
		`{"source":"s","metadata":{"region":"eu","priority":"high"},"created_after":"2026-01-01T00:00:00Z"}`,
		`{"max_events":1e1}`, `{"metadata":{"a":{"b":1}}}`, `{"wait_seconds":-0}`, `[1]`, `{"max_events":99999999999999999999}`,
		`{"source":"a\u0000","event_type":"\u202e","metadata":{"k":"\ud800","k":"v"}}`, "{\"source\":\"\xff\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := triggers.ParseReceiveRequest([]byte(body))
		if err != nil {
			checkFieldDetails(t, "ParseReceiveRequest", err, triggers.EINVALID)
			return
		}
		if req.MaxEvents < 1 || req.MaxEvents > triggers.MaxReceiveMax ||
			req.Lease < time.Second || req.Lease > triggers.MaxLeaseSeconds*time.Second ||
			req.Wait < 0 || req.Wait > triggers.MaxWaitSeconds*time.Second ||
			req.MaxAttempts < 1 || req.MaxAttempts > triggers.MaxMaxAttempts {
			t.Fatalf("ParseReceiveRequest(%q) = %+v, out of range", body, req)
		}
		if len(req.Filter.Metadata) > triggers.MaxMetadataFilters || req.Filter.Status != "" ||
			strings.ContainsFunc(req.Filter.Source+req.Filter.EventType, invisible) {
			t.Fatalf("ParseReceiveRequest(%q) filter = %+v", body, req.Filter)
		}
		if strings.TrimSpace(body) == "" {
			return
		}
		if facts := readJSON(t, []byte(body), ""); facts.duplicate || facts.loneSurrogate || facts.depth > triggers.MaxJSONDepth {
			t.Fatalf("ParseReceiveRequest(%q) accepted a body with duplicate names, lone surrogates or deeper than %d", body, triggers.MaxJSONDepth)
		}
	})
}

// FuzzParseLeaseBodies checks the nack, extend and ack bodies: never a
// panic, and an accepted lease id always has the form of one.
func FuzzParseLeaseBodies(f *testing.F) {
	lease := triggers.NewLeaseID()
	for _, s := range []string{``, `{}`, `{"lease_id":"` + lease + `"}`, `{"lease_id":"` + lease + `","delay_seconds":5}`,
		`{"lease_id":"` + lease + `","lease_seconds":5}`, `{"lease_id":null}`, `{"lease_id":"\u0030"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for name, parse := range map[string]func([]byte) (triggers.LeaseRequest, error){
			"ParseNackRequest": triggers.ParseNackRequest, "ParseExtendRequest": triggers.ParseExtendRequest} {
			req, err := parse([]byte(body))
			if err != nil {
				checkFieldDetails(t, name, err, triggers.EINVALID)
				continue
			}
			if !triggers.ValidLeaseID(req.LeaseID) || req.Seconds < 0 || req.Seconds > triggers.MaxLeaseSeconds {
				t.Fatalf("%s(%q) = %+v", name, body, req)
			}
		}
		id, err := triggers.ParseAckRequest([]byte(body))
		if err != nil {
			checkFieldDetails(t, "ParseAckRequest", err, triggers.EINVALID)
		} else if id != "" && !triggers.ValidLeaseID(id) {
			t.Fatalf("ParseAckRequest(%q) = %q", body, id)
		}
	})
}

// FuzzDecodeStrict decodes the input as each bulk envelope ({"items"},
// {"event_ids"}, and bulk ack's either) and checks DecodeStrict against
// encoding/json: it never panics; it refuses with EINVALID naming the body,
// or accepts; and it accepts exactly the bodies that are valid UTF-8, one
// JSON object that encoding/json decodes into the envelope, whose member
// names are each the envelope's, spelled exactly, and given once. What it
// accepts it decodes as encoding/json decodes each member alone.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"items":[{"source":"s","event_type":"e","payload":{"a":1}}]}`,
		`{"event_ids":["0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"]}`,
		`{"event_ids":null,"items":[{"event_id":"x","lease_id":"y"}]}`,
		` { "items" : [ 1 , "2" , [ ] , { } , null , true ] } ` + "\n",
		// A member given twice, also escaped or with null first.
		`{"items":[1],"items":[2]}`,
		`{"event_ids":[],"\u0065vent_ids":["a"]}`,
		`{"items":null,"items":[]}`,
		// Names encoding/json matches without regard to case or by
		// Unicode case folding (long s, Kelvin sign).
		`{"ITEMS":[]}`, `{"itemſ":[]}`, `{"Event_IDs":[]}`, "{\"\u212aey\":1}",
		// Escapes in names and values, and strings that skip over brackets.
		`{"\u0069tems":["]\"}{[","\\"]}`,
		`{"items":["\"","\\\"}"],"x":1}`,
		// Not an object, trailing data, invalid UTF-8, nothing.
		`[]`, `null`, `{"items":[]} {}`, `{"items":[]}x`, "{\"items\":[\"\xff\"]}", ``, `{`,
		// Deep values inside an item.
		`{"items":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`,
	} {
		f.Add(s)
	}
	type items struct {
		Items []json.RawMessage `json:"items"`
	}
	type ids struct {
		EventIDs []string `json:"event_ids"`
	}
	type ack struct {
		EventIDs json.RawMessage `json:"event_ids"`
		Items    json.RawMessage `json:"items"`
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, c := range []struct {
			name  string
			new   func() any
			known []string
		}{
			{"items", func() any { return new(items) }, []string{"items"}},
			{"event_ids", func() any { return new(ids) }, []string{"event_ids"}},
			{"ack", func() any { return new(ack) }, []string{"event_ids", "items"}},
		} {
			got := c.new()
			err := triggers.DecodeStrict([]byte(body), got)
			want, ok := decodeEnvelope(body, c.known, c.new)
			if err != nil {
				checkFieldDetails(t, "DecodeStrict", err, triggers.EINVALID)
				var e *triggers.Error
				errors.As(err, &e)
				if fields := e.Details["fields"].([]triggers.FieldError); fields[0].Field != "body" {
					t.Fatalf("DecodeStrict(%q) into %s names %q, want body", body, c.name, fields[0].Field)
				}
				if ok {
					t.Fatalf("DecodeStrict(%q) into %s = %v, want it accepted as %#v", body, c.name, err, want)
				}
				continue
			}
			if !ok {
				t.Fatalf("DecodeStrict(%q) into %s accepted %#v; encoding/json member by member refuses it", body, c.name, got)
			}
			if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
				t.Fatalf("DecodeStrict(%q) into %s = %s, want %s", body, c.name, g, w)
			}
		}
	})
}

// decodeEnvelope is DecodeStrict's rule written with encoding/json alone:
// body must be valid UTF-8 and one JSON object with members named as in
// known, each once, whose values decode into a new envelope (from
// newEnvelope) member by member.
func decodeEnvelope(body string, known []string, newEnvelope func() any) (any, bool) {
	if !utf8.ValidString(body) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	v := newEnvelope()
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		name, _ := tok.(string)
		if err != nil || seen[name] || !slices.Contains(known, name) {
			return nil, false
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		// Decoded alone, as {name: value}: encoding/json then sets only
		// the field of that name.
		one := `{` + strconv.Quote(name) + `:` + string(raw) + `}`
		if err := json.Unmarshal([]byte(one), v); err != nil {
			return nil, false
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// FuzzAppendTimestamp checks AppendTimestamp's hand-written digits against
// time.Time.AppendFormat for any instant, in any zone.
func FuzzAppendTimestamp(f *testing.F) {
	for _, s := range []int64{0, 1, 59, 86399, 86400, 951782400, 951868800, 1767225599, 4102444800, 253402300799, 253402300800, -1, -62135596800} {
		f.Add(s, int64(999999999), int64(0))
	}
	f.Add(int64(1762776000), int64(123456789), int64(7200))
	f.Fuzz(func(t *testing.T, sec, nsec, offset int64) {
		at := time.Unix(sec, nsec%1_000_000_000).In(time.FixedZone("", int(offset%(18*3600))))
		want := "x" + at.UTC().Format("2006-01-02T15:04:05.000000Z")
		if got := string(triggers.AppendTimestamp([]byte("x"), at)); got != want {
			t.Fatalf("AppendTimestamp(%v) = %q, want %q", at, got, want)
		}
	})
}
