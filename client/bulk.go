package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// BulkLimit is the most items one bulk request may carry.
const BulkLimit = 25

// BulkItemError is why one item of a bulk request failed: the code, message
// and details that item would have had as a single request (docs/ERRORS.md).
// The request as a whole succeeded (200); other items may have succeeded.
type BulkItemError struct {
	Code    string         `json:"code"`    // e.g. CodeValidation, CodeNotFound, CodeConflict
	Message string         `json:"message"` // for people
	Details map[string]any `json:"details"` // never nil
	// Reason is details.reason of a CONFLICT (a Reason constant), else "".
	Reason string `json:"-"`
}

func (e *BulkItemError) Error() string {
	return "triggers: bulk item " + e.Code + ": " + e.Message
}

// FieldErrors returns details.fields of a VALIDATION_ERROR as field →
// message (fields are named items[i].… or event_ids[i]).
func (e *BulkItemError) FieldErrors() map[string]string {
	return (&APIError{Details: e.Details}).FieldErrors()
}

// BulkCreateItem is the outcome of one item of a bulk create.
type BulkCreateItem struct {
	Index int            // the item's position in the request
	Err   *BulkItemError // nil when the item succeeded
	// Set when the item succeeded:
	EventID   string
	CreatedAt time.Time
	Status    string // "pending"
	Message   string
	// Replayed is true when the item's idempotency key had created the
	// event before (within 24 h): nothing new was stored.
	Replayed bool
}

// BulkAckItem is the outcome of one item of a bulk acknowledge.
type BulkAckItem struct {
	Index int
	// EventID is the event (in lower case) on success, and the id as
	// sent on failure.
	EventID string
	Err     *BulkItemError // nil when acknowledged; CONFLICT: it already was
	// Set when the item succeeded:
	Status         string // "acknowledged"
	AcknowledgedAt time.Time
}

// BulkDeleteItem is the outcome of one item of a bulk delete.
type BulkDeleteItem struct {
	Index int
	// EventID is the event (in lower case) on success, and the id as
	// sent on failure.
	EventID string
	Err     *BulkItemError // nil when deleted; NOT_FOUND: nothing was there
}

// BulkNackItem is the outcome of one item of a bulk nack.
type BulkNackItem struct {
	Index int
	// EventID is the event (in lower case) on success, and the id as
	// sent on failure.
	EventID string
	Err     *BulkItemError // nil when the lease ended; CONFLICT: see Nack
	// Set when the item succeeded:
	Status      string    // StatusPending
	Attempts    int       // the event's attempts (unchanged by the nack)
	AvailableAt time.Time // when the event can be received again
}

// BulkRedriveItem is the outcome of one item of a bulk redrive.
type BulkRedriveItem struct {
	Index int
	// EventID is the event (in lower case) on success, and the id as
	// sent on failure.
	EventID string
	Err     *BulkItemError // nil when redriven; CONFLICT (ReasonNotDead): it was not dead
	// Set when the item succeeded:
	Status   string // StatusPending
	Attempts int    // 0
}

// BulkResponse is the 200 answer of a bulk request: one outcome per item of
// the request, Items[i] being item i's (whether it succeeded or failed).
type BulkResponse[T any] struct {
	Items     []T
	RequestID string
	RateLimit RateLimit
	// Attempts is how many times the request was sent (1 + retries). After
	// a retry, an item may report the work of an earlier attempt whose
	// answer was lost: see BulkCreate, BulkAck and BulkDelete.
	Attempts int
}

// Failed returns the items that failed, in request order.
func (r *BulkResponse[T]) Failed() []T {
	var out []T
	for _, it := range r.Items {
		if bulkErr(it) != nil {
			out = append(out, it)
		}
	}
	return out
}

// Succeeded returns how many items succeeded.
func (r *BulkResponse[T]) Succeeded() int {
	return len(r.Items) - len(r.Failed())
}

