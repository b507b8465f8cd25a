package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Priorities of metadata.priority.
const (
	PriorityLow    = "low"
	PriorityNormal = "normal"
	PriorityHigh   = "high"
)

// CreateEventRequest is the body of POST /v1/events.
type CreateEventRequest struct {
	Source    string // required
	EventType string // required
	// Payload is the event's data: a json.RawMessage, []byte of JSON, or any
	// value encoding/json marshals to a non-empty object.
	Payload any
	// Metadata is optional: a map[string]any, json.RawMessage, or any value
	// marshaling to a JSON object.
	Metadata any
	// Priority, when set, is sent as metadata.priority (overriding one in
	// Metadata): PriorityLow, PriorityNormal or PriorityHigh.
	Priority string
	// IdempotencyKey, when set, is sent as the Idempotency-Key header and
	// makes the create safe to retry (DESIGN §4 / API.md §4).
	IdempotencyKey string
}

// CreateEventResponse is the 201 answer of a create.
type CreateEventResponse struct {
	EventID   string    `json:"event_id"`
	CreatedAt time.Time `json:"created_at"`
	Status    string    `json:"status"`
	Message   string    `json:"message"`
	RequestID string    `json:"request_id"`
	// Replayed is true when the server answered from an earlier create with
	// the same idempotency key (Idempotent-Replayed: true): no new event.
	Replayed  bool      `json:"-"`
	RateLimit RateLimit `json:"-"`
	Attempts  int       `json:"-"` // times the request was sent
}

// Statuses of an event (Event.Status). A pending event may be leased
// (LeaseExpiresAt set); a dead one used up its attempts (API.md §3.10).
const (
	StatusPending      = "pending"
	StatusAcknowledged = "acknowledged"
	StatusDead         = "dead"
)

// Event is a stored event, as GET /v1/events/{id}, the inbox and a receive
// return it.
type Event struct {
	EventID   string          `json:"event_id"`
	CreatedAt time.Time       `json:"created_at"`
	Source    string          `json:"source"`
	EventType string          `json:"event_type"`
	Payload   json.RawMessage `json:"payload"`
	// Status is StatusPending, StatusAcknowledged or StatusDead.
	Status   string          `json:"status"`
	Metadata json.RawMessage `json:"metadata"`
	// AcknowledgedAt is zero unless the event is acknowledged.
	AcknowledgedAt time.Time `json:"acknowledged_at"`
	// Attempts is how many times the event was leased by a receive (a
	// received event's count includes its current lease); 0 for an event
	// never received, and again after a redrive.
	Attempts int `json:"attempts"`
	// LeaseExpiresAt is when the event's current lease ends; zero when no
	// unexpired lease is held.
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	// DeadAt is when the event was dead-lettered; zero unless dead.
	DeadAt time.Time `json:"dead_at"`
	// RequestID is set by GetEvent only (inbox events carry none).
	RequestID string    `json:"request_id,omitempty"`
	RateLimit RateLimit `json:"-"`
}

// Priority returns metadata.priority ("normal" if absent or unreadable).
func (e *Event) Priority() string {
	var m struct {
		Priority string `json:"priority"`
	}
	if json.Unmarshal(e.Metadata, &m) != nil || m.Priority == "" {
		return PriorityNormal
	}
	return m.Priority
}

// AckResponse is the 200 answer of an ack.
type AckResponse struct {
	EventID        string    `json:"event_id"`
	Status         string    `json:"status"`
	AcknowledgedAt time.Time `json:"acknowledged_at"`
	Message        string    `json:"message"`
	RequestID      string    `json:"request_id"`
	RateLimit      RateLimit `json:"-"`
	Attempts       int       `json:"-"`
}

// DeleteResponse is the 200 answer of a delete (also for an unknown event).
type DeleteResponse struct {
	EventID   string    `json:"event_id"`
	Message   string    `json:"message"`
	RequestID string    `json:"request_id"`
	RateLimit RateLimit `json:"-"`
}

