package triggers_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/triggersapi/triggers"
)

// testCursor is a cursor as the service issues it.
var testCursor = triggers.Cursor{
	Position: triggers.Position{
		CreatedAt: time.Date(2025, 11, 10, 12, 0, 0, 123456000, time.UTC),
		ID:        "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6",
	},
	FilterHash: "0123456789ab",
}

// testCursorText is testCursor encoded. Cursors in clients' hands must stay
// valid across releases, so their form is pinned here.
const testCursorText = "YzF8MTc2Mjc3NjAwMDEyMzQ1NnwwMTkyZjNjNC01YjZhLTdjOGQtOWUwZi1hMWIyYzNkNGU1ZjZ8MDEyMzQ1Njc4OWFi"

func cursorText(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// parseCursorTests are the cases of TestParseCursor; they also seed
// FuzzParseCursor. A case with ok false must be refused.
var parseCursorTests = []struct {
	name string
	in   string
	ok   bool
}{
	{"OK", testCursorText, true},
	{"OKEarliest", cursorText("c1|1|00000000-0000-0000-0000-000000000000|000000000000"), true},
	{"OKLatest", cursorText("c1|253402300799000000|ffffffff-ffff-ffff-ffff-ffffffffffff|ffffffffffff"), true},

	{"ErrEmpty", "", false},
	{"ErrTooLong", strings.Repeat("A", 201), false},
	{"ErrNotBase64", "not a cursor!", false},
	{"ErrStdBase64", base64.StdEncoding.EncodeToString([]byte("c1|253402300799000000|ffffffff-ffff-ffff-ffff-ffffffffffff|ffffffffffff")), false},
	{"ErrVersion", cursorText("c2|1762776000123456|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab"), false},
	{"ErrThreeParts", cursorText("c1|1762776000123456|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"), false},
	{"ErrFiveParts", cursorText("c1|1762776000123456|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab|"), false},
	{"ErrTimeZero", cursorText("c1|0|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab"), false},
	{"ErrTimeNegative", cursorText("c1|-1|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab"), false},
	{"ErrTimeAfter9999", cursorText("c1|253402300800000000|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab"), false},
	{"ErrTimeOverflow", cursorText("c1|99999999999999999999|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab"), false},
	{"ErrTimeNotNumber", cursorText("c1|1e15|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789ab"), false},
	{"ErrIDUppercase", cursorText("c1|1762776000123456|0192F3C4-5B6A-7C8D-9E0F-A1B2C3D4E5F6|0123456789ab"), false},
	{"ErrIDNotUUID", cursorText("c1|1762776000123456|0192f3c4|0123456789ab"), false},
	{"ErrHashShort", cursorText("c1|1762776000123456|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789a"), false},
	{"ErrHashLong", cursorText("c1|1762776000123456|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789abc"), false},
	{"ErrHashNotHex", cursorText("c1|1762776000123456|0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6|0123456789xy"), false},
	{"ErrPadded", testCursorText + "==", false},
}

func TestParseCursor(t *testing.T) {
	for _, tt := range parseCursorTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.ParseCursor(tt.in)
			if !tt.ok {
				checkInvalidFields(t, "ParseCursor("+tt.in+")", err, "cursor")
				return
			}
			if err != nil {
				t.Fatalf("ParseCursor(%q) error = %v", tt.in, err)
			}
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("ParseCursor(%q).CreatedAt = %v, want UTC", tt.in, got.CreatedAt)
			}
			if enc := got.Encode(); enc != tt.in {
				t.Errorf("ParseCursor(%q).Encode() = %q, want the input back", tt.in, enc)
			}
		})
	}

	t.Run("OKFields", func(t *testing.T) {
		got, err := triggers.ParseCursor(testCursorText)
		if err != nil || !equalCursors(got, testCursor) {
			t.Fatalf("ParseCursor(%q) = %+v, %v, want %+v", testCursorText, got, err, testCursor)
		}
	})
}

func equalCursors(a, b triggers.Cursor) bool {
	return a.CreatedAt.Equal(b.CreatedAt) && a.ID == b.ID && a.FilterHash == b.FilterHash
}

