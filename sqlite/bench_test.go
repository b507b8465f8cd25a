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
	loadEvents(b, db, 10_000, now)
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

// BenchmarkInsertEvents_OneSubscription is BenchmarkInsertEvents with one
// subscription of the tenant that matches every event: each insert writes
// a delivery too (the outbox).
func BenchmarkInsertEvents_OneSubscription(b *testing.B) {
	benchInsertWith(b, `{"priority":"normal"}`, func(db *sqlite.DB) {
		at := time.Now().UTC()
		sub := triggers.Subscription{ID: triggers.NewEventID(at), Tenant: "bench", URL: "https://example.com/hooks",
			Status: triggers.SubscriptionActive, Secret: "whsec_c2VjcmV0", CreatedAt: at, UpdatedAt: at}
		if err := db.CreateSubscription(context.Background(), sub, 20); err != nil {
			b.Fatal(err)
		}
	})
}

// benchInsert inserts events with the metadata from 8 parallel callers per
// CPU and reports how many inserts each group commit carried.
func benchInsert(b *testing.B, metadata string) { benchInsertWith(b, metadata, nil) }

// benchInsertWith is benchInsert on a store prepared by setup (nil: none).
func benchInsertWith(b *testing.B, metadata string, setup func(*sqlite.DB)) {
	db := MustOpen(b)
	if setup != nil {
		setup(db)
	}
	now := time.Now().UTC()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			storetest.MustInsert(b, db, triggers.Event{ID: triggers.NewEventID(now), Tenant: "bench", Source: "s", EventType: "t",
				Payload: benchPayload, Metadata: json.RawMessage(metadata), Priority: "normal", CreatedAt: now})
		}
	})
	st := db.WriterStats()
	b.ReportMetric(float64(st.CommittedOps)/float64(max(st.Commits, 1)), "ops/commit")
}

// loadEvents stores n pending events of tenant "bench" created at now.
func loadEvents(b *testing.B, db *sqlite.DB, n int, now time.Time) {
	batch := make([]triggers.Event, 0, 500)
	for i := range n {
		batch = append(batch, triggers.Event{ID: triggers.NewEventID(now), Tenant: "bench", Source: "s", EventType: "t",
			Payload: benchPayload, Metadata: json.RawMessage(`{"priority":"normal"}`), Priority: "normal", CreatedAt: now})
		if len(batch) == cap(batch) || i == n-1 {
			storetest.MustInsert(b, db, batch...)
			batch = batch[:0]
		}
	}
}

// BenchmarkReceive measures a consumer's round on a store of 10,000 pending
// events: receive 25 (leases, with the fresh lease ids made as Service makes
// them) and acknowledge them in one bulk ack naming their leases. Each is a
// group commit of its own (one caller). The 25 events consumed are replaced
// after each round, untimed, so that the inbox stays at 10,000.
func BenchmarkReceive(b *testing.B) {
	db, err := sqlite.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ctx := context.Background()
	start := time.Now().UTC()
	loadEvents(b, db, 10_000, start)
	notBefore := start.Add(-time.Hour)
	acks := make([]triggers.Ack, 25)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now := time.Now().UTC()
		q := triggers.ReceiveQuery{Tenant: "bench", NotBefore: notBefore, Now: now, Max: 25, LeaseIDs: make([]string, 25),
			LeaseExpiresAt: now.Add(30 * time.Second), MaxAttempts: triggers.DefaultMaxAttempts, MaxScan: 5000}
		for i := range q.LeaseIDs {
			q.LeaseIDs[i] = triggers.NewLeaseID()
		}
		got, err := db.ReceiveEvents(ctx, q)
		if err != nil || len(got.Events) != 25 {
			b.Fatalf("ReceiveEvents() = %d events, %v; want 25", len(got.Events), err)
		}
		for i, e := range got.Events {
			acks[i] = triggers.Ack{ID: e.ID, LeaseID: e.LeaseID}
		}
		res, err := db.AckEvents(ctx, "bench", acks, now, notBefore)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		b.StopTimer()
		loadEvents(b, db, 25, now)
		b.StartTimer()
	}
}

// BenchmarkReceiveOnly leases 1, 5 or 25 events per op from a backlog of 10,000,
// without acknowledging them: the work of a receive alone (a volatile
// commit, no fsync of its own).
func BenchmarkReceiveOnly(b *testing.B) {
	for _, n := range []int{1, 5, 25} {
		b.Run(fmt.Sprint("max", n), func(b *testing.B) { benchmarkReceiveOnly(b, n) })
	}
}

func benchmarkReceiveOnly(b *testing.B, n int) {
	db, err := sqlite.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ctx := context.Background()
	start := time.Now().UTC()
	loadEvents(b, db, 10_000, start)
	notBefore := start.Add(-time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now := time.Now().UTC()
		q := triggers.ReceiveQuery{Tenant: "bench", NotBefore: notBefore, Now: now, Max: n, LeaseIDs: make([]string, n),
			LeaseExpiresAt: now.Add(time.Hour), MaxAttempts: triggers.DefaultMaxAttempts, MaxScan: 5000}
		for i := range q.LeaseIDs {
			q.LeaseIDs[i] = triggers.NewLeaseID()
		}
		got, err := db.ReceiveEvents(ctx, q)
		if err != nil || len(got.Events) != n {
			b.Fatalf("ReceiveEvents() = %d events, %v; want %d", len(got.Events), err, n)
		}
		b.StopTimer()
		loadEvents(b, db, n, now)
		b.StartTimer()
	}
}

// BenchmarkInsertEvents_Bulk measures the writer's time per event: bulk
// creates of 100 events from one caller, whose commits are full (the fsync
// is shared by many inserts), so that the statements dominate. ns/op is
// per event.
func BenchmarkInsertEvents_Bulk(b *testing.B) { benchInsertBulk(b, nil) }

// BenchmarkInsertEvents_BulkOneSubscription is BenchmarkInsertEvents_Bulk
// with one subscription matching every event: the outbox's cost per event.
func BenchmarkInsertEvents_BulkOneSubscription(b *testing.B) {
	benchInsertBulk(b, func(db *sqlite.DB) {
		at := time.Now().UTC()
		sub := triggers.Subscription{ID: triggers.NewEventID(at), Tenant: "bench", URL: "https://example.com/hooks",
			Status: triggers.SubscriptionActive, Secret: "whsec_c2VjcmV0", CreatedAt: at, UpdatedAt: at}
		if err := db.CreateSubscription(context.Background(), sub, 20); err != nil {
			b.Fatal(err)
		}
	})
}

func benchInsertBulk(b *testing.B, setup func(*sqlite.DB)) {
	db := MustOpen(b)
	if setup != nil {
		setup(db)
	}
	now := time.Now().UTC()
	ins := make([]triggers.Insert, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(ins) {
		for j := range ins {
			ins[j] = triggers.Insert{Event: triggers.Event{ID: triggers.NewEventID(now), Tenant: "bench", Source: "s", EventType: "t",
				Payload: benchPayload, Metadata: json.RawMessage(`{"priority":"normal"}`), Priority: "normal", CreatedAt: now}}
		}
		if _, err := db.InsertEvents(context.Background(), ins); err != nil {
			b.Fatal(err)
		}
	}
}
