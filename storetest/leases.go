package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// leaseTests are the conformance subtests of the lease verbs (DESIGN §10),
// run by RunTests.
var leaseTests = []struct {
	name string
	fn   func(t *testing.T, s triggers.Store)
}{
	{"Receive/LeasesAvailableOldestFirst", testReceiveLeases},
	{"Receive/NothingAvailableTellsWhenNext", testReceiveNextAvailable},
	{"Receive/ExpiredLeaseIsRedelivered", testReceiveExpiry},
	{"Receive/DeadLettersAtMaxAttempts", testReceiveDeadLetter},
	{"Receive/FiltersAndTenant", testReceiveFilters},
	{"Receive/ExclusiveUnder16Receivers", testReceiveExclusive},
	{"Nack/Delay", testNackDelay},
	{"Nack/Conflicts", testNackConflicts},
	{"ExtendLease/OK", testExtendLease},
	{"ExtendLease/Conflicts", testExtendConflicts},
	{"AckEvent/WithLease", testAckWithLease},
	{"AckEvents/WithLeases", testAckEventsWithLeases},
	{"Redrive/OK", testRedrive},
	{"Redrive/Conflicts", testRedriveConflicts},
	{"ListPending/Dead", testListDead},
	{"DeleteExpired/LeasedAndDead", testDeleteExpiredLeasedAndDead},
	{"Leases/Model", testLeaseModel},
	{"BulkVerbs/EmptyCalls", testEmptyBulkCalls},
}

// testEmptyBulkCalls checks that every bulk verb takes an empty call and
// answers it with no results (Service never makes one, but nothing in the
// contract forbids it).
func testEmptyBulkCalls(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	for name, call := range map[string]func() (int, error){
		"AckEvents":     func() (int, error) { r, err := s.AckEvents(ctx, "a", nil, t0, nb); return len(r), err },
		"DeleteEvents":  func() (int, error) { r, err := s.DeleteEvents(ctx, "a", nil, nb); return len(r), err },
		"NackEvents":    func() (int, error) { r, err := s.NackEvents(ctx, "a", nil, t0, nb); return len(r), err },
		"RedriveEvents": func() (int, error) { r, err := s.RedriveEvents(ctx, "a", nil, nb); return len(r), err },
		"InsertEvents":  func() (int, error) { r, err := s.InsertEvents(ctx, nil); return len(r), err },
	} {
		if n, err := call(); n != 0 || err != nil {
			t.Errorf("%s(no items) = %d results, %v; want none, nil", name, n, err)
		}
	}
}

// nb is the notBefore of the lease tests: nothing they create expires.
var nb = t0.Add(-24 * time.Hour)

// receiveQuery asks for up to max events of tenant at now, leased for 30 s,
// with at most maxAttempts attempts.
func receiveQuery(tenant string, now time.Time, max, maxAttempts int) triggers.ReceiveQuery {
	q := triggers.ReceiveQuery{Tenant: tenant, NotBefore: nb, Now: now, Max: max,
		LeaseExpiresAt: now.Add(30 * time.Second), MaxAttempts: maxAttempts, MaxScan: 1000}
	for range max {
		q.LeaseIDs = append(q.LeaseIDs, triggers.NewLeaseID())
	}
	return q
}

// mustReceive runs q and checks what every receive must hold: at most q.Max
// events, oldest first, each leased with the query's lease.
func mustReceive(tb testing.TB, s triggers.Store, q triggers.ReceiveQuery) triggers.Received {
	tb.Helper()
	got, err := s.ReceiveEvents(context.Background(), q)
	if err != nil {
		tb.Fatalf("ReceiveEvents() = %v", err)
	}
	if len(got.Events) > q.Max {
		tb.Fatalf("ReceiveEvents() leased %d events, max %d", len(got.Events), q.Max)
	}
	for i, e := range got.Events {
		if e.Tenant != q.Tenant || e.LeaseID != q.LeaseIDs[i] || !e.LeaseExpiresAt.Equal(q.LeaseExpiresAt) ||
			e.Attempts < 1 || !e.AvailableAt.IsZero() || e.Status() != triggers.StatusPending {
			tb.Fatalf("ReceiveEvents()[%d] = tenant %q lease %q until %v, attempts %d, available at %v, status %s; want tenant %q lease %q until %v",
				i, e.Tenant, e.LeaseID, e.LeaseExpiresAt, e.Attempts, e.AvailableAt, e.Status(), q.Tenant, q.LeaseIDs[i], q.LeaseExpiresAt)
		}
		if i > 0 && before(e, got.Events[i-1]) {
			tb.Fatalf("ReceiveEvents() events are not oldest first: %v", ids(got.Events))
		}
	}
	return got
}

func before(a, b triggers.Event) bool {
	return a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID
}

func mustGet(tb testing.TB, s triggers.Store, tenant, id string) triggers.Event {
	tb.Helper()
	e, err := s.GetEvent(context.Background(), tenant, id, nb)
	if err != nil {
		tb.Fatalf("GetEvent(%s) = %v", id, err)
	}
	return e
}

// mustConflict checks that err is a CONFLICT with the reason.
func mustConflict(tb testing.TB, err error, reason string) {
	tb.Helper()
	if got := reasonOf(err); got != reason {
		tb.Fatalf("error = %v (reason %q), want CONFLICT %q", err, got, reason)
	}
}

// reasonOf returns the code of err, with the reason of a CONFLICT.
func reasonOf(err error) string {
	code := triggers.ErrorCode(err)
	if code != triggers.ECONFLICT {
		return string(code)
	}
	var e *triggers.Error
	if errors.As(err, &e) {
		if r, ok := e.Details["reason"].(string); ok {
			return r
		}
	}
	return "CONFLICT without reason"
}

