package dynamodb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/ratelimit"
)

// mustRateLimiter creates fresh tables under a unique stage (deleted when
// the test ends) and returns a limiter on them through client (which may
// wrap base), and the stage.
func mustRateLimiter(tb testing.TB, base, client *awsdynamodb.Client) (*dynamodb.RateLimiter, string) {
	tb.Helper()
	stage := teststore.MustStage(tb, base, "test")
	l, err := dynamodb.NewRateLimiter(client, stage, nil)
	if err != nil {
		tb.Fatalf("NewRateLimiter() = %v", err)
	}
	return l, stage
}

// t0 has a nanosecond part, so that the microsecond encoding is exercised.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func sameDecision(a, b ratelimit.Decision) bool {
	return a.Allowed == b.Allowed && a.Limit == b.Limit && a.Remaining == b.Remaining &&
		a.Reset.Equal(b.Reset) && a.RetryAfter == b.RetryAfter
}

func fmtDecision(d ratelimit.Decision) string {
	return fmt.Sprintf("{Allowed:%v Limit:%d Remaining:%d Reset:%s RetryAfter:%v}",
		d.Allowed, d.Limit, d.Remaining, d.Reset.UTC().Format(time.RFC3339Nano), d.RetryAfter)
}

type rlStep struct {
	at    time.Duration // now = t0 + at
	limit int
}

func TestRateLimiter_MatchesDecide(t *testing.T) {
	client := teststore.MustClient(t)
	l, _ := mustRateLimiter(t, client, client)
	ctx := context.Background()

	repeat := func(n int, at time.Duration, limit int) []rlStep {
		s := make([]rlStep, n)
		for i := range s {
			s[i] = rlStep{at, limit}
		}
		return s
	}
	cat := func(parts ...[]rlStep) []rlStep {
		var out []rlStep
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	random := func(seed uint64, n int) []rlStep {
		r := mrand.New(mrand.NewPCG(seed, 1))
		limits := []int{1, 2, 3, 7, 60, 1000}
		var at time.Duration
		out := make([]rlStep, n)
		for i := range out {
			switch r.IntN(10) {
			case 0: // the clock steps back, sometimes by more than a window
				at -= time.Duration(r.Int64N(int64(90 * time.Second)))
			case 1, 2: // a pause
				at += time.Duration(r.Int64N(int64(70 * time.Second)))
			default: // a burst
				at += time.Duration(r.Int64N(int64(200 * time.Millisecond)))
			}
			out[i] = rlStep{at, limits[r.IntN(len(limits))]}
		}
		return out
	}
	cases := map[string][]rlStep{
		"burst and refill": cat(repeat(4, 0, 3), repeat(2, 20*time.Second, 3),
			repeat(2, 40*time.Second+time.Nanosecond, 3), repeat(4, 3*time.Minute, 3)),
		"boundaries": cat(repeat(2, 0, 1), []rlStep{{time.Minute - time.Nanosecond, 1}, {time.Minute, 1},
			{2*time.Minute - 1, 1}, {2 * time.Minute, 1}}),
		// 60s/7 is not a whole number of microseconds.
		"uneven interval": cat(repeat(8, 0, 7), []rlStep{{8571428571, 7}, {8571428572, 7}, {8571428572, 7},
			{17142857143, 7}, {17142857143, 7}}),
		"limit lowered and raised": cat(repeat(5, 0, 10), repeat(2, time.Second, 2),
			repeat(3, 2*time.Second, 100), repeat(2, 3*time.Second, 1)),
		"clock backwards": cat(repeat(3, time.Hour, 2), repeat(3, 0, 2), repeat(2, 30*time.Second, 2),
			repeat(2, 30*time.Second+time.Millisecond, 2)),
		"random 1": random(1, 120),
		"random 2": random(2, 120),
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			key := "key_" + strings.ReplaceAll(name, " ", "_")
			var tat time.Time // the state as Decide keeps it
			for i, s := range steps {
				now := t0.Add(s.at)
				var want ratelimit.Decision
				want, tat = ratelimit.Decide(tat, s.limit, now)
				got, err := l.Take(ctx, key, s.limit, now)
				if err != nil {
					t.Fatalf("step %d %+v: Take() = %v", i, s, err)
				}
				if !sameDecision(got, want) {
					t.Fatalf("step %d %+v: Take() = %s, Decide() = %s", i, s, fmtDecision(got), fmtDecision(want))
				}
			}
		})
	}
}

