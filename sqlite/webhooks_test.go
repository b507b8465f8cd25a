package sqlite

import (
	"context"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// testSub returns a new active subscription of tenant a to every event.
func testSub(at time.Time) triggers.Subscription {
	return triggers.Subscription{ID: triggers.NewEventID(at), Tenant: "a", URL: "https://example.com/hooks",
		Status: triggers.SubscriptionActive, Secret: "whsec_c2VjcmV0", CreatedAt: at, UpdatedAt: at}
}

func mustCreate(t *testing.T, db *DB, sub triggers.Subscription) {
	t.Helper()
	if err := db.CreateSubscription(context.Background(), sub, 20); err != nil {
		t.Fatalf("CreateSubscription() = %v", err)
	}
}

// claimQuery asks for up to max deliveries due at now, leased for a minute.
func claimQuery(now time.Time, max int) triggers.ClaimQuery {
	q := triggers.ClaimQuery{Now: now, Max: max, LeaseExpiresAt: now.Add(time.Minute)}
	for range max {
		q.LeaseIDs = append(q.LeaseIDs, triggers.NewLeaseID())
	}
	return q
}

func mustClaim(t *testing.T, db *DB, now time.Time, max int) []triggers.Delivery {
	t.Helper()
	got, err := db.ClaimDeliveries(context.Background(), claimQuery(now, max))
	if err != nil {
		t.Fatalf("ClaimDeliveries() = %v", err)
	}
	return got
}

// countDeliveries counts the rows of the deliveries table.
func countDeliveries(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow(`SELECT count(*) FROM deliveries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOutbox_SurvivesReopen checks that the deliveries written with the
// events are on disk (a reopened store claims them), and that a reopened
// store knows the subscriptions (its cache is loaded at open): a new event
// gets its delivery too.
func TestOutbox_SurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := testSub(lt0.Add(-time.Hour))
	mustCreate(t, db, sub)
	evs := insertEvents(t, db, 3, plainMetadata)
	db.Close()
	if db, err = Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := mustClaim(t, db, lt0.Add(time.Minute), 10)
	if len(got) != len(evs) {
		t.Fatalf("claimed %d deliveries after reopen, want %d", len(got), len(evs))
	}
	for i, d := range got { // earliest due first: event order here
		if d.SubscriptionID != sub.ID || d.EventID != evs[i].ID || !d.EventCreatedAt.Equal(evs[i].CreatedAt) {
			t.Fatalf("delivery %d = %+v, want the delivery of %s to %s", i, d, evs[i].ID, sub.ID)
		}
	}
	at := lt0.Add(time.Second)
	e := triggers.Event{ID: triggers.NewEventID(at), Tenant: "a", Source: "s", EventType: "t", Payload: []byte(`{}`),
		Metadata: []byte(`{}`), Priority: triggers.PriorityNormal, CreatedAt: at}
	if _, err := db.InsertEvents(context.Background(), []triggers.Insert{{Event: e}}); err != nil {
		t.Fatal(err)
	}
	if got := mustClaim(t, db, lt0.Add(time.Minute), 10); len(got) != 1 || got[0].EventID != e.ID {
		t.Fatalf("claim after an insert past the reopen = %+v, want the new event's delivery", got)
	}
}

// TestInsertEvents_OutboxOnlyWhenDeliveriesWritten checks what wakes the
// dispatcher (InsertResult.Outbox): an event no active subscription matches
// says false, so that creates of a tenant without webhooks cost no claim.
func TestInsertEvents_OutboxOnlyWhenDeliveriesWritten(t *testing.T) {
	db := openTemp(t)
	shop := testSub(lt0.Add(-time.Hour))
	shop.Filter.Source = "shop"
	mustCreate(t, db, shop)
	off := testSub(lt0.Add(-time.Hour))
	off.Status = triggers.SubscriptionDisabled
	mustCreate(t, db, off)
	for _, c := range []struct {
		name, tenant, source string
		want                 bool
	}{
		{"matching", "a", "shop", true},
		{"matched by a disabled one only", "a", "crm", false},
		{"tenant without subscriptions", "b", "shop", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := lt0.Add(time.Second)
			e := triggers.Event{ID: triggers.NewEventID(at), Tenant: c.tenant, Source: c.source, EventType: "t", Payload: []byte(`{}`),
				Metadata: []byte(`{}`), Priority: triggers.PriorityNormal, CreatedAt: at}
			res, err := db.InsertEvents(context.Background(), []triggers.Insert{{Event: e}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("InsertEvents = %+v, %v", res, err)
			}
			if res[0].Outbox != c.want {
				t.Errorf("Outbox = %v, want %v", res[0].Outbox, c.want)
			}
		})
	}
}

// TestCreateSubscription_FailedWriteKeepsTheCache checks the cache after a
// write that fails midway (a duplicate id: the batch is run again with
// savepoints and the cache read afresh): the next event is delivered once
// to the one subscription.
func TestCreateSubscription_FailedWriteKeepsTheCache(t *testing.T) {
	db := openTemp(t)
	sub := testSub(lt0.Add(-time.Hour))
	mustCreate(t, db, sub)
	if err := db.CreateSubscription(context.Background(), sub, 20); triggers.ErrorCode(err) != triggers.ECONFLICT {
		t.Fatalf("CreateSubscription(same id) = %v, want ECONFLICT", err)
	}
	insertEvents(t, db, 1, plainMetadata)
	if n := countDeliveries(t, db); n != 1 {
		t.Fatalf("%d deliveries of one event to one subscription, want 1", n)
	}
}

// TestDeleteSubscription_RemovesEveryDelivery deletes a subscription with
// more deliveries than one write removes.
func TestDeleteSubscription_RemovesEveryDelivery(t *testing.T) {
	db := openTemp(t)
	sub, keep := testSub(lt0.Add(-time.Hour)), testSub(lt0.Add(-time.Minute))
	mustCreate(t, db, sub)
	mustCreate(t, db, keep)
	n := 2*deleteBatch + 10
	insertEvents(t, db, n, plainMetadata)
	if ok, err := db.DeleteSubscription(context.Background(), "a", sub.ID); !ok || err != nil {
		t.Fatalf("DeleteSubscription() = %v, %v", ok, err)
	}
	if got := countDeliveries(t, db); got != n {
		t.Fatalf("%d deliveries left, want the %d of the other subscription", got, n)
	}
}

// TestDeleteExpired_RemovesDeliveries checks that the purge of events takes
// their deliveries, and only theirs.
func TestDeleteExpired_RemovesDeliveries(t *testing.T) {
	db := openTemp(t)
	mustCreate(t, db, testSub(lt0.Add(-time.Hour)))
	evs := insertEvents(t, db, 10, plainMetadata)
	if _, err := db.DeleteExpired(context.Background(), evs[5].CreatedAt, lt0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := countDeliveries(t, db); got != 4 {
		t.Fatalf("%d deliveries after purging 6 of 10 events, want 4", got)
	}
}

// TestDeliveryBacklog counts the pending deliveries of active
// subscriptions, in flight included, and gives the earliest due.
func TestDeliveryBacklog(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	backlog := func() (int64, time.Time) {
		t.Helper()
		n, oldest, err := db.DeliveryBacklog(ctx, lt0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return n, oldest
	}
	if n, oldest := backlog(); n != 0 || !oldest.IsZero() {
		t.Fatalf("DeliveryBacklog() of an empty store = %d, %v; want 0, zero", n, oldest)
	}
	sub := testSub(lt0.Add(-time.Hour))
	mustCreate(t, db, sub)
	evs := insertEvents(t, db, 3, plainMetadata)
	if n, oldest := backlog(); n != 3 || !oldest.Equal(evs[0].CreatedAt) {
		t.Fatalf("DeliveryBacklog() = %d, %v; want 3, %v", n, oldest, evs[0].CreatedAt)
	}
	d := mustClaim(t, db, lt0.Add(time.Minute), 1)[0]
	if n, _ := backlog(); n != 3 {
		t.Fatalf("DeliveryBacklog() with one in flight = %d, want 3", n)
	}
	if _, err := db.CompleteDelivery(ctx, triggers.DeliveryOutcome{Key: d.Key(), LeaseID: d.LeaseID, Status: triggers.DeliverySucceeded,
		Attempt: triggers.DeliveryAttempt{At: lt0.Add(time.Minute), StatusCode: 200}}); err != nil {
		t.Fatal(err)
	}
	if n, oldest := backlog(); n != 2 || !oldest.Equal(evs[1].CreatedAt) {
		t.Fatalf("DeliveryBacklog() after a success = %d, %v; want 2, %v", n, oldest, evs[1].CreatedAt)
	}
	if _, err := db.UpdateSubscription(ctx, "a", sub.ID, func(s *triggers.Subscription) error {
		s.Status = triggers.SubscriptionDisabled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, _ := backlog(); n != 0 {
		t.Fatalf("DeliveryBacklog() with the subscription disabled = %d, want 0 (held)", n)
	}
}

// TestDispatcherWrites_CommitWithoutTheirOwnFsync checks that a claim and a
// completion are volatile commits (CompleteDelivery says why), and that the
// outbox rows of a create are durable with it.
func TestDispatcherWrites_CommitWithoutTheirOwnFsync(t *testing.T) {
	db := openTemp(t)
	mustCreate(t, db, testSub(lt0.Add(-time.Hour)))
	before := db.WriterStats()
	insertEvents(t, db, 1, plainMetadata)
	created := db.WriterStats()
	if created.VolatileCommits != before.VolatileCommits {
		t.Fatalf("a create with its delivery made %d volatile commits, want none", created.VolatileCommits-before.VolatileCommits)
	}
	d := mustClaim(t, db, lt0.Add(time.Minute), 1)[0]
	if _, err := db.CompleteDelivery(context.Background(), triggers.DeliveryOutcome{Key: d.Key(), LeaseID: d.LeaseID,
		Status: triggers.DeliverySucceeded, Attempt: triggers.DeliveryAttempt{At: lt0, StatusCode: 200}}); err != nil {
		t.Fatal(err)
	}
	after := db.WriterStats()
	if after.VolatileCommits != created.VolatileCommits+2 || after.Commits != created.Commits+2 {
		t.Fatalf("a claim and a completion: volatile commits %d -> %d, commits %d -> %d; want two volatile commits",
			created.VolatileCommits, after.VolatileCommits, created.Commits, after.Commits)
	}
}
