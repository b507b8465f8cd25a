package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/storetest"
)

// webhookT0 is the webhook tests' reference instant.
var webhookT0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

func mustOpen(tb testing.TB, client *awsdynamodb.Client, stage string) *dynamodb.Store {
	tb.Helper()
	s, err := dynamodb.Open(context.Background(), client, stage, nil)
	if err != nil {
		tb.Fatalf("Open() = %v", err)
	}
	return s
}

func mustSubscribe(tb testing.TB, s *dynamodb.Store, tenant string, at time.Time) triggers.Subscription {
	tb.Helper()
	sub := triggers.Subscription{ID: triggers.NewEventID(at), Tenant: tenant, URL: "https://example.com/hooks",
		Status: triggers.SubscriptionActive, Secret: "whsec_c2VjcmV0", CreatedAt: at, UpdatedAt: at}
	if err := s.CreateSubscription(context.Background(), sub, triggers.DefaultMaxSubscriptions); err != nil {
		tb.Fatalf("CreateSubscription() = %v", err)
	}
	return sub
}

func hookEvents(tenant string, n int, from time.Time) []triggers.Event {
	evs := make([]triggers.Event, n)
	for i := range evs {
		at := from.Add(time.Duration(i+1) * time.Millisecond)
		evs[i] = triggers.Event{ID: triggers.NewEventID(at), Tenant: tenant, Source: "s", EventType: "t",
			Payload: []byte(`{"n":1}`), Metadata: []byte(`{}`), Priority: triggers.PriorityNormal, CreatedAt: at}
	}
	return evs
}

func claim(tb testing.TB, s *dynamodb.Store, now time.Time, max int) []triggers.Delivery {
	tb.Helper()
	q := triggers.ClaimQuery{Now: now, Max: max, LeaseExpiresAt: now.Add(time.Minute)}
	for range max {
		q.LeaseIDs = append(q.LeaseIDs, triggers.NewLeaseID())
	}
	ds, err := s.ClaimDeliveries(context.Background(), q)
	if err != nil {
		tb.Fatalf("ClaimDeliveries() = %v", err)
	}
	return ds
}

