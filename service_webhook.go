package triggers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/triggersapi/triggers/webhook"
)

// Limits of the webhook API (DESIGN §11).
const (
	// MaxReplayEvents bounds the events one replay call queues; the answer
	// says where to go on from when the range holds more.
	MaxReplayEvents = 10_000
)

// WebhookOptions configure the webhook part of a Service.
type WebhookOptions struct {
	// MaxSubscriptions per tenant; default DefaultMaxSubscriptions.
	MaxSubscriptions int
	// CheckURL decides whether a subscription may deliver to u (its scheme
	// and where its host resolves, DESIGN §11.1); an error is the message
	// of a 400 naming url. Nil allows any URL ParseNewSubscription accepts.
	CheckURL func(ctx context.Context, u *url.URL) error
	// EventsStored, when set, is called when deliveries may be due now: a
	// create stored events with work for a dispatcher (InsertResult.Outbox),
	// or a manual retry or a replay queued deliveries. A webhook dispatcher
	// in this process then claims them at once rather than at its next
	// poll. It must not block.
	EventsStored func()
}

// webhooks returns the store's WebhookStore, or an error when it has none.
func (s *Service) webhooks() (WebhookStore, error) {
	ws, ok := s.store.(WebhookStore)
	if !ok {
		return nil, Errorf(ENOTFOUND, "this server's store does not support webhooks")
	}
	return ws, nil
}

// checkSubscriptionURL applies the server's URL policy to a parsed url.
func (s *Service) checkSubscriptionURL(ctx context.Context, raw string) error {
	if s.webhookOpts.CheckURL == nil {
		return nil
	}
	u, err := url.Parse(raw)
	if err == nil {
		err = s.webhookOpts.CheckURL(ctx, u)
	}
	if err != nil {
		return InvalidFields(FieldError{Field: "url", Message: err.Error()})
	}
	return nil
}

// CreateSubscription validates a POST /v1/subscriptions body and stores the
// subscription, active, with a new secret.
func (s *Service) CreateSubscription(ctx context.Context, tenant string, body []byte) (Subscription, error) {
	ws, err := s.webhooks()
	if err != nil {
		return Subscription{}, err
	}
	spec, err := ParseNewSubscription(body)
	if err != nil {
		return Subscription{}, err
	}
	if err := s.checkSubscriptionURL(ctx, *spec.URL); err != nil {
		return Subscription{}, err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return Subscription{}, fmt.Errorf("new subscription secret: %w", err)
	}
	now := s.Now()
	sub := Subscription{ID: NewEventID(now), Tenant: tenant, Status: SubscriptionActive, Secret: secret,
		CreatedAt: now, UpdatedAt: now}
	spec.Apply(&sub)
	if err := ws.CreateSubscription(ctx, sub, s.webhookOpts.MaxSubscriptions); err != nil {
		return Subscription{}, err
	}
	return sub, nil
}

// GetSubscription returns one of tenant's subscriptions.
func (s *Service) GetSubscription(ctx context.Context, tenant, id string) (Subscription, error) {
	ws, id, err := s.subscriptionRef(id)
	if err != nil {
		return Subscription{}, err
	}
	return ws.GetSubscription(ctx, tenant, id)
}

// subscriptionRef returns the store's WebhookStore and the canonical form
// of a subscription id from a request path.
func (s *Service) subscriptionRef(id string) (WebhookStore, string, error) {
	ws, err := s.webhooks()
	if err != nil {
		return nil, "", err
	}
	id, err = parseSubscriptionID(id)
	return ws, id, err
}

// parseSubscriptionID lowercases a subscription id, which is a UUID; any
// other id names no subscription.
func parseSubscriptionID(id string) (string, error) {
	canon, err := ParseEventID(id)
	if err != nil {
		return "", Errorf(ENOTFOUND, "subscription %q not found", id)
	}
	return canon, nil
}

// SubscriptionPage is one page of a tenant's subscriptions.
type SubscriptionPage struct {
	Subscriptions []Subscription
	Limit         int
	NextCursor    string
}

