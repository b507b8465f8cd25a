package openapi_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	triggers "github.com/triggersapi/triggers"
)

// TestDocument_StrictLimits: what the document declares of the JSON rules
// (issue 14) is what the parsers do: the metadata field bound, the depth
// bound in the descriptions, and patterns for source, event_type and the
// Idempotency-Key header that accept exactly what a create accepts (on
// samples where JSON Schema's regular expressions and Go's agree).
func TestDocument_StrictLimits(t *testing.T) {
	doc := MustLoad(t)
	schemas, params := doc.Components.Schemas, doc.Components.Parameters
	if md := schemas["EventMetadataInput"].Value; md.MaxProps == nil || int(*md.MaxProps) != triggers.MaxMetadataFields+1 {
		t.Errorf("EventMetadataInput maxProperties = %v, want %d (MaxMetadataFields and priority)", md.MaxProps, triggers.MaxMetadataFields+1)
	}
	depth := fmt.Sprintf("%d levels", triggers.MaxJSONDepth)
	for name, desc := range map[string]string{
		"info":                       doc.Info.Description,
		"CreateEventRequest.payload": schemas["CreateEventRequest"].Value.Properties["payload"].Value.Description,
	} {
		if !strings.Contains(desc, depth) {
			t.Errorf("%s description does not say %q", name, depth)
		}
	}

	accepts := func(source, header string) bool {
		body := fmt.Sprintf(`{"source":%q,"event_type":"e","payload":{"a":1}}`, source)
		_, err := triggers.ParseNewEvent([]byte(body), header, "")
		return err == nil
	}
	names := map[string]*openapi3.Schema{
		"CreateEventRequest.source":     schemas["CreateEventRequest"].Value.Properties["source"].Value,
		"CreateEventRequest.event_type": schemas["CreateEventRequest"].Value.Properties["event_type"].Value,
		"ReceiveRequest.source":         schemas["ReceiveRequest"].Value.Properties["source"].Value,
		"ReceiveRequest.event_type":     schemas["ReceiveRequest"].Value.Properties["event_type"].Value,
		"parameter source":              params["Source"].Value.Schema.Value,
		"parameter event_type":          params["EventType"].Value.Schema.Value,
	}
	for name, sch := range names {
		re, err := regexp.Compile(sch.Pattern)
		if err != nil || sch.MaxLength == nil || int(*sch.MaxLength) != triggers.MaxSourceLen {
			t.Errorf("%s: pattern %q (%v), maxLength %v; want a pattern and %d", name, sch.Pattern, err, sch.MaxLength, triggers.MaxSourceLen)
			continue
		}
		for _, s := range []string{"shop", " shop ", "\tshop\n", "order created", "café", "注文", "a\u00a0b",
			"", "   ", "a\nb", "a\tb", "a\x00b", "\x1b[31mred", "shop\u202egpj", "a\u200bb", "\ufeffa", "a\u2028b", "a\u0085b"} {
			if got, want := re.MatchString(s), accepts(s, ""); got != want {
				t.Errorf("%s: pattern matches %q = %t, but a create accepts it = %t", name, s, got, want)
			}
		}
	}

	key := params["IdempotencyKey"].Value.Schema.Value
	re, err := regexp.Compile(key.Pattern)
	if err != nil || key.MinLength != 1 || key.MaxLength == nil || int(*key.MaxLength) != triggers.MaxIdempotencyKeyLen {
		t.Fatalf("Idempotency-Key: pattern %q (%v), length %d to %v; want a pattern, 1 to %d", key.Pattern, err, key.MinLength, key.MaxLength, triggers.MaxIdempotencyKeyLen)
	}
	for _, s := range []string{"order-1001", "a b", "注文-1", "a\tb", "a\u202eb", "a\u200bb", "a\u0085b", "a\u2029b"} {
		if got, want := re.MatchString(s), accepts("s", s); got != want {
			t.Errorf("Idempotency-Key: pattern matches %q = %t, but a create accepts it = %t", s, got, want)
		}
	}
}
