// Package client is a Go client for the Triggers event inbox API (v1).
//
// Every method takes a context.Context, returns typed responses, and reports
// API errors as *APIError (use errors.As, or IsCode). Requests are retried
// automatically according to the client's RetryPolicy:
//
//   - 429 RATE_LIMIT_EXCEEDED: the client waits exactly the Retry-After the
//     server sent, then retries. A Retry-After longer than
//     RetryPolicy.MaxRetryAfter (default 60 s) is not waited for: the 429 is
//     returned at once as an *APIError with RetryAfter set, so that the
//     caller decides. A wait that would outlast the context's deadline is
//     not started either.
//   - 503 SERVICE_UNAVAILABLE and transport errors (connection refused or
//     reset, a response that never came): bounded exponential backoff with
//     full jitter, a random wait in [0, min(MaxBackoff, BaseBackoff*2^n)),
//     but never less than a Retry-After the 503 carried (still capped by
//     MaxRetryAfter).
//   - Nothing else is retried (400, 401, 403, 404, 409, 413, 415, 422, 500).
//
// Which requests are retried: GET, DELETE and ack always (they are safe to
// repeat); a create (POST /v1/events) only when it carries an idempotency
// key, because without one a retry after a lost answer may store the event
// twice. Note that an ack whose first attempt reached the server but whose
// answer was lost is retried and then answered 409 CONFLICT: after a retried
// ack, a 409 means the event is acknowledged, possibly by our own first
// attempt (APIError.Attempts > 1 tells that the ack was retried).
//
// Bulk requests follow the same rules: BulkAck and BulkDelete are always
// retried (after a lost answer the retry reports per-item CONFLICT or
// NOT_FOUND for what the first attempt did); BulkCreate only when every
// item carries an idempotency key (then the retry reports those items as
// replays). A whole-request 429 or 503 did nothing, so retrying it is
// always exact.
//
// The lease requests (Receive, AckLease, Nack, ExtendLease, Redrive, and
// BulkAckItems, BulkNack, BulkRedrive) are always retried too. A retry after
// a lost answer finds the event as the first attempt left it, so it is
// answered 409 CONFLICT with a reason (APIError.Reason, ConflictReason):
// ReasonAlreadyAcknowledged after an ack, ReasonLeaseLost after a nack,
// ReasonNotDead after a redrive; an extension just extends again. A receive
// whose answer was lost leased events that no one sees: they are delivered
// again when those leases expire.
//
// # Consuming with leases
//
// Workers receive events under a lease (docs/API.md §3.10): while the
// lease lasts no other receive returns the event; the worker acknowledges it
// under the lease when done (AckLease), gives it back to be retried, possibly
// after a delay (Nack), or extends the lease for long work (ExtendLease). An
// event whose lease expires unsettled (its worker died) is delivered again,
// and one delivered MaxAttempts times without success ends dead: list the
// dead with InboxQuery{Status: StatusDead}, and Redrive them. IsLeaseLost
// tells that a lease is no longer held, so the work must not be
// acknowledged (it will be delivered again).
//
// Consumer does all of this for a Handler func: concurrent handlers, long
// polling, lease extension, ack, nack with exponential backoff, and a
// graceful stop:
//
//	c := client.NewConsumer(cl, client.ConsumerOptions{
//		Concurrency: 8,
//		Handler: func(ctx context.Context, ev *client.ReceivedEvent) error {
//			return process(ctx, ev.Payload) // nil: acknowledged; error: retried later
//		},
//	})
//	err := c.Run(ctx) // until ctx is done
//
// The idempotency key of CreateEventRequest is sent in the Idempotency-Key
// header only; metadata is sent as given. (The server accepts either place;
// a metadata.idempotency_key given by the caller also makes the create
// retryable.)
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is sent in the default User-Agent.
const Version = "0.1.0"

