package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Lease is a receive's exclusive hold on an event: until ExpiresAt no other
// receive returns the event. Its ID is what AckLease, Nack and ExtendLease
// name; it is shown only to the receive that granted it.
type Lease struct {
	ID        string    `json:"lease_id"` // 32 lowercase hex digits
	ExpiresAt time.Time `json:"expires_at"`
}

// ReceivedEvent is an event leased by Receive: the event (its Attempts
// already counting this lease) and the lease.
type ReceivedEvent struct {
	Event
	Lease Lease `json:"lease"`
}

// ReceiveOptions is the body of POST /v1/inbox/receive. Zero fields are
// left out, so that the server's defaults apply. Durations are sent in
// whole seconds, rounded up (a lease or a wait is never shorter than
// asked). The server checks the ranges: a value out of range is a
// VALIDATION_ERROR naming the field.
type ReceiveOptions struct {
	// MaxEvents is the most events to lease, 1 to 25; server default 10.
	MaxEvents int
	// LeaseDuration is how long each lease lasts, 1 s to 12 h; server
	// default 30 s. Extend it with ExtendLease while the work goes on.
	LeaseDuration time.Duration
	// Wait is how long the server may wait for a matching event when none
	// is available (long polling), up to 20 s; 0 answers at once. It is
	// shortened to end a second before ctx's deadline, if ctx has one, and
	// the request's HTTP timeout is lengthened by it (see Options).
	Wait time.Duration
	// MaxAttempts is how many leases an event may be given, 1 to 1000;
	// server default 10. An available event whose attempts already reached
	// it is not leased but dead-lettered (status dead; see Redrive).
	MaxAttempts int

	// The filters, as InboxQuery's (combined with AND).
	Source        string
	EventType     string
	Priority      string
	CreatedAfter  time.Time
	CreatedBefore time.Time
	Metadata      map[string]string
}