// ListSubscriptions returns a page of tenant's subscriptions, oldest first,
// for the query parameters limit and cursor.
func (s *Service) ListSubscriptions(ctx context.Context, tenant string, q url.Values) (SubscriptionPage, error) {
	ws, err := s.webhooks()
	if err != nil {
		return SubscriptionPage{}, err
	}
	p := inboxQuery{q: q}
	for name := range q {
		if name != "limit" && name != "cursor" {
			p.fail(name, "unknown query parameter; known: limit, cursor")
		}
	}
	limit := p.limit()
	after := p.listCursor("subscriptions")
	if len(p.bad) > 0 {
		return SubscriptionPage{}, InvalidFields(p.bad...)
	}
	all, err := ws.ListSubscriptions(ctx, tenant)
	if err != nil {
		return SubscriptionPage{}, err
	}
	start := 0
	if after != "" {
		start = len(all)
		for i, sub := range all {
			if sub.ID == after {
				start = i + 1
				break
			}
		}
	}
	page := SubscriptionPage{Subscriptions: all[start:], Limit: limit}
	if len(page.Subscriptions) > limit {
		page.Subscriptions = page.Subscriptions[:limit]
		page.NextCursor = encodeListCursor("subscriptions", page.Subscriptions[limit-1].ID)
	}
	return page, nil
}

// encodeListCursor makes the cursor of a list of kind going on after id.
func encodeListCursor(kind, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + id))
}

// listCursor reads the cursor parameter of a list of kind, returning the
// id to go on after ("" for none).
func (p *inboxQuery) listCursor(kind string) string {
	v, ok := p.single("cursor")
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	id, found := strings.CutPrefix(string(raw), kind+":")
	if err != nil || !found || id == "" {
		p.fail("cursor", "is not a cursor of this list: pass next_cursor from the previous page as it is")
		return ""
	}
	return id
}

// UpdateSubscription applies a PATCH body to one of tenant's
// subscriptions. Making a subscription active again forgets its failures.
func (s *Service) UpdateSubscription(ctx context.Context, tenant, id string, body []byte) (Subscription, error) {
	ws, id, err := s.subscriptionRef(id)
	if err != nil {
		return Subscription{}, err
	}
	spec, err := ParseSubscriptionPatch(body)
	if err != nil {
		return Subscription{}, err
	}
	if spec.URL != nil {
		if err := s.checkSubscriptionURL(ctx, *spec.URL); err != nil {
			return Subscription{}, err
		}
	}
	now := s.Now()
	return ws.UpdateSubscription(ctx, tenant, id, func(sub *Subscription) error {
		wasActive := sub.Status == SubscriptionActive
		spec.Apply(sub)
		if !wasActive && sub.Status == SubscriptionActive {
			sub.FailingSince = time.Time{}
		}
		sub.UpdatedAt = now
		return nil
	})
}

// DeleteSubscription removes one of tenant's subscriptions; ENOTFOUND when
// there is none.
func (s *Service) DeleteSubscription(ctx context.Context, tenant, id string) error {
	ws, id, err := s.subscriptionRef(id)
	if err != nil {
		return err
	}
	ok, err := ws.DeleteSubscription(ctx, tenant, id)
	if err == nil && !ok {
		err = Errorf(ENOTFOUND, "subscription %s not found", id)
	}
	return err
}

// RotateSecret gives a subscription a new secret; the old one keeps
// signing beside it for SecretRotationOverlap.
func (s *Service) RotateSecret(ctx context.Context, tenant, id string) (Subscription, error) {
	ws, id, err := s.subscriptionRef(id)
	if err != nil {
		return Subscription{}, err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return Subscription{}, fmt.Errorf("new subscription secret: %w", err)
	}
	now := s.Now()
	return ws.UpdateSubscription(ctx, tenant, id, func(sub *Subscription) error {
		sub.PreviousSecret, sub.PreviousSecretUntil = sub.Secret, now.Add(SecretRotationOverlap)
		sub.Secret, sub.UpdatedAt = secret, now
		return nil
	})
}

// DeliveryPage is one page of a subscription's deliveries.
type DeliveryPage struct {
	Deliveries []Delivery
	Limit      int
	NextCursor string
}

