package dynamodb_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
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

func TestConformance(t *testing.T) {
	client := teststore.MustClient(t)
	storetest.RunTests(t, func(t *testing.T) triggers.Store { return teststore.OpenDynamoDB(t, client, "test") })
}

func TestCreateTables_Idempotent(t *testing.T) {
	client := teststore.MustClient(t)
	stage := teststore.EmptyStage(t, client, "idem")
	ctx := context.Background()
	first, err := dynamodb.CreateTables(ctx, client, stage)
	if err != nil || len(first.Created) != 5 || len(first.Existing) != 0 {
		t.Fatalf("CreateTables() = %+v, %v; want 5 created", first, err)
	}
	second, err := dynamodb.CreateTables(ctx, client, stage)
	if err != nil || len(second.Created) != 0 || len(second.Existing) != 5 {
		t.Fatalf("CreateTables() again = %+v, %v; want 5 existing", second, err)
	}
	// dynalite has no UpdateTimeToLive: a warning per TTL table, not an error.
	for _, w := range second.Warnings {
		t.Logf("warning: %s", w)
	}
	for _, td := range dynamodb.TableDefinitions(stage) {
		d, err := client.DescribeTable(ctx, &awsdynamodb.DescribeTableInput{TableName: td.Create.TableName})
		if err != nil {
			t.Fatalf("DescribeTable(%s) = %v", *td.Create.TableName, err)
		}
		if d.Table.BillingModeSummary != nil && d.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
			t.Errorf("table %s billing mode %s, want PAY_PER_REQUEST", *td.Create.TableName, d.Table.BillingModeSummary.BillingMode)
		}
	}
}

// offline are the two ways a DynamoDB server can fail a client: nothing
// listens (every call fails fast), or a server accepts and never answers
// (every call ends at the timeout). Either way the store and the rate
// limiter report EUNAVAILABLE (a 503), never an internal error, within
// perCall of each call.
var offline = []struct {
	name     string
	endpoint func(*testing.T) string
	timeout  time.Duration
	perCall  time.Duration
}{
	{"Unreachable", func(*testing.T) string { return "http://127.0.0.1:1" }, 3 * time.Second, 5 * time.Second},
	{"Silent", hangingEndpoint, 300 * time.Millisecond, 3 * time.Second},
}

// checkUnavailable runs call and fails the test unless it returns
// EUNAVAILABLE within limit.
func checkUnavailable(t *testing.T, op string, limit time.Duration, call func() error) {
	t.Helper()
	start := time.Now()
	err := call()
	if got := triggers.ErrorCode(err); got != triggers.EUNAVAILABLE {
		t.Fatalf("%s = %v (code %q), want EUNAVAILABLE", op, err, got)
	}
	if d := time.Since(start); d > limit {
		t.Fatalf("%s against an offline server took %v, want at most %v", op, d, limit)
	}
}

func TestStore_ErrUnavailable(t *testing.T) {
	ctx := context.Background()
	for _, tt := range offline {
		t.Run(tt.name, func(t *testing.T) {
			client, err := dynamodb.NewClient(ctx, tt.endpoint(t))
			if err != nil {
				t.Fatalf("NewClient() = %v", err)
			}
			s, err := dynamodb.Open(ctx, client, "offline", &dynamodb.Options{Timeout: tt.timeout})
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			checkUnavailable(t, "Ping()", tt.perCall, func() error { return s.Ping(ctx) })
			checkUnavailable(t, "GetEvent()", tt.perCall, func() error {
				_, err := s.GetEvent(ctx, "a", triggers.NewEventID(time.Now()), time.Time{})
				return err
			})
			checkUnavailable(t, "AckEvent()", tt.perCall, func() error {
				_, err := s.AckEvent(ctx, "a", triggers.Ack{ID: triggers.NewEventID(time.Now())}, time.Now(), time.Time{})
				return err
			})
		})
	}
}

func TestStore_MissingTable(t *testing.T) {
	client := teststore.MustClient(t)
	s, err := dynamodb.Open(context.Background(), client, "never-created", nil)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	err = s.Ping(context.Background())
	if got := triggers.ErrorCode(err); got != triggers.EINTERNAL || !strings.Contains(err.Error(), "triggers tables create --stage never-created") {
		t.Fatalf("Ping() on missing tables = %v (code %q), want an internal error telling how to create them", err, got)
	}
}

// aroundCalls returns a copy of client that passes every API call (before
// retries) through around, with the operation's name, prefixed with
// "stats " for the calls on statistics counter items (see statsCall); around
// must run call once.
func aroundCalls(client *awsdynamodb.Client, name string, around func(op string, call func())) *awsdynamodb.Client {
	return awsdynamodb.New(client.Options(), func(o *awsdynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc(name,
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (out middleware.InitializeOutput, md middleware.Metadata, err error) {
					op := middleware.GetOperationName(ctx)
					if statsCall(in.Parameters) {
						op = "stats " + op
					}
					around(op, func() { out, md, err = next.HandleInitialize(ctx, in) })
					return out, md, err
				}), middleware.After)
		})
	})
}