// RetryPolicy configures automatic retries; the zero value of each field
// means its default.
type RetryPolicy struct {
	// Disable turns retries off: every request is sent once.
	Disable bool
	// MaxRetries is the number of retries after the first attempt; default 3.
	// A negative value means 0.
	MaxRetries int
	// BaseBackoff is the first backoff ceiling for 503s and transport
	// errors; default 200 ms. It doubles on each retry.
	BaseBackoff time.Duration
	// MaxBackoff bounds the backoff ceiling; default 10 s. It does not apply
	// to a 429's Retry-After, which is honoured exactly.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a
	// longer one is returned to the caller as the *APIError. Default 60 s.
	MaxRetryAfter time.Duration
}

// Options configure a Client; nil means all defaults.
type Options struct {
	// HTTPClient sends the requests; default a client with a 30 s timeout.
	// A long-polling receive may take longer by its wait: its timeout is
	// this client's Timeout plus the wait.
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent; default "triggers-go/<Version>".
	UserAgent string
	// Retry is the retry policy.
	Retry RetryPolicy
	// Sleep waits d or until ctx is done (returning ctx.Err()); tests
	// replace it with a fake clock. Default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a random duration in [0, n); default math/rand/v2.
	Jitter func(n time.Duration) time.Duration
}

// Client is a Triggers API client. It is safe for concurrent use.
type Client struct {
	base   string
	apiKey string
	hc     *http.Client
	ua     string
	retry  RetryPolicy
	sleep  func(context.Context, time.Duration) error
	jitter func(time.Duration) time.Duration

	mu   sync.Mutex
	last RateLimit
}

// New returns a client for the API at baseURL (for example
// "http://localhost:8080", without /v1) authenticating with apiKey, sent as
// X-API-Key. opts may be nil.
func New(baseURL, apiKey string, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.UserAgent == "" {
		o.UserAgent = "triggers-go/" + Version
	}
	r := o.Retry
	if r.MaxRetries == 0 {
		r.MaxRetries = 3
	} else if r.MaxRetries < 0 {
		r.MaxRetries = 0
	}
	if r.BaseBackoff <= 0 {
		r.BaseBackoff = 200 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 10 * time.Second
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = 60 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Jitter == nil {
		o.Jitter = func(n time.Duration) time.Duration {
			if n <= 0 {
				return 0
			}
			return rand.N(n)
		}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), apiKey: apiKey, hc: o.HTTPClient, ua: o.UserAgent,
		retry: r, sleep: o.Sleep, jitter: o.Jitter}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RateLimit is the rate-limit state the server reported with a response
// (the X-RateLimit-* headers). The zero value means the server sent none
// (rate limiting off, or an endpoint without a key such as health).
type RateLimit struct {
	Limit     int       // requests per minute of the key
	Remaining int       // requests left now
	Reset     time.Time // when the budget is full again (whole seconds)
}

// LastRateLimit returns the rate-limit state of the last response that
// carried one, and whether there was one.
func (c *Client) LastRateLimit() (RateLimit, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.last.Limit != 0
}

func parseRateLimit(h http.Header) RateLimit {
	var rl RateLimit
	l, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	r, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if err1 != nil || err2 != nil {
		return rl
	}
	rl.Limit, rl.Remaining = l, r
	if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		rl.Reset = time.Unix(s, 0).UTC()
	}
	return rl
}

// APIError is an error answer of the API (its error envelope), or a
// response that was not one the client could read.
type APIError struct {
	StatusCode int            // the HTTP status
	Code       string         // error.code, e.g. "NOT_FOUND"; "" if the body was no envelope
	Message    string         // error.message, for people
	Details    map[string]any // error.details; never nil
	RequestID  string         // error.request_id, else the X-Request-ID header
	// Reason is details.reason of a 409 CONFLICT, one of the Reason
	// constants (why the event was not in the state the request needed);
	// "" for other errors.
	Reason string
	// RetryAfter is the response's Retry-After (429, 503), 0 when absent.
	RetryAfter time.Duration
	// RateLimit is the rate-limit state sent with the error, if any.
	RateLimit RateLimit
	// Attempts is how many times the request was sent (1 + retries).
	Attempts int
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.StatusCode)
	}
	s := fmt.Sprintf("triggers: %d %s: %s", e.StatusCode, code, e.Message)
	if e.RequestID != "" {
		s += " (request_id " + e.RequestID + ")"
	}
	return s
}