// insertN stores n events of tenant a, 1 ms apart from t0.
func insertN(tb testing.TB, s triggers.Store, n int) []triggers.Event {
	evs := make([]triggers.Event, n)
	for i := range evs {
		evs[i] = event("a", t0.Add(time.Duration(i)*time.Millisecond), "s", "t")
	}
	return MustInsert(tb, s, evs...)
}

func testReceiveLeases(t *testing.T, s triggers.Store) {
	evs := insertN(t, s, 5)
	now := t0.Add(time.Minute)
	first := mustReceive(t, s, receiveQuery("a", now, 3, 10))
	if len(first.Events) != 3 || first.DeadLettered != 0 {
		t.Fatalf("first receive = %d events, %d dead, want 3, 0", len(first.Events), first.DeadLettered)
	}
	second := mustReceive(t, s, receiveQuery("a", now, 3, 10))
	if len(second.Events) != 2 {
		t.Fatalf("second receive = %d events, want the other 2", len(second.Events))
	}
	got := append(ids(first.Events), ids(second.Events)...)
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(ids(evs)))) {
		t.Fatalf("leased %v, want each of %v once", got, ids(evs))
	}
	for _, e := range append(first.Events, second.Events...) {
		if e.Attempts != 1 {
			t.Errorf("event %s attempts = %d, want 1", e.ID, e.Attempts)
		}
		stored := mustGet(t, s, "a", e.ID)
		if stored.LeaseID != e.LeaseID || !stored.LeaseExpiresAt.Equal(e.LeaseExpiresAt) || stored.Attempts != 1 ||
			!stored.Leased(now) || stored.Available(now) {
			t.Errorf("GetEvent(%s) = lease %q until %v, attempts %d; want the receive's lease", e.ID, stored.LeaseID, stored.LeaseExpiresAt, stored.Attempts)
		}
	}
	// Leased events stay in the pending inbox, with their lease.
	page, err := s.ListPending(context.Background(), query("a", 10))
	if err != nil || len(page.Events) != 5 {
		t.Fatalf("ListPending() = %d events, %v; want all 5 (leased events are pending)", len(page.Events), err)
	}
	for _, e := range page.Events {
		if e.Attempts != 1 || !e.Leased(now) {
			t.Errorf("inbox event %s: attempts %d, leased %v; want 1, true", e.ID, e.Attempts, e.Leased(now))
		}
	}
}

func testReceiveNextAvailable(t *testing.T, s triggers.Store) {
	if got := mustReceive(t, s, receiveQuery("a", t0, 10, 10)); len(got.Events) != 0 || !got.NextAvailable.IsZero() {
		t.Fatalf("receive from an empty store = %d events, next %v; want none, zero", len(got.Events), got.NextAvailable)
	}
	insertN(t, s, 2)
	now := t0.Add(time.Minute)
	q := receiveQuery("a", now, 1, 10)
	q.LeaseExpiresAt = now.Add(20 * time.Second)
	mustReceive(t, s, q)
	q = receiveQuery("a", now, 1, 10)
	q.LeaseExpiresAt = now.Add(10 * time.Second)
	mustReceive(t, s, q)
	got := mustReceive(t, s, receiveQuery("a", now.Add(time.Second), 10, 10))
	if len(got.Events) != 0 {
		t.Fatalf("receive while every event is leased = %v, want none", ids(got.Events))
	}
	// A store may not know (zero); if it answers, it is the earliest expiry.
	if want := now.Add(10 * time.Second); !got.NextAvailable.IsZero() && !got.NextAvailable.Equal(want) {
		t.Fatalf("NextAvailable = %v, want %v (the earliest lease expiry) or zero", got.NextAvailable, want)
	}
}

func testReceiveExpiry(t *testing.T, s triggers.Store) {
	e := insertN(t, s, 1)[0]
	now := t0.Add(time.Minute)
	first := mustReceive(t, s, receiveQuery("a", now, 1, 10)).Events[0]
	expiry := first.LeaseExpiresAt
	if got := mustReceive(t, s, receiveQuery("a", expiry.Add(-time.Microsecond), 1, 10)); len(got.Events) != 0 {
		t.Fatalf("receive before the lease expired = %v, want none", ids(got.Events))
	}
	got := mustReceive(t, s, receiveQuery("a", expiry, 1, 10))
	if len(got.Events) != 1 || got.Events[0].ID != e.ID || got.Events[0].Attempts != 2 || got.Events[0].LeaseID == first.LeaseID {
		t.Fatalf("receive at the lease's expiry = %+v, want %s again with attempts 2 and a new lease", got.Events, e.ID)
	}
}

// expireAndReceive receives the only event of tenant a repeatedly, each time
// after the previous lease expired, and returns the time of the last receive.
func expireAndReceive(tb testing.TB, s triggers.Store, times, maxAttempts int) time.Time {
	now := t0.Add(time.Minute)
	for range times {
		mustReceive(tb, s, receiveQuery("a", now, 1, maxAttempts))
		now = now.Add(time.Minute)
	}
	return now.Add(-time.Minute)
}