// countCalls returns a copy of client that counts its round trips (API
// calls, before retries) by operation.
func countCalls(client *awsdynamodb.Client) (*awsdynamodb.Client, func() map[string]int) {
	var mu sync.Mutex
	calls := map[string]int{}
	c := aroundCalls(client, "countCalls", func(op string, call func()) {
		mu.Lock()
		calls[op]++
		mu.Unlock()
		call()
	})
	return c, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := maps.Clone(calls)
		clear(calls)
		return out
	}
}

// statsCall reports whether the input of a call is for a statistics item
// (pk starting with '#', which no event's has): the counter writes that
// follow an event write, and the reads of Stats.
func statsCall(params any) bool {
	var key map[string]types.AttributeValue
	switch in := params.(type) {
	case *awsdynamodb.UpdateItemInput:
		key = in.Key
	case *awsdynamodb.GetItemInput:
		key = in.Key
	case *awsdynamodb.BatchGetItemInput:
		return true // only Stats and TotalStats read in batches
	default:
		return false
	}
	pk, _ := key["pk"].(*types.AttributeValueMemberS)
	return pk != nil && strings.HasPrefix(pk.Value, "#") && pk.Value != "#ping"
}

// total counts the calls of an operation on events, idempotency records and
// keys: not the statistics counter writes that follow (statsCall).
func total(calls map[string]int) int {
	n := 0
	for op, c := range calls {
		if !strings.HasPrefix(op, "stats ") {
			n += c
		}
	}
	return n
}

func TestStore_RoundTrips(t *testing.T) {
	// The round trips per operation (DESIGN targets: create <= 2, ack 1, an
	// unfiltered inbox page 1). On DynamoDB a failed ack condition returns the
	// item with the error; dynalite does not, so an ack conflict costs a
	// second read there.
	s, calls := mustCountedStore(t)
	ctx := context.Background()
	now, nb := testTimes()
	check := func(op string, want int) {
		t.Helper()
		got := calls()
		t.Logf("%-28s %d round trip(s) %v", op, total(got), got)
		if want > 0 && total(got) != want {
			t.Errorf("%s took %d round trips %v, want %d", op, total(got), got, want)
		}
	}
	e := storetest.MustInsert(t, s, newEvent(now))[0]
	check("create", 1)
	if _, err := s.InsertEvents(ctx, []triggers.Insert{{Event: newEvent(now), IdempotencyKey: "k", RequestHash: "h", IdempotencyNotBefore: nb}}); err != nil {
		t.Fatal(err)
	}
	check("create with idempotency key", 2)
	if res, err := s.InsertEvents(ctx, []triggers.Insert{{Event: newEvent(now), IdempotencyKey: "k", RequestHash: "h", IdempotencyNotBefore: nb}}); err != nil || !res[0].Replayed {
		t.Fatalf("replay = %+v, %v", res, err)
	}
	check("create, replayed", 0)
	if _, err := s.GetEvent(ctx, "a", e.ID, nb); err != nil {
		t.Fatal(err)
	}
	check("get", 1)
	page, err := s.ListPending(ctx, triggers.InboxQuery{Tenant: "a", NotBefore: nb, Limit: 50, MaxScan: 1000})
	if err != nil || len(page.Events) != 2 {
		t.Fatalf("ListPending() = %+v, %v", page, err)
	}
	check("inbox page", 1)
	if _, err := s.ListPending(ctx, triggers.InboxQuery{Tenant: "a", NotBefore: nb, Limit: 50, MaxScan: 1000,
		Filter: triggers.InboxFilter{Source: "s", EventType: "t"}}); err != nil {
		t.Fatal(err)
	}
	check("inbox page, filtered", 1)
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, now, nb); err != nil {
		t.Fatal(err)
	}
	check("ack", 1)
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, now, nb); triggers.ErrorCode(err) != triggers.ECONFLICT {
		t.Fatal(err)
	}
	check("ack, conflict", 0)
	if ok, err := s.DeleteEvent(ctx, "a", e.ID, nb); err != nil || !ok {
		t.Fatal(ok, err)
	}
	check("delete", 1)
}

