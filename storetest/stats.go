package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// statsTests are the conformance subtests of Stats (DESIGN §12), run by
// RunTests. The lease model test (Leases/Model) also compares Stats with its
// model as it goes.
var statsTests = []struct {
	name string
	fn   func(t *testing.T, s triggers.Store)
}{
	{"Stats/Empty", testStatsEmpty},
	{"Stats/CountsByStateFilterAndTenant", testStatsCounts},
	{"Stats/PerMinute", testStatsPerMinute},
	{"Stats/TopSources", testStatsTopSources},
	{"Stats/ExpiredEventsNotCounted", testStatsExpired},
	{"Stats/ConcurrentWrites", testStatsConcurrent},
}

// statsQuery asks for tenant's statistics at now with the filters given.
func statsQuery(tenant, source, eventType string, now time.Time) triggers.StatsQuery {
	return triggers.StatsQuery{Tenant: tenant, Source: source, EventType: eventType, Now: now, NotBefore: nb,
		Since: now.Truncate(time.Minute).Add(-(triggers.StatsMinutes - 1) * time.Minute), TopSources: triggers.StatsTopSources}
}

func mustStats(tb testing.TB, s triggers.Store, q triggers.StatsQuery) triggers.Stats {
	tb.Helper()
	st, err := s.Stats(context.Background(), q)
	if err != nil {
		tb.Fatalf("Stats(%+v) = %v", q, err)
	}
	for _, m := range st.PerMinute {
		if m.Minute.Before(q.Since) || m.Minute.After(q.Now) || !m.Minute.Equal(m.Minute.Truncate(time.Minute)) {
			tb.Fatalf("Stats(%+v).PerMinute has minute %v, outside %v..%v or not a whole minute", q, m.Minute, q.Since, q.Now)
		}
	}
	return st
}

// statsCounts is the part of Stats a test compares in one go.
type statsCounts struct {
	Pending, Leased, Dead int64
	Oldest                time.Time
	BySource              []triggers.SourceCount
}

func src(source string, pending int64) triggers.SourceCount {
	return triggers.SourceCount{Source: source, Pending: pending}
}

func countsOf(st triggers.Stats) statsCounts {
	c := statsCounts{Pending: st.Pending, Leased: st.Leased, Dead: st.Dead, Oldest: st.OldestPending.UTC(), BySource: st.BySource}
	if len(c.BySource) == 0 {
		c.BySource = nil
	}
	return c
}

// minutesOf returns the non-zero per-minute counts of st by minute
// (Unix seconds), created and acknowledged.
func minutesOf(st triggers.Stats) map[int64][2]int64 {
	out := map[int64][2]int64{}
	for _, m := range st.PerMinute {
		k := m.Minute.Unix()
		c := out[k]
		c[0] += m.Created
		c[1] += m.Acknowledged
		out[k] = c
	}
	for k, c := range out {
		if c == [2]int64{} {
			delete(out, k)
		}
	}
	return out
}

func checkCounts(tb testing.TB, where string, got triggers.Stats, want statsCounts) {
	tb.Helper()
	if g := countsOf(got); fmt.Sprint(g) != fmt.Sprint(want) {
		tb.Fatalf("%s: stats = %+v\nwant %+v", where, g, want)
	}
}

func testStatsEmpty(t *testing.T, s triggers.Store) {
	st := mustStats(t, s, statsQuery("a", "", "", t0))
	checkCounts(t, "empty store", st, statsCounts{})
	if m := minutesOf(st); len(m) != 0 {
		t.Fatalf("empty store: per minute = %v, want none", m)
	}
}