func testReceiveDeadLetter(t *testing.T, s triggers.Store) {
	evs := insertN(t, s, 2)
	now := expireAndReceive(t, s, 2, 2).Add(time.Minute) // attempts 2 of 2 on the first event
	got := mustReceive(t, s, receiveQuery("a", now, 10, 2))
	// The first event used its attempts: dead, not leased. The second was
	// leased by the first receive (attempts 1, expired) and is leased again.
	if got.DeadLettered != 1 || len(got.Events) != 1 || got.Events[0].ID != evs[1].ID {
		t.Fatalf("receive = %v, %d dead; want %s leased and 1 dead", ids(got.Events), got.DeadLettered, evs[1].ID)
	}
	dead := mustGet(t, s, "a", evs[0].ID)
	if dead.Status() != triggers.StatusDead || !dead.DeadAt.Equal(now) || dead.Leased(now) || dead.Attempts != 2 {
		t.Fatalf("dead event = status %s dead at %v, leased %v, attempts %d; want dead at %v, attempts 2",
			dead.Status(), dead.DeadAt, dead.Leased(now), dead.Attempts, now)
	}
	if got := listAll(t, s, query("a", 10)); !slices.Equal(got, []string{evs[1].ID}) {
		t.Fatalf("pending inbox = %v, want only %s (dead events leave it)", got, evs[1].ID)
	}
	later := mustReceive(t, s, receiveQuery("a", now.Add(time.Hour), 10, 1000))
	if slices.Contains(ids(later.Events), evs[0].ID) {
		t.Fatal("a dead event was leased again")
	}
}

func testReceiveFilters(t *testing.T, s triggers.Store) {
	var evs []triggers.Event
	for i, spec := range []struct{ tenant, source, md string }{
		{"a", "s1", `{"priority":"high","user":"u1"}`},
		{"a", "s2", `{"priority":"normal","user":"u1"}`},
		{"b", "s1", `{"priority":"high","user":"u1"}`},
		{"a", "s1", `{"priority":"normal","user":"u2"}`},
		{"a", "s1", `{"priority":"high","user":"u1"}`},
	} {
		evs = append(evs, withMetadata(event(spec.tenant, t0.Add(time.Duration(i)*time.Millisecond), spec.source, "t"), spec.md))
	}
	evs = MustInsert(t, s, evs...)
	now := t0.Add(time.Minute)
	q := receiveQuery("a", now, 10, 10)
	q.Filter = triggers.InboxFilter{Source: "s1", Priority: triggers.PriorityHigh,
		Metadata: []triggers.MetadataMatch{{Key: "user", Value: "u1"}}}
	got := mustReceive(t, s, q)
	if want := []string{evs[0].ID, evs[4].ID}; !slices.Equal(ids(got.Events), want) {
		t.Fatalf("filtered receive = %v, want %v (tenant a, s1, high, user u1)", ids(got.Events), want)
	}
	q = receiveQuery("a", now, 10, 10)
	q.Filter = triggers.InboxFilter{CreatedAfter: evs[0].CreatedAt, CreatedBefore: evs[4].CreatedAt}
	got = mustReceive(t, s, q)
	if want := []string{evs[1].ID, evs[3].ID}; !slices.Equal(ids(got.Events), want) {
		t.Fatalf("receive in a time range = %v, want %v", ids(got.Events), want)
	}
	if got := mustReceive(t, s, receiveQuery("c", now, 10, 10)); len(got.Events) != 0 {
		t.Fatalf("receive of another tenant = %v, want none", ids(got.Events))
	}
}

