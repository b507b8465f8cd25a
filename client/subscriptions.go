package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook subscriptions (docs/API.md §3.12, DESIGN §11): the server pushes
// the tenant's events to HTTPS endpoints, signed with each subscription's
// secret (verify them with package webhook).
//
// Which of these requests are retried: the reads, UpdateSubscription
// (setting the same fields twice is the same), DeleteSubscription (so a
// NOT_FOUND with APIError.Attempts > 1 may mean our own first attempt
// deleted it) and RetryDelivery. CreateSubscription, RotateSecret and
// Replay are not: a second create would make a second subscription, a
// second rotation would end the overlap of the secret the receiver knows,
// and a second replay would queue the range again.

// Statuses of a subscription (Subscription.Status).
const (
	SubscriptionActive   = "active"
	SubscriptionDisabled = "disabled"
)

// Statuses of a delivery (Delivery.Status, DeliveryQuery.Status).
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// SubscriptionFilter selects the events a subscription delivers; every
// field set must match (AND), as the inbox's filters of the same names.
// The zero value matches every event.
type SubscriptionFilter struct {
	Source    string            `json:"source,omitempty"`
	EventType string            `json:"event_type,omitempty"`
	Priority  string            `json:"priority,omitempty"` // PriorityLow, PriorityNormal or PriorityHigh
	Metadata  map[string]string `json:"metadata,omitempty"` // metadata fields that must equal these values
}

// CreateSubscriptionRequest is the body of POST /v1/subscriptions.
type CreateSubscriptionRequest struct {
	// URL is where deliveries are POSTed: https:// (http:// only on a
	// server that allows it), not a private or loopback address (unless
	// the server allows those). Required.
	URL         string             `json:"url"`
	Description string             `json:"description,omitempty"`
	Filter      SubscriptionFilter `json:"filter"`
	// AckOnDelivery makes a successful delivery acknowledge its event.
	AckOnDelivery bool `json:"ack_on_delivery,omitempty"`
}

// SubscriptionUpdate is the body of PATCH /v1/subscriptions/{id}: the
// fields set (non-nil) are changed, the others left as they are. Filter
// replaces the whole filter.
type SubscriptionUpdate struct {
	URL           *string             `json:"url,omitempty"`
	Description   *string             `json:"description,omitempty"`
	Filter        *SubscriptionFilter `json:"filter,omitempty"`
	AckOnDelivery *bool               `json:"ack_on_delivery,omitempty"`
	// Status is SubscriptionActive or SubscriptionDisabled.
	Status *string `json:"status,omitempty"`
}

