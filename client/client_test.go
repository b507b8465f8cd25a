package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggersapi/triggers/client"
	"github.com/triggersapi/triggers/internal/teststore"
)

func noSleep(context.Context, time.Duration) error { return nil }

func TestLifecycle(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ctx := context.Background()

	h, err := c.Health(ctx)
	if err != nil || h.Status != "healthy" || h.Version != "test" {
		t.Fatalf("Health() = %+v, %v", h, err)
	}
	created, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "shop", EventType: "order.created",
		Payload: map[string]any{"order_id": "A-1"}, Metadata: map[string]any{"correlation_id": "c-1"}, Priority: client.PriorityHigh})
	if err != nil {
		t.Fatalf("CreateEvent() = %v", err)
	}
	if created.EventID == "" || created.Status != "pending" || created.Replayed || created.RequestID == "" || created.CreatedAt.IsZero() {
		t.Fatalf("CreateEvent() = %+v", created)
	}
	if created.RateLimit.Limit == 0 || created.RateLimit.Reset.IsZero() {
		t.Errorf("RateLimit = %+v, want the X-RateLimit-* values", created.RateLimit)
	}
	if rl, ok := c.LastRateLimit(); !ok || rl.Limit != created.RateLimit.Limit {
		t.Errorf("LastRateLimit() = %+v, %v", rl, ok)
	}

	e, err := c.GetEvent(ctx, created.EventID)
	if err != nil {
		t.Fatalf("GetEvent() = %v", err)
	}
	if e.EventID != created.EventID || e.Source != "shop" || e.EventType != "order.created" || e.Status != "pending" ||
		string(e.Payload) != `{"order_id":"A-1"}` || e.Priority() != "high" || !e.CreatedAt.Equal(created.CreatedAt) || !e.AcknowledgedAt.IsZero() {
		t.Fatalf("GetEvent() = %+v (payload %s, metadata %s)", e, e.Payload, e.Metadata)
	}

	page, err := c.Inbox(ctx, client.InboxQuery{})
	if err != nil || len(page.Events) != 1 || page.Events[0].EventID != created.EventID || page.NextCursor != "" {
		t.Fatalf("Inbox() = %+v, %v", page, err)
	}

	ack, err := c.AckEvent(ctx, created.EventID)
	if err != nil || ack.Status != "acknowledged" || ack.AcknowledgedAt.IsZero() {
		t.Fatalf("AckEvent() = %+v, %v", ack, err)
	}
	_, err = c.AckEvent(ctx, created.EventID)
	if !client.IsCode(err, client.CodeConflict) {
		t.Fatalf("second AckEvent() = %v, want CONFLICT", err)
	}
	e, err = c.GetEvent(ctx, created.EventID)
	if err != nil || e.Status != "acknowledged" || !e.AcknowledgedAt.Equal(ack.AcknowledgedAt) {
		t.Fatalf("GetEvent() after ack = %+v, %v", e, err)
	}
	page, err = c.Inbox(ctx, client.InboxQuery{})
	if err != nil || len(page.Events) != 0 {
		t.Fatalf("Inbox() after ack = %+v, %v", page, err)
	}

	del, err := c.DeleteEvent(ctx, created.EventID)
	if err != nil || del.EventID != created.EventID {
		t.Fatalf("DeleteEvent() = %+v, %v", del, err)
	}
	if _, err := c.DeleteEvent(ctx, created.EventID); err != nil {
		t.Fatalf("second DeleteEvent() = %v, want success", err)
	}
	_, err = c.GetEvent(ctx, created.EventID)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != client.CodeNotFound || apiErr.RequestID == "" {
		t.Fatalf("GetEvent() after delete = %v, want 404 NOT_FOUND", err)
	}
}