// testReceiveExclusive has 16 receivers drain 60 events concurrently at one
// instant: every event is leased exactly once, however the receives
// interleave (within a process or across processes sharing the store).
func testReceiveExclusive(t *testing.T, s triggers.Store) {
	evs := insertN(t, s, 60)
	now := t0.Add(time.Minute)
	var mu sync.Mutex
	leased := map[string]int{}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for empty := 0; empty < 2; {
				got, err := s.ReceiveEvents(context.Background(), receiveQuery("a", now, 5, 10))
				if err != nil {
					t.Errorf("ReceiveEvents() = %v", err)
					return
				}
				if len(got.Events) == 0 {
					empty++ // twice: a shared store may have lost a race for the last ones
					continue
				}
				mu.Lock()
				for _, e := range got.Events {
					leased[e.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, e := range evs {
		if leased[e.ID] != 1 {
			t.Errorf("event %s leased %d times, want exactly once", e.ID, leased[e.ID])
		}
	}
}

func testNackDelay(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	e := insertN(t, s, 1)[0]
	now := t0.Add(time.Minute)
	l := mustReceive(t, s, receiveQuery("a", now, 1, 10)).Events[0]
	res, err := s.NackEvents(ctx, "a", []triggers.Nack{{ID: e.ID, LeaseID: l.LeaseID, AvailableAt: now.Add(10 * time.Second)}}, now, nb)
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("NackEvents() = %+v, %v", res, err)
	}
	if n := res[0].Event; n.Leased(now) || n.LeaseID != "" || n.Attempts != 1 || !n.AvailableAt.Equal(now.Add(10*time.Second)) {
		t.Fatalf("nacked event = lease %q leased %v, attempts %d, available at %v; want no lease, 1, now+10s", n.LeaseID, n.Leased(now), n.Attempts, n.AvailableAt)
	}
	if got := mustReceive(t, s, receiveQuery("a", now.Add(9*time.Second), 1, 10)); len(got.Events) != 0 {
		t.Fatalf("receive during the nack delay = %v, want none", ids(got.Events))
	} else if !got.NextAvailable.IsZero() && !got.NextAvailable.Equal(now.Add(10*time.Second)) {
		t.Fatalf("NextAvailable = %v, want the end of the nack delay %v or zero", got.NextAvailable, now.Add(10*time.Second))
	}
	got := mustReceive(t, s, receiveQuery("a", now.Add(10*time.Second), 1, 10))
	if len(got.Events) != 1 || got.Events[0].Attempts != 2 {
		t.Fatalf("receive after the delay = %+v, want the event with attempts 2", got.Events)
	}
	// A nack without delay makes it available at once.
	if _, err := s.NackEvents(ctx, "a", []triggers.Nack{{ID: e.ID, LeaseID: got.Events[0].LeaseID}}, now.Add(11*time.Second), nb); err != nil {
		t.Fatal(err)
	}
	if again := mustReceive(t, s, receiveQuery("a", now.Add(11*time.Second), 1, 10)); len(again.Events) != 1 {
		t.Fatal("an event nacked without delay is not available at once")
	}
}

// leasedFixture stores four events of tenant a and leases them at now for
// 30 s; it returns them as leased.
func leasedFixture(tb testing.TB, s triggers.Store, now time.Time) []triggers.Event {
	insertN(tb, s, 4)
	got := mustReceive(tb, s, receiveQuery("a", now, 4, 10))
	if len(got.Events) != 4 {
		tb.Fatalf("receive = %d events, want 4", len(got.Events))
	}
	return got.Events
}

func testNackConflicts(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	now := t0.Add(time.Minute)
	l := leasedFixture(t, s, now)
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: l[2].ID}, now, nb); err != nil {
		t.Fatal(err)
	}
	later := now.Add(31 * time.Second) // every lease has expired
	res, err := s.NackEvents(ctx, "a", []triggers.Nack{
		{ID: l[0].ID, LeaseID: triggers.NewLeaseID()}, // not its lease
		{ID: l[1].ID, LeaseID: l[1].LeaseID},          // its lease, expired
		{ID: l[2].ID, LeaseID: l[2].LeaseID},          // acknowledged
		{ID: triggers.NewEventID(t0), LeaseID: l[3].LeaseID},
	}, later, nb)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{triggers.ReasonLeaseLost, triggers.ReasonLeaseExpired, triggers.ReasonAlreadyAcknowledged, string(triggers.ENOTFOUND)}
	for i, r := range res {
		if got := reasonOf(r.Err); got != want[i] {
			t.Errorf("nack %d = %v (%s), want %s", i, r.Err, got, want[i])
		}
	}
	// Another tenant's event is unknown, whatever the lease.
	res, err = s.NackEvents(ctx, "b", []triggers.Nack{{ID: l[3].ID, LeaseID: l[3].LeaseID}}, now, nb)
	if err != nil || reasonOf(res[0].Err) != string(triggers.ENOTFOUND) {
		t.Fatalf("nack of another tenant's event = %+v, %v; want NOT_FOUND", res, err)
	}
	// Refused nacks changed nothing: l[3] is still leased, l[1] keeps its attempts.
	if e := mustGet(t, s, "a", l[3].ID); !e.Leased(now) || e.LeaseID != l[3].LeaseID {
		t.Fatalf("after refused nacks, event 3 lease = %q leased %v; want unchanged", e.LeaseID, e.Leased(now))
	}
	// A nacked lease is lost for every later verb.
	if res, _ := s.NackEvents(ctx, "a", []triggers.Nack{{ID: l[3].ID, LeaseID: l[3].LeaseID}}, now, nb); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	_, err = s.AckEvent(ctx, "a", triggers.Ack{ID: l[3].ID, LeaseID: l[3].LeaseID}, now, nb)
	mustConflict(t, err, triggers.ReasonLeaseLost)
}

func testExtendLease(t *testing.T, s triggers.Store) {
	now := t0.Add(time.Minute)
	l := leasedFixture(t, s, now)[0]
	until := now.Add(5 * time.Minute)
	e, err := s.ExtendLease(context.Background(), "a", triggers.Ack{ID: l.ID, LeaseID: l.LeaseID}, until, now.Add(10*time.Second), nb)
	if err != nil || !e.LeaseExpiresAt.Equal(until) || e.LeaseID != l.LeaseID || e.Attempts != 1 {
		t.Fatalf("ExtendLease() = lease %q until %v, attempts %d, %v; want until %v", e.LeaseID, e.LeaseExpiresAt, e.Attempts, err, until)
	}
	got := mustReceive(t, s, receiveQuery("a", now.Add(time.Minute), 4, 10))
	if slices.Contains(ids(got.Events), l.ID) {
		t.Fatal("an extended lease was given to another receive before its new expiry")
	}
	if got := mustReceive(t, s, receiveQuery("a", until, 4, 10)); !slices.Contains(ids(got.Events), l.ID) {
		t.Fatal("the event is not available at its extended lease's expiry")
	}
}

func testExtendConflicts(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	now := t0.Add(time.Minute)
	l := leasedFixture(t, s, now)
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: l[2].ID}, now, nb); err != nil {
		t.Fatal(err)
	}
	later := now.Add(31 * time.Second)
	for _, c := range []struct {
		name   string
		tenant string
		ack    triggers.Ack
		at     time.Time
		want   string
	}{
		{"AnotherLease", "a", triggers.Ack{ID: l[0].ID, LeaseID: triggers.NewLeaseID()}, now, triggers.ReasonLeaseLost},
		{"ExpiredLease", "a", triggers.Ack{ID: l[1].ID, LeaseID: l[1].LeaseID}, later, triggers.ReasonLeaseExpired},
		{"Acknowledged", "a", triggers.Ack{ID: l[2].ID, LeaseID: l[2].LeaseID}, now, triggers.ReasonAlreadyAcknowledged},
		{"Unknown", "a", triggers.Ack{ID: triggers.NewEventID(t0), LeaseID: l[3].LeaseID}, now, string(triggers.ENOTFOUND)},
		{"OtherTenant", "b", triggers.Ack{ID: l[3].ID, LeaseID: l[3].LeaseID}, now, string(triggers.ENOTFOUND)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.ExtendLease(ctx, c.tenant, c.ack, c.at.Add(time.Hour), c.at, nb)
			if got := reasonOf(err); got != c.want {
				t.Fatalf("ExtendLease() = %v (%s), want %s", err, got, c.want)
			}
		})
	}
	if e := mustGet(t, s, "a", l[1].ID); !e.LeaseExpiresAt.Equal(l[1].LeaseExpiresAt) {
		t.Fatalf("a refused extension changed the lease to %v", e.LeaseExpiresAt)
	}
}

