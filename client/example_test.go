package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/client"
)

// exampleURL is a real server (SQLite in a temporary directory) started by
// TestMain for the examples; each example uses its own event source.
// limitedURL is another one, where testKey may send 60 requests a minute.
var exampleURL, limitedURL string

// officeKey is a key of the example server that may be used only from
// 203.0.113.0/24.
const officeKey = "example-office-key-0001"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "triggers-client-example-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, sub := range []string{"/main", "/limited"} {
		if err := os.Mkdir(dir+sub, 0o700); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	s, err := startServer(dir+"/main", 0, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exampleURL = s.URL
	if _, _, err := s.Svc.CreateKey(context.Background(), triggers.KeySpec{Tenant: "client-test", Name: "office", Raw: officeKey,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	limited, err := startServer(dir+"/limited", 60, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	limitedURL = limited.URL
	code := m.Run()
	s.close()
	limited.close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func ExampleClient_CreateEvent() {
	ctx := context.Background()
	c := client.New(exampleURL, testKey, nil) // e.g. "http://localhost:8080"

	req := client.CreateEventRequest{
		Source:    "example-shop",
		EventType: "order.created",
		Payload:   map[string]any{"order_id": "A-1001", "total": 42.5},
		Priority:  client.PriorityHigh,
		// With a key the create is safe to retry, and the client retries it.
		IdempotencyKey: "order-A-1001-created",
	}
	first, err := c.CreateEvent(ctx, req)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(first.Status, first.Replayed)

	// The same request again: the server replays the first answer.
	again, err := c.CreateEvent(ctx, req)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(again.Replayed, again.EventID == first.EventID)

	// Errors carry the API's code, status, details and request ID.
	_, err = c.CreateEvent(ctx, client.CreateEventRequest{Source: "example-shop", EventType: "", Payload: map[string]int{"n": 1}})
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, apiErr.FieldErrors()["event_type"])
	}
	// Output:
	// pending false
	// true true
	// 400 VALIDATION_ERROR must not be blank
}

func ExampleClient_InboxAll() {
	ctx := context.Background()
	c := client.New(exampleURL, testKey, nil)
	for i := 1; i <= 5; i++ {
		_, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "example-inbox", EventType: "ticket.opened",
			Payload: map[string]int{"ticket": i}})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	// Two events per request: three pages, fetched as the loop goes.
	for e, err := range c.InboxAll(ctx, client.InboxQuery{Source: "example-inbox", Limit: 2}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(e.EventType, string(e.Payload), e.Status)
		if _, err := c.AckEvent(ctx, e.EventID); err != nil {
			fmt.Println("error:", err)
			return
		}
	}
	// Output:
	// ticket.opened {"ticket":1} pending
	// ticket.opened {"ticket":2} pending
	// ticket.opened {"ticket":3} pending
	// ticket.opened {"ticket":4} pending
	// ticket.opened {"ticket":5} pending
}

func ExampleClient_InboxAll_filters() {
	ctx := context.Background()
	c := client.New(exampleURL, testKey, nil)
	since := time.Now()
	for _, e := range []client.CreateEventRequest{
		{Source: "example-filters", EventType: "order.created", Payload: map[string]string{"order": "F-1"}, Priority: client.PriorityHigh,
			Metadata: map[string]any{"region": "eu", "customer_id": 42}},
		{Source: "example-filters", EventType: "order.created", Payload: map[string]string{"order": "F-2"}, Priority: client.PriorityLow,
			Metadata: map[string]any{"region": "eu", "customer_id": 7}},
		{Source: "example-filters", EventType: "order.paid", Payload: map[string]string{"order": "F-1"}, Priority: client.PriorityHigh,
			Metadata: map[string]any{"region": "us", "customer_id": 42}},
		{Source: "example-filters", EventType: "order.created", Payload: map[string]string{"order": "F-3"}}, // normal, no metadata
	} {
		if _, err := c.CreateEvent(ctx, e); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	// High-priority events of one source created in a time range (exclusive
	// bounds), one per request: the filters apply before the limit, and
	// InboxAll sends them again with every cursor.
	q := client.InboxQuery{
		Source:        "example-filters",
		Priority:      client.PriorityHigh,
		CreatedAfter:  since,
		CreatedBefore: time.Now().Add(time.Minute),
		Limit:         1,
	}
	for e, err := range c.InboxAll(ctx, q) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(e.EventType, string(e.Payload), e.Priority())
	}

	// Metadata fields match exactly (a number as its JSON text); several
	// conditions, and the other filters, combine with AND.
	q = client.InboxQuery{Source: "example-filters", Metadata: map[string]string{"region": "eu", "customer_id": "42"}}
	for e, err := range c.InboxAll(ctx, q) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(e.EventType, string(e.Payload), string(e.Metadata))
	}

	// An invalid filter is a VALIDATION_ERROR naming the parameter.
	for _, err := range c.InboxAll(ctx, client.InboxQuery{CreatedAfter: time.Now(), CreatedBefore: since}) {
		var apiErr *client.APIError
		if errors.As(err, &apiErr) {
			fmt.Println(apiErr.StatusCode, apiErr.FieldErrors()["created_after"])
		}
	}
	// Output:
	// order.created {"order":"F-1"} high
	// order.paid {"order":"F-1"} high
	// order.created {"order":"F-1"} {"customer_id":42,"priority":"high","region":"eu"}
	// 400 must be earlier than created_before
}