// InboxQuery selects an inbox page; zero fields are left out. All filters
// combine with AND. A cursor is bound to the filters of the request that
// returned it: page on with the same filters (InboxAll does).
type InboxQuery struct {
	// Status lists StatusPending events (the default, also when "") or
	// StatusDead ones (the dead letters: redrive them with Redrive).
	Status    string
	Limit     int    // 1 to 100; server default 50
	Cursor    string // NextCursor of the previous page
	Source    string // exact match
	EventType string // exact match
	// Priority is PriorityLow, PriorityNormal or PriorityHigh; an event
	// created without one is "normal".
	Priority string
	// CreatedAfter and CreatedBefore are exclusive bounds on created_at,
	// sent as RFC 3339 in UTC (with the time's full precision);
	// CreatedAfter must be earlier than CreatedBefore when both are set.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Metadata holds exact matches on metadata fields, each sent as the
	// query parameter metadata.{key}={value}: a key of [A-Za-z0-9_.-]{1,64},
	// the value a string, or the JSON text of a number or boolean ("42",
	// "true"). Several are combined with AND.
	Metadata map[string]string
}

// values encodes q as query parameters.
func (q InboxQuery) values() url.Values {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if q.Source != "" {
		v.Set("source", q.Source)
	}
	if q.EventType != "" {
		v.Set("event_type", q.EventType)
	}
	if q.Priority != "" {
		v.Set("priority", q.Priority)
	}
	if !q.CreatedAfter.IsZero() {
		v.Set("created_after", formatTime(q.CreatedAfter))
	}
	if !q.CreatedBefore.IsZero() {
		v.Set("created_before", formatTime(q.CreatedBefore))
	}
	for k, val := range q.Metadata {
		v.Set("metadata."+k, val)
	}
	return v
}

// formatTime formats t for a query parameter: RFC 3339 in UTC, with as
// many fraction digits as t needs.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// InboxPage is one page of pending (or dead) events, oldest first.
type InboxPage struct {
	Events []Event
	// NextCursor is "" when no more events match.
	NextCursor string
	Limit      int
	RequestID  string
	RateLimit  RateLimit
}

// HealthResponse is the answer of GET /v1/health.
type HealthResponse struct {
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
	Version   string    `json:"version"`
	RequestID string    `json:"request_id"`
}

// CreateEvent stores one event. It is retried (429, 503, transport errors)
// only when it carries an idempotency key, in IdempotencyKey or in
// Metadata's idempotency_key; a retried create answered from the first
// attempt has Replayed set.
func (c *Client) CreateEvent(ctx context.Context, req CreateEventRequest) (*CreateEventResponse, error) {
	body, hasKey, err := encodeCreate(req)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if req.IdempotencyKey != "" {
		h.Set("Idempotency-Key", req.IdempotencyKey)
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/events", body: body, header: h,
		retryable: hasKey, auth: true})
	if err != nil {
		return nil, err
	}
	out := &CreateEventResponse{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	out.Replayed = resp.header.Get("Idempotent-Replayed") == "true"
	out.RateLimit, out.Attempts = resp.rateLimit, resp.attempts
	return out, nil
}

// encodeCreate builds the create body, and reports whether the request
// carries an idempotency key.
func encodeCreate(req CreateEventRequest) ([]byte, bool, error) {
	payload, err := toRaw(req.Payload)
	if err != nil {
		return nil, false, fmt.Errorf("triggers: encoding payload: %w", err)
	}
	hasKey := req.IdempotencyKey != ""
	var metadata json.RawMessage
	if req.Metadata != nil || req.Priority != "" {
		raw, err := toRaw(req.Metadata)
		if err != nil {
			return nil, false, fmt.Errorf("triggers: encoding metadata: %w", err)
		}
		var m map[string]json.RawMessage
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, false, fmt.Errorf("triggers: metadata must be a JSON object: %w", err)
			}
		}
		if k, ok := m["idempotency_key"]; ok && string(k) != `""` && string(k) != "null" {
			hasKey = true
		}
		if req.Priority == "" {
			metadata = raw // as given, member order kept
		} else {
			if m == nil {
				m = map[string]json.RawMessage{}
			}
			p, _ := json.Marshal(req.Priority)
			m["priority"] = p
			if metadata, err = json.Marshal(m); err != nil {
				return nil, false, err
			}
		}
	}
	body, err := json.Marshal(struct {
		Source    string          `json:"source"`
		EventType string          `json:"event_type"`
		Payload   json.RawMessage `json:"payload"`
		Metadata  json.RawMessage `json:"metadata,omitempty"`
	}{req.Source, req.EventType, payload, metadata})
	return body, hasKey, err
}