func testAckWithLease(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	now := t0.Add(time.Minute)
	l := leasedFixture(t, s, now)
	_, err := s.AckEvent(ctx, "a", triggers.Ack{ID: l[0].ID, LeaseID: triggers.NewLeaseID()}, now, nb)
	mustConflict(t, err, triggers.ReasonLeaseLost)
	if e := mustGet(t, s, "a", l[0].ID); e.Status() != triggers.StatusPending || e.LeaseID != l[0].LeaseID {
		t.Fatalf("a refused conditional ack changed the event: status %s lease %q", e.Status(), e.LeaseID)
	}
	e, err := s.AckEvent(ctx, "a", triggers.Ack{ID: l[0].ID, LeaseID: l[0].LeaseID}, now, nb)
	if err != nil || e.Status() != triggers.StatusAcknowledged || e.Leased(now) {
		t.Fatalf("ack with the current lease = status %s, leased %v, %v", e.Status(), e.Leased(now), err)
	}
	// The lease expired but nobody took the event since: the work was done.
	later := now.Add(time.Hour)
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: l[1].ID, LeaseID: l[1].LeaseID}, later, nb); err != nil {
		t.Fatalf("ack with an expired lease not taken since = %v, want success", err)
	}
	// Leased again by another receive: the first lease is lost.
	again := mustReceive(t, s, receiveQuery("a", later, 4, 10))
	if !slices.Contains(ids(again.Events), l[2].ID) {
		t.Fatalf("event 2 was not leased again after its lease expired: %v", ids(again.Events))
	}
	_, err = s.AckEvent(ctx, "a", triggers.Ack{ID: l[2].ID, LeaseID: l[2].LeaseID}, later, nb)
	mustConflict(t, err, triggers.ReasonLeaseLost)
	// An unconditional ack acknowledges a leased event whatever its lease.
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: l[2].ID}, later, nb); err != nil {
		t.Fatalf("unconditional ack of a leased event = %v", err)
	}
	_, err = s.AckEvent(ctx, "a", triggers.Ack{ID: l[2].ID, LeaseID: l[2].LeaseID}, later, nb)
	mustConflict(t, err, triggers.ReasonAlreadyAcknowledged)
}

func testAckEventsWithLeases(t *testing.T, s triggers.Store) {
	now := t0.Add(time.Minute)
	l := leasedFixture(t, s, now)
	res, err := s.AckEvents(context.Background(), "a", []triggers.Ack{
		{ID: l[0].ID, LeaseID: l[0].LeaseID},
		{ID: l[1].ID, LeaseID: l[0].LeaseID}, // another event's lease
		{ID: l[2].ID},
		{ID: triggers.NewEventID(t0), LeaseID: l[3].LeaseID},
	}, now, nb)
	if err != nil || len(res) != 4 {
		t.Fatalf("AckEvents() = %+v, %v", res, err)
	}
	want := []string{"", triggers.ReasonLeaseLost, "", string(triggers.ENOTFOUND)}
	for i, r := range res {
		if got := reasonOf(r.Err); got != want[i] {
			t.Errorf("ack %d = %v (%q), want %q", i, r.Err, got, want[i])
		}
	}
	if e := mustGet(t, s, "a", l[1].ID); e.Status() != triggers.StatusPending {
		t.Fatalf("event acked with another event's lease: status %s", e.Status())
	}
}

// deadFixture stores three events of tenant a and makes the first two dead
// (max_attempts 1); it returns the events and the time they died.
func deadFixture(tb testing.TB, s triggers.Store) ([]triggers.Event, time.Time) {
	evs := insertN(tb, s, 3)
	now := t0.Add(time.Minute)
	q := receiveQuery("a", now, 2, 1)
	if got := mustReceive(tb, s, q); len(got.Events) != 2 {
		tb.Fatalf("receive = %d events, want 2", len(got.Events))
	}
	now = now.Add(time.Minute)
	q = receiveQuery("a", now, 1, 1)
	got := mustReceive(tb, s, q)
	// The third event (never leased) is leased; the first two die.
	if got.DeadLettered != 2 || len(got.Events) != 1 || got.Events[0].ID != evs[2].ID {
		tb.Fatalf("receive = %v, %d dead; want %s leased, 2 dead", ids(got.Events), got.DeadLettered, evs[2].ID)
	}
	return evs, now
}

func testRedrive(t *testing.T, s triggers.Store) {
	evs, now := deadFixture(t, s)
	res, err := s.RedriveEvents(context.Background(), "a", []string{evs[0].ID}, nb)
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("RedriveEvents() = %+v, %v", res, err)
	}
	if e := res[0].Event; e.Status() != triggers.StatusPending || e.Attempts != 0 || !e.DeadAt.IsZero() || !e.Available(now) {
		t.Fatalf("redriven event = status %s attempts %d dead at %v available %v; want pending, 0, available",
			e.Status(), e.Attempts, e.DeadAt, e.Available(now))
	}
	if got := listAll(t, s, query("a", 10)); !slices.Equal(got, []string{evs[0].ID, evs[2].ID}) {
		t.Fatalf("pending inbox after redrive = %v, want %v", got, []string{evs[0].ID, evs[2].ID})
	}
	got := mustReceive(t, s, receiveQuery("a", now, 10, 1))
	if !slices.Equal(ids(got.Events), []string{evs[0].ID}) || got.Events[0].Attempts != 1 {
		t.Fatalf("receive after redrive = %+v, want %s with attempts 1", ids(got.Events), evs[0].ID)
	}
}

