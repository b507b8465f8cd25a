package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/triggersapi/triggers/client"
)

// TestClient_Subscriptions goes through a subscription's life on a real
// server on the store under test: create (with its secret), get, list page
// by page, update, the secret and its rotation, the limit, a refused url,
// delete.
func TestClient_Subscriptions(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ctx := context.Background()

	created, err := c.CreateSubscription(ctx, client.CreateSubscriptionRequest{URL: "https://example.com/hooks", Description: "orders",
		Filter: client.SubscriptionFilter{Source: "shop", Priority: client.PriorityHigh, Metadata: map[string]string{"region": "eu"}}, AckOnDelivery: true})
	if err != nil {
		t.Fatalf("CreateSubscription() = %v", err)
	}
	if created.SubscriptionID == "" || created.URL != "https://example.com/hooks" || created.Description != "orders" ||
		created.Filter.Source != "shop" || created.Filter.Priority != "high" || created.Filter.Metadata["region"] != "eu" ||
		!created.AckOnDelivery || created.Status != client.SubscriptionActive || !strings.HasPrefix(created.Secret, "whsec_") ||
		created.CreatedAt.IsZero() || !created.FailingSince.IsZero() || created.RequestID == "" || created.Attempts != 1 {
		t.Fatalf("CreateSubscription() = %+v", created)
	}
	id := created.SubscriptionID

	got, err := c.GetSubscription(ctx, id)
	if err != nil || got.Secret != "" || got.URL != created.URL || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("GetSubscription() = %+v, %v; want it without its secret", got, err)
	}
	if secret, err := c.SubscriptionSecret(ctx, id); err != nil || secret != created.Secret {
		t.Fatalf("SubscriptionSecret() = %q, %v; want %q", secret, err, created.Secret)
	}

	url2, disabled, empty := "https://example.com/v2", client.SubscriptionDisabled, ""
	upd, err := c.UpdateSubscription(ctx, id, client.SubscriptionUpdate{URL: &url2, Status: &disabled, Description: &empty,
		Filter: &client.SubscriptionFilter{EventType: "order.created"}})
	if err != nil || upd.URL != url2 || upd.Status != disabled || upd.Description != "" || upd.Filter.Source != "" ||
		upd.Filter.EventType != "order.created" || !upd.AckOnDelivery || upd.Secret != "" {
		t.Fatalf("UpdateSubscription() = %+v, %v", upd, err)
	}

	rotated, err := c.RotateSecret(ctx, id)
	if err != nil || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == created.Secret {
		t.Fatalf("RotateSecret() = %+v, %v; want a new secret", rotated, err)
	}
	if secret, _ := c.SubscriptionSecret(ctx, id); secret != rotated.Secret {
		t.Errorf("SubscriptionSecret() after rotation = %q, want %q", secret, rotated.Secret)
	}

	want := []string{id}
	for i := range 4 {
		sub, err := c.CreateSubscription(ctx, client.CreateSubscriptionRequest{URL: fmt.Sprintf("https://example.com/%d", i)})
		if err != nil {
			t.Fatalf("CreateSubscription(%d) = %v", i, err)
		}
		want = append(want, sub.SubscriptionID)
	}
	page, err := c.ListSubscriptions(ctx, client.ListOptions{Limit: 2})
	if err != nil || len(page.Subscriptions) != 2 || page.NextCursor == "" || page.Limit != 2 || page.Subscriptions[0].Secret != "" {
		t.Fatalf("ListSubscriptions(limit 2) = %+v, %v", page, err)
	}
	var all []string
	for sub, err := range c.SubscriptionsAll(ctx, client.ListOptions{Limit: 2}) {
		if err != nil {
			t.Fatalf("SubscriptionsAll: %v", err)
		}
		all = append(all, sub.SubscriptionID)
	}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("SubscriptionsAll = %v, want %v", all, want)
	}

	_, err = c.CreateSubscription(ctx, client.CreateSubscriptionRequest{URL: "ftp://example.com/x"})
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeValidation || !strings.Contains(apiErr.Message, "url") {
		t.Errorf("CreateSubscription(ftp://) = %v, want a VALIDATION_ERROR naming url", err)
	}

	if del, err := c.DeleteSubscription(ctx, id); err != nil || del.SubscriptionID != id {
		t.Fatalf("DeleteSubscription() = %+v, %v", del, err)
	}
	if _, err := c.GetSubscription(ctx, id); !client.IsCode(err, client.CodeNotFound) {
		t.Errorf("GetSubscription() after delete = %v, want NOT_FOUND", err)
	}
	if _, err := c.DeleteSubscription(ctx, id); !client.IsCode(err, client.CodeNotFound) {
		t.Errorf("second DeleteSubscription() = %v, want NOT_FOUND", err)
	}
}

