// Package storetest is the conformance suite every triggers.Store runs. A
// backend is done when it passes RunTests; its own tests then only cover what
// is unique to it.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// NewStore returns a fresh, empty store for one subtest. It should register
// its own cleanup with t.Cleanup.
type NewStore func(t *testing.T) triggers.Store

// t0 is the suite's reference instant; events are created around it.
var t0 = time.Date(2026, 11, 10, 12, 0, 0, 123456000, time.UTC)

// RunTests runs the whole conformance suite, each subtest on a fresh store.
func RunTests(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s triggers.Store)
	}{
		{"InsertEvents/OK", testInsertOK},
		{"InsertEvents/PreservesJSON", testInsertPreservesJSON},
		{"InsertEvents/CreatedAtNeverMovesBack", testInsertCreatedAtOrder},
		{"InsertEvents/IdempotentReplay", testIdempotentReplay},
		{"InsertEvents/IdempotencyPerTenant", testIdempotencyPerTenant},
		{"InsertEvents/IdempotencyExpires", testIdempotencyExpires},
		{"InsertEvents/ConcurrentSameIdempotencyKey", testConcurrentIdempotency},
		{"GetEvent/ErrNotFound", testGetNotFound},
		{"AckEvent/OK", testAckOK},
		{"AckEvent/ErrConflict", testAckConflict},
		{"AckEvent/ErrNotFound", testAckNotFound},
		{"AckEvent/Concurrent", testAckConcurrent},
		{"AckEvents/InOrder", testAckEventsInOrder},
		{"DeleteEvents/InOrder", testDeleteEventsInOrder},
		{"DeleteEvent/OK", testDeleteOK},
		{"DeleteEvent/OtherTenant", testDeleteOtherTenant},
		{"ListPending/OrderAndPaging", testListOrderAndPaging},
		{"ListPending/OnlyPendingOfTenant", testListOnlyPendingOfTenant},
		{"ListPending/Filters", testListFilters},
		{"ListPending/FiltersBeforeLimit", testListFiltersBeforeLimit},
		{"ListPending/CreatedRange", testListCreatedRange},
		{"ListPending/Priority", testListPriority},
		{"ListPending/Metadata", testListMetadata},
		{"ListPending/FilterCombinations", testListFilterCombinations},
		{"ListPending/ScanBoundGivesCursor", testListScanBound},
		{"ListPending/PagingWhileWriting", testListPagingWhileWriting},
		{"DeleteExpired/OK", testDeleteExpired},
		{"Keys/CreateAndFind", testKeysCreateAndFind},
		{"Keys/ErrConflict", testKeysConflict},
		{"Keys/Update", testKeysUpdate},
		{"Keys/ErrNotFound", testKeysNotFound},
		{"Ping/OK", func(t *testing.T, s triggers.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("Ping() = %v", err)
			}
		}},
	}
	tests = append(tests, leaseTests...)
	tests = append(tests, byteTests...)
	tests = append(tests, statsTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
	runWebhookTests(t, newStore)
}