// bulkErr returns the error of a bulk item (one of the Bulk…Item types).
func bulkErr(it any) *BulkItemError {
	if e, ok := it.(interface{ itemErr() *BulkItemError }); ok {
		return e.itemErr()
	}
	return nil
}

func (it BulkCreateItem) itemErr() *BulkItemError  { return it.Err }
func (it BulkAckItem) itemErr() *BulkItemError     { return it.Err }
func (it BulkDeleteItem) itemErr() *BulkItemError  { return it.Err }
func (it BulkNackItem) itemErr() *BulkItemError    { return it.Err }
func (it BulkRedriveItem) itemErr() *BulkItemError { return it.Err }

// BulkCreate creates up to BulkLimit events in one request (POST
// /v1/events/bulk). Each item is validated and created on its own: the
// answer holds one BulkCreateItem per item, with Err set for the items that
// failed (VALIDATION_ERROR, IDEMPOTENCY_KEY_REUSED, PAYLOAD_TOO_LARGE, or
// SERVICE_UNAVAILABLE when the store failed for that item only: resend just
// those). An item's IdempotencyKey is sent as its metadata.idempotency_key
// (bulk create reads no header); one that differs from a
// metadata.idempotency_key the item also carries is an error before
// anything is sent.
//
// An error is returned only when the request as a whole failed, with
// nothing done: 0 or more than BulkLimit items (VALIDATION_ERROR, checked
// by the server), 413, 415, 401, 403, 429, 503.
//
// Retries follow CreateEvent's rule: the request is retried (429, 503,
// transport errors) only when every item carries an idempotency key, since
// a retry after a lost answer would otherwise store the items again. With
// keys, the items the lost attempt created come back with Replayed set.
func (c *Client) BulkCreate(ctx context.Context, items []CreateEventRequest) (*BulkResponse[BulkCreateItem], error) {
	raw := make([]json.RawMessage, len(items))
	retryable := len(items) > 0
	for i, it := range items {
		body, hasKey, err := encodeBulkItem(it)
		if err != nil {
			return nil, fmt.Errorf("triggers: items[%d]: %w", i, err)
		}
		raw[i], retryable = body, retryable && hasKey
	}
	body, err := json.Marshal(struct {
		Items []json.RawMessage `json:"items"`
	}{raw})
	if err != nil {
		return nil, err
	}
	var wire bulkAnswer[bulkCreated]
	resp, err := c.bulk(ctx, http.MethodPost, "/v1/events/bulk", body, retryable, &wire)
	if err != nil {
		return nil, err
	}
	return collect(len(items), resp, &wire, func(s bulkCreated) BulkCreateItem {
		return BulkCreateItem{Index: s.Index, EventID: s.EventID, CreatedAt: s.CreatedAt, Status: s.Status,
			Message: s.Message, Replayed: s.IdempotentReplay}
	}, func(f bulkFailure) BulkCreateItem {
		return BulkCreateItem{Index: f.Index, Err: f.err()}
	})
}

// BulkAck acknowledges up to BulkLimit events in one request (POST
// /v1/events/bulk/ack). Items apply as if in order; an item fails with
// NOT_FOUND (unknown, deleted, expired or another tenant's event), CONFLICT
// (already acknowledged, also when the id came earlier in the same request)
// or VALIDATION_ERROR (not a UUID). An error is returned only when the
// request as a whole failed, with nothing done (as for BulkCreate).
//
// It is retried like AckEvent (429, 503, transport errors): acknowledging
// is idempotent in effect, so a retry never does harm, but when the first
// attempt was applied and only its answer was lost, the retry answers
// CONFLICT for the events that attempt acknowledged. So, as for AckEvent,
// an item's CONFLICT means "acknowledged", by us or by someone else; with
// Attempts > 1 it may well have been our own first attempt.
func (c *Client) BulkAck(ctx context.Context, eventIDs []string) (*BulkResponse[BulkAckItem], error) {
	body, err := json.Marshal(struct {
		EventIDs []string `json:"event_ids"`
	}{nonNil(eventIDs)})
	if err != nil {
		return nil, err
	}
	return c.bulkAck(ctx, body, eventIDs)
}