// TestClaimDeliveries_TwoStores checks that two stores on the same tables
// (two instances of the server) claiming at once never hold one delivery
// twice: every claim is at one instant with a lease of a minute, so a
// delivery returned twice would be held twice.
func TestClaimDeliveries_TwoStores(t *testing.T) {
	client := teststore.MustClient(t)
	stage := teststore.MustStage(t, client, "hooks")
	stores := []*dynamodb.Store{mustOpen(t, client, stage), mustOpen(t, client, stage)}
	mustSubscribe(t, stores[0], "a", webhookT0)
	const n = 60
	storetest.MustInsert(t, stores[0], hookEvents("a", n, webhookT0)...)
	now := webhookT0.Add(time.Minute)

	var mu sync.Mutex
	held := map[string]int{}
	var wg sync.WaitGroup
	for i := range 6 {
		s := stores[i%2]
		wg.Go(func() {
			for range 4 {
				for _, d := range claim(t, s, now, 5) {
					mu.Lock()
					held[d.EventID]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for id, k := range held {
		if k > 1 {
			t.Fatalf("delivery of %s held %d times at once", id, k)
		}
	}
	total := len(held)
	for _, s := range stores {
		for {
			ds := claim(t, s, now, 25)
			for _, d := range ds {
				if held[d.EventID]++; held[d.EventID] > 1 {
					t.Fatalf("delivery of %s held twice", d.EventID)
				}
			}
			total += len(ds)
			if len(ds) == 0 {
				break
			}
		}
	}
	if total != n {
		t.Fatalf("claimed %d deliveries in all, want %d", total, n)
	}
}

// failingUnmark returns a copy of client whose UpdateItem calls on the
// events table fail while fail is set: a fan-out then writes the
// deliveries and dies before it clears the outbox, as if the process were
// killed between the two.
func failingUnmark(client *awsdynamodb.Client, stage string, fail *atomic.Bool) *awsdynamodb.Client {
	events := dynamodb.EventsTable(stage)
	return awsdynamodb.New(client.Options(), func(o *awsdynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("failUnmark",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if p, ok := in.Parameters.(*awsdynamodb.UpdateItemInput); ok && fail.Load() && *p.TableName == events &&
						!strings.HasPrefix(p.Key["pk"].(*types.AttributeValueMemberS).Value, "#") {
						return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected: killed before the outbox was cleared")
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
}

// outboxLen counts the tenant's entries in the outbox partition of the
// timeline index.
func outboxLen(tb testing.TB, client *awsdynamodb.Client, stage, tenant string) int {
	tb.Helper()
	out, err := client.Query(context.Background(), &awsdynamodb.QueryInput{
		TableName: new(dynamodb.EventsTable(stage)), IndexName: new(dynamodb.TimelineIndex),
		KeyConditionExpression:    new("timeline_key = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: "outbox#" + tenant}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return len(out.Items)
}

// TestFanout_CrashBeforeUnmark checks that the fan-out is idempotent: one
// killed after writing the deliveries and before clearing the outbox is
// done again by the next, which neither duplicates a delivery nor resets
// one that progressed meanwhile.
func TestFanout_CrashBeforeUnmark(t *testing.T) {
	ctx := context.Background()
	client := teststore.MustClient(t)
	stage := teststore.MustStage(t, client, "hooks")
	var fail atomic.Bool
	fail.Store(true)
	crashing := mustOpen(t, failingUnmark(client, stage, &fail), stage)
	sub := mustSubscribe(t, crashing, "a", webhookT0)
	const n = 5
	evs := storetest.MustInsert(t, crashing, hookEvents("a", n, webhookT0)...)
	now := webhookT0.Add(time.Minute)

	// The crashing fan-out wrote the deliveries (they are claimed) but left
	// the outbox as it was.
	ds := claim(t, crashing, now, 25)
	if len(ds) != n || outboxLen(t, client, stage, "a") != n {
		t.Fatalf("after the crash: %d claimed, %d in the outbox; want %d and %d", len(ds), outboxLen(t, client, stage, "a"), n, n)
	}
	// The deliveries progress: all succeed.
	for _, d := range ds {
		if _, err := crashing.CompleteDelivery(ctx, triggers.DeliveryOutcome{Key: d.Key(), LeaseID: d.LeaseID, Status: triggers.DeliverySucceeded,
			Attempt: triggers.DeliveryAttempt{At: now, StatusCode: 200}}); err != nil {
			t.Fatal(err)
		}
	}
	// Another instance (or the restarted one) fans out again.
	healthy := mustOpen(t, client, stage)
	if again := claim(t, healthy, now, 25); len(again) != 0 {
		t.Fatalf("claims after the rerun = %d, want none (every delivery succeeded)", len(again))
	}
	if got := outboxLen(t, client, stage, "a"); got != 0 {
		t.Fatalf("outbox after the rerun holds %d, want 0", got)
	}
	list, more, err := healthy.ListDeliveries(ctx, triggers.DeliveryQuery{Tenant: "a", SubscriptionID: sub.ID, Limit: 100})
	if err != nil || more || len(list) != n {
		t.Fatalf("ListDeliveries() = %d, %v, %v; want %d", len(list), more, err, n)
	}
	for i, d := range list {
		if d.EventID != evs[i].ID || d.Status != triggers.DeliverySucceeded || d.Tries != 1 || len(d.Attempts) != 1 {
			t.Fatalf("delivery %d after the rerun = %+v; want %s succeeded once", i, d, evs[i].ID)
		}
	}
}

// TestInsertEvents_OutboxCostsNoRequest checks that the outbox adds no
// round trip to a create: with or without a matching subscription, a
// create is the same calls (one PutItem of the event, and the statistics
// counters), the outbox being attributes of the event's item.
func TestInsertEvents_OutboxCostsNoRequest(t *testing.T) {
	base := teststore.MustClient(t)
	stage := teststore.MustStage(t, base, "hooks")
	client, calls := countCalls(base)
	s := mustOpen(t, client, stage)
	evs := hookEvents("a", 3, webhookT0)
	storetest.MustInsert(t, s, evs[0]) // the tenant's registration is cached after it
	calls()
	storetest.MustInsert(t, s, evs[1])
	without := calls()
	mustSubscribe(t, s, "a", webhookT0)
	calls()
	storetest.MustInsert(t, s, evs[2])
	with := calls()
	if without["PutItem"] != 1 || !maps.Equal(with, without) {
		t.Fatalf("calls of a create: %v without a subscription, %v with one; want one PutItem and the same calls", without, with)
	}
	t.Logf("calls of one create: %v", fmt.Sprint(with))
}
