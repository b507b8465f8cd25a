package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
	"github.com/triggersapi/triggers/storetest"
)

// TestPageCache_AnswersAsTheDatabase plays random creates, acks, deletes,
// receives (leasing and dead-lettering), nacks, redrives, expiry and inbox
// reads (the head again and again, and whole passes with cursors) against a
// store that answers pages from memory and one that never does, and
// requires every page to be the same, the lease state of its events
// included. It also requires that pages were answered from memory, so that
// the comparison is not empty.
func TestPageCache_AnswersAsTheDatabase(t *testing.T) {
	ctx := context.Background()
	open := func(pageCache int) *sqlite.DB {
		db, err := sqlite.Open(t.TempDir(), &sqlite.Options{PageCache: pageCache})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	cached, plain := open(0), open(-1)
	stores := []*sqlite.DB{cached, plain}

	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	retention := 50 * time.Second
	tenants := []string{"acme", "globex"}
	sources := []string{"billing", "shop", "crm"}
	priorities := []triggers.Priority{triggers.PriorityLow, triggers.PriorityNormal, triggers.PriorityHigh}
	filters := []triggers.InboxFilter{
		{},
		{Source: "billing"},
		{Priority: triggers.PriorityHigh},
		{Source: "shop", Priority: triggers.PriorityLow},
		{Metadata: []triggers.MetadataMatch{{Key: "region", Value: "eu"}}},
		{EventType: "t1", Priority: triggers.PriorityNormal},
	}
	var ids []string
	leases := map[string]string{} // event id -> its latest lease id

	listAll := func(step int, q triggers.InboxQuery) {
		t.Helper()
		for range 100 {
			var pages [2]triggers.Page
			for i, db := range stores {
				p, err := db.ListPending(ctx, q)
				if err != nil {
					t.Fatalf("step %d: ListPending(%+v) = %v", step, q, err)
				}
				pages[i] = p
			}
			if got, want := pageString(pages[0]), pageString(pages[1]); got != want {
				t.Fatalf("step %d: ListPending(%+v)\n from memory: %s\n from the db: %s", step, q, got, want)
			}
			if pages[0].Next == nil {
				return
			}
			q.After = pages[0].Next
		}
	}

	for step := range 1500 {
		tenant := tenants[rng.IntN(len(tenants))]
		switch op := rng.IntN(13); {
		case op < 4: // create 1-3 events
			var evs []triggers.Event
			for range 1 + rng.IntN(3) {
				priority := priorities[rng.IntN(3)]
				md := fmt.Sprintf(`{"priority":%q,"region":%q}`, priority, []string{"eu", "us"}[rng.IntN(2)])
				e := triggers.Event{ID: triggers.NewEventID(now), Tenant: tenant, Source: sources[rng.IntN(3)],
					EventType: []string{"t1", "t2"}[rng.IntN(2)], Payload: json.RawMessage(`{"n":1}`),
					Metadata: json.RawMessage(md), Priority: priority, CreatedAt: now}
				evs = append(evs, e)
				ids = append(ids, e.ID)
			}
			for _, db := range stores {
				storetest.MustInsert(t, db, evs...)
			}
		case op < 6 && len(ids) > 0: // ack
			id := ids[rng.IntN(len(ids))]
			for _, db := range stores {
				db.AckEvent(ctx, tenant, triggers.Ack{ID: id}, now, now.Add(-retention))
			}
		case op < 7 && len(ids) > 0: // delete
			id := ids[rng.IntN(len(ids))]
			for _, db := range stores {
				db.DeleteEvent(ctx, tenant, id, now.Add(-retention))
			}
		case op < 8:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case op == 10: // receive: lease, or dead-letter after two attempts
			q := triggers.ReceiveQuery{Tenant: tenant, Filter: filters[rng.IntN(len(filters))], NotBefore: now.Add(-retention),
				Now: now, Max: 1 + rng.IntN(3), LeaseExpiresAt: now.Add(time.Duration(1+rng.IntN(5)) * time.Second),
				MaxAttempts: 2, MaxScan: 20}
			for range q.Max {
				q.LeaseIDs = append(q.LeaseIDs, triggers.NewLeaseID())
			}
			for _, db := range stores {
				got, err := db.ReceiveEvents(ctx, q)
				if err != nil {
					t.Fatalf("step %d: ReceiveEvents() = %v", step, err)
				}
				for _, e := range got.Events {
					leases[e.ID] = e.LeaseID
				}
			}
		case op == 11 && len(ids) > 0: // nack, with the event's latest lease
			id := ids[rng.IntN(len(ids))]
			n := triggers.Nack{ID: id, LeaseID: leases[id], AvailableAt: now.Add(time.Duration(rng.IntN(3)) * time.Second)}
			for _, db := range stores {
				db.NackEvents(ctx, tenant, []triggers.Nack{n}, now, now.Add(-retention))
			}
		case op == 12 && len(ids) > 0: // redrive
			id := ids[rng.IntN(len(ids))]
			for _, db := range stores {
				db.RedriveEvents(ctx, tenant, []string{id}, now.Add(-retention))
			}
		default: // read: the head a few times, then a whole pass
			q := triggers.InboxQuery{Tenant: tenant, Filter: filters[rng.IntN(len(filters))],
				NotBefore: now.Add(-retention), Limit: 1 + rng.IntN(4), MaxScan: 3 + rng.IntN(10)}
			for range 3 {
				listAll(step, q)
			}
		}
		now = now.Add(time.Millisecond)
	}
	st := cached.WriterStats()
	if st.PageHits == 0 {
		t.Fatalf("no page was answered from memory (misses %d): the comparison tested nothing", st.PageMisses)
	}
	if st := plain.WriterStats(); st.PageHits != 0 {
		t.Fatalf("the store without a page cache answered %d pages from memory", st.PageHits)
	}
	t.Logf("pages from memory: %d, from the database: %d", st.PageHits, st.PageMisses)
}

func pageString(p triggers.Page) string {
	ids := make([]string, len(p.Events))
	for i, e := range p.Events {
		ids[i] = fmt.Sprintf("%s@%s/%d/%s/%s", e.ID, e.CreatedAt.Format(time.RFC3339Nano), e.Attempts,
			e.LeaseExpiresAt.Format(time.RFC3339Nano), e.AvailableAt.Format(time.RFC3339Nano))
	}
	s := fmt.Sprint(ids)
	if p.Next != nil {
		s += fmt.Sprintf(" next=%s@%s", p.Next.ID, p.Next.CreatedAt.Format(time.RFC3339Nano))
	}
	return s
}

// TestPageCache_LeaseWritesInvalidate checks that every lease verb drops the
// tenant's cached pages before it answers: a cached head page shows the
// attempts and lease a receive gave, a nack's delay, an extension, a
// dead-lettered event gone and a redriven one back. (The random test above
// rarely reads a cached page again after such a write.)
func TestPageCache_LeaseWritesInvalidate(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []triggers.Event
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		evs = append(evs, triggers.Event{ID: triggers.NewEventID(at), Tenant: "a", Source: "s", EventType: "t",
			Payload: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`), Priority: "normal", CreatedAt: at})
	}
	evs = storetest.MustInsert(t, db, evs...)
	notBefore := t0.Add(-time.Hour)
	head := func() triggers.Event {
		t.Helper()
		// A page with a next cursor, so that it is cached.
		p, err := db.ListPending(ctx, triggers.InboxQuery{Tenant: "a", NotBefore: notBefore, Limit: 1, MaxScan: 10})
		if err != nil || len(p.Events) != 1 || p.Next == nil {
			t.Fatalf("ListPending() = %v, %v; want one event and a cursor", p, err)
		}
		return p.Events[0]
	}
	receive := func(now time.Time, maxAttempts int) triggers.Received {
		t.Helper()
		q := triggers.ReceiveQuery{Tenant: "a", NotBefore: notBefore, Now: now, Max: 1, LeaseIDs: []string{triggers.NewLeaseID()},
			LeaseExpiresAt: now.Add(10 * time.Second), MaxAttempts: maxAttempts, MaxScan: 10}
		got, err := db.ReceiveEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	head()
	head() // from memory
	hits := db.WriterStats().PageHits
	if hits == 0 {
		t.Fatal("the head page was not answered from memory: this test tests nothing")
	}

	now := t0.Add(time.Minute)
	lease := receive(now, 2).Events[0]
	if e := head(); e.ID != evs[0].ID || e.Attempts != 1 || !e.LeaseExpiresAt.Equal(now.Add(10*time.Second)) {
		t.Fatalf("head after a receive = %s attempts %d lease until %v; want %s, 1, %v", e.ID, e.Attempts, e.LeaseExpiresAt, evs[0].ID, now.Add(10*time.Second))
	}
	head()
	until := now.Add(time.Hour)
	if _, err := db.ExtendLease(ctx, "a", triggers.Ack{ID: lease.ID, LeaseID: lease.LeaseID}, until, now, notBefore); err != nil {
		t.Fatal(err)
	}
	if e := head(); !e.LeaseExpiresAt.Equal(until) {
		t.Fatalf("head after an extension: lease until %v, want %v", e.LeaseExpiresAt, until)
	}
	head()
	delay := now.Add(time.Second)
	if res, err := db.NackEvents(ctx, "a", []triggers.Nack{{ID: lease.ID, LeaseID: lease.LeaseID, AvailableAt: delay}}, now, notBefore); err != nil || res[0].Err != nil {
		t.Fatalf("NackEvents() = %v, %v", res, err)
	}
	if e := head(); !e.AvailableAt.Equal(delay) || !e.LeaseExpiresAt.IsZero() {
		t.Fatalf("head after a nack: available at %v, lease until %v; want %v and no lease", e.AvailableAt, e.LeaseExpiresAt, delay)
	}
	head()
	now = now.Add(time.Minute)
	receive(now, 2)
	head()
	now = now.Add(time.Minute)
	if got := receive(now, 2); got.DeadLettered != 1 { // the first, at 2 attempts
		t.Fatalf("receive dead-lettered %d, want 1", got.DeadLettered)
	}
	if e := head(); e.ID != evs[1].ID {
		t.Fatalf("head after dead-lettering = %s, want the second event %s", e.ID, evs[1].ID)
	}
	head()
	if res, err := db.RedriveEvents(ctx, "a", []string{evs[0].ID}, notBefore); err != nil || res[0].Err != nil {
		t.Fatalf("RedriveEvents() = %v, %v", res, err)
	}
	if e := head(); e.ID != evs[0].ID || e.Attempts != 0 {
		t.Fatalf("head after a redrive = %s attempts %d, want %s, 0", e.ID, e.Attempts, evs[0].ID)
	}
	if db.WriterStats().PageHits <= hits {
		t.Fatal("no page was answered from memory between the writes: this test tests nothing")
	}
}

// TestPageCache_LargePagesAreNotKept: a page of large events is answered
// from the database every time, so that pages of a few MB (up to
// triggers.MaxPageBytes each) cannot fill memory through the page cache
// (issue 14), while a page of small events is kept.
func TestPageCache_LargePagesAreNotKept(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []triggers.Event
	for i, size := range []int{10, 10, 5 << 20, 5 << 20, 10} {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		evs = append(evs, triggers.Event{ID: triggers.NewEventID(at), Tenant: "a", Source: "s", EventType: "t",
			Payload:  json.RawMessage(`{"x":"` + strings.Repeat("p", size) + `"}`),
			Metadata: json.RawMessage(`{"priority":"normal"}`), Priority: "normal", CreatedAt: at})
	}
	storetest.MustInsert(t, db, evs...)
	notBefore := t0.Add(-time.Hour)
	for _, tc := range []struct {
		name  string
		after *triggers.Position
		kept  bool
	}{
		{"Small", nil, true},
		{"Large", &triggers.Position{CreatedAt: evs[1].CreatedAt, ID: evs[1].ID}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := triggers.InboxQuery{Tenant: "a", NotBefore: notBefore, After: tc.after, Limit: 2, MaxScan: 10}
			for range 2 {
				if p, err := db.ListPending(ctx, q); err != nil || len(p.Events) != 2 || p.Next == nil {
					t.Fatalf("ListPending() = %d events, next %v, %v; want 2 and a cursor", len(p.Events), p.Next, err)
				}
			}
			hits := db.WriterStats().PageHits
			if _, err := db.ListPending(ctx, q); err != nil {
				t.Fatal(err)
			}
			if kept := db.WriterStats().PageHits > hits; kept != tc.kept {
				t.Errorf("page answered from memory = %v, want %v", kept, tc.kept)
			}
		})
	}
}