func TestCursor_Encode(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		if got := testCursor.Encode(); got != testCursorText {
			t.Fatalf("Encode() = %q, want %q", got, testCursorText)
		}
	})
	t.Run("OKURLSafe", func(t *testing.T) {
		c := testCursor
		c.ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
		c.FilterHash = "ffffffffffff"
		if got := c.Encode(); url.QueryEscape(got) != got {
			t.Fatalf("Encode() = %q, want only characters that need no escaping in a URL query", got)
		}
	})
	t.Run("OKZoneIndependent", func(t *testing.T) {
		c := testCursor
		c.CreatedAt = c.CreatedAt.In(time.FixedZone("", -5*3600))
		if got := c.Encode(); got != testCursorText {
			t.Fatalf("Encode() of the same instant in another zone = %q, want %q", got, testCursorText)
		}
	})
}

func TestInboxFilter_Hash(t *testing.T) {
	t0 := time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC)
	base := triggers.InboxFilter{Source: "s", EventType: "e", CreatedAfter: t0, CreatedBefore: t0.Add(time.Hour),
		Priority: triggers.PriorityHigh, Metadata: []triggers.MetadataMatch{{"a", "1"}, {"b", "2"}}}
	want := base.Hash()
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(want) {
		t.Fatalf("Hash() = %q, want 12 lowercase hex digits", want)
	}

	t.Run("OKEqual", func(t *testing.T) {
		same := base
		same.Metadata = []triggers.MetadataMatch{{"b", "2"}, {"a", "1"}}
		same.CreatedAfter = t0.In(time.FixedZone("", 3600))
		if got := same.Hash(); got != want {
			t.Errorf("Hash() with metadata reordered and another zone = %s, want %s", got, want)
		}
		if base.Metadata[0].Key != "a" {
			t.Errorf("Hash() reordered the filter's own metadata: %v", base.Metadata)
		}
	})
	t.Run("OKDifferent", func(t *testing.T) {
		seen := map[string]string{want: "base"}
		for name, change := range map[string]func(*triggers.InboxFilter){
			"zero":            func(f *triggers.InboxFilter) { *f = triggers.InboxFilter{} },
			"source":          func(f *triggers.InboxFilter) { f.Source = "s2" },
			"event_type":      func(f *triggers.InboxFilter) { f.EventType = "e2" },
			"swapped":         func(f *triggers.InboxFilter) { f.Source, f.EventType = f.EventType, f.Source },
			"created_after":   func(f *triggers.InboxFilter) { f.CreatedAfter = t0.Add(time.Microsecond) },
			"no_after":        func(f *triggers.InboxFilter) { f.CreatedAfter = time.Time{} },
			"created_before":  func(f *triggers.InboxFilter) { f.CreatedBefore = t0.Add(2 * time.Hour) },
			"priority":        func(f *triggers.InboxFilter) { f.Priority = triggers.PriorityLow },
			"no_priority":     func(f *triggers.InboxFilter) { f.Priority = "" },
			"metadata_value":  func(f *triggers.InboxFilter) { f.Metadata = []triggers.MetadataMatch{{"a", "1"}, {"b", "3"}} },
			"metadata_key":    func(f *triggers.InboxFilter) { f.Metadata = []triggers.MetadataMatch{{"a", "1"}, {"c", "2"}} },
			"metadata_fewer":  func(f *triggers.InboxFilter) { f.Metadata = f.Metadata[:1] },
			"metadata_joined": func(f *triggers.InboxFilter) { f.Metadata = []triggers.MetadataMatch{{"a", "1;mb=2"}} },
			"source_quotes":   func(f *triggers.InboxFilter) { f.Source = `s";t="e` },
		} {
			f := base
			f.Metadata = append([]triggers.MetadataMatch(nil), base.Metadata...)
			change(&f)
			got := f.Hash()
			if prev, ok := seen[got]; ok {
				t.Errorf("Hash() of filter %q = Hash() of filter %q = %s, want them different", name, prev, got)
			}
			seen[got] = name
		}
	})
}