func ExampleClient_BulkCreate() {
	ctx := context.Background()
	c := client.New(exampleURL, testKey, nil)

	items := []client.CreateEventRequest{
		{Source: "example-bulk", EventType: "order.created", Payload: map[string]any{"order_id": "C-1"}, IdempotencyKey: "example-bulk-C-1"},
		{Source: "example-bulk", EventType: "order.created", Payload: map[string]any{}, IdempotencyKey: "example-bulk-C-2"}, // invalid
		{Source: "example-bulk", EventType: "order.paid", Payload: map[string]any{"order_id": "C-1", "total": 42.5},
			Priority: client.PriorityHigh, IdempotencyKey: "example-bulk-C-1-paid"},
	}
	res, err := c.BulkCreate(ctx, items)
	if err != nil { // the whole request failed: nothing was created
		fmt.Println("error:", err)
		return
	}
	// One outcome per item, Items[i] for items[i].
	var ids []string
	for _, it := range res.Items {
		if it.Err != nil {
			fmt.Printf("item %d failed: %s %s\n", it.Index, it.Err.Code, it.Err.Message)
			continue
		}
		fmt.Printf("item %d: %s replayed=%v\n", it.Index, it.Status, it.Replayed)
		ids = append(ids, it.EventID)
	}

	// Every item has an idempotency key, so resending is safe (and the
	// client retries the request by itself on 429, 503 and lost answers):
	// the stored items come back as replays, not as new events.
	again, err := c.BulkCreate(ctx, items)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("again:", again.Items[0].Replayed, again.Items[0].EventID == ids[0], again.Succeeded(), len(again.Failed()))

	// Acknowledge both, the first one twice: the repeat is a CONFLICT.
	acked, err := c.BulkAck(ctx, []string{ids[0], ids[1], ids[0]})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, it := range acked.Items {
		if it.Err != nil {
			fmt.Printf("ack %d: %s\n", it.Index, it.Err.Code)
		} else {
			fmt.Printf("ack %d: %s\n", it.Index, it.Status)
		}
	}
	// Output:
	// item 0: pending replayed=false
	// item 1 failed: VALIDATION_ERROR items[1].payload: must be a non-empty JSON object
	// item 2: pending replayed=false
	// again: true true 2 1
	// ack 0: acknowledged
	// ack 1: acknowledged
	// ack 2: CONFLICT
}

func ExampleClient_LastRateLimit() {
	ctx := context.Background()
	// limitedURL is a server where the key may send 60 requests per minute.
	c := client.New(limitedURL, testKey, nil)

	// Every response of an authenticated request reports the key's budget.
	page, err := c.Inbox(ctx, client.InboxQuery{})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("limit", page.RateLimit.Limit, "remaining", page.RateLimit.Remaining)
	rl, ok := c.LastRateLimit() // the same, from the client's last response
	fmt.Println(ok, rl.Remaining, rl.Reset.After(time.Now()))

	// Spend the budget with retries turned off: the 429 comes back to us,
	// with the Retry-After the server sent.
	noRetry := client.New(limitedURL, testKey, &client.Options{Retry: client.RetryPolicy{Disable: true}})
	for {
		_, err := noRetry.Inbox(ctx, client.InboxQuery{})
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.Code == client.CodeRateLimitExceeded {
			fmt.Println(apiErr.StatusCode, apiErr.Code, "retry after", apiErr.RetryAfter, "remaining", apiErr.RateLimit.Remaining)
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	// With the default policy the client waits the Retry-After (here 1 s;
	// at most RetryPolicy.MaxRetryAfter, else it returns the 429) and sends
	// the request again. A create is retried only with an idempotency key.
	res, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "example-limits", EventType: "order.created",
		Payload: map[string]string{"order_id": "R-1"}, IdempotencyKey: "example-limits-R-1"})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(res.Status, res.Attempts <= 2)
	// Output:
	// limit 60 remaining 59
	// true 59 true
	// 429 RATE_LIMIT_EXCEEDED retry after 1s remaining 0
	// pending true
}

