package triggers_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

func TestParseNewSubscription_Valid(t *testing.T) {
	tests := []struct {
		name string
		body string
		want triggers.Subscription
	}{
		{"OnlyURL", `{"url":"https://example.com/hooks"}`,
			triggers.Subscription{URL: "https://example.com/hooks"}},
		{"Everything", `{"url":"https://example.com:8443/h?x=1","description":"orders","ack_on_delivery":true,
			"filter":{"source":" shop ","event_type":"order.created","priority":"high","metadata":{"region":"eu"}}}`,
			triggers.Subscription{URL: "https://example.com:8443/h?x=1", Description: "orders", AckOnDelivery: true,
				Filter: triggers.InboxFilter{Source: "shop", EventType: "order.created", Priority: triggers.PriorityHigh,
					Metadata: []triggers.MetadataMatch{{Key: "region", Value: "eu"}}}}},
		{"NullFieldsAreAbsent", `{"url":"http://localhost:9/h","filter":null,"ack_on_delivery":null}`,
			triggers.Subscription{URL: "http://localhost:9/h"}},
		{"EmptyFilterMatchesAll", `{"url":"https://example.com","filter":{}}`,
			triggers.Subscription{URL: "https://example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := triggers.ParseNewSubscription([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseNewSubscription() = %v", err)
			}
			var got triggers.Subscription
			spec.Apply(&got)
			if g, w := mustJSON(t, got), mustJSON(t, tt.want); g != w {
				t.Fatalf("subscription = %s\nwant %s", g, w)
			}
		})
	}
}

func TestParseNewSubscription_InvalidNamesEveryField(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"NoBody", ``, []string{"body"}},
		{"NotAnObject", `[1]`, []string{"body"}},
		{"URLMissing", `{"description":"x"}`, []string{"url"}},
		{"URLNotAString", `{"url":1}`, []string{"url"}},
		{"URLRelative", `{"url":"/hooks"}`, []string{"url"}},
		{"URLOtherScheme", `{"url":"ftp://example.com/x"}`, []string{"url"}},
		{"URLNoHost", `{"url":"https:///x"}`, []string{"url"}},
		{"URLUserInfo", `{"url":"https://u:p@example.com/"}`, []string{"url"}},
		{"URLFragment", `{"url":"https://example.com/#x"}`, []string{"url"}},
		{"URLSpaces", `{"url":" https://example.com/"}`, []string{"url"}},
		{"URLTooLong", `{"url":"https://example.com/` + strings.Repeat("a", 2048) + `"}`, []string{"url"}},
		{"DescriptionTooLong", `{"url":"https://e.com","description":"` + strings.Repeat("é", 257) + `"}`, []string{"description"}},
		{"AckNotBool", `{"url":"https://e.com","ack_on_delivery":"yes"}`, []string{"ack_on_delivery"}},
		{"StatusOnCreate", `{"url":"https://e.com","status":"active"}`, []string{"status"}},
		{"UnknownField", `{"url":"https://e.com","secret":"x"}`, []string{"secret"}},
		{"FilterNotObject", `{"url":"https://e.com","filter":"shop"}`, []string{"filter"}},
		{"FilterFields", `{"url":"https://e.com","filter":{"source":"","priority":"urgent","metadata":{"a":1},"x":1}}`,
			[]string{"filter.metadata.a", "filter.source", "filter.priority", "filter.x"}},
		{"FilterBadMetadataKey", `{"url":"https://e.com","filter":{"metadata":{"bad key":"v"}}}`, []string{"filter.metadata.bad key"}},
		{"DuplicateNames", `{"url":"https://e.com","url":"https://f.com"}`, []string{"body"}},
		{"SeveralAtOnce", `{"url":3,"description":4}`, []string{"description", "url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := triggers.ParseNewSubscription([]byte(tt.body))
			mustNameFields(t, err, tt.fields)
		})
	}
}