// parseInboxQueryTests are the cases of TestParseInboxQuery; they also seed
// FuzzParseInboxQuery. For a case with fields set, the query must be refused
// with exactly those invalid fields, in order.
var parseInboxQueryTests = []struct {
	name   string
	query  string // a raw URL query
	want   triggers.InboxRequest
	fields []string
}{
	{name: "OK", query: "", want: triggers.InboxRequest{Limit: 50}},
	{name: "OKLimitMin", query: "limit=1", want: triggers.InboxRequest{Limit: 1}},
	{name: "OKLimitMax", query: "limit=100", want: triggers.InboxRequest{Limit: 100}},
	{name: "OKLimitLeadingZero", query: "limit=007", want: triggers.InboxRequest{Limit: 7}},
	{name: "OKSource", query: "source=billing", want: triggers.InboxRequest{Limit: 50, Filter: triggers.InboxFilter{Source: "billing"}}},
	{name: "OKSourceTrimmed", query: "source=+billing%20", want: triggers.InboxRequest{Limit: 50, Filter: triggers.InboxFilter{Source: "billing"}}},
	{name: "OKSource100Runes", query: "source=" + url.QueryEscape(strings.Repeat("é", 100)), want: triggers.InboxRequest{Limit: 50, Filter: triggers.InboxFilter{Source: strings.Repeat("é", 100)}}},
	{name: "OKEventType", query: "event_type=invoice.paid&limit=10", want: triggers.InboxRequest{Limit: 10, Filter: triggers.InboxFilter{EventType: "invoice.paid"}}},
	{
		name:  "OKCursor",
		query: "source=s&cursor=" + (triggers.Cursor{Position: testCursor.Position, FilterHash: triggers.InboxFilter{Source: "s"}.Hash()}).Encode(),
		want: triggers.InboxRequest{Limit: 50, Filter: triggers.InboxFilter{Source: "s"},
			Cursor: &triggers.Cursor{Position: testCursor.Position, FilterHash: triggers.InboxFilter{Source: "s"}.Hash()}},
	},
	{
		name:  "OKCursorNoFilters",
		query: "cursor=" + (triggers.Cursor{Position: testCursor.Position, FilterHash: triggers.InboxFilter{}.Hash()}).Encode(),
		want:  triggers.InboxRequest{Limit: 50, Cursor: &triggers.Cursor{Position: testCursor.Position, FilterHash: triggers.InboxFilter{}.Hash()}},
	},
	{name: "OKPriority", query: "priority=high", want: inboxReq(triggers.InboxFilter{Priority: triggers.PriorityHigh})},
	{
		name:  "OKDateRangeUTC",
		query: "created_after=2025-11-10T12:00:00Z&created_before=2025-11-11T00:00:00Z",
		want:  inboxReq(triggers.InboxFilter{CreatedAfter: t20251110(12, 0), CreatedBefore: t20251110(24, 0)}),
	},
	{
		name:  "OKDateRangeOffsets",
		query: "created_after=2025-11-10T14:00:00%2B02:00&created_before=2025-11-10T08:00:00-05:00",
		want:  inboxReq(triggers.InboxFilter{CreatedAfter: t20251110(12, 0), CreatedBefore: t20251110(13, 0)}),
	},
	{
		name:  "OKDateNoOffsetIsUTC",
		query: "created_after=2025-11-10T12:00:00&created_before=2025-11-10T14:00:00%2B01:00",
		want:  inboxReq(triggers.InboxFilter{CreatedAfter: t20251110(12, 0), CreatedBefore: t20251110(13, 0)}),
	},
	{
		name:   "ErrDateNoOffsetIsUTCSoRangeEmpty",
		query:  "created_after=2025-11-10T12:00:00&created_before=2025-11-10T13:00:00%2B01:00",
		fields: []string{"created_after"},
	},
	{name: "OKDateOnlyAfter", query: "created_after=2025-11-10T12:00:00", want: inboxReq(triggers.InboxFilter{CreatedAfter: t20251110(12, 0)})},
	{name: "OKMetadata", query: "metadata.user_id=u-42", want: inboxReq(triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{"user_id", "u-42"}}})},
	{
		name:  "OKMetadataSeveral",
		query: "metadata.region=eu&metadata.a.b-c_D=1&metadata.empty=",
		want:  inboxReq(triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{"a.b-c_D", "1"}, {"empty", ""}, {"region", "eu"}}}),
	},
	{
		name:  "OKMetadataKeyValuePair",
		query: "metadata_key=user_id&metadata_value=u-42",
		want:  inboxReq(triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{"user_id", "u-42"}}}),
	},
	{
		name:  "OKMetadataPairAndDotted",
		query: "metadata_key=user_id&metadata_value=u-42&metadata.region=eu",
		want:  inboxReq(triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{"region", "eu"}, {"user_id", "u-42"}}}),
	},
	{name: "OKMetadataPriorityIsPriority", query: "metadata.priority=low", want: inboxReq(triggers.InboxFilter{Priority: triggers.PriorityLow})},
	{name: "OKMetadataPriorityAgrees", query: "metadata.priority=low&priority=low", want: inboxReq(triggers.InboxFilter{Priority: triggers.PriorityLow})},
	{name: "OKMetadataValue256Runes", query: "metadata.k=" + url.QueryEscape(strings.Repeat("é", 256)), want: inboxReq(triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{"k", strings.Repeat("é", 256)}}})},
	{
		name:  "OKEverything",
		query: "source=s&event_type=t&priority=high&created_after=2025-11-10T12:00:00Z&created_before=2025-11-10T13:00:00Z&metadata.u=1&limit=5",
		want: triggers.InboxRequest{Limit: 5, Filter: triggers.InboxFilter{Source: "s", EventType: "t", Priority: triggers.PriorityHigh,
			CreatedAfter: t20251110(12, 0), CreatedBefore: t20251110(13, 0), Metadata: []triggers.MetadataMatch{{"u", "1"}}}},
	},

	{name: "ErrPriority", query: "priority=urgent", fields: []string{"priority"}},
	{name: "ErrPriorityCase", query: "priority=HIGH", fields: []string{"priority"}},
	{name: "ErrPriorityRepeated", query: "priority=high&priority=low", fields: []string{"priority"}},
	{name: "ErrCreatedAfterBad", query: "created_after=yesterday", fields: []string{"created_after"}},
	{name: "ErrCreatedBeforeBad", query: "created_before=2025-13-01T00:00:00Z", fields: []string{"created_before"}},
	{name: "ErrDateRangeReversed", query: "created_after=2025-11-11T00:00:00Z&created_before=2025-11-10T00:00:00Z", fields: []string{"created_after"}},
	{name: "ErrDateRangeEmpty", query: "created_after=2025-11-10T14:00:00%2B02:00&created_before=2025-11-10T07:00:00-05:00", fields: []string{"created_after"}},
	{name: "ErrMetadataKeyEmpty", query: "metadata.=x", fields: []string{"metadata."}},
	{name: "ErrMetadataKeyChars", query: "metadata.a%20b=x", fields: []string{"metadata.a b"}},
	{name: "ErrMetadataKeyQuote", query: "metadata.a'b=x", fields: []string{"metadata.a'b"}},
	{name: "ErrMetadataKeyTooLong", query: "metadata." + strings.Repeat("k", 65) + "=x", fields: []string{"metadata." + strings.Repeat("k", 65)}},
	{name: "ErrMetadataRepeated", query: "metadata.u=1&metadata.u=2", fields: []string{"metadata.u"}},
	{name: "ErrMetadataValueTooLong", query: "metadata.k=" + strings.Repeat("v", 257), fields: []string{"metadata.k"}},
	{name: "ErrMetadataValueNotUTF8", query: "metadata.k=%ff", fields: []string{"metadata.k"}},
	{name: "ErrMetadataKeyWithoutValue", query: "metadata_key=u", fields: []string{"metadata_value"}},
	{name: "ErrMetadataValueWithoutKey", query: "metadata_value=u", fields: []string{"metadata_key"}},
	{name: "ErrMetadataKeyPairBadKey", query: "metadata_key=a%2Fb&metadata_value=1", fields: []string{"metadata_key"}},
	{name: "ErrMetadataPairTwice", query: "metadata_key=u&metadata_value=1&metadata.u=1", fields: []string{"metadata_value"}},
	{name: "ErrMetadataPriorityInvalid", query: "metadata.priority=urgent", fields: []string{"metadata.priority"}},
	{name: "ErrMetadataPriorityContradicts", query: "metadata.priority=low&priority=high", fields: []string{"priority"}},
	{name: "ErrMetadataTooMany", query: manyMetadata(11), fields: []string{"metadata"}},
	{
		name:   "ErrCursorOtherMetadata",
		query:  "metadata.u=2&cursor=" + (triggers.Cursor{Position: testCursor.Position, FilterHash: triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{"u", "1"}}}.Hash()}).Encode(),
		fields: []string{"cursor"},
	},

	{name: "ErrUnknownParameter", query: "foo=1", fields: []string{"foo"}},
	{name: "ErrUnknownMetadataPrefix", query: "metadata=x", fields: []string{"metadata"}},
	{name: "ErrUnknownMetadataBracket", query: "metadata%5Bu%5D=x", fields: []string{"metadata[u]"}},
	{name: "ErrUnknownParameterCase", query: "Limit=10", fields: []string{"Limit"}},
	{name: "ErrUnknownParameterEmpty", query: "limit=10&=x", fields: []string{""}},
	{name: "ErrUnknownParameters", query: "zz=1&aa=2", fields: []string{"aa", "zz"}},
	{name: "ErrLimitZero", query: "limit=0", fields: []string{"limit"}},
	{name: "ErrLimitTooLarge", query: "limit=101", fields: []string{"limit"}},
	{name: "ErrLimitNegative", query: "limit=-1", fields: []string{"limit"}},
	{name: "ErrLimitEmpty", query: "limit=", fields: []string{"limit"}},
	{name: "ErrLimitNotInteger", query: "limit=ten", fields: []string{"limit"}},
	{name: "ErrLimitFraction", query: "limit=1.5", fields: []string{"limit"}},
	{name: "ErrLimitHuge", query: "limit=99999999999999999999", fields: []string{"limit"}},
	{name: "ErrLimitRepeated", query: "limit=10&limit=20", fields: []string{"limit"}},
	{name: "ErrSourceRepeated", query: "source=a&source=a", fields: []string{"source"}},
	{name: "ErrSourceEmpty", query: "source=", fields: []string{"source"}},
	{name: "ErrEventTypeBlank", query: "event_type=%20%20", fields: []string{"event_type"}},
	{name: "ErrSourceTooLong", query: "source=" + strings.Repeat("x", 101), fields: []string{"source"}},
	{name: "ErrEventTypeTooManyRunes", query: "event_type=" + url.QueryEscape(strings.Repeat("é", 101)), fields: []string{"event_type"}},
	{name: "ErrCursorInvalid", query: "cursor=abc", fields: []string{"cursor"}},
	{name: "ErrCursorEmpty", query: "cursor=", fields: []string{"cursor"}},
	{name: "ErrCursorRepeated", query: "cursor=" + testCursorText + "&cursor=" + testCursorText, fields: []string{"cursor"}},
	{
		name:   "ErrCursorOtherFilters",
		query:  "source=other&cursor=" + (triggers.Cursor{Position: testCursor.Position, FilterHash: triggers.InboxFilter{Source: "s"}.Hash()}).Encode(),
		fields: []string{"cursor"},
	},
	{
		name:   "ErrCursorFiltersDropped",
		query:  "cursor=" + (triggers.Cursor{Position: testCursor.Position, FilterHash: triggers.InboxFilter{Source: "s"}.Hash()}).Encode(),
		fields: []string{"cursor"},
	},
	{name: "ErrSeveral", query: "limit=0&x=1&source=", fields: []string{"x", "limit", "source"}},

	// Issue 14, item 6: invalid UTF-8 in any parameter is a 400 naming it
	// (?source=%ff%fe was a 200 with an empty list).
	{name: "ErrSourceNotUTF8", query: "source=%ff%fe", fields: []string{"source"}},
	{name: "ErrEventTypeNotUTF8", query: "event_type=a%c3", fields: []string{"event_type"}},
	{name: "ErrLimitNotUTF8", query: "limit=%ff", fields: []string{"limit"}},
	{name: "ErrCursorNotUTF8", query: "cursor=%ff", fields: []string{"cursor"}},
	{name: "ErrStatusNotUTF8", query: "status=%ed%a0%80", fields: []string{"status"}},
	{name: "ErrCreatedAfterNotUTF8", query: "created_after=2025-11-10%ff", fields: []string{"created_after"}},
	{name: "ErrPriorityNotUTF8", query: "priority=high%ff", fields: []string{"priority"}},
	{name: "ErrMetadataPairNotUTF8", query: "metadata_key=k&metadata_value=%ff", fields: []string{"metadata_value"}},
	{name: "ErrNameNotUTF8", query: "%ff=1", fields: []string{"\ufffd"}},
	{name: "ErrNotUTF8AndOthers", query: "source=%ff&limit=0", fields: []string{"limit", "source"}},
	// Control and format characters can be in no event's source or type.
	{name: "ErrSourceNUL", query: "source=a%00b", fields: []string{"source"}},
	{name: "ErrSourceNewline", query: "source=a%0Ab", fields: []string{"source"}},
	{name: "ErrSourceEscape", query: "source=a%1Bb", fields: []string{"source"}},
	{name: "ErrSourceZeroWidthSpace", query: "source=%E2%80%8Bshop", fields: []string{"source"}},
	{name: "ErrEventTypeBidiOverride", query: "event_type=a%E2%80%AEb", fields: []string{"event_type"}},
	{name: "OKSourceTrimmedNewline", query: "source=%0Ashop%0D%0A", want: inboxReq(triggers.InboxFilter{Source: "shop"})},
	{name: "OKMetadataValueControl", query: "metadata.k=a%00%E2%80%AE", want: inboxReq(triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{"k", "a\x00\u202e"}}})},
}

