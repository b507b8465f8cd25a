package triggers_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/triggersapi/triggers"
)

func TestMetadataTerms(t *testing.T) {
	tests := []struct {
		name string
		md   string
		want []triggers.MetadataMatch
	}{
		{"Empty", ``, nil},
		{"OnlyPriorityIsLeftOut", `{"priority":"high"}`, nil},
		{"String", `{"user_id":"u-42"}`, []triggers.MetadataMatch{{"user_id", "u-42"}}},
		{"StringUnescaped", `{"k":"a\"b\u00e9"}`, []triggers.MetadataMatch{{"k", `a"bé`}}},
		{"NumberAsWritten", `{"n":1.50,"m":-2e3,"i":7}`, []triggers.MetadataMatch{{"i", "7"}, {"m", "-2e3"}, {"n", "1.50"}}},
		{"Booleans", `{"t":true,"f":false}`, []triggers.MetadataMatch{{"f", "false"}, {"t", "true"}}},
		{"NullObjectArrayLeftOut", `{"z":null,"o":{"a":"b"},"a":["x"],"s":"x"}`, []triggers.MetadataMatch{{"s", "x"}}},
		{"KeyAFilterCannotNameLeftOut", `{"a b":"x","a/b":"y","ok.k-e_y":"z"}`, []triggers.MetadataMatch{{"ok.k-e_y", "z"}}},
		{"KeyTooLongLeftOut", `{"` + strings.Repeat("k", 65) + `":"x"}`, nil},
		{"Value256RunesKept", `{"v":"` + strings.Repeat("é", 256) + `"}`, []triggers.MetadataMatch{{"v", strings.Repeat("é", 256)}}},
		{"Value257RunesLeftOut", `{"v":"` + strings.Repeat("é", 257) + `"}`, nil},
		{"EmptyString", `{"v":""}`, []triggers.MetadataMatch{{"v", ""}}},
		{"NotAnObject", `[1]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := triggers.MetadataTerms(json.RawMessage(tt.md)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MetadataTerms(%s) = %q, want %q", tt.md, got, tt.want)
			}
		})
	}
}

func TestInboxFilter_Matches(t *testing.T) {
	t0 := time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC)
	ev := triggers.Event{Source: "billing", EventType: "invoice.paid", Priority: triggers.PriorityHigh, CreatedAt: t0,
		Metadata: json.RawMessage(`{"priority":"high","user_id":"u-42","amount":10,"vip":true}`)}
	md := func(kv ...string) []triggers.MetadataMatch {
		var m []triggers.MetadataMatch
		for i := 0; i < len(kv); i += 2 {
			m = append(m, triggers.MetadataMatch{Key: kv[i], Value: kv[i+1]})
		}
		return m
	}
	tests := []struct {
		name   string
		filter triggers.InboxFilter
		want   bool
	}{
		{"NoFilter", triggers.InboxFilter{}, true},
		{"Source", triggers.InboxFilter{Source: "billing"}, true},
		{"OtherSource", triggers.InboxFilter{Source: "shipping"}, false},
		{"OtherType", triggers.InboxFilter{EventType: "invoice.sent"}, false},
		{"Priority", triggers.InboxFilter{Priority: triggers.PriorityHigh}, true},
		{"OtherPriority", triggers.InboxFilter{Priority: triggers.PriorityLow}, false},
		{"AfterIsExclusive", triggers.InboxFilter{CreatedAfter: t0}, false},
		{"BeforeIsExclusive", triggers.InboxFilter{CreatedBefore: t0}, false},
		{"InsideWindow", triggers.InboxFilter{CreatedAfter: t0.Add(-time.Microsecond), CreatedBefore: t0.Add(time.Microsecond)}, true},
		{"MetadataString", triggers.InboxFilter{Metadata: md("user_id", "u-42")}, true},
		{"MetadataNumberText", triggers.InboxFilter{Metadata: md("amount", "10")}, true},
		{"MetadataNumberOtherText", triggers.InboxFilter{Metadata: md("amount", "10.0")}, false},
		{"MetadataBoolean", triggers.InboxFilter{Metadata: md("vip", "true")}, true},
		{"MetadataAllMustHold", triggers.InboxFilter{Metadata: md("user_id", "u-42", "vip", "false")}, false},
		{"MetadataMissingKey", triggers.InboxFilter{Metadata: md("region", "eu")}, false},
		{"MetadataCaseSensitive", triggers.InboxFilter{Metadata: md("user_id", "U-42")}, false},
		{"Everything", triggers.InboxFilter{Source: "billing", EventType: "invoice.paid", Priority: triggers.PriorityHigh,
			CreatedAfter: t0.Add(-time.Hour), CreatedBefore: t0.Add(time.Hour), Metadata: md("amount", "10", "user_id", "u-42")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Matches(&ev); got != tt.want {
				t.Errorf("%+v.Matches(%s) = %v, want %v", tt.filter, ev.Metadata, got, tt.want)
			}
		})
	}
}