func testRedriveConflicts(t *testing.T, s triggers.Store) {
	evs, _ := deadFixture(t, s)
	res, err := s.RedriveEvents(context.Background(), "a", []string{evs[2].ID, evs[1].ID, triggers.NewEventID(t0)}, nb)
	if err != nil || len(res) != 3 {
		t.Fatalf("RedriveEvents() = %+v, %v", res, err)
	}
	want := []string{triggers.ReasonNotDead, "", string(triggers.ENOTFOUND)}
	for i, r := range res {
		if got := reasonOf(r.Err); got != want[i] {
			t.Errorf("redrive %d = %v (%q), want %q", i, r.Err, got, want[i])
		}
	}
	res, err = s.RedriveEvents(context.Background(), "b", []string{evs[0].ID}, nb)
	if err != nil || reasonOf(res[0].Err) != string(triggers.ENOTFOUND) {
		t.Fatalf("redrive of another tenant's dead event = %+v, %v; want NOT_FOUND", res, err)
	}
	// A dead event is acknowledged by an unconditional ack (the work was
	// done), and then is neither dead nor pending.
	if _, err := s.AckEvent(context.Background(), "a", triggers.Ack{ID: evs[0].ID}, t0.Add(time.Hour), nb); err != nil {
		t.Fatalf("ack of a dead event = %v", err)
	}
	if got := listAll(t, s, deadQuery("a", 10)); len(got) != 0 {
		t.Fatalf("dead list after ack and redrive = %v, want empty", got)
	}
}

func deadQuery(tenant string, limit int) triggers.InboxQuery {
	q := query(tenant, limit)
	q.Filter.Status = triggers.StatusDead
	return q
}

func testListDead(t *testing.T, s triggers.Store) {
	// 12 events of tenant a (sources s1/s2) and 3 of b, every one dead.
	var evs []triggers.Event
	for i := range 15 {
		tenant := "a"
		if i%5 == 4 {
			tenant = "b"
		}
		evs = append(evs, event(tenant, t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprint("s", 1+i%2), "t"))
	}
	evs = MustInsert(t, s, evs...)
	now := t0.Add(time.Minute)
	for _, tenant := range []string{"a", "b"} {
		for range 2 { // lease everything, then let it die
			for got := mustReceive(t, s, receiveQuery(tenant, now, 25, 1)); len(got.Events) == 25; {
				got = mustReceive(t, s, receiveQuery(tenant, now, 25, 1))
			}
			now = now.Add(time.Minute)
		}
	}
	for _, f := range []triggers.InboxFilter{{}, {Source: "s1"}, {CreatedAfter: evs[3].CreatedAt}} {
		f.Status = triggers.StatusDead
		var want []string
		for _, e := range evs {
			if e.Tenant == "a" && (f.Source == "" || f.Source == e.Source) && e.CreatedAt.After(f.CreatedAfter) {
				want = append(want, e.ID)
			}
		}
		q := deadQuery("a", 4)
		q.Filter = f
		if got := listAll(t, s, q); !slices.Equal(got, want) {
			t.Errorf("dead list %+v = %v, want %v", f, got, want)
		}
	}
	if got := listAll(t, s, query("a", 10)); len(got) != 0 {
		t.Errorf("pending inbox = %v, want empty: every event is dead", got)
	}
}

func testDeleteExpiredLeasedAndDead(t *testing.T, s triggers.Store) {
	evs := insertN(t, s, 3)
	now := t0.Add(time.Minute)
	mustReceive(t, s, receiveQuery("a", now, 1, 1))
	mustReceive(t, s, receiveQuery("a", now.Add(time.Minute), 1, 1)) // first dead, second leased
	n, err := s.DeleteExpired(context.Background(), t0.Add(time.Hour), t0)
	if err != nil || n != 3 {
		t.Fatalf("DeleteExpired() = %d, %v; want 3 (pending, leased and dead alike)", n, err)
	}
	for _, e := range evs {
		if _, err := s.GetEvent(context.Background(), "a", e.ID, nb); triggers.ErrorCode(err) != triggers.ENOTFOUND {
			t.Errorf("GetEvent(%s) after DeleteExpired = %v, want NOT_FOUND", e.ID, err)
		}
	}
}

