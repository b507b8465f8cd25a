package sqlite_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
	"github.com/triggersapi/triggers/storetest"
)

// MustOpen opens a store on a real file in a temporary directory.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.TempDir(), nil)
	if err != nil {
		tb.Fatalf("sqlite.Open() = %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) triggers.Store { return MustOpen(t) })
}

// TestDeleteExpired_ManyBatches purges more expired events than one purge
// transaction takes, in seq order, and keeps every event still retained.
func TestDeleteExpired_ManyBatches(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []triggers.Event
	for i := range 2_510 {
		at := old
		if i >= 2_500 {
			at = old.Add(time.Hour) // the last ten are retained
		}
		evs = append(evs, triggers.Event{ID: triggers.NewEventID(at), Tenant: "acme", Source: "s", EventType: "t",
			Payload: json.RawMessage(`{}`), Metadata: json.RawMessage(`{"priority":"normal","k":"v"}`), Priority: "normal", CreatedAt: at})
		if len(evs) == 500 || i == 2_509 {
			storetest.MustInsert(t, db, evs...)
			evs = evs[:0]
		}
	}
	n, err := db.DeleteExpired(ctx, old.Add(time.Minute), old)
	if err != nil || n != 2_500 {
		t.Fatalf("DeleteExpired() = %d, %v; want 2500, nil", n, err)
	}
	page, err := db.ListPending(ctx, triggers.InboxQuery{Tenant: "acme", Limit: 100, MaxScan: 5000, NotBefore: old.Add(-time.Hour)})
	if err != nil || len(page.Events) != 10 {
		t.Fatalf("ListPending() after the purge = %d events, %v; want the 10 retained", len(page.Events), err)
	}
	byMeta, err := db.ListPending(ctx, triggers.InboxQuery{Tenant: "acme", Limit: 100, MaxScan: 5000, NotBefore: old.Add(-time.Hour),
		Filter: triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: "k", Value: "v"}}}})
	if err != nil || len(byMeta.Events) != 10 {
		t.Fatalf("ListPending(metadata.k=v) after the purge = %d events, %v; want the 10 retained", len(byMeta.Events), err)
	}
}

// TestClose_LaterWritesAreRefused checks that a write made after Close
// answers SERVICE_UNAVAILABLE at once, never waits forever: a write may
// still get into the writer's queue after the writer's last look at it.
func TestClose_LaterWritesAreRefused(t *testing.T) {
	db, err := sqlite.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 50)
	for range cap(done) {
		go func() {
			e := triggers.Event{ID: triggers.NewEventID(time.Now()), Tenant: "a", Source: "s", EventType: "t",
				Payload: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`),
				Priority: triggers.PriorityNormal, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
			_, err := db.InsertEvents(context.Background(), []triggers.Insert{{Event: e}})
			done <- err
		}()
	}
	for range cap(done) {
		select {
		case err := <-done:
			if triggers.ErrorCode(err) != triggers.EUNAVAILABLE {
				t.Fatalf("InsertEvents() after Close = %v, want SERVICE_UNAVAILABLE", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("InsertEvents() after Close never answered")
		}
	}
}