// event returns a new event of tenant created at t.
func event(tenant string, t time.Time, source, eventType string) triggers.Event {
	return triggers.Event{
		ID: triggers.NewEventID(t), Tenant: tenant, Source: source, EventType: eventType,
		Payload: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`),
		Priority: triggers.PriorityNormal, CreatedAt: t,
	}
}

// MustInsert stores events (without idempotency keys) and returns them as stored.
func MustInsert(tb testing.TB, s triggers.Store, events ...triggers.Event) []triggers.Event {
	tb.Helper()
	ins := make([]triggers.Insert, len(events))
	for i, e := range events {
		ins[i] = triggers.Insert{Event: e}
	}
	res, err := s.InsertEvents(context.Background(), ins)
	if err != nil {
		tb.Fatalf("InsertEvents() = %v", err)
	}
	out := make([]triggers.Event, len(res))
	for i, r := range res {
		if r.Err != nil || r.Replayed {
			tb.Fatalf("InsertEvents()[%d] = replayed %v, err %v", i, r.Replayed, r.Err)
		}
		out[i] = r.Event
	}
	return out
}

func mustCode(tb testing.TB, err error, want triggers.Code) {
	tb.Helper()
	if got := triggers.ErrorCode(err); got != want {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, want)
	}
}

func ids(events []triggers.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// listAll pages through the inbox and returns every event id in order.
func listAll(tb testing.TB, s triggers.Store, q triggers.InboxQuery) []string {
	tb.Helper()
	var out []string
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			tb.Fatal("ListPending: paging does not end")
		}
		page, err := s.ListPending(context.Background(), q)
		if err != nil {
			tb.Fatalf("ListPending() = %v", err)
		}
		if len(page.Events) > q.Limit {
			tb.Fatalf("ListPending() returned %d events, limit %d", len(page.Events), q.Limit)
		}
		out = append(out, ids(page.Events)...)
		if page.Next == nil {
			return out
		}
		q.After = page.Next
	}
}

func query(tenant string, limit int) triggers.InboxQuery {
	return triggers.InboxQuery{Tenant: tenant, Limit: limit, MaxScan: 1000, NotBefore: t0.Add(-24 * time.Hour)}
}

func testInsertOK(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	e := event("a", t0, "billing", "invoice.paid")
	stored := MustInsert(t, s, e)[0]
	if stored.ID != e.ID || stored.CreatedAt.Before(e.CreatedAt) {
		t.Fatalf("InsertEvents() = %+v, want id %s created at or after %v", stored, e.ID, e.CreatedAt)
	}
	got, err := s.GetEvent(ctx, "a", e.ID, t0.Add(-time.Hour))
	if err != nil {
		t.Fatalf("GetEvent() = %v", err)
	}
	if got.ID != e.ID || got.Tenant != "a" || got.Source != "billing" || got.EventType != "invoice.paid" ||
		got.Priority != triggers.PriorityNormal || !got.CreatedAt.Equal(stored.CreatedAt) ||
		got.Status() != triggers.StatusPending || string(got.Payload) != `{"n":1}` ||
		string(got.Metadata) != `{"priority":"normal"}` {
		t.Fatalf("GetEvent() = %+v, want the stored event %+v", got, stored)
	}
	if _, err := s.GetEvent(ctx, "b", e.ID, t0.Add(-time.Hour)); triggers.ErrorCode(err) != triggers.ENOTFOUND {
		t.Fatalf("GetEvent(other tenant) = %v, want ENOTFOUND", err)
	}
}

func testInsertPreservesJSON(t *testing.T, s triggers.Store) {
	e := event("a", t0, "s", "t")
	e.Payload = json.RawMessage(`{"big":123456789012345678901234567890,"f":1.5e-300,"u":"héllo ✓ 𝄞 \u0000","n":{"a":[1,{"b":null}]}}`)
	e.Metadata = json.RawMessage(`{"priority":"high","x":{"y":[true,false]}}`)
	e.Priority = triggers.PriorityHigh
	MustInsert(t, s, e)
	got, err := s.GetEvent(context.Background(), "a", e.ID, t0.Add(-time.Hour))
	if err != nil {
		t.Fatalf("GetEvent() = %v", err)
	}
	if string(got.Payload) != string(e.Payload) || string(got.Metadata) != string(e.Metadata) || got.Priority != triggers.PriorityHigh {
		t.Fatalf("GetEvent() payload %s metadata %s priority %s, want %s %s high", got.Payload, got.Metadata, got.Priority, e.Payload, e.Metadata)
	}
}

func testInsertCreatedAtOrder(t *testing.T, s triggers.Store) {
	// Events inserted one after another never sort before earlier ones.
	var prev triggers.Event
	for i := range 20 {
		e := MustInsert(t, s, event("a", t0, "s", "t"))[0]
		if e.CreatedAt.Before(t0) {
			t.Fatalf("insert %d: CreatedAt %v moved back from %v", i, e.CreatedAt, t0)
		}
		if i > 0 && (e.CreatedAt.Before(prev.CreatedAt) || e.CreatedAt.Equal(prev.CreatedAt) && e.ID < prev.ID) {
			t.Fatalf("insert %d sorts before insert %d: %v %s < %v %s", i, i-1, e.CreatedAt, e.ID, prev.CreatedAt, prev.ID)
		}
		prev = e
	}
}

func insertIdem(tb testing.TB, s triggers.Store, e triggers.Event, key, hash string, notBefore time.Time) triggers.InsertResult {
	tb.Helper()
	res, err := s.InsertEvents(context.Background(), []triggers.Insert{{Event: e, IdempotencyKey: key, RequestHash: hash, IdempotencyNotBefore: notBefore}})
	if err != nil || res[0].Err != nil {
		tb.Fatalf("InsertEvents(idempotency key %q) = %v, %v", key, err, res)
	}
	return res[0]
}

func testIdempotentReplay(t *testing.T, s triggers.Store) {
	nb := t0.Add(-24 * time.Hour)
	first := insertIdem(t, s, event("a", t0, "s", "t"), "k1", "h1", nb)
	if first.Replayed {
		t.Fatal("first insert reported Replayed")
	}
	second := insertIdem(t, s, event("a", t0.Add(time.Second), "s", "t"), "k1", "h2", nb)
	if !second.Replayed || second.Event.ID != first.Event.ID || !second.Event.CreatedAt.Equal(first.Event.CreatedAt) || second.RequestHash != "h1" {
		t.Fatalf("replay = %+v, want Replayed of %s created %v with hash h1", second, first.Event.ID, first.Event.CreatedAt)
	}
	if got := listAll(t, s, query("a", 10)); len(got) != 1 {
		t.Fatalf("inbox holds %d events after a replay, want 1", len(got))
	}
}

func testIdempotencyPerTenant(t *testing.T, s triggers.Store) {
	nb := t0.Add(-24 * time.Hour)
	a := insertIdem(t, s, event("a", t0, "s", "t"), "same", "h", nb)
	b := insertIdem(t, s, event("b", t0, "s", "t"), "same", "h", nb)
	if a.Replayed || b.Replayed || a.Event.ID == b.Event.ID {
		t.Fatalf("one key in two tenants: %+v and %+v, want two new events", a, b)
	}
}

func testIdempotencyExpires(t *testing.T, s triggers.Store) {
	first := insertIdem(t, s, event("a", t0, "s", "t"), "k", "h", t0.Add(-24*time.Hour))
	// A day later the record is expired: the same key makes a new event.
	later := t0.Add(25 * time.Hour)
	second := insertIdem(t, s, event("a", later, "s", "t"), "k", "h2", later.Add(-24*time.Hour))
	if second.Replayed || second.Event.ID == first.Event.ID {
		t.Fatalf("insert after expiry = %+v, want a new event", second)
	}
	third := insertIdem(t, s, event("a", later.Add(time.Second), "s", "t"), "k", "h2", later.Add(-24*time.Hour))
	if !third.Replayed || third.Event.ID != second.Event.ID {
		t.Fatalf("replay of the renewed key = %+v, want replay of %s", third, second.Event.ID)
	}
}

func testConcurrentIdempotency(t *testing.T, s triggers.Store) {
	const n = 16
	nb := t0.Add(-24 * time.Hour)
	results := make([]triggers.InsertResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = insertIdem(t, s, event("a", t0, "s", "t"), "race", "h", nb)
		})
	}
	wg.Wait()
	created := 0
	for _, r := range results {
		if !r.Replayed {
			created++
		}
		if r.Event.ID != results[0].Event.ID {
			t.Fatalf("concurrent creates with one key returned ids %s and %s", r.Event.ID, results[0].Event.ID)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent creates with one key created an event, want 1", created, n)
	}
	if got := listAll(t, s, query("a", 100)); len(got) != 1 {
		t.Fatalf("inbox holds %d events, want 1", len(got))
	}
}

func testGetNotFound(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	e := MustInsert(t, s, event("a", t0, "s", "t"))[0]
	cases := []struct {
		name, tenant, id string
		notBefore        time.Time
	}{
		{"unknown id", "a", triggers.NewEventID(t0), t0.Add(-time.Hour)},
		{"other tenant", "b", e.ID, t0.Add(-time.Hour)},
		{"expired", "a", e.ID, e.CreatedAt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.GetEvent(ctx, c.tenant, c.id, c.notBefore)
			mustCode(t, err, triggers.ENOTFOUND)
		})
	}
}

func testAckOK(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	e := MustInsert(t, s, event("a", t0, "s", "t"))[0]
	at := t0.Add(time.Minute)
	got, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, at, t0.Add(-time.Hour))
	if err != nil {
		t.Fatalf("AckEvent() = %v", err)
	}
	if got.Status() != triggers.StatusAcknowledged || !got.AcknowledgedAt.Equal(at) || got.ID != e.ID {
		t.Fatalf("AckEvent() = %+v, want acknowledged at %v", got, at)
	}
	stored, err := s.GetEvent(ctx, "a", e.ID, t0.Add(-time.Hour))
	if err != nil || !stored.AcknowledgedAt.Equal(at) {
		t.Fatalf("GetEvent() after ack = %+v, %v; want acknowledged at %v", stored, err, at)
	}
}

func testAckConflict(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	e := MustInsert(t, s, event("a", t0, "s", "t"))[0]
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, t0, t0.Add(-time.Hour)); err != nil {
		t.Fatalf("AckEvent() = %v", err)
	}
	_, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, t0.Add(time.Second), t0.Add(-time.Hour))
	mustCode(t, err, triggers.ECONFLICT)
}

func testAckNotFound(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	e := MustInsert(t, s, event("a", t0, "s", "t"))[0]
	_, err := s.AckEvent(ctx, "a", triggers.Ack{ID: triggers.NewEventID(t0)}, t0, t0.Add(-time.Hour))
	mustCode(t, err, triggers.ENOTFOUND)
	_, err = s.AckEvent(ctx, "b", triggers.Ack{ID: e.ID}, t0, t0.Add(-time.Hour))
	mustCode(t, err, triggers.ENOTFOUND)
	_, err = s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, t0, e.CreatedAt) // expired
	mustCode(t, err, triggers.ENOTFOUND)
	if got, err := s.GetEvent(ctx, "a", e.ID, t0.Add(-time.Hour)); err != nil || got.Status() != triggers.StatusPending {
		t.Fatalf("event after refused acks = %+v, %v; want pending", got, err)
	}
}

func testAckConcurrent(t *testing.T, s triggers.Store) {
	e := MustInsert(t, s, event("a", t0, "s", "t"))[0]
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.AckEvent(context.Background(), "a", triggers.Ack{ID: e.ID}, t0.Add(time.Duration(i)*time.Millisecond), t0.Add(-time.Hour))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch triggers.ErrorCode(err) {
		case "":
			ok++
		case triggers.ECONFLICT:
		default:
			t.Fatalf("concurrent AckEvent() = %v, want success or ECONFLICT", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent acks succeeded, want exactly 1", ok, n)
	}
}

func testDeleteOK(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	e := MustInsert(t, s, event("a", t0, "s", "t"))[0]
	if ok, err := s.DeleteEvent(ctx, "a", e.ID, t0.Add(-time.Hour)); err != nil || !ok {
		t.Fatalf("DeleteEvent() = %v, %v; want true, nil", ok, err)
	}
	if ok, err := s.DeleteEvent(ctx, "a", e.ID, t0.Add(-time.Hour)); err != nil || ok {
		t.Fatalf("DeleteEvent() again = %v, %v; want false, nil", ok, err)
	}
	_, err := s.GetEvent(ctx, "a", e.ID, t0.Add(-time.Hour))
	mustCode(t, err, triggers.ENOTFOUND)
}

func testDeleteOtherTenant(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	e := MustInsert(t, s, event("a", t0, "s", "t"))[0]
	if ok, err := s.DeleteEvent(ctx, "b", e.ID, t0.Add(-time.Hour)); err != nil || ok {
		t.Fatalf("DeleteEvent(other tenant) = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.GetEvent(ctx, "a", e.ID, t0.Add(-time.Hour)); err != nil {
		t.Fatalf("event after another tenant's delete: %v", err)
	}
}

func testListOrderAndPaging(t *testing.T, s triggers.Store) {
	var want []string
	for i := range 25 {
		e := MustInsert(t, s, event("a", t0.Add(time.Duration(i)*time.Millisecond), "s", "t"))[0]
		want = append(want, e.ID)
	}
	for _, limit := range []int{1, 7, 25, 100} {
		t.Run(fmt.Sprint("limit", limit), func(t *testing.T) {
			if got := listAll(t, s, query("a", limit)); !slices.Equal(got, want) {
				t.Fatalf("paging with limit %d = %v, want %v", limit, got, want)
			}
		})
	}
	page, err := s.ListPending(context.Background(), query("a", 25))
	if err != nil || len(page.Events) != 25 || page.Next != nil {
		t.Fatalf("ListPending(limit 25 of 25) = %d events, next %v, %v; want 25, nil", len(page.Events), page.Next, err)
	}
}

func testListOnlyPendingOfTenant(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	MustInsert(t, s, event("a", t0.Add(-48*time.Hour), "s", "t")) // expired
	evs := MustInsert(t, s,
		event("a", t0, "s", "t"), event("b", t0.Add(time.Millisecond), "s", "t"),
		event("a", t0.Add(2*time.Millisecond), "s", "t"), event("a", t0.Add(3*time.Millisecond), "s", "t"))
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: evs[2].ID}, t0, t0.Add(-time.Hour)); err != nil {
		t.Fatalf("AckEvent() = %v", err)
	}
	want := []string{evs[0].ID, evs[3].ID}
	if got := listAll(t, s, query("a", 10)); !slices.Equal(got, want) {
		t.Fatalf("inbox of a = %v, want %v (pending, unexpired, own tenant)", got, want)
	}
	if got := listAll(t, s, query("c", 10)); len(got) != 0 {
		t.Fatalf("inbox of an empty tenant = %v, want none", got)
	}
}

func testListFilters(t *testing.T, s triggers.Store) {
	evs := MustInsert(t, s,
		event("a", t0, "billing", "paid"),
		event("a", t0.Add(1*time.Millisecond), "billing", "refund"),
		event("a", t0.Add(2*time.Millisecond), "shop", "paid"),
		event("b", t0.Add(3*time.Millisecond), "billing", "paid"),
	)
	checkFilters(t, s, []filterCase{
		{"none", triggers.InboxFilter{}, ids(evs[:3])},
		{"source", triggers.InboxFilter{Source: "billing"}, []string{evs[0].ID, evs[1].ID}},
		{"event type", triggers.InboxFilter{EventType: "paid"}, []string{evs[0].ID, evs[2].ID}},
		{"source and type", triggers.InboxFilter{Source: "billing", EventType: "paid"}, []string{evs[0].ID}},
		{"no match", triggers.InboxFilter{Source: "nobody"}, nil},
		{"case sensitive", triggers.InboxFilter{Source: "Billing"}, nil},
	})
}

// filterCase is an inbox filter and the ids, in order, of tenant "a"'s
// pending events it lets through.
type filterCase struct {
	name   string
	filter triggers.InboxFilter
	want   []string
}

// checkFilters lists tenant "a"'s inbox with each case's filter, one event a
// page so that every page boundary is crossed, and compares the ids.
func checkFilters(t *testing.T, s triggers.Store, cases []filterCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := query("a", 1)
			q.Filter = c.filter
			if got := listAll(t, s, q); !slices.Equal(got, c.want) {
				t.Fatalf("ListPending(%+v) = %v, want %v", c.filter, got, c.want)
			}
		})
	}
}

func testListFiltersBeforeLimit(t *testing.T, s triggers.Store) {
	// Matches interleaved with many non-matches: a page still holds `limit`.
	var want []string
	var evs []triggers.Event
	for i := range 60 {
		src, typ := "noise", "x"
		if i%6 == 5 {
			src, typ = "wanted", "y"
		}
		evs = append(evs, event("a", t0.Add(time.Duration(i)*time.Millisecond), src, typ))
	}
	for _, e := range MustInsert(t, s, evs...) {
		if e.Source == "wanted" {
			want = append(want, e.ID)
		}
	}
	for _, f := range []triggers.InboxFilter{{Source: "wanted"}, {EventType: "y"}, {Source: "wanted", EventType: "y"}} {
		q := query("a", 4)
		q.Filter = f
		page, err := s.ListPending(context.Background(), q)
		if err != nil || len(page.Events) != 4 || page.Next == nil {
			t.Fatalf("ListPending(%+v, limit 4) = %d events, next %v, %v; want 4 and a next position", f, len(page.Events), page.Next, err)
		}
		if got := listAll(t, s, q); !slices.Equal(got, want) {
			t.Fatalf("paging %+v = %v, want %v", f, got, want)
		}
	}
}

func testListCreatedRange(t *testing.T, s triggers.Store) {
	var evs []triggers.Event
	for i := range 10 {
		evs = append(evs, event("a", t0.Add(time.Duration(i)*time.Second), "s", "t"))
	}
	evs = MustInsert(t, s, evs...)
	q := query("a", 2)
	q.Filter = triggers.InboxFilter{CreatedAfter: evs[2].CreatedAt, CreatedBefore: evs[7].CreatedAt}
	if got, want := listAll(t, s, q), ids(evs[3:7]); !slices.Equal(got, want) {
		t.Fatalf("created in (%v, %v) = %v, want %v (exclusive bounds)", evs[2].CreatedAt, evs[7].CreatedAt, got, want)
	}
}

func testListScanBound(t *testing.T, s triggers.Store) {
	// One match after many non-matches for a filter no single index serves:
	// a page may come back short, but then with a next position, and paging
	// on finds the match.
	var evs []triggers.Event
	for i := range 50 {
		evs = append(evs, event("a", t0.Add(time.Duration(i)*time.Millisecond), "src", "other"))
	}
	evs = append(evs, event("a", t0.Add(time.Second), "src", "needle"))
	stored := MustInsert(t, s, evs...)
	q := query("a", 5)
	q.MaxScan = 10
	q.Filter = triggers.InboxFilter{Source: "src", EventType: "needle"}
	page, err := s.ListPending(context.Background(), q)
	if err != nil {
		t.Fatalf("ListPending() = %v", err)
	}
	if len(page.Events) == 0 && page.Next == nil {
		t.Fatal("first page is empty and has no next position, but a match exists")
	}
	if got, want := listAll(t, s, q), []string{stored[50].ID}; !slices.Equal(got, want) {
		t.Fatalf("paging with a scan bound = %v, want %v", got, want)
	}
}

func testListPagingWhileWriting(t *testing.T, s triggers.Store) {
	// Page through the inbox while other goroutines insert and acknowledge.
	// Every event pending before paging starts and never acknowledged must be
	// seen exactly once; no event may be seen twice.
	ctx := context.Background()
	var initial []triggers.Event
	for i := range 200 {
		initial = append(initial, event("a", t0.Add(time.Duration(i)*time.Microsecond), "s", "t"))
	}
	initial = MustInsert(t, s, initial...)
	acked := make(map[string]bool)
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // inserter
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			MustInsert(t, s, event("a", t0.Add(time.Duration(i)*time.Microsecond), "s", "t"))
		}
	})
	wg.Go(func() { // acker: acknowledges every third initial event
		for i := 0; i < len(initial); i += 3 {
			if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: initial[i].ID}, t0, t0.Add(-time.Hour)); err != nil {
				t.Errorf("AckEvent() = %v", err)
				return
			}
			mu.Lock()
			acked[initial[i].ID] = true
			mu.Unlock()
		}
	})
	q := query("a", 7)
	seen := map[string]int{}
	for pages := 0; pages < 200; pages++ {
		page, err := s.ListPending(ctx, q)
		if err != nil {
			t.Fatalf("ListPending() = %v", err)
		}
		for _, e := range page.Events {
			seen[e.ID]++
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	close(stop)
	wg.Wait()
	for id, n := range seen {
		if n > 1 {
			t.Fatalf("event %s seen %d times while paging", id, n)
		}
	}
	for _, e := range initial {
		if !acked[e.ID] && seen[e.ID] != 1 {
			t.Fatalf("event %s, pending throughout, seen %d times, want 1", e.ID, seen[e.ID])
		}
	}
}

func testDeleteExpired(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	evs := MustInsert(t, s, event("a", t0.Add(-10*time.Hour), "s", "t"), event("a", t0, "s", "t"))
	insertIdem(t, s, event("a", t0.Add(time.Second), "s", "t"), "k", "h", t0.Add(-24*time.Hour))
	n, err := s.DeleteExpired(ctx, t0.Add(-time.Hour), t0.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired() = %d, %v; want 1, nil", n, err)
	}
	if _, err := s.GetEvent(ctx, "a", evs[0].ID, time.Time{}); triggers.ErrorCode(err) != triggers.ENOTFOUND {
		t.Fatalf("expired event still stored: GetEvent() = %v", err)
	}
	if _, err := s.GetEvent(ctx, "a", evs[1].ID, time.Time{}); err != nil {
		t.Fatalf("live event removed: GetEvent() = %v", err)
	}
	// The idempotency record, younger than idemBefore, survives.
	if r := insertIdem(t, s, event("a", t0.Add(2*time.Second), "s", "t"), "k", "h", t0.Add(-24*time.Hour)); !r.Replayed {
		t.Fatal("a live idempotency record was removed")
	}
	if _, err := s.DeleteExpired(ctx, t0.Add(-time.Hour), t0.Add(time.Hour)); err != nil {
		t.Fatalf("DeleteExpired() = %v", err)
	}
	if r := insertIdem(t, s, event("a", t0.Add(3*time.Second), "s", "t"), "k", "h", time.Time{}); r.Replayed {
		t.Fatal("an expired idempotency record survived DeleteExpired")
	}
}

func key(id, raw, tenant string) triggers.APIKey {
	return triggers.APIKey{ID: id, Hash: triggers.HashKey(raw), Tenant: tenant, Name: "n " + id,
		CreatedAt: t0, Active: true}
}

func testKeysCreateAndFind(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	k := key("key_1", "raw-secret-one-1234", "a")
	k.RateLimit = 60
	k.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::1/128")}
	k.ExpiresAt = t0.Add(time.Hour)
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatalf("CreateKey() = %v", err)
	}
	if err := s.CreateKey(ctx, key("key_2", "raw-secret-two-1234", "b")); err != nil {
		t.Fatalf("CreateKey() = %v", err)
	}
	got, err := s.KeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("KeyByHash() = %v", err)
	}
	if got.ID != k.ID || got.Tenant != "a" || got.Name != k.Name || !got.CreatedAt.Equal(k.CreatedAt) || !got.Active ||
		got.RateLimit != 60 || !slices.Equal(got.AllowedIPs, k.AllowedIPs) || !got.ExpiresAt.Equal(k.ExpiresAt) {
		t.Fatalf("KeyByHash() = %+v, want %+v", got, k)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "key_1" || keys[1].ID != "key_2" {
		t.Fatalf("ListKeys() = %+v, %v; want key_1, key_2", keys, err)
	}
}

func testKeysConflict(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	if err := s.CreateKey(ctx, key("key_1", "raw-secret-one-1234", "a")); err != nil {
		t.Fatalf("CreateKey() = %v", err)
	}
	mustCode(t, s.CreateKey(ctx, key("key_1", "raw-secret-other-1234", "a")), triggers.ECONFLICT)
	mustCode(t, s.CreateKey(ctx, key("key_9", "raw-secret-one-1234", "a")), triggers.ECONFLICT)
}

func testKeysUpdate(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	k := key("key_1", "raw-secret-one-1234", "a")
	k.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatalf("CreateKey() = %v", err)
	}
	got, err := s.UpdateKey(ctx, "key_1", func(k *triggers.APIKey) error {
		k.RateLimit, k.AllowedIPs, k.Active = 5, nil, false
		return nil
	})
	if err != nil || got.RateLimit != 5 || len(got.AllowedIPs) != 0 || got.Active {
		t.Fatalf("UpdateKey() = %+v, %v", got, err)
	}
	stored, err := s.KeyByHash(ctx, k.Hash)
	if err != nil || stored.RateLimit != 5 || len(stored.AllowedIPs) != 0 || stored.Active {
		t.Fatalf("KeyByHash() after update = %+v, %v", stored, err)
	}
	refuse := triggers.Errorf(triggers.EINVALID, "no")
	if _, err := s.UpdateKey(ctx, "key_1", func(k *triggers.APIKey) error { k.RateLimit = 99; return refuse }); err != refuse {
		t.Fatalf("UpdateKey() with failing fn = %v, want fn's error", err)
	}
	if stored, _ := s.KeyByHash(ctx, k.Hash); stored.RateLimit != 5 {
		t.Fatalf("a failed update was stored: rate limit %d", stored.RateLimit)
	}
}

func testKeysNotFound(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	_, err := s.KeyByHash(ctx, triggers.HashKey("nope-nope-nope-nope"))
	mustCode(t, err, triggers.ENOTFOUND)
	_, err = s.UpdateKey(ctx, "key_missing", func(*triggers.APIKey) error { return nil })
	mustCode(t, err, triggers.ENOTFOUND)
}

func codes[R any](results []R, errOf func(R) error) []triggers.Code {
	out := make([]triggers.Code, len(results))
	for i, r := range results {
		out[i] = triggers.ErrorCode(errOf(r))
	}
	return out
}

func testAckEventsInOrder(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	evs := mustBatchFixture(t, s)
	expired := evs[3]
	acked := MustInsert(t, s, event("a", t0, "s", "t"))[0]
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: acked.ID}, t0, t0.Add(-time.Hour)); err != nil {
		t.Fatalf("AckEvent() = %v", err)
	}
	at := t0.Add(time.Minute)
	ids := []string{evs[0].ID, evs[1].ID, triggers.NewEventID(t0), evs[2].ID, evs[3].ID, acked.ID}
	res, err := s.AckEvents(ctx, "a", triggers.AcksOf(ids), at, t0.Add(-time.Hour))
	if err != nil {
		t.Fatalf("AckEvents() = %v", err)
	}
	want := []triggers.Code{"", "", triggers.ENOTFOUND, triggers.ENOTFOUND, triggers.ENOTFOUND, triggers.ECONFLICT}
	if got := codes(res, func(r triggers.AckResult) error { return r.Err }); !slices.Equal(got, want) {
		t.Fatalf("AckEvents() codes = %q, want %q (unknown, other tenant, expired, already acked)", got, want)
	}
	for _, i := range []int{0, 1} {
		if res[i].Event.ID != ids[i] || !res[i].Event.AcknowledgedAt.Equal(at) {
			t.Fatalf("AckEvents()[%d].Event = %+v, want %s acknowledged at %v", i, res[i].Event, ids[i], at)
		}
	}
	if got, err := s.GetEvent(ctx, "b", evs[2].ID, t0.Add(-time.Hour)); err != nil || got.Status() != triggers.StatusPending {
		t.Fatalf("other tenant's event after AckEvents = %+v, %v; want pending", got, err)
	}
	// query's notBefore is a day back: only the refused "expired" event is left.
	if got := listAll(t, s, query("a", 10)); !slices.Equal(got, []string{expired.ID}) {
		t.Fatalf("inbox after AckEvents = %v, want only %s", got, expired.ID)
	}
}

func testDeleteEventsInOrder(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	evs := mustBatchFixture(t, s)
	ids := []string{evs[0].ID, triggers.NewEventID(t0), evs[2].ID, evs[3].ID, evs[1].ID}
	res, err := s.DeleteEvents(ctx, "a", ids, t0.Add(-time.Hour))
	if err != nil {
		t.Fatalf("DeleteEvents() = %v", err)
	}
	want := []triggers.Code{"", triggers.ENOTFOUND, triggers.ENOTFOUND, triggers.ENOTFOUND, ""}
	if got := codes(res, func(r triggers.DeleteResult) error { return r.Err }); !slices.Equal(got, want) {
		t.Fatalf("DeleteEvents() codes = %q, want %q (unknown, other tenant, expired)", got, want)
	}
	for _, id := range []string{evs[0].ID, evs[1].ID} {
		_, err := s.GetEvent(ctx, "a", id, t0.Add(-time.Hour))
		mustCode(t, err, triggers.ENOTFOUND)
	}
	if _, err := s.GetEvent(ctx, "b", evs[2].ID, t0.Add(-time.Hour)); err != nil {
		t.Fatalf("other tenant's event after DeleteEvents: %v", err)
	}
}

func testListPriority(t *testing.T, s triggers.Store) {
	var evs []triggers.Event
	for i := range 12 {
		e := event("a", t0.Add(time.Duration(i)*time.Millisecond), "s", "t")
		if i%4 == 0 {
			e.Priority, e.Metadata = triggers.PriorityHigh, json.RawMessage(`{"priority":"high"}`)
		}
		evs = append(evs, e)
	}
	evs = MustInsert(t, s, evs...)
	q := query("a", 2)
	q.Filter = triggers.InboxFilter{Priority: triggers.PriorityHigh}
	if got, want := listAll(t, s, q), []string{evs[0].ID, evs[4].ID, evs[8].ID}; !slices.Equal(got, want) {
		t.Fatalf("priority=high = %v, want %v", got, want)
	}
	q.Filter = triggers.InboxFilter{Priority: triggers.PriorityHigh, Source: "s", EventType: "t"}
	if got, want := listAll(t, s, q), []string{evs[0].ID, evs[4].ID, evs[8].ID}; !slices.Equal(got, want) {
		t.Fatalf("priority=high with source and type = %v, want %v", got, want)
	}
}

// mustBatchFixture stores the events the batch tests work on: two pending
// events of tenant a, one of tenant b, and an expired one of tenant a (in
// that order in the result; the expired one is inserted first, since a
// store may move CreatedAt forward, never back).
func mustBatchFixture(t *testing.T, s triggers.Store) []triggers.Event {
	t.Helper()
	expired := MustInsert(t, s, event("a", t0.Add(-2*time.Hour), "s", "t"))[0]
	evs := MustInsert(t, s, event("a", t0, "s", "t"), event("a", t0.Add(time.Millisecond), "s", "t"),
		event("b", t0, "s", "t"))
	if !expired.CreatedAt.Before(t0.Add(-time.Hour)) {
		t.Fatalf("event created at %v stored at %v", t0.Add(-2*time.Hour), expired.CreatedAt)
	}
	return append(evs, expired)
}

func withMetadata(e triggers.Event, md string) triggers.Event {
	e.Metadata = json.RawMessage(md)
	var m struct{ Priority triggers.Priority }
	if err := json.Unmarshal(e.Metadata, &m); err == nil && m.Priority != "" {
		e.Priority = m.Priority
	}
	return e
}

func testListMetadata(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	evs := MustInsert(t, s,
		withMetadata(event("a", at(0), "s", "t"), `{"priority":"normal","user_id":"u1","region":"eu","empty":""}`),
		withMetadata(event("a", at(1), "s", "t"), `{"priority":"high","user_id":"u2","region":"eu"}`),
		withMetadata(event("a", at(2), "s", "t"), `{"priority":"normal","user_id":"u1","region":"us","n":10,"vip":true,"a.b":"dot"}`),
		withMetadata(event("a", at(3), "s", "t"), `{"priority":"normal","user_id":"u1"}`), // acknowledged below
		withMetadata(event("a", at(4), "s", "t"), `{"priority":"normal","user_id":"u1"}`), // deleted below
		withMetadata(event("b", at(5), "s", "t"), `{"priority":"normal","user_id":"u1","region":"eu"}`),
		withMetadata(event("a", at(6), "s", "t"), `{"priority":"normal","user_id":"u1.","x":{"user_id":"u1"},"a b":"u1"}`),
		withMetadata(event("a", at(7), "s", "t"), `{"priority":"normal","user_id":["u1"],"region":null}`),
	)
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: evs[3].ID}, t0, t0.Add(-time.Hour)); err != nil {
		t.Fatalf("AckEvent() = %v", err)
	}
	if ok, err := s.DeleteEvent(ctx, "a", evs[4].ID, t0.Add(-time.Hour)); !ok || err != nil {
		t.Fatalf("DeleteEvent() = %v, %v", ok, err)
	}
	md := func(kv ...string) []triggers.MetadataMatch {
		var m []triggers.MetadataMatch
		for i := 0; i < len(kv); i += 2 {
			m = append(m, triggers.MetadataMatch{Key: kv[i], Value: kv[i+1]})
		}
		return m
	}
	checkFilters(t, s, []filterCase{
		{"one key", triggers.InboxFilter{Metadata: md("user_id", "u1")}, []string{evs[0].ID, evs[2].ID}},
		{"two keys", triggers.InboxFilter{Metadata: md("region", "eu", "user_id", "u1")}, []string{evs[0].ID}},
		{"number text", triggers.InboxFilter{Metadata: md("n", "10")}, []string{evs[2].ID}},
		{"boolean", triggers.InboxFilter{Metadata: md("vip", "true")}, []string{evs[2].ID}},
		{"with priority", triggers.InboxFilter{Priority: triggers.PriorityHigh, Metadata: md("region", "eu")}, []string{evs[1].ID}},
		{"with source", triggers.InboxFilter{Source: "s", Metadata: md("region", "us")}, []string{evs[2].ID}},
		{"with window", triggers.InboxFilter{CreatedAfter: evs[0].CreatedAt, Metadata: md("region", "eu")}, []string{evs[1].ID}},
		{"dotted key", triggers.InboxFilter{Metadata: md("a.b", "dot")}, []string{evs[2].ID}},
		{"empty value", triggers.InboxFilter{Metadata: md("empty", "")}, []string{evs[0].ID}},
		{"no match", triggers.InboxFilter{Metadata: md("user_id", "nobody")}, nil},
		{"case sensitive", triggers.InboxFilter{Metadata: md("user_id", "U1")}, nil},
		{"quote in value", triggers.InboxFilter{Metadata: md("user_id", `u1" OR 1=1 --`)}, nil},
	})
}