func ExampleAPIError() {
	ctx := context.Background()
	c := client.New(exampleURL, testKey, nil)

	// errors.As gives the status, the API's code and message, and the
	// request ID to quote in a support request.
	_, err := c.GetEvent(ctx, "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6")
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, apiErr.Message, apiErr.RequestID != "")
	}

	// It sees through wrapping; IsCode is the short form.
	err = fmt.Errorf("loading order: %w", err)
	fmt.Println(client.IsCode(err, client.CodeNotFound), errors.As(err, &apiErr))

	// A VALIDATION_ERROR names the fields (here query parameters).
	_, err = c.Inbox(ctx, client.InboxQuery{Priority: "urgent", Limit: 500})
	if errors.As(err, &apiErr) && apiErr.Code == client.CodeValidation {
		fields := apiErr.FieldErrors()
		fmt.Println(fields["priority"])
		fmt.Println(fields["limit"])
	}

	// Decide by code.
	_, err = client.New(exampleURL, "not-a-valid-key-000", nil).Inbox(ctx, client.InboxQuery{})
	switch {
	case client.IsCode(err, client.CodeUnauthorized), client.IsCode(err, client.CodeForbidden):
		fmt.Println("check the API key and the IP allowlist")
	case client.IsCode(err, client.CodeRateLimitExceeded):
		fmt.Println("slow down")
	case err != nil:
		fmt.Println("error:", err)
	}
	// Output:
	// 404 NOT_FOUND event not found true
	// true true
	// must be one of "low", "normal", "high"
	// must be an integer from 1 to 100
	// check the API key and the IP allowlist
}

func ExampleAPIError_forbidden() {
	ctx := context.Background()
	// A key that may be used only from 203.0.113.0/24, used from 127.0.0.1.
	c := client.New(exampleURL, officeKey, nil)
	_, err := c.Inbox(ctx, client.InboxQuery{})
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.Code == client.CodeForbidden {
		// details.client_ip is the address the server saw: behind a proxy,
		// if it is the proxy's (or "unknown"), the server's
		// --trusted-proxies does not match the proxies in front of it.
		fmt.Println(apiErr.StatusCode, apiErr.Details["client_ip"], apiErr.Attempts)
		fmt.Println(apiErr.Message)
	}
	// Output:
	// 403 127.0.0.1 1
	// this API key may not be used from your IP address (127.0.0.1)
}

func ExampleConsumer() {
	// Stopped by ctx: in a real worker, signal.NotifyContext(ctx,
	// os.Interrupt, syscall.SIGTERM), so that a deploy stops it gracefully.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	c := client.New(exampleURL, testKey, nil) // e.g. "http://localhost:8080"
	for _, id := range []string{"B-1", "B-2", "B-3"} {
		if _, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "example-worker", EventType: "order.created",
			Payload: map[string]string{"order_id": id}}); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	var mu sync.Mutex
	var shipped []string
	consumer := client.NewConsumer(c, client.ConsumerOptions{
		Concurrency: 4, // handlers running at once
		Receive:     client.ReceiveOptions{Source: "example-worker", LeaseDuration: time.Minute},
		Handler: func(ctx context.Context, ev *client.ReceivedEvent) error {
			var order struct {
				ID string `json:"order_id"`
			}
			if err := json.Unmarshal(ev.Payload, &order); err != nil {
				return err // nacked: delivered again after a backoff, dead after 10 attempts
			}
			mu.Lock()
			defer mu.Unlock()
			shipped = append(shipped, order.ID)
			if len(shipped) == 3 {
				stop() // this example stops once the three are done
			}
			return nil // acknowledged under the lease
		},
	})
	if err := consumer.Run(ctx); err != nil { // returns once stopped and settled
		fmt.Println("error:", err)
		return
	}
	slices.Sort(shipped)
	fmt.Println("shipped", shipped)
	page, err := c.Inbox(context.Background(), client.InboxQuery{Source: "example-worker"})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("still pending:", len(page.Events))
	// Output:
	// shipped [B-1 B-2 B-3]
	// still pending: 0
}