// TestClient_SubscriptionLimit: the 21st subscription of a tenant is a
// CONFLICT with ReasonSubscriptionLimit.
func TestClient_SubscriptionLimit(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	for i := range 20 {
		if _, err := c.CreateSubscription(context.Background(), client.CreateSubscriptionRequest{URL: fmt.Sprintf("https://example.com/%d", i)}); err != nil {
			t.Fatalf("CreateSubscription(%d) = %v", i, err)
		}
	}
	_, err := c.CreateSubscription(context.Background(), client.CreateSubscriptionRequest{URL: "https://example.com/21"})
	wantConflict(t, "CreateSubscription(21st)", err, client.ReasonSubscriptionLimit)
}

// TestClient_DeliveriesReplayRetry: a replay queues a delivery of each
// matching event of the range; the log lists them, filtered and page by
// page; a retry makes one pending again.
func TestClient_DeliveriesReplayRetry(t *testing.T) {
	s := mustStart(t, 0, nil)
	c := client.New(s.URL, testKey, nil)
	ctx := context.Background()
	start := time.Now().Add(-time.Second)
	jobs := mustCreate(t, c, "jobs", 3)
	mustCreate(t, c, "mail", 1)
	sub, err := c.CreateSubscription(ctx, client.CreateSubscriptionRequest{URL: "https://example.com/jobs",
		Filter: client.SubscriptionFilter{Source: "jobs"}})
	if err != nil {
		t.Fatal(err)
	}

	rep, err := c.Replay(ctx, sub.SubscriptionID, start, time.Time{})
	if err != nil || rep.Queued != 3 || !rep.NextCreatedAfter.IsZero() || rep.RequestID == "" {
		t.Fatalf("Replay() = %+v, %v; want 3 queued", rep, err)
	}
	if rep, err := c.Replay(ctx, sub.SubscriptionID, start, start.Add(time.Millisecond)); err != nil || rep.Queued != 0 {
		t.Errorf("Replay(empty range) = %+v, %v; want 0 queued", rep, err)
	}

	var got []string
	for d, err := range c.DeliveriesAll(ctx, sub.SubscriptionID, client.DeliveryQuery{Limit: 2}) {
		if err != nil {
			t.Fatalf("DeliveriesAll: %v", err)
		}
		if d.Status != client.DeliveryPending || d.NextAttemptAt.IsZero() {
			t.Errorf("delivery %+v, want pending with its next attempt", d)
		}
		got = append(got, d.EventID)
	}
	if fmt.Sprint(got) != fmt.Sprint(jobs) {
		t.Errorf("DeliveriesAll = %v, want %v", got, jobs)
	}
	page, err := c.Deliveries(ctx, sub.SubscriptionID, client.DeliveryQuery{EventID: jobs[1], Status: client.DeliveryPending})
	if err != nil || len(page.Deliveries) != 1 || page.Deliveries[0].EventID != jobs[1] {
		t.Fatalf("Deliveries(event_id) = %+v, %v", page, err)
	}
	if page, err := c.Deliveries(ctx, sub.SubscriptionID, client.DeliveryQuery{Status: client.DeliveryFailed}); err != nil || len(page.Deliveries) != 0 {
		t.Errorf("Deliveries(failed) = %+v, %v; want none", page, err)
	}

	d, err := c.RetryDelivery(ctx, sub.SubscriptionID, jobs[0])
	if err != nil || d.EventID != jobs[0] || d.Status != client.DeliveryPending || d.SubscriptionID != sub.SubscriptionID {
		t.Fatalf("RetryDelivery() = %+v, %v", d, err)
	}
	if _, err := c.RetryDelivery(ctx, sub.SubscriptionID, "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"); !client.IsCode(err, client.CodeNotFound) {
		t.Errorf("RetryDelivery(unknown event) = %v, want NOT_FOUND", err)
	}
	if _, err := c.Deliveries(ctx, "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", client.DeliveryQuery{}); !client.IsCode(err, client.CodeNotFound) {
		t.Errorf("Deliveries(unknown subscription) = %v, want NOT_FOUND", err)
	}
}