func TestCreatePayloadForms(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ctx := context.Background()
	type order struct {
		ID    string  `json:"id"`
		Total float64 `json:"total"`
	}
	for _, tc := range []struct {
		name              string
		payload, metadata any
		wantPayload       string
		wantMetadata      string
	}{
		{"raw", json.RawMessage(`{"amount":12345678901234567890,"rate":0.10}`), json.RawMessage(`{"z":1,"a":2}`),
			`{"amount":12345678901234567890,"rate":0.10}`, `{"z":1,"a":2,"priority":"normal"}`},
		{"struct", order{"A", 9.5}, nil, `{"id":"A","total":9.5}`, `{"priority":"normal"}`},
		{"bytes", []byte(`{"k":"v"}`), map[string]any{"priority": "low"}, `{"k":"v"}`, `{"priority":"low"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "s", EventType: "t", Payload: tc.payload, Metadata: tc.metadata})
			if err != nil {
				t.Fatalf("CreateEvent() = %v", err)
			}
			e, err := c.GetEvent(ctx, r.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Payload) != tc.wantPayload {
				t.Errorf("payload = %s, want %s", e.Payload, tc.wantPayload)
			}
			var got, want any
			json.Unmarshal(e.Metadata, &got)
			json.Unmarshal([]byte(tc.wantMetadata), &want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("metadata = %s, want %s", e.Metadata, tc.wantMetadata)
			}
		})
	}
	if _, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "s", EventType: "t", Payload: json.RawMessage(`{bad`)}); err == nil {
		t.Error("CreateEvent() with invalid raw JSON payload succeeded")
	}
}

func TestInboxAllPages(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ctx := context.Background()
	var want []string
	for i := range 7 {
		src := "shop"
		if i%3 == 2 {
			src = "crm"
		}
		r, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: src, EventType: "order.created", Payload: map[string]int{"n": i}})
		if err != nil {
			t.Fatal(err)
		}
		if src == "shop" {
			want = append(want, r.EventID)
		}
	}
	// 5 shop events, 2 per page: 3 pages.
	counter := &counting{}
	c = client.New(s.URL, testKey, &client.Options{HTTPClient: &http.Client{Transport: counter}})
	var got []string
	for e, err := range c.InboxAll(ctx, client.InboxQuery{Limit: 2, Source: "shop"}) {
		if err != nil {
			t.Fatalf("InboxAll: %v", err)
		}
		got = append(got, e.EventID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("InboxAll = %v, want %v", got, want)
	}
	if n := counter.n.Load(); n < 3 {
		t.Errorf("InboxAll sent %d requests, want at least 3 pages", n)
	}

	// Breaking early stops paging.
	counter.n.Store(0)
	for range c.InboxAll(ctx, client.InboxQuery{Limit: 2}) {
		break
	}
	if n := counter.n.Load(); n != 1 {
		t.Errorf("after an early break, %d requests were sent, want 1", n)
	}

	// An error is yielded once, then the iteration stops.
	var errs, events int
	for _, err := range c.InboxAll(ctx, client.InboxQuery{Limit: 500}) {
		if err != nil {
			errs++
			if !client.IsCode(err, client.CodeValidation) {
				t.Errorf("InboxAll error = %v, want VALIDATION_ERROR", err)
			}
		} else {
			events++
		}
	}
	if errs != 1 || events != 0 {
		t.Errorf("InboxAll(limit 500) yielded %d errors and %d events, want 1 and 0", errs, events)
	}
}

func TestTypedErrors(t *testing.T) {
	s := mustStart(t, 0, nil)
	ctx := context.Background()
	c := client.New(s.URL, testKey, nil)

	_, err := c.GetEvent(ctx, "0193a5c2-7e4b-7c1d-9f2a-5b8e3d6c4a10")
	var e *client.APIError
	if !errors.As(err, &e) || e.StatusCode != 404 || e.Code != "NOT_FOUND" || e.Message == "" || e.RequestID == "" || e.Attempts != 1 {
		t.Fatalf("GetEvent(unknown) = %#v", err)
	}
	if !client.IsCode(err, client.CodeNotFound) || client.IsCode(err, client.CodeConflict) || client.IsCode(errors.New("x"), "NOT_FOUND") {
		t.Error("IsCode is wrong")
	}
	if !client.IsCode(fmt.Errorf("wrapped: %w", err), client.CodeNotFound) {
		t.Error("IsCode does not see through wrapping")
	}

	_, err = c.CreateEvent(ctx, client.CreateEventRequest{Source: "  ", EventType: "x", Payload: map[string]any{}, Priority: "urgent"})
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Code != client.CodeValidation {
		t.Fatalf("CreateEvent(invalid) = %v", err)
	}
	fields := e.FieldErrors()
	for _, f := range []string{"source", "payload", "metadata.priority"} {
		if fields[f] == "" {
			t.Errorf("details.fields lacks %q: %v (details %v)", f, fields, e.Details)
		}
	}

	_, err = c.GetEvent(ctx, "12345")
	if !errors.As(err, &e) || e.StatusCode != 422 || e.Code != client.CodeValidation {
		t.Fatalf("GetEvent(12345) = %v", err)
	}

	bad := client.New(s.URL, "not-a-real-key", nil)
	_, err = bad.Inbox(ctx, client.InboxQuery{})
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != client.CodeUnauthorized || e.Attempts != 1 {
		t.Fatalf("Inbox(bad key) = %v", err)
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestIdempotentReplay(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ctx := context.Background()
	req := client.CreateEventRequest{Source: "shop", EventType: "order.created", Payload: map[string]any{"order_id": "A-2"},
		IdempotencyKey: "order-A-2-created"}
	first, err := c.CreateEvent(ctx, req)
	if err != nil || first.Replayed {
		t.Fatalf("first CreateEvent() = %+v, %v", first, err)
	}
	second, err := c.CreateEvent(ctx, req)
	if err != nil || !second.Replayed || second.EventID != first.EventID || !second.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("second CreateEvent() = %+v, %v; want a replay of %+v", second, err, first)
	}
	req.Payload = map[string]any{"order_id": "other"}
	_, err = c.CreateEvent(ctx, req)
	if !client.IsCode(err, client.CodeIdempotencyKeyReused) {
		t.Fatalf("CreateEvent(reused key) = %v", err)
	}
}

// A 429 is retried after exactly its Retry-After: the server's clock and
// the client's Sleep are one fake clock.
func TestRetryOn429FakeClock(t *testing.T) {
	clock := teststore.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	s := mustStart(t, 2, clock.Now) // 2 per minute: one every 30 s
	counter := &counting{}
	c := client.New(s.URL, testKey, &client.Options{HTTPClient: &http.Client{Transport: counter}, Sleep: clock.Sleep})
	ctx := context.Background()
	for range 2 {
		if _, err := c.Inbox(ctx, client.InboxQuery{}); err != nil {
			t.Fatal(err)
		}
	}
	if rl, _ := c.LastRateLimit(); rl.Limit != 2 || rl.Remaining != 0 {
		t.Errorf("LastRateLimit() = %+v, want limit 2, remaining 0", rl)
	}
	counter.n.Store(0)
	page, err := c.Inbox(ctx, client.InboxQuery{})
	if err != nil {
		t.Fatalf("third Inbox() = %v, want success after a retry", err)
	}
	if n := counter.n.Load(); n != 2 {
		t.Errorf("sent %d requests, want 2 (one 429, one retry)", n)
	}
	if sl := clock.Sleeps(); len(sl) != 1 || sl[0] != 30*time.Second {
		t.Errorf("slept %v, want exactly [30s] (the Retry-After)", sl)
	}
	if page.RateLimit.Limit != 2 {
		t.Errorf("page.RateLimit = %+v", page.RateLimit)
	}

	// Disabled retries return the 429 with its Retry-After.
	noRetry := client.New(s.URL, testKey, &client.Options{Retry: client.RetryPolicy{Disable: true}, Sleep: clock.Sleep})
	_, err = noRetry.Inbox(ctx, client.InboxQuery{})
	var e *client.APIError
	if !errors.As(err, &e) || e.StatusCode != 429 || e.Code != client.CodeRateLimitExceeded || e.RetryAfter != 30*time.Second || e.RateLimit.Limit != 2 {
		t.Fatalf("Inbox() without retries = %v, want 429 with Retry-After 30s", err)
	}

	// A Retry-After over MaxRetryAfter is returned, not waited for.
	short := client.New(s.URL, testKey, &client.Options{Retry: client.RetryPolicy{MaxRetryAfter: 5 * time.Second}, Sleep: clock.Sleep})
	before := len(clock.Sleeps())
	_, err = short.Inbox(ctx, client.InboxQuery{})
	if !client.IsCode(err, client.CodeRateLimitExceeded) || len(clock.Sleeps()) != before {
		t.Fatalf("Inbox() with MaxRetryAfter 5s = %v (slept %v)", err, clock.Sleeps()[before:])
	}
}

// The same against the real clock: limit 60/min refills one request a
// second; once the budget is spent, the client waits about a second.
func TestRetryOn429RealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("waits about a second")
	}
	s := mustStart(t, 60, nil)
	ctx := context.Background()
	drain := client.New(s.URL, testKey, &client.Options{Retry: client.RetryPolicy{Disable: true}})
	limited := false
	for range 200 {
		if _, err := drain.Inbox(ctx, client.InboxQuery{}); err != nil {
			if !client.IsCode(err, client.CodeRateLimitExceeded) {
				t.Fatal(err)
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("never rate limited")
	}
	counter := &counting{}
	c := client.New(s.URL, testKey, &client.Options{HTTPClient: &http.Client{Transport: counter}})
	start := time.Now()
	if _, err := c.Inbox(ctx, client.InboxQuery{}); err != nil {
		t.Fatalf("Inbox() = %v", err)
	}
	elapsed := time.Since(start)
	// The budget may have refilled between the drain and this call (the
	// refill is continuous); when it did not, exactly one retry after ~1 s.
	switch n := counter.n.Load(); n {
	case 1:
		t.Logf("budget refilled before the call; no retry needed")
	case 2:
		if elapsed < 900*time.Millisecond {
			t.Errorf("retried after %v, want about the 1 s Retry-After", elapsed)
		}
	default:
		t.Errorf("sent %d requests, want 2", n)
	}
}

// unavailable is a server that always answers 503 and counts requests.
func unavailable(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", "rid-503")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"code":"SERVICE_UNAVAILABLE","message":"the store is unavailable","details":{},"request_id":"rid-503"}}`+"\n")
	}))
	t.Cleanup(ts.Close)
	return ts, &n
}

