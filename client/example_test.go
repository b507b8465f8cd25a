package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/triggersapi/triggers/client"
)

// exampleURL is a real server (SQLite in a temporary directory) started by
// TestMain for the examples; each example uses its own event source.
var exampleURL string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "triggers-client-example-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := startServer(dir, 0, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exampleURL = s.URL
	code := m.Run()
	s.close()
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