// receiveBody is the wire form of ReceiveOptions.
type receiveBody struct {
	MaxEvents     int               `json:"max_events,omitempty"`
	LeaseSeconds  int               `json:"lease_seconds,omitempty"`
	WaitSeconds   int               `json:"wait_seconds,omitempty"`
	MaxAttempts   int               `json:"max_attempts,omitempty"`
	Source        string            `json:"source,omitempty"`
	EventType     string            `json:"event_type,omitempty"`
	Priority      string            `json:"priority,omitempty"`
	CreatedAfter  string            `json:"created_after,omitempty"`
	CreatedBefore string            `json:"created_before,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

// wholeSeconds converts d to seconds for the wire, rounding away from zero:
// a lease, wait or delay is never shorter than asked, and a negative
// duration stays negative (the server refuses it).
func wholeSeconds(d time.Duration) int {
	s := d / time.Second
	if d%time.Second != 0 {
		if d > 0 {
			s++
		} else {
			s--
		}
	}
	return int(s)
}

// Receive leases up to opts.MaxEvents available events matching the
// filters, oldest first (POST /v1/inbox/receive). Each comes with its lease:
// until it expires no other receive returns the event. Settle each one with
// AckLease (done), Nack (to be retried, possibly after a delay), or let the
// lease expire (it is delivered again); extend a lease with ExtendLease
// while the work goes on. An empty slice means nothing was available
// (within opts.Wait).
//
// It is retried (429, 503, transport errors) like a GET. A receive whose
// answer was lost leased events that no one sees: they are delivered again
// when those leases expire, their attempts counted.
//
// Consumer runs handlers over Receive with all of this done for them.
func (c *Client) Receive(ctx context.Context, opts ReceiveOptions) ([]ReceivedEvent, error) {
	wait := opts.Wait
	if dl, ok := ctx.Deadline(); ok && wait > 0 {
		// Let the server answer before the caller gives up on the request.
		wait = min(wait, (time.Until(dl) - time.Second).Truncate(time.Second))
		wait = max(wait, 0)
	}
	body := receiveBody{MaxEvents: opts.MaxEvents, LeaseSeconds: wholeSeconds(opts.LeaseDuration),
		WaitSeconds: wholeSeconds(wait), MaxAttempts: opts.MaxAttempts, Source: opts.Source, EventType: opts.EventType,
		Priority: opts.Priority, Metadata: opts.Metadata}
	if !opts.CreatedAfter.IsZero() {
		body.CreatedAfter = formatTime(opts.CreatedAfter)
	}
	if !opts.CreatedBefore.IsZero() {
		body.CreatedBefore = formatTime(opts.CreatedBefore)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/inbox/receive", body: raw,
		retryable: true, auth: true, wait: time.Duration(body.WaitSeconds) * time.Second})
	if err != nil {
		return nil, err
	}
	var out struct {
		Events []ReceivedEvent `json:"events"`
	}
	if err := decode(resp, &out); err != nil {
		return nil, err
	}
	for i := range out.Events {
		out.Events[i].RateLimit = resp.rateLimit
	}
	return out.Events, nil
}

// AckLease acknowledges an event under the lease a receive returned for it
// (POST /v1/events/{id}/ack with {"lease_id"}): it succeeds only while that
// lease is the event's current one, also if it has just expired but no one
// else has leased the event since. Otherwise it changes nothing and fails
// with CONFLICT: IsLeaseLost (the event was or will be delivered again, so
// the work may be done twice) or ReasonAlreadyAcknowledged.
//
// It is retried like AckEvent: a retry whose first attempt acknowledged the
// event is answered CONFLICT with ReasonAlreadyAcknowledged and Attempts > 1.
func (c *Client) AckLease(ctx context.Context, eventID, leaseID string) (*AckResponse, error) {
	body, err := json.Marshal(struct {
		LeaseID string `json:"lease_id"`
	}{leaseID})
	if err != nil {
		return nil, err
	}
	return c.ack(ctx, eventID, body)
}

// NackResponse is the 200 answer of a nack.
type NackResponse struct {
	EventID string `json:"event_id"`
	Status  string `json:"status"` // StatusPending
	// Attempts is the event's attempts: the nack does not change them, the
	// next receive counts one more.
	Attempts int `json:"attempts"`
	// AvailableAt is when a receive may lease the event again: the nack's
	// time plus its delay.
	AvailableAt time.Time `json:"available_at"`
	Message     string    `json:"message"`
	RequestID   string    `json:"request_id"`
	RateLimit   RateLimit `json:"-"`
}

// Nack gives a leased event back (POST /v1/events/{id}/nack): the lease
// ends and the event can be received again once delay (whole seconds,
// rounded up; 0 to 12 h) has passed. A lease that is no longer held fails
// with CONFLICT (IsLeaseLost); an acknowledged event with
// ReasonAlreadyAcknowledged.
//
// It is retried like AckEvent: a retry whose first attempt ended the lease
// is answered CONFLICT with ReasonLeaseLost and Attempts > 1.
func (c *Client) Nack(ctx context.Context, eventID, leaseID string, delay time.Duration) (*NackResponse, error) {
	body, err := json.Marshal(struct {
		LeaseID      string `json:"lease_id"`
		DelaySeconds int    `json:"delay_seconds"`
	}{leaseID, wholeSeconds(delay)})
	if err != nil {
		return nil, err
	}
	out := &NackResponse{}
	resp, err := c.post(ctx, eventPath(eventID, "/nack"), body, out)
	if err != nil {
		return nil, err
	}
	out.RateLimit = resp.rateLimit
	return out, nil
}

// LeaseResponse is the 200 answer of a lease extension.
type LeaseResponse struct {
	EventID   string    `json:"event_id"`
	Lease     Lease     `json:"lease"` // the same lease id, its new expiry
	RequestID string    `json:"request_id"`
	RateLimit RateLimit `json:"-"`
}

// ExtendLease makes the lease end d from now (whole seconds, rounded up; 1 s
// to 12 h; d ≤ 0 means the server's default, 30 s), a heartbeat for work
// that outlasts the lease (POST /v1/events/{id}/lease). It fails with
// CONFLICT when the lease is no longer held (IsLeaseLost: stop the work, the
// event will be delivered again) or the event is acknowledged
// (ReasonAlreadyAcknowledged). It is retried like a GET: extending twice is
// the same as once.
func (c *Client) ExtendLease(ctx context.Context, eventID, leaseID string, d time.Duration) (*LeaseResponse, error) {
	body, err := json.Marshal(struct {
		LeaseID      string `json:"lease_id"`
		LeaseSeconds int    `json:"lease_seconds,omitempty"`
	}{leaseID, max(wholeSeconds(d), 0)})
	if err != nil {
		return nil, err
	}
	out := &LeaseResponse{}
	resp, err := c.post(ctx, eventPath(eventID, "/lease"), body, out)
	if err != nil {
		return nil, err
	}
	out.RateLimit = resp.rateLimit
	return out, nil
}

// RedriveResponse is the 200 answer of a redrive.
type RedriveResponse struct {
	EventID   string    `json:"event_id"`
	Status    string    `json:"status"`   // StatusPending
	Attempts  int       `json:"attempts"` // 0
	Message   string    `json:"message"`
	RequestID string    `json:"request_id"`
	RateLimit RateLimit `json:"-"`
}

// Redrive makes a dead event pending and available again, with its
// attempts back to 0 (POST /v1/events/{id}/redrive). An event that is not
// dead fails with CONFLICT, ReasonNotDead; list the dead ones with
// InboxQuery{Status: StatusDead}.
//
// It is retried like AckEvent: a retry whose first attempt redrove the
// event is answered CONFLICT with ReasonNotDead and Attempts > 1.
func (c *Client) Redrive(ctx context.Context, eventID string) (*RedriveResponse, error) {
	out := &RedriveResponse{}
	resp, err := c.post(ctx, eventPath(eventID, "/redrive"), nil, out)
	if err != nil {
		return nil, err
	}
	out.RateLimit = resp.rateLimit
	return out, nil
}

// post sends a retryable POST to path and decodes its answer into out.
func (c *Client) post(ctx context.Context, path string, body []byte, out any) (*response, error) {
	resp, err := c.do(ctx, request{method: http.MethodPost, path: path, body: body, retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	return resp, decode(resp, out)
}

// eventPath is the path of an event, plus suffix ("/ack", ...).
func eventPath(eventID, suffix string) string {
	return "/v1/events/" + url.PathEscape(eventID) + suffix
}