// AckItem is one item of BulkAckItems: an event, and the lease a receive
// returned for it ("" for an unconditional ack, as BulkAck's).
type AckItem struct {
	EventID string
	LeaseID string
}

// BulkAckItems acknowledges up to BulkLimit events in one request, each
// under its lease as AckLease does (POST /v1/events/bulk/ack in its items
// form): an item whose lease is no longer the event's current one fails
// with CONFLICT (IsLeaseLost) and changes nothing. An item without LeaseID
// is unconditional, as in BulkAck. Otherwise it answers, and is retried,
// exactly as BulkAck (a retry after a lost answer reports
// ReasonAlreadyAcknowledged for what the first attempt acknowledged).
func (c *Client) BulkAckItems(ctx context.Context, items []AckItem) (*BulkResponse[BulkAckItem], error) {
	type item struct {
		EventID string `json:"event_id"`
		LeaseID string `json:"lease_id,omitempty"`
	}
	wire := make([]item, len(items))
	ids := make([]string, len(items))
	for i, it := range items {
		wire[i], ids[i] = item(it), it.EventID
	}
	body, err := json.Marshal(struct {
		Items []item `json:"items"`
	}{wire})
	if err != nil {
		return nil, err
	}
	return c.bulkAck(ctx, body, ids)
}

// bulkAck sends a bulk ack body about the events ids.
func (c *Client) bulkAck(ctx context.Context, body []byte, ids []string) (*BulkResponse[BulkAckItem], error) {
	var wire bulkAnswer[bulkAcked]
	resp, err := c.bulk(ctx, http.MethodPost, "/v1/events/bulk/ack", body, true, &wire)
	if err != nil {
		return nil, err
	}
	return collect(len(ids), resp, &wire, func(s bulkAcked) BulkAckItem {
		return BulkAckItem{Index: s.Index, EventID: s.EventID, Status: s.Status, AcknowledgedAt: s.AcknowledgedAt}
	}, func(f bulkFailure) BulkAckItem {
		return BulkAckItem{Index: f.Index, EventID: ids[f.Index], Err: f.err()}
	})
}

// NackItem is one item of BulkNack: an event, the lease a receive returned
// for it, and how long until it may be received again (whole seconds,
// rounded up; 0 to 12 h).
type NackItem struct {
	EventID string
	LeaseID string
	Delay   time.Duration
}

// BulkNack gives up to BulkLimit leased events back in one request (POST
// /v1/events/bulk/nack), each item as Nack would: it fails alone with
// CONFLICT (IsLeaseLost, ReasonAlreadyAcknowledged), NOT_FOUND or
// VALIDATION_ERROR. Items apply as if in order: an event repeated in the
// request fails the second time with ReasonLeaseLost. An error is returned
// only when the request as a whole failed, with nothing done.
//
// It is retried like Nack: after a lost answer the retry reports
// ReasonLeaseLost for the leases the first attempt ended.
func (c *Client) BulkNack(ctx context.Context, items []NackItem) (*BulkResponse[BulkNackItem], error) {
	type item struct {
		EventID      string `json:"event_id"`
		LeaseID      string `json:"lease_id"`
		DelaySeconds int    `json:"delay_seconds"`
	}
	wire := make([]item, len(items))
	for i, it := range items {
		wire[i] = item{it.EventID, it.LeaseID, wholeSeconds(it.Delay)}
	}
	body, err := json.Marshal(struct {
		Items []item `json:"items"`
	}{wire})
	if err != nil {
		return nil, err
	}
	var answer bulkAnswer[bulkNacked]
	resp, err := c.bulk(ctx, http.MethodPost, "/v1/events/bulk/nack", body, true, &answer)
	if err != nil {
		return nil, err
	}
	return collect(len(items), resp, &answer, func(s bulkNacked) BulkNackItem {
		return BulkNackItem{Index: s.Index, EventID: s.EventID, Status: s.Status, Attempts: s.Attempts, AvailableAt: s.AvailableAt}
	}, func(f bulkFailure) BulkNackItem {
		return BulkNackItem{Index: f.Index, EventID: items[f.Index].EventID, Err: f.err()}
	})
}

