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
			CreatedAt: t0, AcknowledgedAt: t0.Add(time.Second), Attempts: 3},
		{ID: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f8", Source: "s", EventType: "leased",
			Payload: json.RawMessage(`{"a":1}`), Metadata: json.RawMessage(`{"priority":"low"}`), CreatedAt: t0,
			Attempts: 2, LeaseExpiresAt: t0.Add(30 * time.Second)},
		{ID: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f9", Source: "s", EventType: "dead",
			Payload: json.RawMessage(`{"a":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`), CreatedAt: t0,
			Attempts: 10, DeadAt: t0.Add(time.Minute)},
		{ID: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5fa", Source: "s", EventType: "acknowledged once dead",
			Payload: json.RawMessage(`{"a":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`), CreatedAt: t0,
			Attempts: 10, DeadAt: t0.Add(time.Minute), AcknowledgedAt: t0.Add(time.Hour)},
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

// TestAppendEvent_LeaseFields checks which of the lease fields (DESIGN
// §10.1) each state shows: attempts always, lease_expires_at while set (as
// Service presents a held lease), dead_at only while dead.
func TestAppendEvent_LeaseFields(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	base := triggers.Event{ID: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", Source: "s", EventType: "t",
		Payload: json.RawMessage(`{"a":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`), CreatedAt: t0}
	leased, dead, ackedDead := base, base, base
	leased.Attempts, leased.LeaseExpiresAt = 1, t0.Add(time.Minute)
	dead.Attempts, dead.DeadAt = 3, t0.Add(time.Hour)
	ackedDead.Attempts, ackedDead.DeadAt, ackedDead.AcknowledgedAt = 3, t0.Add(time.Hour), t0.Add(2*time.Hour)
	cases := []struct {
		name string
		e    triggers.Event
		want map[string]any // the fields beyond the base ones
	}{
		{"new", base, map[string]any{"status": "pending", "attempts": 0.0}},
		{"leased", leased, map[string]any{"status": "pending", "attempts": 1.0, "lease_expires_at": "2026-11-10T12:01:00.000000Z"}},
		{"dead", dead, map[string]any{"status": "dead", "attempts": 3.0, "dead_at": "2026-11-10T13:00:00.000000Z"}},
		{"acknowledged once dead", ackedDead, map[string]any{"status": "acknowledged", "attempts": 3.0,
			"acknowledged_at": "2026-11-10T14:00:00.000000Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got map[string]any
			if err := json.Unmarshal(appendEvent(nil, &c.e), &got); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"event_id", "created_at", "source", "event_type", "payload", "metadata"} {
				delete(got, k)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("appendEvent() fields = %v, want %v", got, c.want)
			}
		})
	}
}

// TestAppendReceived is the event as appendEvent writes it, plus its lease.
func TestAppendReceived(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	e := triggers.Event{ID: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", Source: "s", EventType: "t",
		Payload: json.RawMessage(`{"a":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`), CreatedAt: t0,
		Attempts: 1, LeaseID: "6f1c2a9e0b3d4c5e8f7a6b5c4d3e2f10", LeaseExpiresAt: t0.Add(30 * time.Second)}
	var got, want map[string]any
	if err := json.Unmarshal(appendReceived(nil, &e), &got); err != nil {
		t.Fatalf("appendReceived() is not JSON: %v", err)
	}
	json.Unmarshal(appendEvent(nil, &e), &want)
	want["lease"] = map[string]any{"lease_id": e.LeaseID, "expires_at": "2026-11-10T12:00:30.000000Z"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("appendReceived() = %v, want %v", got, want)
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
