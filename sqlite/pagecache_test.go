package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
	"github.com/triggersapi/triggers/storetest"
)

// TestPageCache_AnswersAsTheDatabase plays random creates, acks, deletes,
// expiry and inbox reads (the head again and again, and whole passes with
// cursors) against a store that answers pages from memory and one that
// never does, and requires every page to be the same. It also requires
// that pages were answered from memory, so that the comparison is not empty.
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
		switch op := rng.IntN(10); {
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
		default: // read: the head a few times, then a whole pass
			q := triggers.InboxQuery{Tenant: tenant, Filter: filters[rng.IntN(len(filters))],
				NotBefore: now.Add(-retention), Limit: 1 + rng.IntN(4), MaxScan: 3 + rng.IntN(10)}
			for range 3 {
				listAll(step, q)
			}
		}
		now = now.Add(time.Millisecond)
	}
	st := cached.Stats()
	if st.PageHits == 0 {
		t.Fatalf("no page was answered from memory (misses %d): the comparison tested nothing", st.PageMisses)
	}
	if st := plain.Stats(); st.PageHits != 0 {
		t.Fatalf("the store without a page cache answered %d pages from memory", st.PageHits)
	}
	t.Logf("pages from memory: %d, from the database: %d", st.PageHits, st.PageMisses)
}

func pageString(p triggers.Page) string {
	ids := make([]string, len(p.Events))
	for i, e := range p.Events {
		ids[i] = e.ID + "@" + e.CreatedAt.Format(time.RFC3339Nano)
	}
	s := fmt.Sprint(ids)
	if p.Next != nil {
		s += fmt.Sprintf(" next=%s@%s", p.Next.ID, p.Next.CreatedAt.Format(time.RFC3339Nano))
	}
	return s
}