func TestNoRetryForKeylessCreate(t *testing.T) {
	ts, _ := unavailable(t)
	counter := &counting{}
	var slept int
	c := client.New(ts.URL, testKey, &client.Options{HTTPClient: &http.Client{Transport: counter},
		Sleep: func(context.Context, time.Duration) error { slept++; return nil }})
	_, err := c.CreateEvent(context.Background(), client.CreateEventRequest{Source: "s", EventType: "t", Payload: map[string]int{"a": 1}})
	var e *client.APIError
	if !errors.As(err, &e) || e.StatusCode != 503 || e.Code != client.CodeUnavailable || e.RequestID != "rid-503" || e.Attempts != 1 {
		t.Fatalf("CreateEvent() = %v", err)
	}
	if n := counter.n.Load(); n != 1 || slept != 0 {
		t.Errorf("keyless create sent %d times (slept %d), want once", n, slept)
	}

	// With a key (header or metadata) it is retried.
	for _, req := range []client.CreateEventRequest{
		{Source: "s", EventType: "t", Payload: map[string]int{"a": 1}, IdempotencyKey: "k-1"},
		{Source: "s", EventType: "t", Payload: map[string]int{"a": 1}, Metadata: map[string]any{"idempotency_key": "k-2"}},
	} {
		counter.n.Store(0)
		c.CreateEvent(context.Background(), req)
		if n := counter.n.Load(); n != 4 {
			t.Errorf("create with key sent %d times, want 4", n)
		}
	}
}

