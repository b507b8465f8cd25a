package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/storetest"
)

func statsQuery(tenant, source string, now, nb time.Time) triggers.StatsQuery {
	return triggers.StatsQuery{Tenant: tenant, Source: source, Now: now, NotBefore: nb,
		Since: now.Truncate(time.Minute).Add(-(triggers.StatsMinutes - 1) * time.Minute), TopSources: triggers.StatsTopSources}
}

func mustStats(t *testing.T, s *dynamodb.Store, q triggers.StatsQuery) triggers.Stats {
	t.Helper()
	st, err := s.Stats(context.Background(), q)
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if !st.Approximate {
		t.Fatalf("Stats() = %+v, want Approximate", st)
	}
	return st
}

// TestStats_BoundedReads checks that a stats call costs the same calls
// whatever the backlog: 3 BatchGetItem (4 counter shards and 60 × 4 minute
// items, 100 keys a call) and 1 Query, for 10 events as for 300, filtered
// or not; never a Scan.
func TestStats_BoundedReads(t *testing.T) {
	s, calls := mustCountedStore(t)
	now, nb := testTimes()
	var created int
	for _, n := range []int{10, 300} {
		var evs []triggers.Event
		for i := range n - created {
			e := newEvent(now.Add(time.Duration(i) * time.Microsecond))
			e.Source = fmt.Sprint("s", (created+i)%30)
			evs = append(evs, e)
		}
		for chunk := range sliceChunks(evs, 100) {
			storetest.MustInsert(t, s, chunk...)
		}
		created = n
		for _, source := range []string{"", "s7"} {
			calls()
			st := mustStats(t, s, statsQuery("a", source, now.Add(time.Second), nb))
			got := calls()
			t.Logf("%d events, source %q: pending %d, calls %v", n, source, st.Pending, got)
			want := int64(n)
			if source != "" {
				want = int64((n + 22) / 30) // i%30 == 7 for i < n
			}
			if st.Pending != want || st.OldestPending.IsZero() {
				t.Fatalf("%d events, source %q: stats %+v, want %d pending and an oldest", n, source, st, want)
			}
			if len(got) != 2 || got["stats BatchGetItem"] != 3 || got["Query"] != 1 {
				t.Errorf("%d events, source %q: stats call made %v, want 3 BatchGetItem and 1 Query", n, source, got)
			}
		}
	}
}

func sliceChunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for i := 0; i < len(s); i += n {
			if !yield(s[i:min(i+n, len(s))]) {
				return
			}
		}
	}
}

// TestStats_CounterWrites checks what each verb writes to the counters:
// the counter shard and the minute item, once per call however many items
// a bulk call has; nothing for an ack that lost (conflict) or a delete that
// found nothing; the tenant registry once per tenant and process.
func TestStats_CounterWrites(t *testing.T) {
	s, calls := mustCountedStore(t)
	ctx := context.Background()
	now, nb := testTimes()
	check := func(op string, want int) {
		t.Helper()
		got := calls()
		if n := got["stats UpdateItem"]; n != want {
			t.Errorf("%s: %d counter writes %v, want %d", op, n, got, want)
		}
	}
	calls()
	e := storetest.MustInsert(t, s, newEvent(now))[0]
	check("first create of a tenant", 3) // counters, minute, registry
	var evs []triggers.Event
	for range 25 {
		evs = append(evs, newEvent(now))
	}
	evs = storetest.MustInsert(t, s, evs...)
	check("bulk create of 25", 2)
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, now, nb); err != nil {
		t.Fatal(err)
	}
	check("ack", 2)
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, now, nb); triggers.ErrorCode(err) != triggers.ECONFLICT {
		t.Fatalf("second ack = %v, want a conflict", err)
	}
	check("ack, conflict", 0)
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	res, err := s.AckEvents(ctx, "a", triggers.AcksOf(append(ids[:20:20], e.ID)), now, nb)
	if err != nil || res[20].Err == nil {
		t.Fatalf("AckEvents() = %v, %v; want the last one conflicting", res, err)
	}
	check("bulk ack of 21, one conflicting", 2)
	if _, err := s.DeleteEvents(ctx, "a", ids[15:], nb); err != nil {
		t.Fatal(err)
	}
	check("bulk delete of 10, 5 of them acknowledged", 1) // counters only
	if ok, err := s.DeleteEvent(ctx, "a", ids[0], nb); err != nil || !ok {
		t.Fatal(ok, err)
	}
	check("delete of an acknowledged event", 0)
	st := mustStats(t, s, statsQuery("a", "", now.Add(time.Second), nb))
	var created, acked int64
	for _, m := range st.PerMinute {
		created, acked = created+m.Created, acked+m.Acknowledged
	}
	if st.Pending != 0 || created != 26 || acked != 21 {
		t.Fatalf("stats pending %d, created %d, acknowledged %d; want 0, 26, 21", st.Pending, created, acked)
	}
}

