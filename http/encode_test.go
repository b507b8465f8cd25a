package http

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// TestAppendEvent_MatchesEncodingJSON checks the hand-written inbox encoder
// against encoding/json on the same events.
func TestAppendEvent_MatchesEncodingJSON(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 12, 0, 0, 123456000, time.UTC)
	events := []triggers.Event{
		{ID: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", Source: "billing", EventType: "invoice.paid",
			Payload: json.RawMessage(`{"a":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`), CreatedAt: t0},
		{ID: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f7", Source: "quote \" back\\slash <tag> & \u2028 é 𝄞", EventType: "ctl \x01\t\n",
			Payload: json.RawMessage(`{"big":123456789012345678901234567890,"s":"\u00e9"}`), Metadata: json.RawMessage(`{"priority":"high","x":[1,{"y":null}]}`),
			CreatedAt: t0, AcknowledgedAt: t0.Add(time.Second)},
	}
	for _, e := range events {
		var got, want any
		if err := json.Unmarshal(appendEvent(nil, &e), &got); err != nil {
			t.Fatalf("appendEvent(%s) is not JSON: %v", e.ID, err)
		}
		std, _ := json.Marshal(toEventJSON(&e))
		json.Unmarshal(std, &want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("appendEvent(%s) = %v, encoding/json gives %v", e.ID, got, want)
		}
	}
}

// FuzzAppendString checks the inbox encoder's string escaping, fast path
// included, against encoding/json byte for byte.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "billing", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", `quote " back\slash`,
		"<tag> & amp", "ctl \x01\t\n\x7f", "é 𝄞 \u2028 \u2029", "\xff invalid utf-8", "~ tilde"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("appendString(%q) = %s, encoding/json gives %s", s, got[1:], want)
		}
	})
}