func TestRetry503WithBackoff(t *testing.T) {
	ts, n := unavailable(t)
	var sleeps []time.Duration
	var ceilings []time.Duration
	c := client.New(ts.URL, testKey, &client.Options{
		Retry:  client.RetryPolicy{MaxRetries: 4, BaseBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
		Sleep:  func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil },
		Jitter: func(max time.Duration) time.Duration { ceilings = append(ceilings, max); return max / 2 },
	})
	_, err := c.GetEvent(context.Background(), "0193a5c2-7e4b-7c1d-9f2a-5b8e3d6c4a10")
	var e *client.APIError
	if !errors.As(err, &e) || e.StatusCode != 503 || e.Attempts != 5 {
		t.Fatalf("GetEvent() = %v", err)
	}
	if got := n.Load(); got != 5 {
		t.Errorf("attempts = %d, want MaxRetries+1 = 5", got)
	}
	want := []time.Duration{100, 200, 400, 500}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if fmt.Sprint(ceilings) != fmt.Sprint(want) {
		t.Errorf("backoff ceilings = %v, want %v", ceilings, want)
	}
	if len(sleeps) != 4 || sleeps[0] != 50*time.Millisecond {
		t.Errorf("sleeps = %v", sleeps)
	}

	// The default jitter stays within the ceiling, and the default policy
	// makes 4 attempts.
	n.Store(0)
	var total time.Duration
	d := client.New(ts.URL, testKey, &client.Options{Sleep: func(_ context.Context, d time.Duration) error {
		if d < 0 || d >= 10*time.Second {
			t.Errorf("sleep %v out of range", d)
		}
		total += d
		return nil
	}})
	d.DeleteEvent(context.Background(), "0193a5c2-7e4b-7c1d-9f2a-5b8e3d6c4a10")
	if got := n.Load(); got != 4 {
		t.Errorf("default policy: %d attempts, want 4", got)
	}
}

