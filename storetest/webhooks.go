package storetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// webhookTests are the conformance subtests of triggers.WebhookStore
// (DESIGN §11), run by RunTests on every store, which must implement it.
var webhookTests = []struct {
	name string
	fn   func(t *testing.T, s triggers.WebhookStore)
}{
	{"Subscriptions/CRUD", testSubscriptionsCRUD},
	{"Subscriptions/Limit", testSubscriptionLimit},
	{"Subscriptions/ConcurrentCreatesKeepTheLimit", testSubscriptionLimitConcurrent},
	{"Outbox/InsertCreatesMatchingDeliveries", testOutbox},
	{"Outbox/OnlySubscriptionsThatExistedBefore", testOutboxLaterSubscription},
	{"Claim/ExclusiveAndDue", testClaimExclusive},
	{"Claim/ExpiredLeaseIsClaimedAgain", testClaimExpiry},
	{"Claim/ReleasedIsClaimedAgain", testClaimRelease},
	{"Complete/Outcomes", testCompleteOutcomes},
	{"Complete/LogIsBounded", testCompleteLogBound},
	{"Deliveries/ListFiltersAndPages", testListDeliveries},
	{"Deliveries/Retry", testRetryDelivery},
	{"Deliveries/Replay", testReplay},
	{"Subscriptions/DeleteStopsDeliveries", testDeleteSubscriptionStops},
	{"Subscriptions/DisabledHoldsDeliveries", testDisabledSubscriptionHolds},
}

// runWebhookTests runs webhookTests, failing if the store does not
// implement triggers.WebhookStore.
func runWebhookTests(t *testing.T, newStore NewStore) {
	for _, tt := range webhookTests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			ws, ok := s.(triggers.WebhookStore)
			if !ok {
				t.Fatalf("%T does not implement triggers.WebhookStore", s)
			}
			tt.fn(t, ws)
		})
	}
}

// subscription returns a new active subscription of tenant created at at.
func subscription(tenant string, at time.Time, f triggers.InboxFilter) triggers.Subscription {
	return triggers.Subscription{ID: triggers.NewEventID(at), Tenant: tenant, URL: "https://example.com/hooks",
		Filter: f, Status: triggers.SubscriptionActive, Secret: "whsec_c2VjcmV0", CreatedAt: at, UpdatedAt: at}
}

func mustCreateSub(tb testing.TB, s triggers.WebhookStore, sub triggers.Subscription) triggers.Subscription {
	tb.Helper()
	if err := s.CreateSubscription(context.Background(), sub, 20); err != nil {
		tb.Fatalf("CreateSubscription() = %v", err)
	}
	return sub
}

func store(s triggers.WebhookStore) triggers.Store { return s.(triggers.Store) }

// claimAll claims every delivery due at now (in rounds of 25), leased for
// a minute, and returns them sorted by subscription and event.
func claimAll(tb testing.TB, s triggers.WebhookStore, now time.Time) []triggers.Delivery {
	tb.Helper()
	var out []triggers.Delivery
	for range 100 {
		got := mustClaim(tb, s, now, 25)
		out = append(out, got...)
		if len(got) < 25 {
			sortDeliveries(out)
			return out
		}
	}
	tb.Fatal("ClaimDeliveries: claiming does not end")
	return nil
}

func mustClaim(tb testing.TB, s triggers.WebhookStore, now time.Time, max int) []triggers.Delivery {
	tb.Helper()
	q := triggers.ClaimQuery{Now: now, Max: max, LeaseExpiresAt: now.Add(time.Minute)}
	for range max {
		q.LeaseIDs = append(q.LeaseIDs, triggers.NewLeaseID())
	}
	got, err := s.ClaimDeliveries(context.Background(), q)
	if err != nil {
		tb.Fatalf("ClaimDeliveries() = %v", err)
	}
	if len(got) > max {
		tb.Fatalf("ClaimDeliveries() = %d deliveries, max %d", len(got), max)
	}
	for _, d := range got {
		if d.Status != triggers.DeliveryPending || d.LeaseID == "" || !slices.Contains(q.LeaseIDs, d.LeaseID) ||
			!d.LeaseExpiresAt.Equal(q.LeaseExpiresAt) || d.NextAttemptAt.After(now) {
			tb.Fatalf("claimed delivery %+v: want pending, due, leased with the query's lease", d)
		}
	}
	return got
}