func TestParseSubscriptionPatch_SetsOnlyWhatIsGiven(t *testing.T) {
	sub := triggers.Subscription{URL: "https://a.example/h", Description: "d", AckOnDelivery: true,
		Status: triggers.SubscriptionActive, Filter: triggers.InboxFilter{Source: "shop"}}
	tests := []struct {
		name, body string
		want       func(s *triggers.Subscription)
	}{
		{"Status", `{"status":"disabled"}`, func(s *triggers.Subscription) { s.Status = triggers.SubscriptionDisabled }},
		{"NullDescriptionClears", `{"description":null}`, func(s *triggers.Subscription) { s.Description = "" }},
		{"FilterReplacedWhole", `{"filter":{"event_type":"x"}}`,
			func(s *triggers.Subscription) { s.Filter = triggers.InboxFilter{EventType: "x"} }},
		{"Nothing", `{}`, func(s *triggers.Subscription) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := triggers.ParseSubscriptionPatch([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseSubscriptionPatch() = %v", err)
			}
			got, want := sub, sub
			spec.Apply(&got)
			tt.want(&want)
			if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
				t.Fatalf("after patch = %s\nwant %s", g, w)
			}
		})
	}
	if _, err := triggers.ParseSubscriptionPatch([]byte(`{"status":"paused"}`)); triggers.ErrorCode(err) != triggers.EINVALID {
		t.Fatalf("status paused = %v, want EINVALID", err)
	}
}

func TestSubscription_MatchesActiveAndFilter(t *testing.T) {
	e := triggers.Event{Source: "shop", EventType: "order", Priority: triggers.PriorityHigh,
		Metadata: json.RawMessage(`{"priority":"high","region":"eu"}`)}
	tests := []struct {
		name string
		sub  triggers.Subscription
		want bool
	}{
		{"AllEvents", triggers.Subscription{Status: triggers.SubscriptionActive}, true},
		{"Disabled", triggers.Subscription{Status: triggers.SubscriptionDisabled}, false},
		{"SourceMatches", triggers.Subscription{Status: triggers.SubscriptionActive, Filter: triggers.InboxFilter{Source: "shop"}}, true},
		{"SourceDiffers", triggers.Subscription{Status: triggers.SubscriptionActive, Filter: triggers.InboxFilter{Source: "crm"}}, false},
		{"MetadataMatches", triggers.Subscription{Status: triggers.SubscriptionActive,
			Filter: triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: "region", Value: "eu"}}}}, true},
		{"MetadataDiffers", triggers.Subscription{Status: triggers.SubscriptionActive,
			Filter: triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: "region", Value: "us"}}}}, false},
		{"PriorityDiffers", triggers.Subscription{Status: triggers.SubscriptionActive,
			Filter: triggers.InboxFilter{Priority: triggers.PriorityLow}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sub.Matches(&e); got != tt.want {
				t.Fatalf("Matches() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSubscription_SigningSecretsDuringRotation(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	s := triggers.Subscription{Secret: "new", PreviousSecret: "old", PreviousSecretUntil: now.Add(time.Hour)}
	if got := s.SigningSecrets(now); !slices.Equal(got, []string{"new", "old"}) {
		t.Fatalf("during the overlap = %q, want new and old", got)
	}
	if got := s.SigningSecrets(now.Add(time.Hour)); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("after the overlap = %q, want only new", got)
	}
}

func FuzzParseNewSubscription(f *testing.F) {
	for _, seed := range []string{`{"url":"https://e.com"}`, `{"url":"https://e.com","filter":{"metadata":{"a":"b"}}}`,
		`{"url":1}`, `{`, `{"filter":{"source":"\u0000"}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		spec, err := triggers.ParseNewSubscription(body)
		if err != nil {
			if triggers.ErrorCode(err) != triggers.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if spec.URL == nil || !strings.HasPrefix(*spec.URL, "http") {
			t.Fatalf("accepted without an http(s) url: %+v", spec)
		}
		if _, err := triggers.ParseSubscriptionPatch(body); err != nil {
			t.Fatalf("a valid create is not a valid patch: %v", err)
		}
	})
}