// testStatsCounts builds every state in two tenants and checks the counts
// without filters, with each filter and with both.
func testStatsCounts(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	var evs []triggers.Event
	at := t0
	add := func(tenant, source, eventType string, n int) {
		for range n {
			at = at.Add(time.Millisecond)
			evs = append(evs, event(tenant, at, source, eventType))
		}
	}
	add("a", "shop", "order", 4)   // 0-3
	add("a", "shop", "refund", 3)  // 4-6
	add("a", "crm", "order", 2)    // 7-8
	add("b", "shop", "order", 5)   // 9-13: another tenant
	add("a", "billing", "paid", 1) // 14
	evs = MustInsert(t, s, evs...)
	now := t0.Add(time.Minute)

	// Ack 1 and delete 1 of shop/order; lease 2 of shop/refund (a filtered
	// receive); make crm/order's first event dead (max attempts 1, leased
	// once, expired, received again).
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: evs[0].ID}, now, nb); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteEvent(ctx, "a", evs[1].ID, nb); err != nil {
		t.Fatal(err)
	}
	q := receiveQuery("a", now, 2, 10)
	q.Filter.EventType = "refund"
	if got := mustReceive(t, s, q); len(got.Events) != 2 {
		t.Fatalf("receive refunds = %d events, want 2", len(got.Events))
	}
	q = receiveQuery("a", now, 1, 1)
	q.Filter.Source = "crm"
	mustReceive(t, s, q)
	q = receiveQuery("a", now.Add(time.Minute), 1, 1) // the crm lease expired: dead; the crm second one is leased
	q.Filter.Source = "crm"
	if got := mustReceive(t, s, q); got.DeadLettered != 1 || len(got.Events) != 1 {
		t.Fatalf("second crm receive = %d leased, %d dead; want 1 and 1", len(got.Events), got.DeadLettered)
	}
	now = now.Add(time.Minute + time.Second) // refund leases (30 s from now-1m) expired; crm's second lease held

	for _, tc := range []struct {
		name, source, eventType string
		want                    statsCounts
	}{
		{"all", "", "", statsCounts{Pending: 7, Leased: 1, Dead: 1, Oldest: evs[2].CreatedAt,
			BySource: []triggers.SourceCount{src("shop", 5), src("billing", 1), src("crm", 1)}}},
		{"source shop", "shop", "", statsCounts{Pending: 5, Oldest: evs[2].CreatedAt,
			BySource: []triggers.SourceCount{src("shop", 5)}}},
		{"source crm", "crm", "", statsCounts{Pending: 1, Leased: 1, Dead: 1, Oldest: evs[8].CreatedAt,
			BySource: []triggers.SourceCount{src("crm", 1)}}},
		{"type order", "", "order", statsCounts{Pending: 3, Leased: 1, Dead: 1, Oldest: evs[2].CreatedAt,
			BySource: []triggers.SourceCount{src("shop", 2), src("crm", 1)}}},
		{"shop refunds", "shop", "refund", statsCounts{Pending: 3, Oldest: evs[4].CreatedAt,
			BySource: []triggers.SourceCount{src("shop", 3)}}},
		{"no such source", "nope", "", statsCounts{}},
		{"no such pair", "crm", "refund", statsCounts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkCounts(t, tc.name, mustStats(t, s, statsQuery("a", tc.source, tc.eventType, now)), tc.want)
		})
	}
	checkCounts(t, "tenant b", mustStats(t, s, statsQuery("b", "", "", now)), statsCounts{Pending: 5,
		Oldest: evs[9].CreatedAt, BySource: []triggers.SourceCount{src("shop", 5)}})
	checkCounts(t, "tenant c", mustStats(t, s, statsQuery("c", "", "", now)), statsCounts{})

	// Leases held now: the refunds again (a new receive), the crm one
	// still. A redrive makes the dead one pending; acking a leased one ends
	// its lease.
	q = receiveQuery("a", now, 2, 10)
	q.Filter.EventType = "refund"
	got := mustReceive(t, s, q)
	checkCounts(t, "refunds leased again", mustStats(t, s, statsQuery("a", "shop", "refund", now)),
		statsCounts{Pending: 3, Leased: 2, Oldest: evs[4].CreatedAt, BySource: []triggers.SourceCount{src("shop", 3)}})
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: got.Events[0].ID, LeaseID: got.Events[0].LeaseID}, now, nb); err != nil {
		t.Fatal(err)
	}
	if res, err := s.RedriveEvents(ctx, "a", []string{evs[7].ID}, nb); err != nil || res[0].Err != nil {
		t.Fatalf("RedriveEvents() = %v, %v", res, err)
	}
	checkCounts(t, "after an ack and a redrive", mustStats(t, s, statsQuery("a", "", "", now)), statsCounts{
		Pending: 7, Leased: 2, Dead: 0, Oldest: evs[2].CreatedAt,
		BySource: []triggers.SourceCount{src("shop", 4), src("crm", 2), src("billing", 1)}})
	// Acking and deleting dead events takes them out of the dead count.
	q = receiveQuery("a", now, 1, 1)
	q.Filter.Source = "billing"
	mustReceive(t, s, q)
	q = receiveQuery("a", now.Add(time.Hour), 1, 1)
	q.Filter.Source = "billing"
	if got := mustReceive(t, s, q); got.DeadLettered != 1 {
		t.Fatalf("billing receive dead-lettered %d, want 1", got.DeadLettered)
	}
	if st := mustStats(t, s, statsQuery("a", "billing", "", now)); st.Dead != 1 || st.Pending != 0 {
		t.Fatalf("billing: dead %d pending %d, want 1 and 0", st.Dead, st.Pending)
	}
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: evs[14].ID}, now, nb); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s, statsQuery("a", "billing", "", now)); st.Dead != 0 || st.Pending != 0 {
		t.Fatalf("billing after the ack of its dead event: dead %d pending %d, want 0 and 0", st.Dead, st.Pending)
	}
}