// FieldErrors returns details.fields of a VALIDATION_ERROR as field → message.
func (e *APIError) FieldErrors() map[string]string {
	out := map[string]string{}
	fields, _ := e.Details["fields"].([]any)
	for _, f := range fields {
		m, _ := f.(map[string]any)
		name, _ := m["field"].(string)
		msg, _ := m["message"].(string)
		if name != "" {
			out[name] = msg
		}
	}
	return out
}

// Error codes of the API (docs/ERRORS.md).
const (
	CodeValidation           = "VALIDATION_ERROR"
	CodeUnauthorized         = "UNAUTHORIZED"
	CodeForbidden            = "FORBIDDEN"
	CodeNotFound             = "NOT_FOUND"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeConflict             = "CONFLICT"
	CodePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodeIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	CodeRateLimitExceeded    = "RATE_LIMIT_EXCEEDED"
	CodeInternal             = "INTERNAL_ERROR"
	CodeUnavailable          = "SERVICE_UNAVAILABLE"
)

// Reasons of a 409 CONFLICT (APIError.Reason, BulkItemError.Reason): why
// an ack, nack, lease extension or redrive found the event in another state
// than it needed, or why a subscription could not be created.
const (
	// ReasonAlreadyAcknowledged: the event is acknowledged (by this client,
	// when a retried request's first attempt did it, or by someone else).
	ReasonAlreadyAcknowledged = "already_acknowledged"
	// ReasonLeaseLost: the lease named is not the event's current lease: it
	// was ended by a nack, replaced by another receive after it expired, or
	// the event was dead-lettered or redriven.
	ReasonLeaseLost = "lease_lost"
	// ReasonLeaseExpired: the lease named is the event's latest, but it has
	// expired, so another receive may lease the event at any moment (a nack
	// or an extension needs an unexpired lease; an ack does not).
	ReasonLeaseExpired = "lease_expired"
	// ReasonNotDead: a redrive of an event that is not dead.
	ReasonNotDead = "not_dead"
	// ReasonSubscriptionLimit: a CreateSubscription when the tenant has
	// its maximum of subscriptions (20 by default); delete one first.
	ReasonSubscriptionLimit = "subscription_limit"
)

// reason returns details.reason, "" when absent.
func reason(details map[string]any) string {
	r, _ := details["reason"].(string)
	return r
}

// ConflictReason returns the Reason of err when it is (or wraps) an
// *APIError or a *BulkItemError, else "".
func ConflictReason(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Reason
	}
	var b *BulkItemError
	if errors.As(err, &b) && b != nil {
		return b.Reason
	}
	return ""
}

// IsLeaseLost reports whether err says that the caller no longer holds the
// lease it named: a CONFLICT with reason ReasonLeaseLost or
// ReasonLeaseExpired. The event may now be (or soon be) leased to another
// receiver, so the work done under the lost lease must not be
// acknowledged; it will be delivered again.
func IsLeaseLost(err error) bool {
	r := ConflictReason(err)
	return r == ReasonLeaseLost || r == ReasonLeaseExpired
}

// IsCode reports whether err is (or wraps) an *APIError or a
// *BulkItemError with the code.
func IsCode(err error, code string) bool {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code == code
	}
	var b *BulkItemError
	return errors.As(err, &b) && b != nil && b.Code == code
}