func sortDeliveries(ds []triggers.Delivery) {
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].SubscriptionID != ds[j].SubscriptionID {
			return ds[i].SubscriptionID < ds[j].SubscriptionID
		}
		return ds[i].EventID < ds[j].EventID
	})
}

// pairs names deliveries as "subscription/event" for comparisons.
func pairs(ds []triggers.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.SubscriptionID + "/" + d.EventID
	}
	slices.Sort(out)
	return out
}

func pairsOf(subs []triggers.Subscription, evs []triggers.Event, match func(triggers.Subscription, triggers.Event) bool) []string {
	var out []string
	for _, sub := range subs {
		for _, e := range evs {
			if match(sub, e) {
				out = append(out, sub.ID+"/"+e.ID)
			}
		}
	}
	slices.Sort(out)
	return out
}

func testSubscriptionsCRUD(t *testing.T, s triggers.WebhookStore) {
	ctx := context.Background()
	a1 := mustCreateSub(t, s, subscription("a", t0, triggers.InboxFilter{Source: "shop",
		Metadata: []triggers.MetadataMatch{{Key: "region", Value: "eu"}}}))
	a2 := subscription("a", t0.Add(time.Second), triggers.InboxFilter{})
	a2.Description, a2.AckOnDelivery = "all of it", true
	a2.PreviousSecret, a2.PreviousSecretUntil = "whsec_b2xk", t0.Add(24*time.Hour)
	mustCreateSub(t, s, a2)
	mustCreateSub(t, s, subscription("b", t0, triggers.InboxFilter{}))

	got, err := s.GetSubscription(ctx, "a", a2.ID)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(a2) {
		t.Fatalf("GetSubscription() = %+v, %v\nwant %+v", got, err, a2)
	}
	if _, err := s.GetSubscription(ctx, "b", a2.ID); triggers.ErrorCode(err) != triggers.ENOTFOUND {
		t.Fatalf("GetSubscription(other tenant) = %v, want ENOTFOUND", err)
	}
	list, err := s.ListSubscriptions(ctx, "a")
	if err != nil || len(list) != 2 || fmt.Sprint(list[0]) != fmt.Sprint(a1) || list[1].ID != a2.ID {
		t.Fatalf("ListSubscriptions(a) = %+v, %v; want a1, a2", list, err)
	}
	upd, err := s.UpdateSubscription(ctx, "a", a1.ID, func(sub *triggers.Subscription) error {
		sub.Status = triggers.SubscriptionDisabled
		sub.URL = "https://example.org/other"
		return nil
	})
	if err != nil || upd.Status != triggers.SubscriptionDisabled || upd.URL != "https://example.org/other" {
		t.Fatalf("UpdateSubscription() = %+v, %v", upd, err)
	}
	if got, _ := s.GetSubscription(ctx, "a", a1.ID); fmt.Sprint(got) != fmt.Sprint(upd) {
		t.Fatalf("after the update GetSubscription() = %+v, want %+v", got, upd)
	}
	if _, err := s.UpdateSubscription(ctx, "b", a1.ID, func(*triggers.Subscription) error { return nil }); triggers.ErrorCode(err) != triggers.ENOTFOUND {
		t.Fatalf("UpdateSubscription(other tenant) = %v, want ENOTFOUND", err)
	}
	wantErr := triggers.Errorf(triggers.EINVALID, "no")
	if _, err := s.UpdateSubscription(ctx, "a", a1.ID, func(*triggers.Subscription) error { return wantErr }); err != wantErr {
		t.Fatalf("UpdateSubscription(fn fails) = %v, want fn's error", err)
	}
	if ok, err := s.DeleteSubscription(ctx, "b", a1.ID); ok || err != nil {
		t.Fatalf("DeleteSubscription(other tenant) = %v, %v; want false, nil", ok, err)
	}
	if ok, err := s.DeleteSubscription(ctx, "a", a1.ID); !ok || err != nil {
		t.Fatalf("DeleteSubscription() = %v, %v; want true, nil", ok, err)
	}
	if ok, _ := s.DeleteSubscription(ctx, "a", a1.ID); ok {
		t.Fatal("second DeleteSubscription() = true, want false")
	}
	if list, _ := s.ListSubscriptions(ctx, "a"); len(list) != 1 || list[0].ID != a2.ID {
		t.Fatalf("ListSubscriptions(a) after a delete = %+v, want only a2", list)
	}
	if list, _ := s.ListSubscriptions(ctx, "c"); len(list) != 0 {
		t.Fatalf("ListSubscriptions(c) = %+v, want none", list)
	}
}

