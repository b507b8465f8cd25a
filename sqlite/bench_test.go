package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
	"github.com/triggersapi/triggers/storetest"
)

var benchPayload = json.RawMessage(`{"data":"` + strings.Repeat("x", 280) + `"}`)

// BenchmarkListPending reads the first inbox page of 50 over 10,000 pending
// events from the database (the page cache off).
func BenchmarkListPending(b *testing.B) { benchListPending(b, &sqlite.Options{PageCache: -1}) }

// BenchmarkListPending_PageCache is BenchmarkListPending with the page cache
// on, as servers run: every page after the first is answered from memory.
func BenchmarkListPending_PageCache(b *testing.B) { benchListPending(b, nil) }

func benchListPending(b *testing.B, opts *sqlite.Options) {
	db, err := sqlite.Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	now := time.Now().UTC()
	batch := make([]triggers.Event, 0, 500)
	for i := range 10_000 {
		batch = append(batch, triggers.Event{ID: triggers.NewEventID(now), Tenant: "bench", Source: "s", EventType: "t",
			Payload: benchPayload, Metadata: json.RawMessage(`{"priority":"normal"}`), Priority: "normal", CreatedAt: now})
		if len(batch) == cap(batch) || i == 9_999 {
			storetest.MustInsert(b, db, batch...)
			batch = batch[:0]
		}
	}
	q := triggers.InboxQuery{Tenant: "bench", Limit: 50, MaxScan: 5000, NotBefore: now.Add(-time.Hour)}
	b.ReportAllocs()
	b.ResetTimer() // the load above is not part of a page's cost
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			page, err := db.ListPending(context.Background(), q)
			if err != nil || len(page.Events) != 50 {
				panic(fmt.Sprint(len(page.Events), err))
			}
		}
	})
}

// BenchmarkInsertEvents measures single-event inserts from parallel callers:
// each waits for its group commit's fsync.
func BenchmarkInsertEvents(b *testing.B) {
	benchInsert(b, `{"priority":"normal"}`)
}

// BenchmarkInsertEvents_WithMetadata is BenchmarkInsertEvents with two
// filterable metadata fields per event, each a row of the metadata index.
func BenchmarkInsertEvents_WithMetadata(b *testing.B) {
	benchInsert(b, `{"priority":"normal","user_id":"u-42","region":"eu"}`)
}

// benchInsert inserts events with the metadata from 8 parallel callers per
// CPU and reports how many inserts each group commit carried.
func benchInsert(b *testing.B, metadata string) {
	db := MustOpen(b)
	now := time.Now().UTC()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			storetest.MustInsert(b, db, triggers.Event{ID: triggers.NewEventID(now), Tenant: "bench", Source: "s", EventType: "t",
				Payload: benchPayload, Metadata: json.RawMessage(metadata), Priority: "normal", CreatedAt: now})
		}
	})
	st := db.Stats()
	b.ReportMetric(float64(st.CommittedOps)/float64(max(st.Commits, 1)), "ops/commit")
}
