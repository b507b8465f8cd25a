package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// metadataRows counts the metadata index rows.
func metadataRows(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow(`SELECT count(*) FROM event_metadata`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMetadataIndex_FollowsPendingEvents checks that the metadata index holds
// rows for pending events only: written with the event, removed on ack,
// delete (single and bulk) and retention purge, rebuilt by the migration's
// backfill.
func TestMetadataIndex_FollowsPendingEvents(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	now := time.Now().UTC()
	var ins []triggers.Insert
	for i := range 8 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		if i < 2 {
			at = now.Add(-48 * time.Hour) // purged below
		}
		ins = append(ins, triggers.Insert{Event: triggers.Event{
			ID: triggers.NewEventID(at), Tenant: "a", Source: "s", EventType: "t", CreatedAt: at,
			Payload: json.RawMessage(`{}`), Priority: triggers.PriorityNormal,
			// Two terms each: user_id and n ("priority" is not indexed).
			Metadata: json.RawMessage(fmt.Sprintf(`{"priority":"normal","user_id":"u%d","n":%d,"o":{}}`, i, i)),
		}})
	}
	res, err := db.InsertEvents(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	notBefore := now.Add(-72 * time.Hour)
	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"insert", func() error { return nil }, 16},
		{"ack", func() error {
			_, err := db.AckEvent(ctx, "a", triggers.Ack{ID: res[2].Event.ID}, now, notBefore)
			return err
		}, 14},
		{"ack again (conflict) keeps the rest", func() error {
			db.AckEvent(ctx, "a", triggers.Ack{ID: res[2].Event.ID}, now, notBefore)
			return nil
		}, 14},
		{"delete pending", func() error { _, err := db.DeleteEvent(ctx, "a", res[3].Event.ID, notBefore); return err }, 12},
		{"delete acknowledged", func() error { _, err := db.DeleteEvent(ctx, "a", res[2].Event.ID, notBefore); return err }, 12},
		{"bulk ack and delete", func() error {
			if _, err := db.AckEvents(ctx, "a", triggers.AcksOf([]string{res[4].Event.ID}), now, notBefore); err != nil {
				return err
			}
			_, err := db.DeleteEvents(ctx, "a", []string{res[5].Event.ID, res[5].Event.ID}, notBefore)
			return err
		}, 8},
		{"purge", func() error {
			_, err := db.DeleteExpired(ctx, now.Add(-24*time.Hour), now.Add(-24*time.Hour))
			return err
		}, 4},
		{"backfill rebuilds", func() error {
			if _, err := db.write.Exec(`DELETE FROM event_metadata`); err != nil {
				return err
			}
			tx, err := db.write.Begin()
			if err != nil {
				return err
			}
			if err := backfillMetadata(tx); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		}, 4},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := metadataRows(t, db); got != s.want {
			t.Fatalf("after %s: %d metadata index rows, want %d", s.name, got, s.want)
		}
	}
}

// TestUnindexMetadata_RemovesEveryRowOfTheEvent is issue 14, item 1 (an ack
// of a create with 30,000 metadata fields took as long as the create): when
// an event stops being pending, its metadata index rows are removed as one
// range of the index by event (migration 005), not by parsing its metadata
// again and deleting the terms that parse yields. The test gives each event
// a row that today's triggers.MetadataTerms would not make (as a row
// written under other rules would be): ack, delete (single and bulk),
// dead-lettering and the retention purge must each leave no row of the
// event behind, and the removal must be that index range.
func TestUnindexMetadata_RemovesEveryRowOfTheEvent(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		remove func(t *testing.T, db *DB, e triggers.Event)
	}{
		{"ack", func(t *testing.T, db *DB, e triggers.Event) {
			if _, err := db.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, lt0.Add(time.Minute), lt0.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}},
		{"bulk ack", func(t *testing.T, db *DB, e triggers.Event) {
			res, err := db.AckEvents(ctx, "a", []triggers.Ack{{ID: e.ID}}, lt0.Add(time.Minute), lt0.Add(-time.Hour))
			if err != nil || res[0].Err != nil {
				t.Fatal(err, res)
			}
		}},
		{"delete", func(t *testing.T, db *DB, e triggers.Event) {
			if found, err := db.DeleteEvent(ctx, "a", e.ID, lt0.Add(-time.Hour)); err != nil || !found {
				t.Fatal(found, err)
			}
		}},
		{"bulk delete", func(t *testing.T, db *DB, e triggers.Event) {
			res, err := db.DeleteEvents(ctx, "a", []string{e.ID}, lt0.Add(-time.Hour))
			if err != nil || res[0].Err != nil {
				t.Fatal(err, res)
			}
		}},
		{"dead-letter", func(t *testing.T, db *DB, e triggers.Event) {
			mustReceive(t, db, leaseQuery("a", lt0.Add(time.Minute), 1, 1, 100))
			if got := mustReceive(t, db, leaseQuery("a", lt0.Add(2*time.Minute), 1, 1, 100)); got.DeadLettered != 1 {
				t.Fatalf("DeadLettered = %d, want 1", got.DeadLettered)
			}
		}},
		{"purge", func(t *testing.T, db *DB, e triggers.Event) {
			if n, err := db.DeleteExpired(ctx, lt0.Add(time.Hour), lt0); err != nil || n != 1 {
				t.Fatal(n, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, err := Open(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			e := insertEvents(t, db, 1, func(int) string { return `{"priority":"normal","k":"v"}` })[0]
			// A row no parse of {"k":"v"} gives back.
			if _, err := db.write.Exec(qInsertTerm, "a", "legacy", "x", micros(e.CreatedAt), e.ID, e.Source, e.EventType, "normal"); err != nil {
				t.Fatal(err)
			}
			if n := metadataRows(t, db); n != 2 {
				t.Fatalf("metadata rows after the insert = %d, want 2", n)
			}
			c.remove(t, db, e)
			if n := metadataRows(t, db); n != 0 {
				t.Errorf("metadata rows after %s = %d, want 0", c.name, n)
			}
		})
	}
	t.Run("plan", func(t *testing.T) {
		db, err := Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, want := queryPlan(t, db, qDeleteTerms, "a", "id"), "SEARCH event_metadata USING INDEX event_metadata_by_event (tenant=? AND id=?)"; got != want {
			t.Errorf("plan of qDeleteTerms = %q, want %q", got, want)
		}
	})
}