// Deliveries returns a page of one subscription's deliveries, oldest event
// first, for the query parameters status, event_id, limit and cursor.
func (s *Service) Deliveries(ctx context.Context, tenant, id string, q url.Values) (DeliveryPage, error) {
	ws, id, err := s.subscriptionRef(id)
	if err != nil {
		return DeliveryPage{}, err
	}
	p := inboxQuery{q: q}
	for name := range q {
		switch name {
		case "limit", "cursor", "status", "event_id":
		default:
			p.fail(name, "unknown query parameter; known: limit, cursor, status, event_id")
		}
	}
	dq := DeliveryQuery{Tenant: tenant, SubscriptionID: id, Limit: p.limit()}
	if v, ok := p.single("status"); ok {
		dq.Status = DeliveryStatus(v)
		if !slices.Contains([]DeliveryStatus{DeliveryPending, DeliverySucceeded, DeliveryFailed}, dq.Status) {
			p.fail("status", `must be "pending", "succeeded" or "failed"`)
		}
	}
	if v, ok := p.single("event_id"); ok {
		if dq.EventID, err = ParseEventID(v); err != nil {
			p.fail("event_id", "must be a UUID such as 0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6")
		}
	}
	kind := "deliveries/" + id + "/" + string(dq.Status) + "/" + dq.EventID
	dq.After = p.listCursor(kind)
	if len(p.bad) > 0 {
		return DeliveryPage{}, InvalidFields(p.bad...)
	}
	ds, more, err := ws.ListDeliveries(ctx, dq)
	if err != nil {
		return DeliveryPage{}, err
	}
	page := DeliveryPage{Deliveries: ds, Limit: dq.Limit}
	if more && len(ds) > 0 {
		page.NextCursor = encodeListCursor(kind, ds[len(ds)-1].EventID)
	}
	return page, nil
}

// RetryDelivery makes one delivery pending and due now.
func (s *Service) RetryDelivery(ctx context.Context, tenant, id, eventID string) (Delivery, error) {
	ws, id, err := s.subscriptionRef(id)
	if err != nil {
		return Delivery{}, err
	}
	eid, err := ParseEventID(eventID)
	if err != nil {
		return Delivery{}, Errorf(ENOTFOUND, "delivery of event %q not found", eventID)
	}
	d, err := ws.RetryDelivery(ctx, DeliveryKey{Tenant: tenant, SubscriptionID: id, EventID: eid}, s.Now())
	if err == nil {
		s.deliveriesDue()
	}
	return d, err
}

// deliveriesDue tells a dispatcher in this process that deliveries are due
// now (WebhookOptions.EventsStored), so that it claims them at once rather
// than at its next poll.
func (s *Service) deliveriesDue() {
	if s.webhookOpts.EventsStored != nil {
		s.webhookOpts.EventsStored()
	}
}

// ReplayResult is the outcome of a replay: how many deliveries it queued
// and, when the range held more than one call queues, the created_after of
// the call that goes on.
type ReplayResult struct {
	Queued    int
	NextAfter time.Time
}

// Replay queues a new delivery to one subscription of every retained event
// it matches in a time range (DESIGN §11.2): body {"created_after",
// "created_before"}, created_after required, created_before defaulting to
// now.
func (s *Service) Replay(ctx context.Context, tenant, id string, body []byte) (ReplayResult, error) {
	ws, id, err := s.subscriptionRef(id)
	if err != nil {
		return ReplayResult{}, err
	}
	var req struct {
		CreatedAfter  *string `json:"created_after"`
		CreatedBefore *string `json:"created_before"`
	}
	if _, err := decodeBody(body, false); err != nil {
		return ReplayResult{}, err
	}
	if err := DecodeStrict(body, &req); err != nil {
		return ReplayResult{}, err
	}
	now := s.Now()
	p := inboxQuery{q: url.Values{}}
	if req.CreatedAfter == nil {
		p.fail("created_after", "is required: the start of the range, exclusive")
	} else {
		p.q.Set("created_after", *req.CreatedAfter)
	}
	if req.CreatedBefore != nil {
		p.q.Set("created_before", *req.CreatedBefore)
	}
	var f InboxFilter
	p.timeRange(&f)
	if len(p.bad) > 0 {
		return ReplayResult{}, InvalidFields(p.bad...)
	}
	before := f.CreatedBefore
	if before.IsZero() || before.After(now) {
		before = now.Add(time.Microsecond)
	}
	n, next, err := ws.ReplayDeliveries(ctx, tenant, id, f.CreatedAfter, before, s.notBefore(now), now, MaxReplayEvents)
	if err != nil {
		return ReplayResult{}, err
	}
	if n > 0 {
		s.deliveriesDue()
	}
	return ReplayResult{Queued: n, NextAfter: next}, nil
}

// MarshalFilter returns a subscription filter's wire form: an object with
// source, event_type, priority and metadata, each only when set.
func MarshalFilter(f InboxFilter) json.RawMessage {
	out := map[string]any{}
	if f.Source != "" {
		out["source"] = f.Source
	}
	if f.EventType != "" {
		out["event_type"] = f.EventType
	}
	if f.Priority != "" {
		out["priority"] = f.Priority
	}
	if len(f.Metadata) > 0 {
		md := map[string]string{}
		for _, m := range f.Metadata {
			md[m.Key] = m.Value
		}
		out["metadata"] = md
	}
	b, _ := json.Marshal(out) // strings and maps of strings always marshal
	return b
}