// Subscription is a webhook subscription as the server answers it.
type Subscription struct {
	SubscriptionID string             `json:"subscription_id"`
	URL            string             `json:"url"`
	Description    string             `json:"description"`
	Filter         SubscriptionFilter `json:"filter"`
	AckOnDelivery  bool               `json:"ack_on_delivery"`
	Status         string             `json:"status"`
	// FailingSince is when the deliveries started failing without a
	// success since; zero while they succeed. The server disables a
	// subscription failing for 5 days.
	FailingSince time.Time `json:"failing_since"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Secret signs the deliveries ("whsec_..."); set only by
	// CreateSubscription and RotateSecret (see also SubscriptionSecret).
	Secret    string    `json:"secret"`
	RequestID string    `json:"request_id"`
	RateLimit RateLimit `json:"-"`
	Attempts  int       `json:"-"` // times the request was sent
}

// ListOptions selects a page of a list; zero fields are left out.
type ListOptions struct {
	Limit  int    // 1 to 100; 0 for the server's default (50)
	Cursor string // the NextCursor of the previous page
}

func (o ListOptions) values() url.Values {
	v := url.Values{}
	if o.Limit > 0 {
		v.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		v.Set("cursor", o.Cursor)
	}
	return v
}

// SubscriptionPage is one page of the tenant's subscriptions, oldest
// first, without their secrets.
type SubscriptionPage struct {
	Subscriptions []Subscription
	NextCursor    string // "" on the last page
	Limit         int
	RequestID     string
	RateLimit     RateLimit
}

// subscriptionPath returns the path of a subscription, with suffix.
func subscriptionPath(id, suffix string) string {
	return "/v1/subscriptions/" + url.PathEscape(id) + suffix
}

// subscriptionCall sends a request answered with a subscription.
func (c *Client) subscriptionCall(ctx context.Context, rq request) (*Subscription, error) {
	rq.auth = true
	resp, err := c.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	out := &Subscription{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	out.RateLimit, out.Attempts = resp.rateLimit, resp.attempts
	return out, nil
}

// CreateSubscription subscribes an endpoint to the tenant's events. The
// answer carries the secret that signs the deliveries. A tenant with its
// maximum of subscriptions gets a CONFLICT with ReasonSubscriptionLimit; a
// refused URL a VALIDATION_ERROR naming "url". It is not retried.
func (c *Client) CreateSubscription(ctx context.Context, req CreateSubscriptionRequest) (*Subscription, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	return c.subscriptionCall(ctx, request{method: http.MethodPost, path: "/v1/subscriptions", body: body})
}

// GetSubscription returns one subscription of the tenant, without its
// secret; an unknown or other tenant's one is NOT_FOUND.
func (c *Client) GetSubscription(ctx context.Context, id string) (*Subscription, error) {
	return c.subscriptionCall(ctx, request{method: http.MethodGet, path: subscriptionPath(id, ""), retryable: true})
}

// UpdateSubscription changes the fields of u that are set and returns the
// subscription as it is now, without its secret.
func (c *Client) UpdateSubscription(ctx context.Context, id string, u SubscriptionUpdate) (*Subscription, error) {
	body, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	return c.subscriptionCall(ctx, request{method: http.MethodPatch, path: subscriptionPath(id, ""), body: body, retryable: true})
}

// DeleteSubscriptionResponse is the 200 answer of a subscription delete.
type DeleteSubscriptionResponse struct {
	SubscriptionID string    `json:"subscription_id"`
	Message        string    `json:"message"`
	RequestID      string    `json:"request_id"`
	RateLimit      RateLimit `json:"-"`
	Attempts       int       `json:"-"`
}

// DeleteSubscription deletes a subscription: its pending deliveries are
// never attempted. An unknown one is NOT_FOUND (with Attempts > 1, maybe
// deleted by our own first attempt).
func (c *Client) DeleteSubscription(ctx context.Context, id string) (*DeleteSubscriptionResponse, error) {
	resp, err := c.do(ctx, request{method: http.MethodDelete, path: subscriptionPath(id, ""), retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	out := &DeleteSubscriptionResponse{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	out.RateLimit, out.Attempts = resp.rateLimit, resp.attempts
	return out, nil
}

// SubscriptionSecret returns the secret that signs a subscription's
// deliveries.
func (c *Client) SubscriptionSecret(ctx context.Context, id string) (string, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: subscriptionPath(id, "/secret"), retryable: true, auth: true})
	if err != nil {
		return "", err
	}
	var out struct {
		Secret string `json:"secret"`
	}
	if err := decode(resp, &out); err != nil {
		return "", err
	}
	return out.Secret, nil
}

// RotateSecret gives a subscription a new secret, returned with it. For 24
// hours the old secret signs deliveries beside the new one, so that the
// receiver can switch without refusing any. It is not retried.
func (c *Client) RotateSecret(ctx context.Context, id string) (*Subscription, error) {
	return c.subscriptionCall(ctx, request{method: http.MethodPost, path: subscriptionPath(id, "/rotate-secret")})
}

// ListSubscriptions returns one page of the tenant's subscriptions, oldest
// first.
func (c *Client) ListSubscriptions(ctx context.Context, opts ListOptions) (*SubscriptionPage, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/subscriptions", query: opts.values(), retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	var body struct {
		Subscriptions []Subscription `json:"subscriptions"`
		Pagination    pagination     `json:"pagination"`
		RequestID     string         `json:"request_id"`
	}
	if err := decode(resp, &body); err != nil {
		return nil, err
	}
	return &SubscriptionPage{Subscriptions: body.Subscriptions, NextCursor: body.Pagination.NextCursor,
		Limit: body.Pagination.Limit, RequestID: body.RequestID, RateLimit: resp.rateLimit}, nil
}

// pagination is the pagination member of a page.
type pagination struct {
	Limit      int    `json:"limit"`
	NextCursor string `json:"next_cursor"`
}

// SubscriptionsAll iterates over every subscription of the tenant, page
// after page (from opts.Cursor, opts.Limit per page). On an error it
// yields the zero Subscription and the error, and stops.
func (c *Client) SubscriptionsAll(ctx context.Context, opts ListOptions) iter.Seq2[Subscription, error] {
	return pages(func() ([]Subscription, string, error) {
		p, err := c.ListSubscriptions(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		return p.Subscriptions, p.NextCursor, nil
	}, &opts.Cursor)
}

// pages iterates over the items of the pages next returns, setting
// *cursor to each page's next cursor until there is none.
func pages[T any](next func() ([]T, string, error), cursor *string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			items, nextCursor, err := next()
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if nextCursor == "" {
				return
			}
			*cursor = nextCursor
		}
	}
}

// Delivery is the push of one event to one subscription, with its log.
type Delivery struct {
	EventID string `json:"event_id"`
	Status  string `json:"status"` // DeliveryPending, DeliverySucceeded or DeliveryFailed
	// NextAttemptAt is when the next attempt is due; zero unless pending.
	NextAttemptAt time.Time         `json:"next_attempt_at"`
	Attempts      []DeliveryAttempt `json:"attempts"` // oldest first, the last 50
	// SubscriptionID and RequestID are set by RetryDelivery.
	SubscriptionID string    `json:"subscription_id"`
	RequestID      string    `json:"request_id"`
	RateLimit      RateLimit `json:"-"`
}

// DeliveryAttempt is one attempt of a delivery.
type DeliveryAttempt struct {
	At         time.Time
	StatusCode int    // the receiver's status; 0 when no response came
	Error      string // why the attempt failed; "" on success
	Latency    time.Duration
}

// UnmarshalJSON reads an attempt of the wire form, whose latency is in
// milliseconds (latency_ms).
func (a *DeliveryAttempt) UnmarshalJSON(b []byte) error {
	var w struct {
		At         time.Time `json:"at"`
		StatusCode int       `json:"status_code"`
		Error      string    `json:"error"`
		LatencyMS  float64   `json:"latency_ms"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = DeliveryAttempt{At: w.At, StatusCode: w.StatusCode, Error: w.Error,
		Latency: time.Duration(w.LatencyMS * float64(time.Millisecond))}
	return nil
}