func toRaw(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return json.RawMessage("null"), nil
	case json.RawMessage:
		if !json.Valid(v) {
			return nil, errors.New("invalid JSON")
		}
		return v, nil
	case []byte:
		if !json.Valid(v) {
			return nil, errors.New("invalid JSON")
		}
		return v, nil
	default:
		return json.Marshal(v)
	}
}

// GetEvent returns one event of the key's tenant (pending, acknowledged or dead).
// An unknown, deleted, expired or other tenant's event is NOT_FOUND.
func (c *Client) GetEvent(ctx context.Context, eventID string) (*Event, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/events/" + url.PathEscape(eventID),
		retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	out := &Event{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	out.RateLimit = resp.rateLimit
	return out, nil
}

// AckEvent acknowledges an event. It is retried like a GET; so a 409
// CONFLICT with Attempts > 1 (see APIError.Attempts) may mean that our own
// first attempt acknowledged the event and only its answer was lost. Either
// way, a 409 means the event is acknowledged.
//
// AckEvent acknowledges a pending event whether or not it is leased, and a
// dead one too; a consumer holding a lease should use AckLease, which
// acknowledges only while the lease is still its own.
func (c *Client) AckEvent(ctx context.Context, eventID string) (*AckResponse, error) {
	return c.ack(ctx, eventID, nil)
}

// ack sends an ack with body (nil: none).
func (c *Client) ack(ctx context.Context, eventID string, body []byte) (*AckResponse, error) {
	resp, err := c.do(ctx, request{method: http.MethodPost, path: eventPath(eventID, "/ack"), body: body,
		retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	out := &AckResponse{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	out.RateLimit, out.Attempts = resp.rateLimit, resp.attempts
	return out, nil
}

// DeleteEvent deletes an event; deleting an unknown event succeeds too.
func (c *Client) DeleteEvent(ctx context.Context, eventID string) (*DeleteResponse, error) {
	resp, err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/events/" + url.PathEscape(eventID),
		retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	out := &DeleteResponse{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	out.RateLimit = resp.rateLimit
	return out, nil
}

// Inbox returns one page of the tenant's pending events (with q.Status
// StatusDead, its dead events), leased or not.
func (c *Client) Inbox(ctx context.Context, q InboxQuery) (*InboxPage, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/inbox", query: q.values(), retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	var body struct {
		Events     []Event `json:"events"`
		Pagination struct {
			Limit      int    `json:"limit"`
			NextCursor string `json:"next_cursor"`
		} `json:"pagination"`
		RequestID string `json:"request_id"`
	}
	if err := decode(resp, &body); err != nil {
		return nil, err
	}
	return &InboxPage{Events: body.Events, NextCursor: body.Pagination.NextCursor, Limit: body.Pagination.Limit,
		RequestID: body.RequestID, RateLimit: resp.rateLimit}, nil
}

// InboxAll iterates over every pending (or, with q.Status, dead) event matching q, page after page
// (starting at q.Cursor, q.Limit per page). On an error it yields the zero
// Event and the error, and stops. Each page is one request, retried and
// rate limited like Inbox. Stopping the loop early sends no more requests.
func (c *Client) InboxAll(ctx context.Context, q InboxQuery) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			page, err := c.Inbox(ctx, q)
			if err != nil {
				yield(Event{}, err)
				return
			}
			for _, e := range page.Events {
				if !yield(e, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			q.Cursor = page.NextCursor
		}
	}
}

// Health calls GET /v1/health (no API key needed). It is retried like any GET.
func (c *Client) Health(ctx context.Context) (*HealthResponse, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/health", retryable: true})
	if err != nil {
		return nil, err
	}
	out := &HealthResponse{}
	if err := decode(resp, out); err != nil {
		return nil, err
	}
	return out, nil
}