func TestStore_InsertEventsBulk(t *testing.T) {
	// More than one BatchWriteItem chunk, with idempotency keys (one new, one
	// replaying an earlier call): every insert has its result, in order, and
	// the inbox holds each new event once.
	s, calls := mustCountedStore(t)
	ctx := context.Background()
	now, nb := testTimes()
	earlier, err := s.InsertEvents(ctx, []triggers.Insert{{Event: newEvent(now), IdempotencyKey: "old", RequestHash: "h-old", IdempotencyNotBefore: nb}})
	if err != nil || earlier[0].Err != nil {
		t.Fatalf("InsertEvents() = %+v, %v", earlier, err)
	}
	calls()
	ins := make([]triggers.Insert, 30)
	for i := range ins {
		ins[i] = triggers.Insert{Event: newEvent(now)}
	}
	ins[3].IdempotencyKey, ins[3].RequestHash, ins[3].IdempotencyNotBefore = "k", "h3", nb
	ins[7].IdempotencyKey, ins[7].RequestHash, ins[7].IdempotencyNotBefore = "old", "h7", nb
	res, err := s.InsertEvents(ctx, ins)
	if err != nil {
		t.Fatalf("InsertEvents() = %v", err)
	}
	t.Logf("30 inserts, 1 new key, 1 replay: %v", calls())
	var prev time.Time
	for i, r := range res {
		switch {
		case r.Err != nil:
			t.Fatalf("insert %d: %v", i, r.Err)
		case i == 7:
			if !r.Replayed || r.Event.ID != earlier[0].Event.ID || r.RequestHash != "h-old" {
				t.Fatalf("insert 7 = %+v, want a replay of the earlier call", r)
			}
		default:
			if r.Replayed || r.Event.ID != ins[i].Event.ID || !r.Event.CreatedAt.After(prev) {
				t.Fatalf("insert %d = %+v, want a new event created after %v", i, r, prev)
			}
			prev = r.Event.CreatedAt
		}
	}
	page, err := s.ListPending(ctx, triggers.InboxQuery{Tenant: "a", NotBefore: nb, Limit: 100, MaxScan: 1000})
	if err != nil || len(page.Events) != 1+29 || page.Next != nil {
		t.Fatalf("ListPending() = %d events, next %v, %v; want 30", len(page.Events), page.Next, err)
	}
}