func TestRetryDisabled(t *testing.T) {
	ts, n := unavailable(t)
	c := client.New(ts.URL, testKey, &client.Options{Retry: client.RetryPolicy{Disable: true}, Sleep: noSleep})
	if _, err := c.Inbox(context.Background(), client.InboxQuery{}); !client.IsCode(err, client.CodeUnavailable) {
		t.Fatalf("Inbox() = %v", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
}

func TestRetryTransportError(t *testing.T) {
	ts, _ := unavailable(t)
	url := ts.URL
	ts.Close() // connection refused from now on
	counter := &counting{}
	c := client.New(url, testKey, &client.Options{HTTPClient: &http.Client{Transport: counter}, Sleep: noSleep})
	if _, err := c.AckEvent(context.Background(), "0193a5c2-7e4b-7c1d-9f2a-5b8e3d6c4a10"); err == nil {
		t.Fatal("AckEvent() to a closed server succeeded")
	}
	if got := counter.n.Load(); got != 4 {
		t.Errorf("ack attempts = %d, want 4", got)
	}
	counter.n.Store(0)
	c.CreateEvent(context.Background(), client.CreateEventRequest{Source: "s", EventType: "t", Payload: map[string]int{"a": 1}})
	if got := counter.n.Load(); got != 1 {
		t.Errorf("keyless create attempts = %d, want 1", got)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	ts, n := unavailable(t)
	ctx, cancel := context.WithCancel(context.Background())
	c := client.New(ts.URL, testKey, &client.Options{Sleep: func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}})
	_, err := c.Inbox(ctx, client.InboxQuery{})
	if !client.IsCode(err, client.CodeUnavailable) {
		t.Fatalf("Inbox() = %v, want the 503", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
}

// loseFirstAnswer sends the first request to the server but reports a
// transport error instead of its answer, as when a connection drops.
type loseFirstAnswer struct{ n atomic.Int64 }

func (l *loseFirstAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if l.n.Add(1) == 1 && err == nil {
		resp.Body.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return resp, err
}

// A retried ack whose first attempt did the work is answered 409: the
// documented meaning is "acknowledged", with Attempts telling it retried.
func TestAckRetryAfterLostAnswerIsConflict(t *testing.T) {
	s := mustStart(t, 0, nil)
	ctx := context.Background()
	created, err := client.New(s.URL, testKey, nil).CreateEvent(ctx, client.CreateEventRequest{Source: "s", EventType: "t", Payload: map[string]int{"a": 1}})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.URL, testKey, &client.Options{HTTPClient: &http.Client{Transport: &loseFirstAnswer{}}, Sleep: noSleep})
	_, err = c.AckEvent(ctx, created.EventID)
	var e *client.APIError
	if !errors.As(err, &e) || e.Code != client.CodeConflict || e.Attempts != 2 {
		t.Fatalf("AckEvent() = %v, want 409 CONFLICT after 2 attempts", err)
	}
	if ev, err := c.GetEvent(ctx, created.EventID); err != nil || ev.Status != "acknowledged" {
		t.Fatalf("GetEvent() = %+v, %v", ev, err)
	}

	// The same loss on a create with a key is replayed, not duplicated.
	c = client.New(s.URL, testKey, &client.Options{HTTPClient: &http.Client{Transport: &loseFirstAnswer{}}, Sleep: noSleep})
	r, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "lost", EventType: "t", Payload: map[string]int{"a": 1}, IdempotencyKey: "lost-1"})
	if err != nil || !r.Replayed || r.Attempts != 2 {
		t.Fatalf("CreateEvent() after a lost answer = %+v, %v; want a replay on attempt 2", r, err)
	}
	page, err := c.Inbox(ctx, client.InboxQuery{Source: "lost"})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("Inbox(source lost) = %+v, %v; want exactly one event", page, err)
	}
}