func inboxReq(f triggers.InboxFilter) triggers.InboxRequest {
	return triggers.InboxRequest{Limit: triggers.DefaultInboxLimit, Filter: f}
}

func t20251110(hour, minute int) time.Time {
	return time.Date(2025, 11, 10, hour, minute, 0, 0, time.UTC)
}

func manyMetadata(n int) string {
	var q []string
	for i := range n {
		q = append(q, fmt.Sprintf("metadata.k%d=v", i))
	}
	return strings.Join(q, "&")
}

func TestParseInboxQuery(t *testing.T) {
	for _, tt := range parseInboxQueryTests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("url.ParseQuery(%q) error = %v", tt.query, err)
			}
			got, err := triggers.ParseInboxQuery(q)
			if tt.fields != nil {
				checkInvalidFields(t, "ParseInboxQuery("+tt.query+")", err, tt.fields...)
				return
			}
			if err != nil {
				t.Fatalf("ParseInboxQuery(%q) error = %v", tt.query, err)
			}
			if got.Limit != tt.want.Limit || got.Filter.Hash() != tt.want.Filter.Hash() ||
				got.Filter.Source != tt.want.Filter.Source || got.Filter.EventType != tt.want.Filter.EventType ||
				(got.Cursor == nil) != (tt.want.Cursor == nil) ||
				got.Cursor != nil && !equalCursors(*got.Cursor, *tt.want.Cursor) {
				t.Errorf("ParseInboxQuery(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
}

// Regression: a parameter present with no values (only Go callers can build
// one; url.ParseQuery never does) used to panic with index out of range.
func TestParseInboxQuery_emptyValueSlice(t *testing.T) {
	req, err := triggers.ParseInboxQuery(url.Values{"limit": {}})
	if err != nil || req.Limit != triggers.DefaultInboxLimit {
		t.Fatalf("ParseInboxQuery(limit with no values) = %+v, %v; want the default limit", req, err)
	}
}