// BulkRedrive redrives up to BulkLimit dead events in one request (POST
// /v1/events/bulk/redrive), each as Redrive would: an item fails alone with
// CONFLICT (ReasonNotDead, also for an id repeated in the request),
// NOT_FOUND or VALIDATION_ERROR. An error is returned only when the request
// as a whole failed, with nothing done.
//
// It is retried like Redrive: after a lost answer the retry reports
// ReasonNotDead for the events the first attempt redrove.
func (c *Client) BulkRedrive(ctx context.Context, eventIDs []string) (*BulkResponse[BulkRedriveItem], error) {
	body, err := json.Marshal(struct {
		EventIDs []string `json:"event_ids"`
	}{nonNil(eventIDs)})
	if err != nil {
		return nil, err
	}
	var wire bulkAnswer[bulkRedriven]
	resp, err := c.bulk(ctx, http.MethodPost, "/v1/events/bulk/redrive", body, true, &wire)
	if err != nil {
		return nil, err
	}
	return collect(len(eventIDs), resp, &wire, func(s bulkRedriven) BulkRedriveItem {
		return BulkRedriveItem{Index: s.Index, EventID: s.EventID, Status: s.Status, Attempts: s.Attempts}
	}, func(f bulkFailure) BulkRedriveItem {
		return BulkRedriveItem{Index: f.Index, EventID: eventIDs[f.Index], Err: f.err()}
	})
}

// BulkDelete deletes up to BulkLimit events in one request (DELETE
// /v1/events/bulk; the server's POST /v1/events/bulk/delete is the same).
// Unlike DeleteEvent, an id that deleted nothing (unknown, already deleted,
// expired, another tenant's, or repeated in the request) fails with
// NOT_FOUND; one that is not a UUID with VALIDATION_ERROR. An error is
// returned only when the request as a whole failed, with nothing done.
//
// It is retried like DeleteEvent (429, 503, transport errors): deleting is
// idempotent in effect, but when the first attempt was applied and only its
// answer was lost, the retry answers NOT_FOUND for the events that attempt
// deleted. If you only want the events gone, treat NOT_FOUND as success.
func (c *Client) BulkDelete(ctx context.Context, eventIDs []string) (*BulkResponse[BulkDeleteItem], error) {
	body, err := json.Marshal(struct {
		EventIDs []string `json:"event_ids"`
	}{nonNil(eventIDs)})
	if err != nil {
		return nil, err
	}
	var wire bulkAnswer[bulkDeleted]
	resp, err := c.bulk(ctx, http.MethodDelete, "/v1/events/bulk", body, true, &wire)
	if err != nil {
		return nil, err
	}
	return collect(len(eventIDs), resp, &wire, func(s bulkDeleted) BulkDeleteItem {
		return BulkDeleteItem{Index: s.Index, EventID: s.EventID}
	}, func(f bulkFailure) BulkDeleteItem {
		return BulkDeleteItem{Index: f.Index, EventID: eventIDs[f.Index], Err: f.err()}
	})
}

// bulkAnswer is the 200 answer of a bulk request; S is one successful item.
type bulkAnswer[S interface{ index() int }] struct {
	Successful []S           `json:"successful"`
	Failed     []bulkFailure `json:"failed"`
	RequestID  string        `json:"request_id"`
}

type bulkCreated struct {
	Index            int       `json:"index"`
	EventID          string    `json:"event_id"`
	CreatedAt        time.Time `json:"created_at"`
	Status           string    `json:"status"`
	Message          string    `json:"message"`
	IdempotentReplay bool      `json:"idempotent_replay"`
}

