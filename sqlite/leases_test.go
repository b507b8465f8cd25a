package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// lt0 is the reference instant of these tests.
var lt0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

// leaseQuery asks for up to max events of tenant at now, leased for 30 s.
func leaseQuery(tenant string, now time.Time, max, maxAttempts, maxScan int) triggers.ReceiveQuery {
	q := triggers.ReceiveQuery{Tenant: tenant, NotBefore: now.Add(-24 * time.Hour), Now: now, Max: max,
		LeaseExpiresAt: now.Add(30 * time.Second), MaxAttempts: maxAttempts, MaxScan: maxScan}
	for range max {
		q.LeaseIDs = append(q.LeaseIDs, triggers.NewLeaseID())
	}
	return q
}

func mustReceive(t *testing.T, db *DB, q triggers.ReceiveQuery) triggers.Received {
	t.Helper()
	got, err := db.ReceiveEvents(context.Background(), q)
	if err != nil {
		t.Fatalf("ReceiveEvents() = %v", err)
	}
	return got
}

// insertEvents stores n events of tenant a, a millisecond apart from lt0,
// with the metadata md(i), and returns them as stored.
func insertEvents(t *testing.T, db *DB, n int, md func(i int) string) []triggers.Event {
	t.Helper()
	ins := make([]triggers.Insert, n)
	for i := range ins {
		at := lt0.Add(time.Duration(i) * time.Millisecond)
		ins[i] = triggers.Insert{Event: triggers.Event{ID: triggers.NewEventID(at), Tenant: "a", Source: fmt.Sprint("s", i%2),
			EventType: "t", Payload: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(md(i)),
			Priority: triggers.PriorityNormal, CreatedAt: at}}
	}
	res, err := db.InsertEvents(context.Background(), ins)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]triggers.Event, n)
	for i, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		out[i] = r.Event
	}
	return out
}