func TestRateLimiter_Item(t *testing.T) {
	// The stored item: the key, window_start 0, tat in Unix microseconds
	// (with nanoseconds as decimals), ttl about an hour after tat.
	client := teststore.MustClient(t)
	l, stage := mustRateLimiter(t, client, client)
	ctx := context.Background()
	if _, err := l.Take(ctx, "key_1", 7, t0); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &awsdynamodb.GetItemInput{
		TableName: aws.String(dynamodb.RateLimitsTable(stage)),
		Key: map[string]types.AttributeValue{
			"api_key": &types.AttributeValueMemberS{Value: "key_1"}, "window_start": &types.AttributeValueMemberN{Value: "0"},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		t.Fatalf("GetItem() = %+v, %v", out, err)
	}
	n := func(name string) *big.Rat {
		v, ok := out.Item[name].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("item %v has no number %s", out.Item, name)
		}
		r, ok := new(big.Rat).SetString(v.Value)
		if !ok {
			t.Fatalf("%s = %q", name, v.Value)
		}
		return r
	}
	wantTat := t0.Add(ratelimit.Interval(7))
	want := new(big.Rat).SetFrac64(wantTat.UnixNano(), 1000)
	if tat := n("tat"); tat.Cmp(want) != 0 {
		t.Errorf("tat = %s µs, want %s", tat.FloatString(3), want.FloatString(3))
	}
	ttl := n("ttl")
	lo := big.NewRat(wantTat.Add(time.Hour).Unix(), 1)
	hi := big.NewRat(t0.Add(time.Hour+time.Minute+time.Second).Unix(), 1)
	if ttl.Cmp(lo) < 0 || ttl.Cmp(hi) > 0 {
		t.Errorf("ttl = %s, want between %s and %s", ttl.FloatString(0), lo.FloatString(0), hi.FloatString(0))
	}
}