// testListFilterCombinations checks every store against the domain's own
// InboxFilter.Matches: a few hundred events with random attributes, some
// acknowledged or deleted, paged through with small pages and a small scan
// bound under many filter combinations.
func testListFilterCombinations(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var evs []triggers.Event
	for i := range 300 {
		tenant := pick("a", "a", "a", "b")
		e := event(tenant, t0.Add(time.Duration(i)*time.Millisecond), pick("s1", "s2", "s3"), pick("t1", "t2"))
		e = withMetadata(e, fmt.Sprintf(`{"priority":%q,"user_id":%q,"region":%q,"n":%d}`,
			pick("normal", "normal", "normal", "high", "low"), pick("u1", "u2", "u3", "u4", "u5", "u6"), pick("eu", "us"), rng.IntN(3)))
		evs = append(evs, e)
	}
	evs = MustInsert(t, s, evs...)
	gone := map[string]bool{}
	for i, e := range evs {
		switch i % 7 {
		case 3:
			if _, err := s.AckEvent(ctx, e.Tenant, triggers.Ack{ID: e.ID}, t0, t0.Add(-time.Hour)); err != nil {
				t.Fatalf("AckEvent() = %v", err)
			}
			gone[e.ID] = true
		case 5:
			if _, err := s.DeleteEvent(ctx, e.Tenant, e.ID, t0.Add(-time.Hour)); err != nil {
				t.Fatalf("DeleteEvent() = %v", err)
			}
			gone[e.ID] = true
		}
	}
	mid := evs[100].CreatedAt
	filters := []triggers.InboxFilter{
		{},
		{Source: "s1"},
		{EventType: "t2"},
		{Priority: triggers.PriorityHigh},
		{Priority: triggers.PriorityNormal},
		{Priority: triggers.PriorityLow, Source: "s2"},
		{CreatedAfter: mid},
		{CreatedBefore: mid},
		{CreatedAfter: evs[50].CreatedAt, CreatedBefore: evs[250].CreatedAt, Priority: triggers.PriorityHigh},
		{Metadata: []triggers.MetadataMatch{{Key: "user_id", Value: "u3"}}},
		{Metadata: []triggers.MetadataMatch{{Key: "n", Value: "2"}, {Key: "region", Value: "eu"}}},
		{Metadata: []triggers.MetadataMatch{{Key: "user_id", Value: "u1"}}, Priority: triggers.PriorityNormal, EventType: "t1"},
		{Metadata: []triggers.MetadataMatch{{Key: "region", Value: "us"}}, Source: "s3", CreatedAfter: mid},
		{Source: "s1", EventType: "t1", Priority: triggers.PriorityHigh, Metadata: []triggers.MetadataMatch{{Key: "region", Value: "eu"}}},
	}
	for _, f := range filters {
		var want []string
		for i := range evs {
			if evs[i].Tenant == "a" && !gone[evs[i].ID] && f.Matches(&evs[i]) {
				want = append(want, evs[i].ID)
			}
		}
		for _, size := range []struct{ limit, maxScan int }{{3, 8}, {100, 1000}} {
			q := query("a", size.limit)
			q.MaxScan = size.maxScan
			q.Filter = f
			if got := listAll(t, s, q); !slices.Equal(got, want) {
				t.Errorf("paging %+v (limit %d, scan bound %d) = %d events, want %d (%d in common)",
					f, size.limit, size.maxScan, len(got), len(want), len(intersect(got, want)))
			}
		}
	}
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