func eventIDs(evs []triggers.Event) []string {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

func plainMetadata(int) string { return `{"priority":"normal"}` }

// TestMigration004_KeepsEventsOfV3 migrates a database as schema version 3
// left it, with pending and acknowledged events, and checks that every
// event is kept with attempts 0 and no lease, that the rebuilt inbox
// indexes (plain, priority, metadata) list the pending ones, and that they
// can be received.
func TestMigration004_KeepsEventsOfV3(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := openPool(filepath.Join(dir, FileName), []string{"journal_mode(WAL)"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(old, 3); err != nil {
		t.Fatal(err)
	}
	type v3Event struct {
		id, priority, metadata string
		acked                  bool
	}
	evs := []v3Event{
		{id: triggers.NewEventID(lt0), priority: "normal", metadata: `{"priority":"normal","k":"v"}`},
		{id: triggers.NewEventID(lt0), priority: "high", metadata: `{"priority":"high"}`},
		{id: triggers.NewEventID(lt0), priority: "normal", metadata: `{"priority":"normal","k":"v"}`, acked: true},
	}
	for i, e := range evs {
		created := micros(lt0) + int64(i)
		var acked any
		if e.acked {
			acked = micros(lt0.Add(time.Second))
		}
		if _, err := old.Exec(`INSERT INTO events (tenant, id, created_at, source, event_type, priority, payload, metadata, acked_at)
			VALUES ('a', ?, ?, 's', 't', ?, '{"n":1}', ?, ?)`, e.id, created, e.priority, e.metadata, acked); err != nil {
			t.Fatal(err)
		}
		for _, term := range triggers.MetadataTerms(json.RawMessage(e.metadata)) {
			if !e.acked {
				if _, err := old.Exec(qInsertTerm, "a", term.Key, term.Value, created, e.id, "s", "t", e.priority); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	old.Close()

	db, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open() of a version 3 database = %v", err)
	}
	defer db.Close()
	var version int
	latest, _ := fs.Glob(migrations, "migrations/*.sql")
	if err := db.read.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != len(latest) {
		t.Fatalf("user_version = %d, %v; want %d", version, err, len(latest))
	}
	for _, e := range evs {
		got, err := db.GetEvent(ctx, "a", e.id, lt0.Add(-time.Hour))
		if err != nil {
			t.Fatalf("GetEvent(%s) = %v", e.id, err)
		}
		want := triggers.StatusPending
		if e.acked {
			want = triggers.StatusAcknowledged
		}
		if got.Status() != want || got.Attempts != 0 || got.LeaseID != "" || !got.LeaseExpiresAt.IsZero() ||
			!got.AvailableAt.IsZero() || !got.DeadAt.IsZero() {
			t.Errorf("GetEvent(%s) = %s, attempts %d, lease %q until %v, available %v, dead %v; want %s, 0 and no lease",
				e.id, got.Status(), got.Attempts, got.LeaseID, got.LeaseExpiresAt, got.AvailableAt, got.DeadAt, want)
		}
	}
	base := triggers.InboxQuery{Tenant: "a", NotBefore: lt0.Add(-time.Hour), Limit: 10, MaxScan: 100}
	for _, c := range []struct {
		name   string
		filter triggers.InboxFilter
		want   []string
	}{
		{"all", triggers.InboxFilter{}, []string{evs[0].id, evs[1].id}},
		{"priority high", triggers.InboxFilter{Priority: triggers.PriorityHigh}, []string{evs[1].id}},
		{"metadata", triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: "k", Value: "v"}}}, []string{evs[0].id}},
		{"dead", triggers.InboxFilter{Status: triggers.StatusDead}, nil},
	} {
		q := base
		q.Filter = c.filter
		page, err := db.ListPending(ctx, q)
		if err != nil || !slices.Equal(eventIDs(page.Events), c.want) {
			t.Errorf("ListPending(%s) = %v, %v; want %v", c.name, eventIDs(page.Events), err, c.want)
		}
	}
	got := mustReceive(t, db, leaseQuery("a", lt0.Add(time.Minute), 10, 10, 100))
	if ids := eventIDs(got.Events); !slices.Equal(ids, []string{evs[0].id, evs[1].id}) || got.Events[0].Attempts != 1 {
		t.Errorf("receive after the migration = %v (attempts %v), want both pending events with attempts 1", ids, got.Events)
	}
}

// TestMetadataIndex_FollowsDeadEvents checks that dead-lettering removes an
// event's metadata index rows, as an ack does, and a redrive puts them
// back, so that metadata filters of the pending inbox and of receives never
// see a dead event; the dead list still filters on metadata.
func TestMetadataIndex_FollowsDeadEvents(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	evs := insertEvents(t, db, 2, func(i int) string { return fmt.Sprintf(`{"priority":"normal","k":"v","n":%d}`, i) })
	byMeta := triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: "k", Value: "v"}}}
	list := func(status triggers.Status) []string {
		t.Helper()
		f := byMeta
		f.Status = status
		page, err := db.ListPending(ctx, triggers.InboxQuery{Tenant: "a", Filter: f, NotBefore: lt0.Add(-time.Hour), Limit: 10, MaxScan: 100})
		if err != nil {
			t.Fatal(err)
		}
		return eventIDs(page.Events)
	}
	now := lt0.Add(time.Minute)
	steps := []struct {
		name      string
		do        func()
		rows      int
		pending   []string
		dead      []string
		receiving []string // what a receive with the metadata filter then gets
	}{
		{"insert", func() {}, 4, eventIDs(evs), nil, nil},
		{"lease both", func() { mustReceive(t, db, leaseQuery("a", now, 2, 1, 100)) }, 4, eventIDs(evs), nil, nil},
		{"dead-letter both", func() {
			now = now.Add(time.Minute)
			if got := mustReceive(t, db, leaseQuery("a", now, 2, 1, 100)); got.DeadLettered != 2 || len(got.Events) != 0 {
				t.Fatalf("receive = %d events, %d dead-lettered; want 0, 2", len(got.Events), got.DeadLettered)
			}
		}, 0, nil, eventIDs(evs), nil},
		{"redrive the first", func() {
			if res, err := db.RedriveEvents(ctx, "a", []string{evs[0].ID}, lt0.Add(-time.Hour)); err != nil || res[0].Err != nil {
				t.Fatalf("RedriveEvents() = %v, %v", res, err)
			}
		}, 2, []string{evs[0].ID}, []string{evs[1].ID}, []string{evs[0].ID}},
		{"ack the dead one", func() {
			if _, err := db.AckEvent(ctx, "a", triggers.Ack{ID: evs[1].ID}, now, lt0.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, 2, []string{evs[0].ID}, nil, nil}, // the first stays pending (leased by the receive before)
	}
	for _, s := range steps {
		s.do()
		if got := metadataRows(t, db); got != s.rows {
			t.Errorf("after %s: %d metadata index rows, want %d", s.name, got, s.rows)
		}
		if got := list(triggers.StatusPending); !slices.Equal(got, s.pending) {
			t.Errorf("after %s: pending by metadata = %v, want %v", s.name, got, s.pending)
		}
		if got := list(triggers.StatusDead); !slices.Equal(got, s.dead) {
			t.Errorf("after %s: dead by metadata = %v, want %v", s.name, got, s.dead)
		}
		if s.receiving != nil {
			q := leaseQuery("a", now, 5, 10, 100)
			q.Filter = byMeta
			if got := eventIDs(mustReceive(t, db, q).Events); !slices.Equal(got, s.receiving) {
				t.Errorf("after %s: receive by metadata = %v, want %v", s.name, got, s.receiving)
			}
		}
	}
}

// TestReceive_ScanBound checks what a receive's scan bound counts. Without
// filters, leased events are not examined at all (they are not in the idle
// walk, nor in the held walk until they expire): a receive with a bound of
// 2 behind 5 leased events gets the next 2. With a filter the walk passes
// the leased events matching it one by one, so it stops after MaxScan of
// them, although more are available beyond, and then tells when the leased
// ones become available.
func TestReceive_ScanBound(t *testing.T) {
	db := openTemp(t)
	evs := insertEvents(t, db, 10, plainMetadata) // sources s0, s1, s0, s1, ...
	first := mustReceive(t, db, leaseQuery("a", lt0, 5, 10, 100))
	if got := eventIDs(first.Events); !slices.Equal(got, eventIDs(evs[:5])) {
		t.Fatalf("first receive = %v, want the 5 oldest", got)
	}
	got := mustReceive(t, db, leaseQuery("a", lt0, 2, 10, 2))
	if ids := eventIDs(got.Events); !slices.Equal(ids, eventIDs(evs[5:7])) {
		t.Fatalf("receive of 2 behind 5 leased, scan bound 2 = %v, want the 6th and 7th", ids)
	}

	bySource := func(maxScan int) triggers.ReceiveQuery {
		q := leaseQuery("a", lt0, 1, 10, maxScan)
		q.Filter.Source = "s0"
		return q
	}
	// s0 is events 0, 2, 4, 6, 8, of which 0, 2, 4 and 6 are leased now.
	got = mustReceive(t, db, bySource(4))
	if len(got.Events) != 0 || !got.NextAvailable.Equal(lt0.Add(30*time.Second)) {
		t.Fatalf("receive of s0 over its 4 leased = %v, next %v; want none, next at the lease expiry %v",
			eventIDs(got.Events), got.NextAvailable, lt0.Add(30*time.Second))
	}
	got = mustReceive(t, db, bySource(5))
	if ids := eventIDs(got.Events); !slices.Equal(ids, []string{evs[8].ID}) || !got.NextAvailable.IsZero() {
		t.Fatalf("receive of s0 over 5 = %v (next %v), want the 9th event, no next", ids, got.NextAvailable)
	}
}

// TestReceive_MergesIdleAndHeldInInboxOrder checks that a receive without
// filters leases the oldest available events when they come from both of
// its walks interleaved: events nacked without delay (idle again) and
// events whose lease expired (held), between events never received.
func TestReceive_MergesIdleAndHeldInInboxOrder(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	evs := insertEvents(t, db, 6, plainMetadata)
	got := mustReceive(t, db, leaseQuery("a", lt0, 4, 10, 100)) // events 0-3, until lt0+30s
	for _, i := range []int{0, 2} {
		n := triggers.Nack{ID: got.Events[i].ID, LeaseID: got.Events[i].LeaseID}
		if res, err := db.NackEvents(ctx, "a", []triggers.Nack{n}, lt0, lt0.Add(-time.Hour)); err != nil || res[0].Err != nil {
			t.Fatalf("NackEvents() = %v, %v", res, err)
		}
	}
	// Now 0 and 2 are idle, 1 and 3 held until their leases expire, 4 and 5
	// idle (never received). Before the expiry, only the idle ones:
	q := leaseQuery("a", lt0.Add(time.Second), 6, 10, 100)
	if ids := peek(t, db, q); !slices.Equal(ids, []string{evs[0].ID, evs[2].ID, evs[4].ID, evs[5].ID}) {
		t.Fatalf("available before the leases expire = %v, want events 0, 2, 4, 5", ids)
	}
	// After it, the six interleaved from both walks, oldest first.
	all := mustReceive(t, db, leaseQuery("a", lt0.Add(31*time.Second), 6, 10, 100))
	if got, want := eventIDs(all.Events), eventIDs(evs); !slices.Equal(got, want) {
		t.Fatalf("receive after the expiry = %v, want all six oldest first %v", got, want)
	}
}

// peek returns the ids of the events a receive would lease, leasing nothing
// (the transaction is rolled back).
func peek(t *testing.T, db *DB, q triggers.ReceiveQuery) []string {
	t.Helper()
	sqlTx, err := db.write.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer sqlTx.Rollback()
	lease, _, err := pick(&writeTx{db: db, tx: sqlTx}, q, q.Max, planReceive(q))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, seq := range lease {
		var id string
		if err := sqlTx.QueryRow(`SELECT id FROM events WHERE seq = ?`, seq).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestReceive_PriorityNormalOnBothWalks checks priority=normal, the one
// filter a receive checks on its idle and held walks (the others choose an
// index): of idle and expired-lease events of both priorities, only the
// normal ones are leased.
func TestReceive_PriorityNormalOnBothWalks(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	var ins []triggers.Insert
	for i, p := range []triggers.Priority{triggers.PriorityHigh, triggers.PriorityNormal, triggers.PriorityHigh, triggers.PriorityNormal} {
		at := lt0.Add(time.Duration(i) * time.Millisecond)
		ins = append(ins, triggers.Insert{Event: triggers.Event{ID: triggers.NewEventID(at), Tenant: "a", Source: "s", EventType: "t",
			Payload: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(fmt.Sprintf(`{"priority":%q}`, p)), Priority: p, CreatedAt: at}})
	}
	res, err := db.InsertEvents(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	mustReceive(t, db, leaseQuery("a", lt0, 2, 10, 100)) // events 0 (high) and 1 (normal), held until lt0+30s
	q := leaseQuery("a", lt0.Add(time.Minute), 4, 10, 100)
	q.Filter.Priority = triggers.PriorityNormal
	if got, want := eventIDs(mustReceive(t, db, q).Events), []string{res[1].Event.ID, res[3].Event.ID}; !slices.Equal(got, want) {
		t.Fatalf("receive of priority normal = %v, want events 1 (expired lease) and 3 (idle) %v", got, want)
	}
}

// TestReceive_LeaseSurvivesReopen checks that a receive returns only once
// its leases are committed: after the store is closed and opened again the
// lease is there, and the event is not received a second time.
func TestReceive_LeaseSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := insertEvents(t, db, 1, plainMetadata)
	got := mustReceive(t, db, leaseQuery("a", lt0, 1, 10, 100))
	db.Close()
	if db, err = Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := db.GetEvent(ctx, "a", evs[0].ID, lt0.Add(-time.Hour))
	if err != nil || e.LeaseID != got.Events[0].LeaseID || e.Attempts != 1 || !e.LeaseExpiresAt.Equal(lt0.Add(30*time.Second)) {
		t.Fatalf("GetEvent() after reopen = lease %q until %v, attempts %d, %v; want %q until %v, 1",
			e.LeaseID, e.LeaseExpiresAt, e.Attempts, err, got.Events[0].LeaseID, lt0.Add(30*time.Second))
	}
	if again := mustReceive(t, db, leaseQuery("a", lt0.Add(time.Second), 1, 10, 100)); len(again.Events) != 0 {
		t.Fatalf("receive after reopen = %v, want nothing: the lease is held", eventIDs(again.Events))
	}
}

// TestListDead_ScanBoundGivesCursor checks the dead list's scan bound: with
// a filter the index does not serve, a page stops after MaxScan dead events
// with a cursor, and paging still returns every match once, in order.
func TestListDead_ScanBoundGivesCursor(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	evs := insertEvents(t, db, 6, plainMetadata) // sources s0, s1, s0, s1, ...
	mustReceive(t, db, leaseQuery("a", lt0, 6, 1, 100))
	if got := mustReceive(t, db, leaseQuery("a", lt0.Add(time.Minute), 6, 1, 100)); got.DeadLettered != 6 {
		t.Fatalf("dead-lettered %d, want 6", got.DeadLettered)
	}
	q := triggers.InboxQuery{Tenant: "a", Filter: triggers.InboxFilter{Status: triggers.StatusDead, Source: "s1"},
		NotBefore: lt0.Add(-time.Hour), Limit: 1, MaxScan: 2}
	var got []string
	for pages := 0; ; pages++ {
		page, err := db.ListPending(ctx, q)
		if err != nil || pages > 10 {
			t.Fatalf("ListPending() = %v after %d pages", err, pages)
		}
		if pages == 0 && (len(page.Events) != 1 || page.Next == nil) {
			t.Fatalf("first page = %v, next %v; want one event and a cursor", eventIDs(page.Events), page.Next)
		}
		got = append(got, eventIDs(page.Events)...)
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	if want := []string{evs[1].ID, evs[3].ID, evs[5].ID}; !slices.Equal(got, want) {
		t.Fatalf("dead list of s1 = %v, want %v", got, want)
	}
}

// TestReceive_CommitsWithoutItsOwnFsync checks DESIGN §10.5's cost rule on
// this store: a commit of leases only is volatile (no fsync), a commit with
// any durable write is not, and the durable setting comes back for it.
func TestReceive_CommitsWithoutItsOwnFsync(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	insertEvents(t, db, 3, plainMetadata)
	before := db.WriterStats()
	mustReceive(t, db, leaseQuery("a", lt0, 1, 10, 100))
	mid := db.WriterStats()
	if mid.VolatileCommits != before.VolatileCommits+1 || mid.Commits != before.Commits+1 {
		t.Fatalf("a receive: volatile commits %d -> %d, commits %d -> %d; want one volatile commit",
			before.VolatileCommits, mid.VolatileCommits, before.Commits, mid.Commits)
	}
	insertEvents(t, db, 1, plainMetadata)
	if _, err := db.AckEvent(ctx, "a", triggers.Ack{ID: triggers.NewEventID(lt0)}, lt0, lt0.Add(-time.Hour)); triggers.ErrorCode(err) != triggers.ENOTFOUND {
		t.Fatalf("AckEvent() = %v", err)
	}
	after := db.WriterStats()
	if after.VolatileCommits != mid.VolatileCommits || after.Commits != mid.Commits+2 {
		t.Fatalf("a create and an ack: volatile commits %d -> %d, commits %d -> %d; want two durable commits",
			mid.VolatileCommits, after.VolatileCommits, mid.Commits, after.Commits)
	}
	var mode int
	if err := db.write.QueryRow("PRAGMA synchronous").Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("synchronous after a durable commit = %d, %v; want 2 (FULL)", mode, err)
	}
}
