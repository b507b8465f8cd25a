package mockstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/mockstore"
)

// TestStore_UnsetFnPanicsNamingIt checks that a call the test did not expect
// panics with the method's name, for every method.
func TestStore_UnsetFnPanicsNamingIt(t *testing.T) {
	ctx, now := context.Background(), time.Now()
	s := &mockstore.Store{}
	for _, tt := range []struct {
		method string
		call   func()
	}{
		{"InsertEvents", func() { s.InsertEvents(ctx, nil) }},
		{"GetEvent", func() { s.GetEvent(ctx, "t", "id", now) }},
		{"AckEvent", func() { s.AckEvent(ctx, "t", triggers.Ack{ID: "id"}, now, now) }},
		{"ReceiveEvents", func() { s.ReceiveEvents(ctx, triggers.ReceiveQuery{}) }},
		{"NackEvents", func() { s.NackEvents(ctx, "t", nil, now, now) }},
		{"ExtendLease", func() { s.ExtendLease(ctx, "t", triggers.Ack{}, now, now, now) }},
		{"RedriveEvents", func() { s.RedriveEvents(ctx, "t", nil, now) }},
		{"DeleteEvent", func() { s.DeleteEvent(ctx, "t", "id", now) }},
		{"AckEvents", func() { s.AckEvents(ctx, "t", nil, now, now) }},
		{"DeleteEvents", func() { s.DeleteEvents(ctx, "t", nil, now) }},
		{"ListPending", func() { s.ListPending(ctx, triggers.InboxQuery{}) }},
		{"DeleteExpired", func() { s.DeleteExpired(ctx, now, now) }},
		{"CreateKey", func() { s.CreateKey(ctx, triggers.APIKey{}) }},
		{"KeyByHash", func() { s.KeyByHash(ctx, "h") }},
		{"ListKeys", func() { s.ListKeys(ctx) }},
		{"UpdateKey", func() { s.UpdateKey(ctx, "id", nil) }},
		{"Ping", func() { s.Ping(ctx) }},
		{"Close", func() { s.Close() }},
	} {
		t.Run(tt.method, func(t *testing.T) {
			defer func() {
				if msg := fmt.Sprint(recover()); !strings.Contains(msg, tt.method+"Fn is not set") {
					t.Fatalf("%s with no %sFn: panic %q, want one naming %sFn", tt.method, tt.method, msg, tt.method)
				}
			}()
			tt.call()
		})
	}
}

// TestStore_CallsFn checks that a method passes its arguments to its
// function and returns its answers.
func TestStore_CallsFn(t *testing.T) {
	var gotTenant, gotID string
	want := triggers.Event{ID: "e1", Tenant: "acme"}
	s := &mockstore.Store{GetEventFn: func(_ context.Context, tenant, id string, _ time.Time) (triggers.Event, error) {
		gotTenant, gotID = tenant, id
		return want, nil
	}}
	got, err := s.GetEvent(context.Background(), "acme", "e1", time.Now())
	if err != nil || got.ID != want.ID || gotTenant != "acme" || gotID != "e1" {
		t.Fatalf("GetEvent() = %+v, %v (fn saw %q, %q); want %+v from the fn given acme, e1", got, err, gotTenant, gotID, want)
	}
}
