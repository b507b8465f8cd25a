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
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