// testStatsPerMinute creates and acknowledges known counts in known
// minutes and reads them back, with and without filters.
func testStatsPerMinute(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	now := t0.Truncate(time.Minute).Add(90 * time.Minute).Add(17 * time.Second)
	since := now.Truncate(time.Minute).Add(-(triggers.StatsMinutes - 1) * time.Minute)
	minute := func(i int) time.Time { return since.Add(time.Duration(i) * time.Minute) }
	var evs []triggers.Event
	// 2 events before the window, then 3 in minute 0 (one crm), 1 in
	// minute 10, 4 in minute 59 (the current one).
	for _, c := range []struct {
		at     time.Time
		source string
	}{
		{minute(-5), "shop"}, {minute(-1).Add(59 * time.Second), "shop"},
		{minute(0), "shop"}, {minute(0).Add(30 * time.Second), "crm"}, {minute(0).Add(59 * time.Second), "shop"},
		{minute(10).Add(time.Second), "shop"},
		{minute(59), "shop"}, {minute(59).Add(time.Second), "shop"}, {minute(59).Add(2 * time.Second), "shop"}, {minute(59).Add(3 * time.Second), "crm"},
	} {
		evs = append(evs, event("a", c.at, c.source, "t"))
	}
	evs = MustInsert(t, s, evs...)
	MustInsert(t, s, event("b", minute(59).Add(4*time.Second), "shop", "t")) // another tenant's
	// Acks: the old events in minute 3, one in minute 10 (crm), two in
	// minute 59; an ack that conflicts counts nothing; deleting an event
	// does not change the history.
	for _, a := range []struct {
		i  int
		at time.Time
	}{{0, minute(3)}, {1, minute(3).Add(time.Second)}, {3, minute(10).Add(5 * time.Second)}, {5, minute(59)}, {6, minute(59).Add(time.Second)}} {
		if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: evs[a.i].ID}, a.at, nb); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: evs[0].ID}, minute(20), nb); triggers.ErrorCode(err) != triggers.ECONFLICT {
		t.Fatalf("second ack = %v, want a conflict", err)
	}
	if _, err := s.DeleteEvent(ctx, "a", evs[2].ID, nb); err != nil {
		t.Fatal(err)
	}
	sec := func(i int) int64 { return minute(i).Unix() }
	for _, tc := range []struct {
		name, source string
		want         map[int64][2]int64
	}{
		{"all", "", map[int64][2]int64{sec(0): {3, 0}, sec(3): {0, 2}, sec(10): {1, 1}, sec(59): {4, 2}}},
		{"shop", "shop", map[int64][2]int64{sec(0): {2, 0}, sec(3): {0, 2}, sec(10): {1, 0}, sec(59): {3, 2}}},
		{"crm", "crm", map[int64][2]int64{sec(0): {1, 0}, sec(10): {0, 1}, sec(59): {1, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := minutesOf(mustStats(t, s, statsQuery("a", tc.source, "", now)))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("per minute (unix second: created, acknowledged) = %v\nwant %v", got, tc.want)
			}
		})
	}
	if got := minutesOf(mustStats(t, s, statsQuery("a", "", "other-type", now))); len(got) != 0 {
		t.Fatalf("per minute of an event type with no events = %v, want none", got)
	}
}

// testStatsTopSources checks that BySource holds the 20 sources with the
// most pending events, most first, ties by name.
func testStatsTopSources(t *testing.T, s triggers.Store) {
	var evs []triggers.Event
	at := t0
	for i := range 25 {
		for range 1 + i%7 {
			at = at.Add(time.Millisecond)
			evs = append(evs, event("a", at, fmt.Sprintf("src-%02d", i), "t"))
		}
	}
	MustInsert(t, s, evs...)
	var want []triggers.SourceCount
	for i := range 25 {
		want = append(want, triggers.SourceCount{Source: fmt.Sprintf("src-%02d", i), Pending: int64(1 + i%7)})
	}
	want = triggers.SortSourceCounts(want, triggers.StatsTopSources)
	st := mustStats(t, s, statsQuery("a", "", "", t0.Add(time.Minute)))
	if !slices.Equal(st.BySource, want) {
		t.Fatalf("by source = %v\nwant %v", st.BySource, want)
	}
	if st.Pending != int64(len(evs)) {
		t.Fatalf("pending = %d, want %d", st.Pending, len(evs))
	}
}

