package triggers_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
)

// TestService_WakesTheDispatcherWhenDeliveriesAreDue checks when the
// service calls WebhookOptions.EventsStored: after a create that gave the
// dispatcher work, a manual retry and a replay that queued something; not
// after a create no subscription matches, nor a replay of an empty range.
func TestService_WakesTheDispatcherWhenDeliveriesAreDue(t *testing.T) {
	store, err := sqlite.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var wakes atomic.Int64
	svc := triggers.NewService(store, &triggers.Options{Webhooks: triggers.WebhookOptions{EventsStored: func() { wakes.Add(1) }}})
	ctx := t.Context()
	sub, err := svc.CreateSubscription(ctx, "acme", []byte(`{"url":"https://example.com/hooks","filter":{"source":"shop"}}`))
	if err != nil {
		t.Fatal(err)
	}
	event := func(source string) triggers.NewEvent {
		return triggers.NewEvent{Source: source, EventType: "t", Payload: json.RawMessage(`{}`),
			Metadata: json.RawMessage(`{"priority":"normal"}`), Priority: triggers.PriorityNormal}
	}
	step := func(name string, want int64, do func() error) {
		t.Helper()
		before := wakes.Load()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := wakes.Load() - before; got != want {
			t.Errorf("%s: %d wakes, want %d", name, got, want)
		}
	}
	start := time.Now().UTC().Add(-time.Second)
	step("a create no subscription matches", 0, func() error { _, err := svc.CreateEvent(ctx, "acme", event("crm")); return err })
	var matched triggers.CreateResult
	step("a create the subscription matches", 1, func() error {
		matched, err = svc.CreateEvent(ctx, "acme", event("shop"))
		return err
	})
	step("a manual retry", 1, func() error { _, err := svc.RetryDelivery(ctx, "acme", sub.ID, matched.Event.ID); return err })
	rangeOf := func(after time.Time) []byte {
		return []byte(`{"created_after":"` + triggers.FormatTimestamp(after) + `"}`)
	}
	step("a replay that queues deliveries", 1, func() error { _, err := svc.Replay(ctx, "acme", sub.ID, rangeOf(start)); return err })
	step("a replay of an empty range", 0, func() error {
		_, err := svc.Replay(ctx, "acme", sub.ID, rangeOf(time.Now().UTC()))
		return err
	})
}