// hangingEndpoint returns the URL of a server that accepts connections and
// never answers, for timeout tests; it stops with the test.
func hangingEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestStore_BulkAckDeleteRoundTrips checks that AckEvents and DeleteEvents of
// 25 ids send one conditional call per id, at most 10 at once (so
// 3 sequential rounds), and report each item in order.
func TestStore_BulkAckDeleteRoundTrips(t *testing.T) {
	base := teststore.MustClient(t)
	var inFlight, maxInFlight atomic.Int64
	client := aroundCalls(base, "inFlight", func(_ string, call func()) {
		n := inFlight.Add(1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		defer inFlight.Add(-1)
		call()
	})
	client, calls := countCalls(client)
	s := mustOpenStage(t, base, client)
	ctx := context.Background()
	now, nb := testTimes()
	evs := make([]triggers.Event, 25)
	for i := range evs {
		evs[i] = newEvent(now)
	}
	storetest.MustInsert(t, s, evs...)
	ids := make([]string, 0, 25)
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	calls()
	maxInFlight.Store(0)
	res, err := s.AckEvents(ctx, "a", triggers.AcksOf(ids), now, nb)
	if err != nil {
		t.Fatalf("AckEvents() = %v", err)
	}
	for i, r := range res {
		if r.Err != nil || r.Event.ID != ids[i] {
			t.Fatalf("AckEvents()[%d] = %+v, want %s acknowledged", i, r, ids[i])
		}
	}
	got := calls()
	t.Logf("bulk ack of 25: %v, at most %d in flight", got, maxInFlight.Load())
	if got["UpdateItem"] != 25 || total(got) != 25 || maxInFlight.Load() > 10 {
		t.Errorf("bulk ack calls %v, %d in flight; want 25 UpdateItem, at most 10 at once", got, maxInFlight.Load())
	}
	maxInFlight.Store(0)
	dres, err := s.DeleteEvents(ctx, "a", ids, nb)
	if err != nil {
		t.Fatalf("DeleteEvents() = %v", err)
	}
	for i, r := range dres {
		if r.Err != nil {
			t.Fatalf("DeleteEvents()[%d] = %v, want deleted", i, r.Err)
		}
	}
	got = calls()
	t.Logf("bulk delete of 25: %v, at most %d in flight", got, maxInFlight.Load())
	if got["DeleteItem"] != 25 || total(got) != 25 || maxInFlight.Load() > 10 {
		t.Errorf("bulk delete calls %v, %d in flight; want 25 DeleteItem, at most 10 at once", got, maxInFlight.Load())
	}
}

// TestStore_BulkStoreFailure: when calls of a bulk operation fail, exactly
// the affected items are reported failed (EUNAVAILABLE) and nothing is
// reported done that was not.
func TestStore_BulkStoreFailure(t *testing.T) {
	base := teststore.MustClient(t)
	var failPK atomic.Value // the pk whose UpdateItem/DeleteItem fails
	failPK.Store("")
	var failBatch atomic.Bool
	injected := &smithyhttp.RequestSendError{Err: errors.New("injected failure")}
	client := awsdynamodb.New(base.Options(), func(o *awsdynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("inject",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					var key map[string]types.AttributeValue
					switch p := in.Parameters.(type) {
					case *awsdynamodb.UpdateItemInput:
						key = p.Key
					case *awsdynamodb.DeleteItemInput:
						key = p.Key
					case *awsdynamodb.BatchWriteItemInput:
						if failBatch.Load() {
							return middleware.InitializeOutput{}, middleware.Metadata{}, injected
						}
					}
					if pk, ok := key["pk"].(*types.AttributeValueMemberS); ok && pk.Value == failPK.Load().(string) {
						return middleware.InitializeOutput{}, middleware.Metadata{}, injected
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	s := mustOpenStage(t, base, client)
	ctx := context.Background()
	now, nb := testTimes()
	evs := storetest.MustInsert(t, s, newEvent(now), newEvent(now), newEvent(now))
	ids := []string{evs[0].ID, evs[1].ID, evs[2].ID}

	failPK.Store("a#" + ids[1])
	res, err := s.AckEvents(ctx, "a", triggers.AcksOf(ids), now, nb)
	if err != nil {
		t.Fatalf("AckEvents() = %v", err)
	}
	for i, want := range []triggers.Code{"", triggers.EUNAVAILABLE, ""} {
		if got := triggers.ErrorCode(res[i].Err); got != want {
			t.Fatalf("AckEvents()[%d] = %v, want code %q", i, res[i].Err, want)
		}
	}
	if e, err := s.GetEvent(ctx, "a", ids[1], nb); err != nil || e.Status() != triggers.StatusPending {
		t.Fatalf("failed item's event = %+v, %v; want pending", e, err)
	}
	dres, err := s.DeleteEvents(ctx, "a", ids, nb)
	if err != nil {
		t.Fatalf("DeleteEvents() = %v", err)
	}
	for i, want := range []triggers.Code{"", triggers.EUNAVAILABLE, ""} {
		if got := triggers.ErrorCode(dres[i].Err); got != want {
			t.Fatalf("DeleteEvents()[%d] = %v, want code %q", i, dres[i].Err, want)
		}
	}
	if _, err := s.GetEvent(ctx, "a", ids[1], nb); err != nil {
		t.Fatalf("failed delete's event: %v, want it still there", err)
	}

	// A failed BatchWriteItem fails every item of its chunk; none is stored.
	failBatch.Store(true)
	ires, err := s.InsertEvents(ctx, []triggers.Insert{{Event: newEvent(now)}, {Event: newEvent(now)}, {Event: newEvent(now)}})
	if err != nil {
		t.Fatalf("InsertEvents() = %v", err)
	}
	for i, r := range ires {
		if triggers.ErrorCode(r.Err) != triggers.EUNAVAILABLE {
			t.Fatalf("InsertEvents()[%d] = %+v, want EUNAVAILABLE", i, r)
		}
	}
	page, err := s.ListPending(ctx, triggers.InboxQuery{Tenant: "a", NotBefore: nb, Limit: 50, MaxScan: 1000})
	if err != nil || len(page.Events) != 1 || page.Events[0].ID != ids[1] {
		t.Fatalf("inbox after failed inserts = %+v, %v; want only %s", page.Events, err, ids[1])
	}
}

// mustCountedStore opens a store on fresh tables whose client counts its
// DynamoDB calls by operation (see countCalls).
func mustCountedStore(t *testing.T) (*dynamodb.Store, func() map[string]int) {
	t.Helper()
	base := teststore.MustClient(t)
	client, calls := countCalls(base)
	return mustOpenStage(t, base, client), calls
}

// mustOpenStage creates fresh tables with base (see teststore.MustStage)
// and opens a store on them that calls DynamoDB through client, a copy of
// base with hooks of the test's.
func mustOpenStage(t *testing.T, base, client *awsdynamodb.Client) *dynamodb.Store {
	t.Helper()
	s, err := dynamodb.Open(context.Background(), client, teststore.MustStage(t, base, "test"), nil)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	return s
}

// testTimes returns the time a test runs at, truncated to the microseconds
// the store keeps, and a not-before an hour earlier: nothing the test writes
// has expired.
func testTimes() (now, nb time.Time) {
	now = time.Now().UTC().Truncate(time.Microsecond)
	return now, now.Add(-time.Hour)
}

// newEvent returns a pending event of tenant "a" created at now.
func newEvent(now time.Time) triggers.Event {
	return triggers.Event{ID: triggers.NewEventID(now), Tenant: "a", Source: "s", EventType: "t",
		Payload: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`),
		Priority: triggers.PriorityNormal, CreatedAt: now}
}