func testSubscriptionLimit(t *testing.T, s triggers.WebhookStore) {
	ctx := context.Background()
	for i := range 3 {
		if err := s.CreateSubscription(ctx, subscription("a", t0.Add(time.Duration(i)*time.Second), triggers.InboxFilter{}), 3); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	err := s.CreateSubscription(ctx, subscription("a", t0.Add(time.Minute), triggers.InboxFilter{}), 3)
	mustConflict(t, err, triggers.ReasonSubscriptionLimit)
	if err := s.CreateSubscription(ctx, subscription("b", t0, triggers.InboxFilter{}), 3); err != nil {
		t.Fatalf("another tenant's create = %v, want nil (the limit is per tenant)", err)
	}
	list, _ := s.ListSubscriptions(ctx, "a")
	if ok, _ := s.DeleteSubscription(ctx, "a", list[0].ID); !ok {
		t.Fatal("delete failed")
	}
	if err := s.CreateSubscription(ctx, subscription("a", t0.Add(2*time.Minute), triggers.InboxFilter{}), 3); err != nil {
		t.Fatalf("create after a delete = %v, want nil", err)
	}
}

func testSubscriptionLimitConcurrent(t *testing.T, s triggers.WebhookStore) {
	const n, max = 12, 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateSubscription(context.Background(), subscription("a", t0.Add(time.Duration(i)*time.Millisecond), triggers.InboxFilter{}), max)
		})
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch reasonOf(err) {
		case "":
			if err != nil {
				t.Fatalf("concurrent create = %v", err)
			}
			created++
		case triggers.ReasonSubscriptionLimit:
		default:
			t.Fatalf("concurrent create = %v", err)
		}
	}
	list, _ := s.ListSubscriptions(context.Background(), "a")
	if created != max || len(list) != max {
		t.Fatalf("%d concurrent creates succeeded, %d stored; want %d", created, len(list), max)
	}
}

func testOutbox(t *testing.T, s triggers.WebhookStore) {
	all := mustCreateSub(t, s, subscription("a", t0, triggers.InboxFilter{}))
	shop := mustCreateSub(t, s, subscription("a", t0, triggers.InboxFilter{Source: "shop"}))
	high := mustCreateSub(t, s, subscription("a", t0, triggers.InboxFilter{Priority: triggers.PriorityHigh}))
	off := subscription("a", t0, triggers.InboxFilter{})
	off.Status = triggers.SubscriptionDisabled
	mustCreateSub(t, s, off)
	other := mustCreateSub(t, s, subscription("b", t0, triggers.InboxFilter{}))

	hi := event("a", t0.Add(3*time.Second), "crm", "t")
	hi.Priority, hi.Metadata = triggers.PriorityHigh, []byte(`{"priority":"high"}`)
	evs := MustInsert(t, store(s), event("a", t0.Add(time.Second), "shop", "t"), event("a", t0.Add(2*time.Second), "crm", "t"), hi,
		event("b", t0.Add(4*time.Second), "shop", "t"))
	// An idempotent replay stores nothing and delivers nothing more.
	insertIdem(t, store(s), event("a", t0.Add(5*time.Second), "shop", "t"), "k", "h", nb)
	replay := insertIdem(t, store(s), event("a", t0.Add(6*time.Second), "shop", "t"), "k", "h", nb)
	if !replay.Replayed {
		t.Fatal("the second insert with one key was not a replay")
	}
	first := replay.Event
	first.Tenant, first.Source, first.Priority = "a", "shop", triggers.PriorityNormal
	evs = append(evs, first)

	subs := []triggers.Subscription{all, shop, high, off, other}
	want := pairsOf(subs, evs, func(sub triggers.Subscription, e triggers.Event) bool {
		return sub.Tenant == e.Tenant && sub.Matches(&e)
	})
	got := claimAll(t, s, t0.Add(time.Minute))
	if !slices.Equal(pairs(got), want) {
		t.Fatalf("deliveries = %v\nwant %v", pairs(got), want)
	}
	for _, d := range got {
		i := slices.IndexFunc(evs, func(e triggers.Event) bool { return e.ID == d.EventID })
		if d.Tenant != evs[i].Tenant || !d.EventCreatedAt.Equal(evs[i].CreatedAt) || d.Tries != 0 || len(d.Attempts) != 0 {
			t.Fatalf("delivery %+v: want tenant %s, event created at %v, no tries", d, evs[i].Tenant, evs[i].CreatedAt)
		}
	}
}