// request is one logical API call.
type request struct {
	method, path string
	query        url.Values
	body         []byte // nil: no body
	header       http.Header
	retryable    bool
	auth         bool
	// wait is how long the server may hold the request before it answers
	// (a long-polling receive): it is added to the HTTP client's timeout.
	wait time.Duration
}

// response is a successful answer.
type response struct {
	status    int
	header    http.Header
	body      []byte
	rateLimit RateLimit
	requestID string
	attempts  int
}

func (c *Client) do(ctx context.Context, rq request) (*response, error) {
	maxRetries := c.retry.MaxRetries
	if c.retry.Disable || !rq.retryable {
		maxRetries = 0
	}
	u := c.base + rq.path
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, rq, u)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || attempt >= maxRetries || !retryableTransport(err) {
				return nil, err
			}
			wait = c.backoff(attempt)
		case resp.status < 400:
			resp.attempts = attempt + 1
			return resp, nil
		default:
			apiErr := toAPIError(resp)
			apiErr.Attempts = attempt + 1
			if attempt >= maxRetries {
				return nil, apiErr
			}
			switch resp.status {
			case http.StatusTooManyRequests:
				if apiErr.RetryAfter > c.retry.MaxRetryAfter {
					return nil, apiErr
				}
				wait = apiErr.RetryAfter
				if wait <= 0 { // no usable Retry-After: back off instead
					wait = c.backoff(attempt)
				}
			case http.StatusServiceUnavailable:
				wait = c.backoff(attempt)
				if ra := apiErr.RetryAfter; ra > wait && ra <= c.retry.MaxRetryAfter {
					wait = ra
				}
			default:
				return nil, apiErr
			}
			err = apiErr
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, err // the wait would outlast the caller's deadline
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, err
		}
	}
}

// backoff is the full-jitter wait before retry attempt+1.
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.retry.BaseBackoff
	for i := 0; i < attempt && ceil < c.retry.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, c.retry.MaxBackoff)
	return c.jitter(ceil)
}

// retryableTransport reports whether a transport error is worth retrying:
// any network error, or an unexpected EOF, but not a bad URL or the like.
func retryableTransport(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return !strings.Contains(ue.Err.Error(), "unsupported protocol scheme")
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func (c *Client) send(ctx context.Context, rq request, u string) (*response, error) {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.auth {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	hc := c.hc
	if rq.wait > 0 && hc.Timeout > 0 {
		long := *hc // same transport; only the timeout differs
		long.Timeout += rq.wait
		hc = &long
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	out := &response{status: resp.StatusCode, header: resp.Header, body: b,
		rateLimit: parseRateLimit(resp.Header), requestID: resp.Header.Get("X-Request-Id")}
	if out.rateLimit.Limit != 0 {
		c.mu.Lock()
		c.last = out.rateLimit
		c.mu.Unlock()
	}
	return out, nil
}

func toAPIError(r *response) *APIError {
	e := &APIError{StatusCode: r.status, RequestID: r.requestID, RateLimit: r.rateLimit}
	var env struct {
		Error *struct {
			Code      string         `json:"code"`
			Message   string         `json:"message"`
			Details   map[string]any `json:"details"`
			RequestID string         `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(r.body, &env) == nil && env.Error != nil {
		e.Code, e.Message, e.Details = env.Error.Code, env.Error.Message, env.Error.Details
		if env.Error.RequestID != "" {
			e.RequestID = env.Error.RequestID
		}
	} else {
		e.Message = strings.TrimSpace(string(r.body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Reason = reason(e.Details)
	if s, err := strconv.Atoi(strings.TrimSpace(r.header.Get("Retry-After"))); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(r.header.Get("Retry-After")); err == nil {
		e.RetryAfter = max(time.Until(t), 0)
	}
	return e
}

// decode unmarshals a successful response's body into v.
func decode(r *response, v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("triggers: decoding the %d response (request_id %s): %w", r.status, r.requestID, err)
	}
	return nil
}