// testLeaseModel runs random lease operations against the store and a
// reference model of DESIGN §10 side by side, with a clock that moves on
// by random steps, and compares every outcome. A lone receive leases the
// oldest available events; which events it dead-letters on the way depends
// on how far the store looked, so the model reads them back, checks that
// each was allowed to die and adopts the store's choice. Every other verb
// has one right answer, which must be the store's.
func testLeaseModel(t *testing.T, s triggers.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 13))
	m := leaseModel{events: map[string]*triggers.Event{}}
	now := t0
	var order []string // every event id, oldest first
	tally := statsTally{}
	pick := func() *triggers.Event {
		if len(order) == 0 {
			return nil
		}
		return m.events[order[rng.IntN(len(order))]]
	}
	leaseOf := func(e *triggers.Event) string { // its lease, or sometimes a stale or made-up one
		switch {
		case e.LeaseID != "" && rng.IntN(4) > 0:
			return e.LeaseID
		case rng.IntN(2) == 0 && len(m.oldLeases) > 0:
			return m.oldLeases[rng.IntN(len(m.oldLeases))]
		}
		return triggers.NewLeaseID()
	}
	for step := range 400 {
		now = now.Add(time.Duration(rng.IntN(8000)) * time.Millisecond)
		op := rng.IntN(10)
		e := pick()
		if e == nil || e.Tenant == "" {
			op = 0
		}
		where := fmt.Sprintf("step %d (op %d)", step, op)
		switch op {
		case 0: // create one or two events
			var batch []triggers.Event
			for i := range 1 + rng.IntN(2) {
				ev := event("a", now.Add(time.Duration(i)*time.Microsecond), fmt.Sprint("s", rng.IntN(2)), "t")
				if rng.IntN(5) == 0 {
					ev.Tenant = "b"
				}
				batch = append(batch, ev)
			}
			for _, ev := range MustInsert(t, s, batch...) {
				tally.add(ev.Tenant, ev.CreatedAt, 1, 0)
				m.events[ev.ID] = &ev
				order = append(order, ev.ID)
			}
		case 1, 2, 3: // receive
			q := receiveQuery("a", now, 1+rng.IntN(4), 1+rng.IntN(3))
			q.LeaseExpiresAt = now.Add(time.Duration(1+rng.IntN(20)) * time.Second)
			if rng.IntN(3) == 0 {
				q.Filter.Source = "s1"
			}
			got := mustReceive(t, s, q)
			m.receive(t, s, where, q, got, order)
		case 4: // nack
			n := triggers.Nack{ID: e.ID, LeaseID: leaseOf(e)}
			if rng.IntN(2) == 0 {
				n.AvailableAt = now.Add(time.Duration(rng.IntN(10)) * time.Second)
			}
			res, err := s.NackEvents(ctx, e.Tenant, []triggers.Nack{n}, now, nb)
			if err != nil {
				t.Fatalf("%s: NackEvents() = %v", where, err)
			}
			m.check(t, where+" nack", res[0], m.nack(e, n, now))
		case 5: // extend
			a := triggers.Ack{ID: e.ID, LeaseID: leaseOf(e)}
			until := now.Add(time.Duration(1+rng.IntN(20)) * time.Second)
			got, err := s.ExtendLease(ctx, e.Tenant, a, until, now, nb)
			m.check(t, where+" extend", triggers.EventResult{Event: got, Err: err}, m.extend(e, a, until, now))
		case 6, 7: // ack, with or without a lease, sometimes as another tenant
			a := triggers.Ack{ID: e.ID}
			if rng.IntN(3) > 0 {
				a.LeaseID = leaseOf(e)
			}
			tenant := e.Tenant
			if rng.IntN(10) == 0 {
				tenant = "c"
			}
			got, err := s.AckEvent(ctx, tenant, a, now, nb)
			if err == nil {
				tally.add(tenant, now, 0, 1)
			}
			m.check(t, where+" ack", triggers.EventResult{Event: got, Err: err}, m.ack(e, tenant, a, now))
		case 8: // redrive
			res, err := s.RedriveEvents(ctx, e.Tenant, []string{e.ID}, nb)
			if err != nil {
				t.Fatalf("%s: RedriveEvents() = %v", where, err)
			}
			m.check(t, where+" redrive", res[0], m.redrive(e))
		case 9: // delete
			if _, err := s.DeleteEvent(ctx, e.Tenant, e.ID, nb); err != nil {
				t.Fatalf("%s: DeleteEvent() = %v", where, err)
			}
			*e = triggers.Event{ID: e.ID} // gone: no tenant
		}
		if step%25 == 24 {
			m.compareLists(t, s, where, order)
			m.compareStats(t, s, where, now, tally)
		}
	}
	m.compareLists(t, s, "end", order)
	m.compareStats(t, s, "end", now, tally)
}

// leaseModel is the reference of DESIGN §10: every event the test created,
// as it must be stored (a deleted event has no Tenant).
type leaseModel struct {
	events    map[string]*triggers.Event
	oldLeases []string // lease ids no longer current
}

// result is what a verb must answer: an error reason ("" for success) and,
// on success, the event after it.
type result struct {
	reason string
	event  triggers.Event
}

func (m *leaseModel) endLease(e *triggers.Event) {
	if e.LeaseID != "" {
		m.oldLeases = append(m.oldLeases, e.LeaseID)
	}
	e.LeaseID, e.LeaseExpiresAt = "", time.Time{}
}

// settle checks the common preconditions of nack and extend.
func (m *leaseModel) settle(e *triggers.Event, leaseID string, now time.Time) string {
	switch {
	case e.Tenant == "":
		return string(triggers.ENOTFOUND)
	case e.Status() == triggers.StatusAcknowledged:
		return triggers.ReasonAlreadyAcknowledged
	case e.LeaseID == "" || e.LeaseID != leaseID:
		return triggers.ReasonLeaseLost
	case !e.LeaseExpiresAt.After(now):
		return triggers.ReasonLeaseExpired
	}
	return ""
}

func (m *leaseModel) nack(e *triggers.Event, n triggers.Nack, now time.Time) result {
	if r := m.settle(e, n.LeaseID, now); r != "" {
		return result{reason: r}
	}
	m.endLease(e)
	e.AvailableAt = n.AvailableAt
	return result{event: *e}
}

func (m *leaseModel) extend(e *triggers.Event, a triggers.Ack, until, now time.Time) result {
	if r := m.settle(e, a.LeaseID, now); r != "" {
		return result{reason: r}
	}
	e.LeaseExpiresAt = until
	return result{event: *e}
}