// TestStats_TwoStoresUnderContention creates, receives, acknowledges and
// deletes from two Store instances on the same tables at once, acks of
// one event racing across them, and checks that the counters of both
// agree with the events as stored.
func TestStats_TwoStoresUnderContention(t *testing.T) {
	base := teststore.MustClient(t)
	stage := teststore.MustStage(t, base, "test")
	var stores [2]*dynamodb.Store
	for i := range stores {
		s, err := dynamodb.Open(context.Background(), base, stage, nil)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	ctx := context.Background()
	now, nb := testTimes()
	const workers, each = 6, 8
	var mu sync.Mutex
	var created []triggers.Event
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := stores[w%2]
			for i := range each {
				e := newEvent(now.Add(time.Duration(w*each+i) * time.Microsecond))
				e.Source = fmt.Sprint("s", i%3)
				got := storetest.MustInsert(t, s, e)
				mu.Lock()
				created = append(created, got...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Both stores: racing acks of the first third, receives (max attempts
	// 1, so a second receive dead-letters), deletes of the last sixth.
	third := len(created) / 3
	for _, e := range created[:third] {
		for _, s := range stores {
			wg.Go(func() { s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, now, nb) })
		}
	}
	for i, s := range stores {
		wg.Go(func() {
			for range 3 {
				q := receiveQuery(now.Add(time.Duration(i)*time.Minute), nb, 5)
				q.MaxAttempts = 1
				if _, err := s.ReceiveEvents(ctx, q); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, e := range created[len(created)-len(created)/6:] {
		for _, s := range stores {
			wg.Go(func() { s.DeleteEvent(ctx, "a", e.ID, nb) })
		}
	}
	wg.Wait()

	// What is stored, read from the inbox.
	at := now.Add(30 * time.Second) // leases of the first receives held, the later ones' too
	list := func(st triggers.Status) []triggers.Event {
		q := triggers.InboxQuery{Tenant: "a", NotBefore: nb, Limit: 1000, MaxScan: 10000, Filter: triggers.InboxFilter{Status: st}}
		page, err := stores[0].ListPending(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return page.Events
	}
	pending, dead := list(triggers.StatusPending), list(triggers.StatusDead)
	var leased int64
	bySource := map[string]int64{}
	for _, e := range pending {
		if e.Leased(at) {
			leased++
		}
		bySource[e.Source]++
	}
	for _, s := range stores {
		st := mustStats(t, s, statsQuery("a", "", at, nb))
		if st.Pending != int64(len(pending)) || st.Dead != int64(len(dead)) || st.Leased != leased {
			t.Fatalf("stats pending %d, leased %d, dead %d; stored %d, %d, %d", st.Pending, st.Leased, st.Dead, len(pending), leased, len(dead))
		}
		for _, c := range st.BySource {
			if bySource[c.Source] != c.Pending {
				t.Fatalf("by source %v, stored %v", st.BySource, bySource)
			}
		}
		var c, a int64
		for _, m := range st.PerMinute {
			c, a = c+m.Created, a+m.Acknowledged
		}
		if c != int64(len(created)) || a != int64(third) {
			t.Fatalf("per minute: %d created, %d acknowledged; want %d and %d", c, a, len(created), third)
		}
	}
	t.Logf("%d created, %d acknowledged, %d pending (%d leased), %d dead", len(created), third, len(pending), leased, len(dead))
}

// TestStats_LeaseAttributesPruned checks that the lease attributes of the
// counter shards, one per receive, do not pile up: after 200 receives at a
// moving clock, each shard holds fewer than the prune threshold of expired
// ones plus the leases held.
func TestStats_LeaseAttributesPruned(t *testing.T) {
	base := teststore.MustClient(t)
	stage := teststore.MustStage(t, base, "test")
	s, err := dynamodb.Open(context.Background(), base, stage, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now, nb := testTimes()
	var evs []triggers.Event
	for i := range 50 {
		evs = append(evs, newEvent(now.Add(time.Duration(i)*time.Microsecond)))
	}
	storetest.MustInsert(t, s, evs...)
	for i := range 200 {
		q := receiveQuery(now.Add(time.Duration(i)*10*time.Second), nb, 1)
		q.LeaseExpiresAt = q.Now.Add(5 * time.Second)
		q.MaxAttempts = 1000
		if got := mustReceive(t, s, q); len(got.Events) != 1 {
			t.Fatalf("receive %d leased %d events, want 1", i, len(got.Events))
		}
	}
	for shard := range 4 {
		out, err := base.GetItem(ctx, &awsdynamodb.GetItemInput{
			TableName: new(dynamodb.EventsTable(stage)),
			Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("#stats#a#%d", shard)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for name := range out.Item {
			if strings.HasPrefix(name, "l") {
				n++
			}
		}
		t.Logf("shard %d: %d lease attributes", shard, n)
		if n > 16+6 { // the threshold, and the leases of the last minute (grace)
			t.Errorf("shard %d holds %d lease attributes after 200 receives, want at most 22", shard, n)
		}
	}
	st := mustStats(t, s, statsQuery("a", "", now.Add(199*10*time.Second+time.Second), nb))
	if st.Leased != 1 || st.Pending != 50 {
		t.Fatalf("stats leased %d pending %d, want 1 and 50", st.Leased, st.Pending)
	}
}

// TestStats_CounterWriteFailure checks that a counter write that fails
// does not fail the verb whose event write was done: the create succeeds,
// the failure is counted (and logged), and the counts miss that write.
func TestStats_CounterWriteFailure(t *testing.T) {
	base := teststore.MustClient(t)
	var failing atomic.Bool
	injected := &smithyhttp.RequestSendError{Err: errors.New("injected failure")}
	client := awsdynamodb.New(base.Options(), func(o *awsdynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("inject",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if p, ok := in.Parameters.(*awsdynamodb.UpdateItemInput); ok && failing.Load() && statsCall(p) &&
						strings.HasPrefix(p.Key["pk"].(*types.AttributeValueMemberS).Value, "#stats#") {
						return middleware.InitializeOutput{}, middleware.Metadata{}, injected
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	s, err := dynamodb.Open(context.Background(), client, teststore.MustStage(t, base, "test"),
		&dynamodb.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	now, nb := testTimes()
	storetest.MustInsert(t, s, newEvent(now))
	failing.Store(true)
	e := storetest.MustInsert(t, s, newEvent(now))[0] // its counter write fails; the create does not
	failing.Store(false)
	if n := s.StatsWriteFailures(); n != 1 {
		t.Fatalf("StatsWriteFailures() = %d, want 1", n)
	}
	if _, err := s.GetEvent(context.Background(), "a", e.ID, nb); err != nil {
		t.Fatalf("GetEvent() of the event whose counter write failed = %v", err)
	}
	st := mustStats(t, s, statsQuery("a", "", now.Add(time.Second), nb))
	var created int64
	for _, m := range st.PerMinute {
		created += m.Created
	}
	if st.Pending != 1 || created != 2 {
		t.Fatalf("stats pending %d, created %d; want 1 (a counter write lost) and 2 (the minute item written)", st.Pending, created)
	}
}

// TestTotalStats checks the sums over every tenant, for the metrics: the
// pending events of every tenant that created some, and the oldest.
func TestTotalStats(t *testing.T) {
	base := teststore.MustClient(t)
	stage := teststore.MustStage(t, base, "test")
	var stores [2]*dynamodb.Store
	for i := range stores {
		s, err := dynamodb.Open(context.Background(), base, stage, nil)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	ctx := context.Background()
	now, nb := testTimes()
	if tot, err := stores[0].TotalStats(ctx, now, nb); err != nil || tot != (triggers.TotalStats{}) {
		t.Fatalf("TotalStats() of an empty store = %+v, %v", tot, err)
	}
	at := func(d time.Duration, tenant string) triggers.Event {
		e := newEvent(now.Add(d))
		e.Tenant = tenant
		return e
	}
	storetest.MustInsert(t, stores[0], at(2*time.Millisecond, "a"), at(3*time.Millisecond, "a"))
	oldest := storetest.MustInsert(t, stores[1], at(time.Millisecond, "b"))[0]
	storetest.MustInsert(t, stores[1], at(4*time.Millisecond, "c"))
	if _, err := stores[0].AckEvent(ctx, "c", triggers.Ack{ID: mustFirst(t, stores[0], "c").ID}, now, nb); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		tot, err := s.TotalStats(ctx, now.Add(time.Second), nb)
		if err != nil || tot.Pending != 3 || !tot.OldestPending.Equal(oldest.CreatedAt) {
			t.Fatalf("store %d: TotalStats() = %+v, %v; want 3 pending, the oldest at %v", i, tot, err, oldest.CreatedAt)
		}
	}
}

func mustFirst(t *testing.T, s *dynamodb.Store, tenant string) triggers.Event {
	t.Helper()
	page, err := s.ListPending(context.Background(), triggers.InboxQuery{Tenant: tenant, Limit: 1, NotBefore: time.Now().Add(-time.Hour)})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("ListPending(%s) = %v, %v", tenant, page.Events, err)
	}
	return page.Events[0]
}