func ExampleClient_Receive() {
	ctx := context.Background()
	c := client.New(exampleURL, testKey, nil)
	if _, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "example-receive", EventType: "invoice.due",
		Payload: map[string]string{"invoice": "I-7"}}); err != nil {
		fmt.Println("error:", err)
		return
	}

	// Lease up to 10 events for a minute, waiting up to 20 s for one.
	opts := client.ReceiveOptions{Source: "example-receive", MaxEvents: 10, LeaseDuration: time.Minute, Wait: 20 * time.Second}
	evs, err := c.Receive(ctx, opts)
	if err != nil || len(evs) == 0 {
		fmt.Println("error:", err)
		return
	}
	ev := evs[0]
	fmt.Println(ev.EventType, string(ev.Payload), "attempt", ev.Attempts)

	// The work failed: give the event back, to be received again at once.
	if _, err := c.Nack(ctx, ev.EventID, ev.Lease.ID, 0); err != nil {
		fmt.Println("error:", err)
		return
	}
	// The nack ended that lease: nothing can be settled under it any more.
	_, err = c.AckLease(ctx, ev.EventID, ev.Lease.ID)
	fmt.Println(client.IsLeaseLost(err), client.ConflictReason(err))

	evs, err = c.Receive(ctx, opts)
	if err != nil || len(evs) == 0 {
		fmt.Println("error:", err)
		return
	}
	ev = evs[0]
	// Long work: extend the lease (the Consumer does this by itself).
	if _, err := c.ExtendLease(ctx, ev.EventID, ev.Lease.ID, 2*time.Minute); err != nil {
		fmt.Println("error:", err)
		return
	}
	ack, err := c.AckLease(ctx, ev.EventID, ev.Lease.ID)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("attempt", ev.Attempts, ack.Status)
	// Output:
	// invoice.due {"invoice":"I-7"} attempt 1
	// true lease_lost
	// attempt 2 acknowledged
}

func ExampleClient_BulkRedrive() {
	ctx := context.Background()
	c := client.New(exampleURL, testKey, nil)
	if _, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "example-dead", EventType: "report.requested",
		Payload: map[string]string{"report": "R-1"}}); err != nil {
		fmt.Println("error:", err)
		return
	}
	// One attempt allowed: the first failure makes the event dead at the
	// next receive.
	opts := client.ReceiveOptions{Source: "example-dead", MaxAttempts: 1}
	evs, err := c.Receive(ctx, opts)
	if err != nil || len(evs) != 1 {
		fmt.Println("error:", err)
		return
	}
	if _, err := c.Nack(ctx, evs[0].EventID, evs[0].Lease.ID, 0); err != nil {
		fmt.Println("error:", err)
		return
	}
	if evs, err = c.Receive(ctx, opts); err != nil || len(evs) != 0 {
		fmt.Println("error:", err, len(evs))
		return
	}

	// The dead letters, listed like the inbox; then redriven in bulk.
	var dead []string
	for e, err := range c.InboxAll(ctx, client.InboxQuery{Status: client.StatusDead, Source: "example-dead"}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(e.Status, e.EventType, "attempts", e.Attempts, "dead_at set:", !e.DeadAt.IsZero())
		dead = append(dead, e.EventID)
	}
	res, err := c.BulkRedrive(ctx, dead)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, it := range res.Items {
		fmt.Println("redriven:", it.Err == nil, it.Status, "attempts", it.Attempts)
	}
	// Output:
	// dead report.requested attempts 1 dead_at set: true
	// redriven: true pending attempts 0
}

func ExampleClient_Stats() {
	ctx := context.Background()
	c := client.New(exampleURL, testKey, nil)
	var first string
	for i := range 3 {
		r, err := c.CreateEvent(ctx, client.CreateEventRequest{Source: "example-stats", EventType: "report.ready",
			Payload: map[string]int{"report": i}})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		if i == 0 {
			first = r.EventID
		}
	}
	if _, err := c.AckEvent(ctx, first); err != nil {
		fmt.Println("error:", err)
		return
	}

	st, err := c.Stats(ctx, client.StatsOptions{Source: "example-stats"})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("pending:", st.Pending, "leased:", st.Leased, "dead:", st.Dead)
	fmt.Println("by source:", st.BySource)
	fmt.Println("minutes:", len(st.PerMinute), "oldest known:", !st.OldestPendingCreatedAt.IsZero())
	// Output:
	// pending: 2 leased: 0 dead: 0
	// by source: [{example-stats 2}]
	// minutes: 60 oldest known: true
}