// testStatsExpired checks that events created at or before NotBefore are
// not counted; a store with approximate counters need only be right once
// DeleteExpired has run.
func testStatsExpired(t *testing.T, s triggers.Store) {
	old := MustInsert(t, s, event("a", t0, "shop", "t"), event("a", t0.Add(time.Second), "crm", "t"))
	MustInsert(t, s, event("a", t0.Add(2*time.Hour), "shop", "t"))
	now := t0.Add(2*time.Hour + time.Minute)
	q := statsQuery("a", "", "", now)
	q.NotBefore = t0.Add(time.Second) // both old events expired
	want := statsCounts{Pending: 1, Oldest: t0.Add(2 * time.Hour), BySource: []triggers.SourceCount{src("shop", 1)}}
	if st := mustStats(t, s, q); !st.Approximate {
		checkCounts(t, "before the purge", st, want)
	}
	if n, err := s.DeleteExpired(context.Background(), q.NotBefore, t0); err != nil || n != len(old) {
		t.Fatalf("DeleteExpired() = %d, %v; want %d", n, err, len(old))
	}
	checkCounts(t, "after the purge", mustStats(t, s, q), want)
}

// testStatsConcurrent creates and acknowledges from many goroutines, some
// acks of one event racing, and checks that every count is exact after.
func testStatsConcurrent(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	const workers, each = 8, 6
	var mu sync.Mutex
	var created []triggers.Event
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := event("a", t0.Add(time.Duration(w*each+i)*time.Microsecond), fmt.Sprint("s", w%2), "t")
				got := MustInsert(t, s, e)
				mu.Lock()
				created = append(created, got...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Every event gets three concurrent acks of which one succeeds.
	for _, e := range created[:workers*each/2] {
		for range 3 {
			wg.Go(func() { s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, t0.Add(time.Second), nb) })
		}
	}
	wg.Wait()
	st := mustStats(t, s, statsQuery("a", "", "", t0.Add(2*time.Second)))
	if want := int64(workers * each / 2); st.Pending != want {
		t.Fatalf("pending = %d, want %d", st.Pending, want)
	}
	var createdN, ackedN int64
	for _, m := range st.PerMinute {
		createdN += m.Created
		ackedN += m.Acknowledged
	}
	if createdN != workers*each || ackedN != workers*each/2 {
		t.Fatalf("per minute: %d created, %d acknowledged; want %d and %d", createdN, ackedN, workers*each, workers*each/2)
	}
}

// statsTally is what the lease model test counts beside its model: the
// events created and acknowledged per tenant and minute (Unix seconds),
// which a deletion does not undo.
type statsTally map[string]map[int64][2]int64

func (st statsTally) add(tenant string, at time.Time, created, acked int64) {
	if st[tenant] == nil {
		st[tenant] = map[int64][2]int64{}
	}
	k := at.Truncate(time.Minute).Unix()
	c := st[tenant][k]
	c[0] += created
	c[1] += acked
	st[tenant][k] = c
}

// compareStats checks Stats of tenants a and b against the lease model at
// now. The model test's clock stays within the stats window.
func (m *leaseModel) compareStats(t *testing.T, s triggers.Store, where string, now time.Time, tally statsTally) {
	t.Helper()
	for _, tenant := range []string{"a", "b"} {
		var want statsCounts
		bySource := map[string]int64{}
		for _, e := range m.events {
			if e.Tenant != tenant {
				continue
			}
			switch e.Status() {
			case triggers.StatusPending:
				want.Pending++
				bySource[e.Source]++
				if e.Leased(now) {
					want.Leased++
				}
				if want.Oldest.IsZero() || e.CreatedAt.Before(want.Oldest) {
					want.Oldest = e.CreatedAt
				}
			case triggers.StatusDead:
				want.Dead++
			}
		}
		for src, n := range bySource {
			want.BySource = append(want.BySource, triggers.SourceCount{Source: src, Pending: n})
		}
		want.BySource = triggers.SortSourceCounts(want.BySource, triggers.StatsTopSources)
		if len(want.BySource) == 0 {
			want.BySource = nil
		}
		st := mustStats(t, s, statsQuery(tenant, "", "", now))
		checkCounts(t, where+" stats of "+tenant, st, want)
		wantMinutes := tally[tenant]
		if wantMinutes == nil {
			wantMinutes = map[int64][2]int64{}
		}
		if got := minutesOf(st); fmt.Sprint(got) != fmt.Sprint(wantMinutes) {
			t.Fatalf("%s: per minute of %s = %v\nwant %v", where, tenant, got, wantMinutes)
		}
	}
}