// DeliveryQuery selects a page of a subscription's deliveries; zero fields
// are left out.
type DeliveryQuery struct {
	Status  string // DeliveryPending, DeliverySucceeded or DeliveryFailed
	EventID string // only the delivery of this event
	Limit   int
	Cursor  string
}

func (q DeliveryQuery) values() url.Values {
	v := ListOptions{Limit: q.Limit, Cursor: q.Cursor}.values()
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.EventID != "" {
		v.Set("event_id", q.EventID)
	}
	return v
}

// DeliveryPage is one page of a subscription's deliveries, oldest event
// first.
type DeliveryPage struct {
	Deliveries []Delivery
	NextCursor string
	Limit      int
	RequestID  string
	RateLimit  RateLimit
}

// Deliveries returns one page of a subscription's delivery log.
func (c *Client) Deliveries(ctx context.Context, subscriptionID string, q DeliveryQuery) (*DeliveryPage, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: subscriptionPath(subscriptionID, "/deliveries"),
		query: q.values(), retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	var body struct {
		Deliveries []Delivery `json:"deliveries"`
		Pagination pagination `json:"pagination"`
		RequestID  string     `json:"request_id"`
	}
	if err := decode(resp, &body); err != nil {
		return nil, err
	}
	return &DeliveryPage{Deliveries: body.Deliveries, NextCursor: body.Pagination.NextCursor,
		Limit: body.Pagination.Limit, RequestID: body.RequestID, RateLimit: resp.rateLimit}, nil
}

// DeliveriesAll iterates over every delivery of a subscription matching q,
// page after page, as SubscriptionsAll does.
func (c *Client) DeliveriesAll(ctx context.Context, subscriptionID string, q DeliveryQuery) iter.Seq2[Delivery, error] {
	return pages(func() ([]Delivery, string, error) {
		p, err := c.Deliveries(ctx, subscriptionID, q)
		if err != nil {
			return nil, "", err
		}
		return p.Deliveries, p.NextCursor, nil
	}, &q.Cursor)
}

// RetryDelivery makes one delivery pending and due now, whatever its
// status, keeping its log, and returns it. An event the subscription has
// no delivery of is NOT_FOUND.
func (c *Client) RetryDelivery(ctx context.Context, subscriptionID, eventID string) (*Delivery, error) {
	resp, err := c.do(ctx, request{method: http.MethodPost,
		path: subscriptionPath(subscriptionID, "/deliveries/"+url.PathEscape(eventID)+"/retry"), retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	out := &Delivery{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	out.RateLimit = resp.rateLimit
	return out, nil
}

// ReplayResponse is the 202 answer of a replay.
type ReplayResponse struct {
	// Queued is how many deliveries the replay queued.
	Queued int `json:"queued"`
	// NextCreatedAfter is set when the range held more events than one
	// replay queues (10,000): replay again from it to queue the rest.
	NextCreatedAfter time.Time `json:"next_created_after"`
	RequestID        string    `json:"request_id"`
	RateLimit        RateLimit `json:"-"`
}

// Replay queues a new delivery to the subscription of every retained
// event created after createdAfter and before createdBefore (zero: now),
// both exclusive, that its filter matches, whatever became of the event
// since. When NextCreatedAfter is set, call again from it. It is not
// retried.
func (c *Client) Replay(ctx context.Context, subscriptionID string, createdAfter, createdBefore time.Time) (*ReplayResponse, error) {
	req := struct {
		After  string `json:"created_after"`
		Before string `json:"created_before,omitempty"`
	}{After: formatTime(createdAfter)}
	if !createdBefore.IsZero() {
		req.Before = formatTime(createdBefore)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: subscriptionPath(subscriptionID, "/replay"), body: body, auth: true})
	if err != nil {
		return nil, err
	}
	out := &ReplayResponse{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	out.RateLimit = resp.rateLimit
	return out, nil
}