type bulkAcked struct {
	Index          int       `json:"index"`
	EventID        string    `json:"event_id"`
	Status         string    `json:"status"`
	AcknowledgedAt time.Time `json:"acknowledged_at"`
}

type bulkDeleted struct {
	Index   int    `json:"index"`
	EventID string `json:"event_id"`
}

type bulkNacked struct {
	Index       int       `json:"index"`
	EventID     string    `json:"event_id"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	AvailableAt time.Time `json:"available_at"`
}

type bulkRedriven struct {
	Index    int    `json:"index"`
	EventID  string `json:"event_id"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
}

func (s bulkCreated) index() int  { return s.Index }
func (s bulkAcked) index() int    { return s.Index }
func (s bulkDeleted) index() int  { return s.Index }
func (s bulkNacked) index() int   { return s.Index }
func (s bulkRedriven) index() int { return s.Index }

// collect places the answer's items at their indexes, one result per item
// sent, and checks that the answer reported each of the n items once.
func collect[S interface{ index() int }, T any](n int, resp *response, wire *bulkAnswer[S],
	ok func(S) T, failed func(bulkFailure) T) (*BulkResponse[T], error) {
	out := &BulkResponse[T]{Items: make([]T, n), RequestID: wire.RequestID, RateLimit: resp.rateLimit, Attempts: resp.attempts}
	seen := make([]bool, n)
	for _, s := range wire.Successful {
		if err := mark(seen, s.index(), resp); err != nil {
			return nil, err
		}
		out.Items[s.index()] = ok(s)
	}
	for _, f := range wire.Failed {
		if err := mark(seen, f.Index, resp); err != nil {
			return nil, err
		}
		out.Items[f.Index] = failed(f)
	}
	return out, complete(seen, resp)
}

type bulkFailure struct {
	Index int           `json:"index"`
	Error BulkItemError `json:"error"`
}

func (f bulkFailure) err() *BulkItemError {
	e := f.Error
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Reason = reason(e.Details)
	return &e
}

// bulk sends one bulk request and decodes its 200 answer into wire.
func (c *Client) bulk(ctx context.Context, method, path string, body []byte, retryable bool, wire any) (*response, error) {
	resp, err := c.do(ctx, request{method: method, path: path, body: body, retryable: retryable, auth: true})
	if err != nil {
		return nil, err
	}
	if err := decode(resp, wire); err != nil {
		return nil, err
	}
	return resp, nil
}

// mark records that the answer reported index i.
func mark(seen []bool, i int, r *response) error {
	if i < 0 || i >= len(seen) || seen[i] {
		return fmt.Errorf("triggers: bulk answer (request_id %s) reports item %d twice or out of range", r.requestID, i)
	}
	seen[i] = true
	return nil
}

// complete checks that the answer reported every item.
func complete(seen []bool, r *response) error {
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("triggers: bulk answer (request_id %s) lacks item %d", r.requestID, i)
		}
	}
	return nil
}

func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// encodeBulkItem encodes one bulk create item: the single create's body,
// with IdempotencyKey moved into metadata.idempotency_key. It reports
// whether the item carries an idempotency key.
func encodeBulkItem(req CreateEventRequest) (json.RawMessage, bool, error) {
	key := req.IdempotencyKey
	req.IdempotencyKey = ""
	body, hasKey, err := encodeCreate(req)
	if err != nil || key == "" {
		return body, hasKey, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, false, err
	}
	var meta map[string]json.RawMessage
	if raw, ok := m["metadata"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, false, err
		}
	}
	if meta == nil {
		meta = map[string]json.RawMessage{}
	}
	k, _ := json.Marshal(key)
	if old, ok := meta["idempotency_key"]; ok && string(old) != "null" && string(old) != string(k) {
		return nil, false, fmt.Errorf("IdempotencyKey %q differs from metadata.idempotency_key %s", key, old)
	}
	meta["idempotency_key"] = k
	if m["metadata"], err = json.Marshal(meta); err != nil {
		return nil, false, err
	}
	body, err = json.Marshal(m)
	return body, true, err
}