func (m *leaseModel) ack(e *triggers.Event, tenant string, a triggers.Ack, now time.Time) result {
	switch {
	case e.Tenant == "" || tenant != e.Tenant:
		return result{reason: string(triggers.ENOTFOUND)}
	case e.Status() == triggers.StatusAcknowledged:
		return result{reason: triggers.ReasonAlreadyAcknowledged}
	case a.LeaseID != "" && a.LeaseID != e.LeaseID:
		return result{reason: triggers.ReasonLeaseLost}
	}
	m.endLease(e)
	e.AcknowledgedAt, e.DeadAt, e.AvailableAt = now, time.Time{}, time.Time{}
	return result{event: *e}
}

func (m *leaseModel) redrive(e *triggers.Event) result {
	switch {
	case e.Tenant == "":
		return result{reason: string(triggers.ENOTFOUND)}
	case e.Status() != triggers.StatusDead:
		return result{reason: triggers.ReasonNotDead}
	}
	e.DeadAt, e.Attempts, e.AvailableAt = time.Time{}, 0, time.Time{}
	return result{event: *e}
}

// check compares a store's answer with the model's.
func (m *leaseModel) check(t *testing.T, where string, got triggers.EventResult, want result) {
	t.Helper()
	if r := reasonOf(got.Err); got.Err == nil && want.reason != "" || got.Err != nil && r != want.reason {
		t.Fatalf("%s = %v (%q), want %q", where, got.Err, r, want.reason)
	}
	if got.Err == nil {
		sameEvent(t, where, got.Event, want.event)
	}
}

// sameEvent compares the lease state of two versions of an event.
func sameEvent(t *testing.T, where string, got, want triggers.Event) {
	t.Helper()
	if got.ID != want.ID || got.Status() != want.Status() || got.Attempts != want.Attempts || got.LeaseID != want.LeaseID ||
		!got.LeaseExpiresAt.Equal(want.LeaseExpiresAt) || !got.AvailableAt.Equal(want.AvailableAt) ||
		!got.DeadAt.Equal(want.DeadAt) || !got.AcknowledgedAt.Equal(want.AcknowledgedAt) {
		t.Fatalf("%s: event\n got %s %s attempts %d lease %q until %v available %v dead %v acked %v\nwant %s %s attempts %d lease %q until %v available %v dead %v acked %v",
			where, got.ID, got.Status(), got.Attempts, got.LeaseID, got.LeaseExpiresAt, got.AvailableAt, got.DeadAt, got.AcknowledgedAt,
			want.ID, want.Status(), want.Attempts, want.LeaseID, want.LeaseExpiresAt, want.AvailableAt, want.DeadAt, want.AcknowledgedAt)
	}
}

// receive checks a store's receive against the model and adopts it: the
// leased events are the oldest available, matching ones under max attempts
// and get the query's lease; events that died were available, matching and
// out of attempts (the model learns which by reading them).
func (m *leaseModel) receive(t *testing.T, s triggers.Store, where string, q triggers.ReceiveQuery, got triggers.Received, order []string) {
	t.Helper()
	var leasable []string           // available, matching, under max attempts, oldest first
	candidates := map[string]bool{} // available and matching
	for _, id := range order {
		e := m.events[id]
		if e.Tenant == q.Tenant && e.Available(q.Now) && q.Filter.Matches(e) {
			candidates[id] = true
			if e.Attempts < q.MaxAttempts {
				leasable = append(leasable, id)
			}
		}
	}
	// Alone, a receive leases the oldest leasable events.
	if want := leasable[:min(q.Max, len(leasable))]; !slices.Equal(ids(got.Events), want) {
		t.Fatalf("%s: receive leased %v, want the oldest available %v", where, ids(got.Events), want)
	}
	for i, g := range got.Events {
		e := m.events[g.ID]
		if !candidates[g.ID] || e.Attempts >= q.MaxAttempts {
			t.Fatalf("%s: receive leased %s, which is not available, matching and under max attempts", where, g.ID)
		}
		delete(candidates, g.ID)
		m.endLease(e)
		e.Attempts++
		e.LeaseID, e.LeaseExpiresAt, e.AvailableAt = q.LeaseIDs[i], q.LeaseExpiresAt, time.Time{}
		sameEvent(t, where+" receive", g, *e)
	}
	died := 0
	for id := range maps.Keys(candidates) {
		e := m.events[id]
		if e.Attempts < q.MaxAttempts {
			continue
		}
		if stored := mustGet(t, s, e.Tenant, id); stored.Status() == triggers.StatusDead {
			m.endLease(e)
			e.DeadAt, e.AvailableAt = q.Now, time.Time{}
			died++
			sameEvent(t, where+" dead letter", stored, *e)
		}
	}
	if died != got.DeadLettered {
		t.Fatalf("%s: receive reported %d dead-lettered, the store holds %d newly dead", where, got.DeadLettered, died)
	}
}

// compareLists checks both inbox listings (pending and dead) of tenant a
// against the model, and every event of the model against GetEvent.
func (m *leaseModel) compareLists(t *testing.T, s triggers.Store, where string, order []string) {
	t.Helper()
	for _, status := range []triggers.Status{triggers.StatusPending, triggers.StatusDead} {
		var want []string
		for _, id := range order {
			if e := m.events[id]; e.Tenant == "a" && e.Status() == status {
				want = append(want, id)
			}
		}
		q := query("a", 7)
		q.Filter.Status = status
		if got := listAll(t, s, q); !slices.Equal(got, want) {
			t.Fatalf("%s: %s list = %v, want %v", where, status, got, want)
		}
	}
	for _, id := range order {
		if e := m.events[id]; e.Tenant != "" {
			sameEvent(t, where+" GetEvent", mustGet(t, s, e.Tenant, id), *e)
		}
	}
}