// testOutboxLaterSubscription checks that an event is delivered to the
// subscriptions that existed when it was stored, not to later ones.
func testOutboxLaterSubscription(t *testing.T, s triggers.WebhookStore) {
	early := MustInsert(t, store(s), event("a", t0, "shop", "t"))[0]
	sub := mustCreateSub(t, s, subscription("a", t0.Add(time.Second), triggers.InboxFilter{}))
	res, err := store(s).InsertEvents(context.Background(), []triggers.Insert{{Event: event("a", t0.Add(2*time.Second), "shop", "t")}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("InsertEvents = %+v, %v", res, err)
	}
	// The insert says it left work for a dispatcher, which the service
	// wakes for it (a store may say so of events that match nothing too).
	if !res[0].Outbox {
		t.Errorf("insert of an event a subscription matches: Outbox false, want true")
	}
	late := res[0].Event
	got := claimAll(t, s, t0.Add(time.Minute))
	if want := []string{sub.ID + "/" + late.ID}; !slices.Equal(pairs(got), want) {
		t.Fatalf("deliveries = %v, want only %v (not %s, created before the subscription)", pairs(got), want, early.ID)
	}
}

// deliveryFixture makes one subscription of tenant a and n events for it,
// and returns them.
func deliveryFixture(tb testing.TB, s triggers.WebhookStore, n int) (triggers.Subscription, []triggers.Event) {
	sub := mustCreateSub(tb, s, subscription("a", t0, triggers.InboxFilter{}))
	evs := make([]triggers.Event, n)
	for i := range evs {
		evs[i] = event("a", t0.Add(time.Duration(i+1)*time.Millisecond), "s", "t")
	}
	return sub, MustInsert(tb, store(s), evs...)
}

func testClaimExclusive(t *testing.T, s triggers.WebhookStore) {
	_, evs := deliveryFixture(t, s, 30)
	now := t0.Add(time.Minute)
	const claimers = 8
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range claimers {
		wg.Go(func() {
			for range 3 {
				for _, d := range mustClaim(t, s, now, 5) {
					mu.Lock()
					seen[d.EventID]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for id, n := range seen {
		if n > 1 {
			t.Fatalf("delivery of %s claimed %d times under unexpired leases", id, n)
		}
	}
	if rest := claimAll(t, s, now); len(rest)+len(seen) != len(evs) {
		t.Fatalf("claimed %d concurrently and %d after, want %d in all", len(seen), len(rest), len(evs))
	}
	if again := mustClaim(t, s, now.Add(30*time.Second), 25); len(again) != 0 {
		t.Fatalf("claim while every lease holds = %d deliveries, want none", len(again))
	}
}

func testClaimExpiry(t *testing.T, s triggers.WebhookStore) {
	deliveryFixture(t, s, 2)
	now := t0.Add(time.Minute)
	first := mustClaim(t, s, now, 1)
	if len(first) != 1 {
		t.Fatalf("claim = %d, want 1", len(first))
	}
	second := mustClaim(t, s, now, 5)
	if len(second) != 1 || second[0].EventID == first[0].EventID {
		t.Fatalf("second claim = %v, want the other delivery only", pairs(second))
	}
	again := mustClaim(t, s, first[0].LeaseExpiresAt, 5)
	if len(again) != 2 {
		t.Fatalf("claim at the leases' expiry = %d, want both again", len(again))
	}
	// The first lease is lost now.
	_, err := s.CompleteDelivery(context.Background(), triggers.DeliveryOutcome{Key: first[0].Key(), LeaseID: first[0].LeaseID,
		Attempt: triggers.DeliveryAttempt{At: now, StatusCode: 200}, Status: triggers.DeliverySucceeded})
	mustConflict(t, err, triggers.ReasonLeaseLost)
}

func testCompleteOutcomes(t *testing.T, s triggers.WebhookStore) {
	ctx := context.Background()
	_, evs := deliveryFixture(t, s, 3)
	now := t0.Add(time.Minute)
	ds := claimAll(t, s, now)
	if len(ds) != 3 {
		t.Fatalf("claimed %d, want 3", len(ds))
	}
	byEvent := map[string]triggers.Delivery{}
	for _, d := range ds {
		byEvent[d.EventID] = d
	}
	ok := triggers.DeliveryAttempt{At: now, StatusCode: 204, Latency: 12 * time.Millisecond}
	bad := triggers.DeliveryAttempt{At: now, StatusCode: 500, Error: "HTTP 500", Latency: 40 * time.Millisecond}
	down := triggers.DeliveryAttempt{At: now, Error: "connection refused", Latency: time.Millisecond}
	outcomes := []triggers.DeliveryOutcome{
		{Status: triggers.DeliverySucceeded, Attempt: ok},
		{Status: triggers.DeliveryPending, Attempt: bad, NextAttemptAt: now.Add(5 * time.Second)},
		{Status: triggers.DeliveryFailed, Attempt: down},
	}
	for i, o := range outcomes {
		d := byEvent[evs[i].ID]
		o.Key, o.LeaseID = d.Key(), d.LeaseID
		got, err := s.CompleteDelivery(ctx, o)
		if err != nil {
			t.Fatalf("CompleteDelivery(%s) = %v", o.Status, err)
		}
		if got.Status != o.Status || got.Tries != 1 || got.LeaseID != "" || len(got.Attempts) != 1 ||
			fmt.Sprint(got.Attempts[0]) != fmt.Sprint(o.Attempt) ||
			(o.Status == triggers.DeliveryPending && !got.NextAttemptAt.Equal(o.NextAttemptAt)) {
			t.Fatalf("CompleteDelivery(%s) = %+v", o.Status, got)
		}
		// A second report with the ended lease changes nothing.
		_, err = s.CompleteDelivery(ctx, o)
		mustConflict(t, err, triggers.ReasonLeaseLost)
	}
	if got := mustClaim(t, s, now.Add(4*time.Second), 5); len(got) != 0 {
		t.Fatalf("claim before the retry is due = %v, want none", pairs(got))
	}
	got := mustClaim(t, s, now.Add(5*time.Second), 5)
	if len(got) != 1 || got[0].EventID != evs[1].ID || got[0].Tries != 1 || len(got[0].Attempts) != 1 {
		t.Fatalf("claim when the retry is due = %+v, want only the retried delivery with its log", got)
	}
	_, err := s.CompleteDelivery(ctx, triggers.DeliveryOutcome{Key: triggers.DeliveryKey{Tenant: "a", SubscriptionID: got[0].SubscriptionID,
		EventID: triggers.NewEventID(t0)}, LeaseID: got[0].LeaseID, Status: triggers.DeliverySucceeded, Attempt: ok})
	mustCode(t, err, triggers.ENOTFOUND)
}

func testCompleteLogBound(t *testing.T, s triggers.WebhookStore) {
	deliveryFixture(t, s, 1)
	now := t0.Add(time.Minute)
	var last triggers.Delivery
	for i := range triggers.MaxDeliveryLog + 3 {
		ds := mustClaim(t, s, now, 1)
		if len(ds) != 1 {
			t.Fatalf("round %d: claim = %d, want 1", i, len(ds))
		}
		var err error
		last, err = s.CompleteDelivery(context.Background(), triggers.DeliveryOutcome{Key: ds[0].Key(), LeaseID: ds[0].LeaseID,
			Attempt: triggers.DeliveryAttempt{At: now, StatusCode: 500 + i%10}, Status: triggers.DeliveryPending, NextAttemptAt: now})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(last.Attempts) != triggers.MaxDeliveryLog || last.Attempts[len(last.Attempts)-1].StatusCode != 500+(triggers.MaxDeliveryLog+2)%10 ||
		last.Tries != triggers.MaxDeliveryLog+3 {
		t.Fatalf("after %d attempts: log of %d (last %+v), tries %d; want the newest %d and tries %d", triggers.MaxDeliveryLog+3,
			len(last.Attempts), last.Attempts[len(last.Attempts)-1], last.Tries, triggers.MaxDeliveryLog, triggers.MaxDeliveryLog+3)
	}
}

// completeAll claims everything due at now and completes delivery i with
// status(i) (the deliveries in event order).
func completeAll(tb testing.TB, s triggers.WebhookStore, now time.Time, status func(i int) triggers.DeliveryStatus) []triggers.Delivery {
	ds := claimAll(tb, s, now)
	sort.Slice(ds, func(i, j int) bool { return ds[i].EventID < ds[j].EventID })
	out := make([]triggers.Delivery, len(ds))
	for i, d := range ds {
		o := triggers.DeliveryOutcome{Key: d.Key(), LeaseID: d.LeaseID, Status: status(i),
			Attempt: triggers.DeliveryAttempt{At: now, StatusCode: 200}, NextAttemptAt: now.Add(time.Hour)}
		got, err := s.CompleteDelivery(context.Background(), o)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = got
	}
	return out
}

func listDeliveries(tb testing.TB, s triggers.WebhookStore, q triggers.DeliveryQuery) []string {
	tb.Helper()
	var out []string
	for range 1000 {
		page, more, err := s.ListDeliveries(context.Background(), q)
		if err != nil {
			tb.Fatalf("ListDeliveries(%+v) = %v", q, err)
		}
		if len(page) > q.Limit {
			tb.Fatalf("ListDeliveries() = %d, limit %d", len(page), q.Limit)
		}
		for _, d := range page {
			out = append(out, d.EventID)
		}
		if !more {
			return out
		}
		if len(page) == 0 {
			tb.Fatal("ListDeliveries: an empty page says more follow")
		}
		q.After = page[len(page)-1].EventID
	}
	tb.Fatal("ListDeliveries: paging does not end")
	return nil
}

func testListDeliveries(t *testing.T, s triggers.WebhookStore) {
	sub, evs := deliveryFixture(t, s, 7)
	other := mustCreateSub(t, s, subscription("a", t0.Add(-time.Second), triggers.InboxFilter{Source: "nope"}))
	statuses := []triggers.DeliveryStatus{triggers.DeliverySucceeded, triggers.DeliveryPending, triggers.DeliveryFailed}
	completeAll(t, s, t0.Add(time.Minute), func(i int) triggers.DeliveryStatus { return statuses[i%3] })
	q := triggers.DeliveryQuery{Tenant: "a", SubscriptionID: sub.ID, Limit: 3}
	if got := listDeliveries(t, s, q); !slices.Equal(got, ids(evs)) {
		t.Fatalf("all deliveries = %v\nwant %v", got, ids(evs))
	}
	for k, st := range statuses {
		q := q
		q.Status = st
		var want []string
		for i, e := range evs {
			if i%3 == k {
				want = append(want, e.ID)
			}
		}
		if got := listDeliveries(t, s, q); !slices.Equal(got, want) {
			t.Fatalf("%s deliveries = %v, want %v", st, got, want)
		}
	}
	q.EventID = evs[4].ID
	if got := listDeliveries(t, s, q); !slices.Equal(got, []string{evs[4].ID}) {
		t.Fatalf("deliveries of event %s = %v", evs[4].ID, got)
	}
	if got := listDeliveries(t, s, triggers.DeliveryQuery{Tenant: "a", SubscriptionID: other.ID, Limit: 10}); len(got) != 0 {
		t.Fatalf("deliveries of a subscription that matched nothing = %v", got)
	}
	_, _, err := s.ListDeliveries(context.Background(), triggers.DeliveryQuery{Tenant: "b", SubscriptionID: sub.ID, Limit: 10})
	mustCode(t, err, triggers.ENOTFOUND)
}

func testRetryDelivery(t *testing.T, s triggers.WebhookStore) {
	ctx := context.Background()
	deliveryFixture(t, s, 1)
	now := t0.Add(time.Minute)
	done := completeAll(t, s, now, func(int) triggers.DeliveryStatus { return triggers.DeliveryFailed })[0]
	later := now.Add(time.Hour)
	got, err := s.RetryDelivery(ctx, done.Key(), later)
	if err != nil || got.Status != triggers.DeliveryPending || !got.NextAttemptAt.Equal(later) || got.Tries != 0 || len(got.Attempts) != 1 {
		t.Fatalf("RetryDelivery() = %+v, %v; want pending at %v, tries 0, the log kept", got, err, later)
	}
	if ds := mustClaim(t, s, later, 5); len(ds) != 1 || ds[0].EventID != done.EventID {
		t.Fatalf("claim after a retry = %v", pairs(ds))
	}
	k := done.Key()
	k.Tenant = "b"
	_, err = s.RetryDelivery(ctx, k, later)
	mustCode(t, err, triggers.ENOTFOUND)

	// A retry of a delivery in flight keeps its lease: it is not claimed
	// again while the attempt runs, and the attempt's outcome stands.
	inFlight := mustClaim(t, s, later.Add(2*time.Minute), 1)[0] // the claim above expired
	if _, err := s.RetryDelivery(ctx, inFlight.Key(), later.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := mustClaim(t, s, later.Add(2*time.Minute), 5); len(got) != 0 {
		t.Fatalf("claim while a retried delivery is in flight = %v, want none", pairs(got))
	}
	got, err = s.CompleteDelivery(ctx, triggers.DeliveryOutcome{Key: inFlight.Key(), LeaseID: inFlight.LeaseID,
		Attempt: triggers.DeliveryAttempt{At: later, StatusCode: 200}, Status: triggers.DeliverySucceeded})
	if err != nil || got.Status != triggers.DeliverySucceeded {
		t.Fatalf("completing the attempt in flight after a retry = %+v, %v; want succeeded", got, err)
	}
}

func testReplay(t *testing.T, s triggers.WebhookStore) {
	ctx := context.Background()
	// Events before the subscription existed (no delivery yet), some acked
	// or of another source; then the subscription; then one more event.
	var evs []triggers.Event
	for i := range 6 {
		src := "shop"
		if i == 2 {
			src = "crm"
		}
		evs = append(evs, event("a", t0.Add(time.Duration(i+1)*time.Second), src, "t"))
	}
	evs = MustInsert(t, store(s), evs...)
	if _, err := store(s).AckEvent(ctx, "a", triggers.Ack{ID: evs[1].ID}, t0.Add(time.Minute), nb); err != nil {
		t.Fatal(err)
	}
	MustInsert(t, store(s), event("b", t0.Add(3500*time.Millisecond), "shop", "t"))
	sub := mustCreateSub(t, s, subscription("a", t0.Add(10*time.Second), triggers.InboxFilter{Source: "shop"}))
	late := MustInsert(t, store(s), event("a", t0.Add(11*time.Second), "shop", "t"))[0]
	now := t0.Add(time.Minute)
	completeAll(t, s, now, func(int) triggers.DeliveryStatus { return triggers.DeliverySucceeded }) // the late one

	// Range (0.5 s, 11 s): events 0..5 but crm (2); at most 2 a call.
	after, before := t0.Add(500*time.Millisecond), t0.Add(11*time.Second)
	var queued int
	for calls := 0; ; calls++ {
		n, next, err := s.ReplayDeliveries(ctx, "a", sub.ID, after, before, nb, now, 2)
		if err != nil || calls > 5 {
			t.Fatalf("ReplayDeliveries() = %d, %v, %v (call %d)", n, next, err, calls)
		}
		queued += n
		if next.IsZero() {
			break
		}
		after = next
	}
	want := []string{evs[0].ID, evs[1].ID, evs[3].ID, evs[4].ID, evs[5].ID}
	if queued != len(want) {
		t.Fatalf("replay queued %d, want %d", queued, len(want))
	}
	if got := pairs(claimAll(t, s, now)); !slices.Equal(got, pairsOf([]triggers.Subscription{sub}, evs, func(_ triggers.Subscription, e triggers.Event) bool {
		return slices.Contains(want, e.ID)
	})) {
		t.Fatalf("claimed after the replay = %v, want %v", got, want)
	}
	// Replaying the late event again resets its succeeded delivery.
	n, _, err := s.ReplayDeliveries(ctx, "a", sub.ID, t0.Add(10*time.Second), t0.Add(time.Hour), nb, now, 100)
	if err != nil || n != 1 {
		t.Fatalf("replay of the late event = %d, %v; want 1", n, err)
	}
	if ds := mustClaim(t, s, now, 5); len(ds) != 1 || ds[0].EventID != late.ID || ds[0].Tries != 0 || len(ds[0].Attempts) != 1 {
		t.Fatalf("claim after replaying a succeeded delivery = %+v, want it with tries 0 and its log", ds)
	}
	_, _, err = s.ReplayDeliveries(ctx, "b", sub.ID, after, before, nb, now, 10)
	mustCode(t, err, triggers.ENOTFOUND)
}

func testDeleteSubscriptionStops(t *testing.T, s triggers.WebhookStore) {
	sub, _ := deliveryFixture(t, s, 3)
	keep := mustCreateSub(t, s, subscription("a", t0, triggers.InboxFilter{}))
	e := MustInsert(t, store(s), event("a", t0.Add(time.Second), "s", "t"))[0]
	if ok, err := s.DeleteSubscription(context.Background(), "a", sub.ID); !ok || err != nil {
		t.Fatalf("DeleteSubscription() = %v, %v", ok, err)
	}
	got := claimAll(t, s, t0.Add(time.Minute))
	if want := []string{keep.ID + "/" + e.ID}; !slices.Equal(pairs(got), want) {
		t.Fatalf("claimed after deleting a subscription = %v, want %v", pairs(got), want)
	}
}

func testDisabledSubscriptionHolds(t *testing.T, s triggers.WebhookStore) {
	ctx := context.Background()
	sub, evs := deliveryFixture(t, s, 2)
	setStatus := func(st triggers.SubscriptionStatus) {
		if _, err := s.UpdateSubscription(ctx, "a", sub.ID, func(x *triggers.Subscription) error { x.Status = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(triggers.SubscriptionDisabled)
	now := t0.Add(time.Minute)
	if got := mustClaim(t, s, now, 5); len(got) != 0 {
		t.Fatalf("claim while the subscription is disabled = %v, want none", pairs(got))
	}
	MustInsert(t, store(s), event("a", t0.Add(time.Second), "s", "t")) // no delivery: disabled
	setStatus(triggers.SubscriptionActive)
	if got := claimAll(t, s, now); len(got) != len(evs) {
		t.Fatalf("claim once active again = %v, want the %d deliveries made before it was disabled", pairs(got), len(evs))
	}
}

func testClaimRelease(t *testing.T, s triggers.WebhookStore) {
	ctx := context.Background()
	deliveryFixture(t, s, 1)
	now := t0.Add(time.Minute)
	d := mustClaim(t, s, now, 1)[0]
	mustConflict(t, s.ReleaseDelivery(ctx, d.Key(), triggers.NewLeaseID(), now), triggers.ReasonLeaseLost)
	if got := mustClaim(t, s, now, 1); len(got) != 0 {
		t.Fatalf("claim after a release with another lease = %v, want none", pairs(got))
	}
	if err := s.ReleaseDelivery(ctx, d.Key(), d.LeaseID, now.Add(5*time.Second)); err != nil {
		t.Fatalf("ReleaseDelivery() = %v", err)
	}
	if got := mustClaim(t, s, now.Add(4*time.Second), 1); len(got) != 0 {
		t.Fatalf("claim before the released delivery is due = %v, want none", pairs(got))
	}
	again := mustClaim(t, s, now.Add(5*time.Second), 1)
	if len(again) != 1 || again[0].EventID != d.EventID || again[0].Tries != 0 || len(again[0].Attempts) != 0 {
		t.Fatalf("claim when the released delivery is due = %+v, want it again, untried", again)
	}
	mustConflict(t, s.ReleaseDelivery(ctx, d.Key(), d.LeaseID, now), triggers.ReasonLeaseLost) // the old lease
	k := d.Key()
	k.EventID = triggers.NewEventID(t0)
	mustCode(t, s.ReleaseDelivery(ctx, k, d.LeaseID, now), triggers.ENOTFOUND)
}