// burst runs n concurrent Takes of key at now and returns the admitted
// count and one refusal.
func burst(t *testing.T, l ratelimit.Limiter, key string, limit, n int, now time.Time) (int, ratelimit.Decision) {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
		refusal  ratelimit.Decision
		errs     []error
	)
	for range n {
		wg.Go(func() {
			d, err := l.Take(context.Background(), key, limit, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case d.Allowed:
				admitted++
			default:
				refusal = d
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d Takes failed, first: %v", len(errs), n, errs[0])
	}
	return admitted, refusal
}

func TestRateLimiter_Concurrent(t *testing.T) {
	// From an idle key, 3L concurrent requests at one instant admit exactly
	// L; after RetryAfter one more is admitted; after the bucket refills,
	// and from a stale (idle, existing) item, again exactly L.
	client := teststore.MustClient(t)
	l, _ := mustRateLimiter(t, client, client)
	const limit = 50
	now := t0
	admitted, refusal := burst(t, l, "key_c", limit, 3*limit, now)
	if admitted != limit {
		t.Fatalf("first burst admitted %d, want %d", admitted, limit)
	}
	if refusal.Allowed || refusal.RetryAfter <= 0 {
		t.Fatalf("refusal = %s", fmtDecision(refusal))
	}
	now = now.Add(refusal.RetryAfter)
	d, err := l.Take(context.Background(), "key_c", limit, now)
	if err != nil || !d.Allowed {
		t.Fatalf("Take() after RetryAfter %v = %s, %v; want admitted", refusal.RetryAfter, fmtDecision(d), err)
	}
	if d, err := l.Take(context.Background(), "key_c", limit, now); err != nil || d.Allowed {
		t.Fatalf("second Take() after RetryAfter = %s, %v; want refused", fmtDecision(d), err)
	}
	now = d.Reset.Add(time.Second) // full again, and the item is stale: the idle path
	admitted, _ = burst(t, l, "key_c", limit, 3*limit, now)
	if admitted != limit {
		t.Fatalf("burst after refill admitted %d, want %d", admitted, limit)
	}
}

func TestRateLimiter_KeysIndependent(t *testing.T) {
	client := teststore.MustClient(t)
	l, _ := mustRateLimiter(t, client, client)
	ctx := context.Background()
	for i := range 3 {
		d, err := l.Take(ctx, "key_a", 2, t0)
		if err != nil || d.Allowed != (i < 2) {
			t.Fatalf("key_a Take %d = %s, %v", i, fmtDecision(d), err)
		}
	}
	d, err := l.Take(ctx, "key_b", 2, t0)
	if err != nil || !d.Allowed || d.Remaining != 1 {
		t.Fatalf("key_b Take = %s, %v; want admitted with 1 remaining", fmtDecision(d), err)
	}
}

func TestRateLimiter_RoundTrips(t *testing.T) {
	// Busy or new key: 1 UpdateItem. Refused: 1 UpdateItem (DynamoDB returns
	// the item with the failed condition; dynalite does not, + 1 GetItem).
	// Idle: 2 UpdateItems (+ the GetItem on dynalite).
	base := teststore.MustClient(t)
	client, calls := countCalls(base)
	l, _ := mustRateLimiter(t, base, client)
	ctx := context.Background()
	take := func(op string, now time.Time, allowed bool, updates int) {
		t.Helper()
		calls()
		d, err := l.Take(ctx, "key_rt", 3, now)
		if err != nil || d.Allowed != allowed {
			t.Fatalf("%s: Take() = %s, %v", op, fmtDecision(d), err)
		}
		got := calls()
		t.Logf("%-20s %d round trip(s) %v", op, total(got), got)
		if got["UpdateItem"] != updates || got["GetItem"] > 1 || total(got) != got["UpdateItem"]+got["GetItem"] {
			t.Errorf("%s took %v, want %d UpdateItem (and at most 1 GetItem where the server does not return the old item)", op, got, updates)
		}
	}
	take("new key", t0, true, 1)
	take("busy", t0, true, 1)
	take("busy, last", t0, true, 1)
	take("refused", t0, false, 1)
	take("idle", t0.Add(5*time.Minute), true, 2)
	take("clock backwards", t0.Add(-5*time.Minute), false, 2)
}

func TestRateLimiter_ErrUnavailable(t *testing.T) {
	for _, tt := range offline {
		t.Run(tt.name, func(t *testing.T) {
			client, err := dynamodb.NewClient(context.Background(), tt.endpoint(t))
			if err != nil {
				t.Fatalf("NewClient() = %v", err)
			}
			l, err := dynamodb.NewRateLimiter(client, "offline", &dynamodb.Options{Timeout: tt.timeout})
			if err != nil {
				t.Fatalf("NewRateLimiter() = %v", err)
			}
			checkUnavailable(t, "Take()", tt.perCall, func() error {
				_, err := l.Take(context.Background(), "key_1", 10, time.Now())
				return err
			})
		})
	}
}

func TestRateLimiter_MissingTable(t *testing.T) {
	client := teststore.MustClient(t)
	l, err := dynamodb.NewRateLimiter(client, "never-created", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Take(context.Background(), "key_1", 10, time.Now())
	if got := triggers.ErrorCode(err); got != triggers.EINTERNAL || !strings.Contains(err.Error(), "triggers tables create --stage never-created") {
		t.Fatalf("Take() on a missing table = %v (code %q), want an internal error telling how to create it", err, got)
	}
}

func TestRateLimiter_BadArguments(t *testing.T) {
	if _, err := dynamodb.NewRateLimiter(nil, "x", nil); err == nil {
		t.Error("NewRateLimiter(nil client) succeeded")
	}
	client, err := dynamodb.NewClient(context.Background(), "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dynamodb.NewRateLimiter(client, "bad stage", nil); err == nil {
		t.Error("NewRateLimiter(bad stage) succeeded")
	}
	l, err := dynamodb.NewRateLimiter(client, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Take(context.Background(), "k", 0, time.Now()); err == nil {
		t.Error("Take(limit 0) succeeded")
	}
}

// allOldProxy serves the DynamoDB API by forwarding to endpoint (dynalite)
// and, like DynamoDB and unlike dynalite, answers a failed condition of a
// call with ReturnValuesOnConditionCheckFailure ALL_OLD with the item (read
// here with a consistent GetItem, after the fact: good for sequential tests).
func allOldProxy(tb testing.TB, endpoint string) string {
	tb.Helper()
	post := func(r *http.Request, target string, body []byte) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, endpoint+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		for k, v := range r.Header {
			if k != "Accept-Encoding" && k != "Content-Length" {
				req.Header[k] = v
			}
		}
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, _ := io.ReadAll(r.Body)
		resp, out, err := post(r, "", in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var req struct {
			TableName                           string
			Key                                 json.RawMessage
			ReturnValuesOnConditionCheckFailure string
		}
		if resp.StatusCode == http.StatusBadRequest && bytes.Contains(out, []byte("ConditionalCheckFailedException")) &&
			json.Unmarshal(in, &req) == nil && req.ReturnValuesOnConditionCheckFailure == "ALL_OLD" {
			get, _ := json.Marshal(map[string]any{"TableName": req.TableName, "Key": req.Key, "ConsistentRead": true})
			if gresp, gout, err := post(r, "DynamoDB_20120810.GetItem", get); err == nil && gresp.StatusCode == http.StatusOK {
				var item struct{ Item json.RawMessage }
				var e map[string]any
				if json.Unmarshal(gout, &item) == nil && item.Item != nil && json.Unmarshal(out, &e) == nil {
					e["Item"] = item.Item
					out, _ = json.Marshal(e)
				}
			}
		}
		for k, v := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
		w.WriteHeader(resp.StatusCode)
		w.Write(out)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

func TestRateLimiter_RoundTripsWithOldItem(t *testing.T) {
	// Where the server returns the item with a failed condition (DynamoDB,
	// emulated by allOldProxy): refused 1, idle 2, and no GetItem ever.
	base := teststore.MustClient(t)
	proxied, err := dynamodb.NewClient(context.Background(), allOldProxy(t, teststore.MustEndpoint(t)))
	if err != nil {
		t.Fatal(err)
	}
	client, calls := countCalls(proxied)
	l, _ := mustRateLimiter(t, base, client)
	ctx := context.Background()
	var tat time.Time
	take := func(op string, now time.Time, want int) {
		t.Helper()
		calls()
		var wantD ratelimit.Decision
		wantD, tat = ratelimit.Decide(tat, 3, now)
		d, err := l.Take(ctx, "key_rt", 3, now)
		if err != nil || !sameDecision(d, wantD) {
			t.Fatalf("%s: Take() = %s, %v; Decide() = %s", op, fmtDecision(d), err, fmtDecision(wantD))
		}
		got := calls()
		t.Logf("%-20s %d round trip(s) %v", op, total(got), got)
		if got["UpdateItem"] != want || total(got) != want {
			t.Errorf("%s took %v, want %d UpdateItem", op, got, want)
		}
	}
	take("new key", t0, 1)
	take("busy", t0, 1)
	take("busy, last", t0, 1)
	take("refused", t0, 1)
	take("refused again", t0.Add(time.Second), 1)
	take("idle", t0.Add(5*time.Minute), 2)
	take("clock backwards", t0.Add(-5*time.Minute), 2)
	take("refused after clamp", t0.Add(-5*time.Minute), 1)
}
