package triggers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Service. The zero value of each field means its default.
type Options struct {
	// Now is the clock; default time.Now. Tests pass fixed instants.
	Now func() time.Time
	// Retention is how long events are kept; default DefaultRetention.
	Retention time.Duration
	// KeyCacheTTL is how long an authenticated key is trusted without asking
	// the store again; default 2s. A revoked or changed key takes effect
	// within this time (DESIGN §2 asks for 5 s at most).
	KeyCacheTTL time.Duration
	// MaxInboxScan bounds the events a store examines for one inbox page
	// or one receive; default 5000.
	MaxInboxScan int
	// MaxPageBytes bounds the event bytes of one inbox page or one
	// receive's answer (InboxQuery.MaxBytes, ReceiveQuery.MaxBytes);
	// default MaxPageBytes.
	MaxPageBytes int
	// After is the timer of waiting receives; default time.After. Tests
	// with a fake clock pass one that fires when the fake time passes.
	After func(d time.Duration) <-chan time.Time
	// Webhooks configure subscriptions (service_webhook.go).
	Webhooks WebhookOptions
}

// Service is the Triggers domain over a Store: validation, ids, the clock,
// tenancy, idempotency, cursors and key management. It is safe for
// concurrent use.
type Service struct {
	store        Store
	now          func() time.Time
	retention    time.Duration
	keyTTL       time.Duration
	maxInboxScan int
	maxPageBytes int

	keyMu    sync.Mutex
	keyCache map[string]cachedKey // by hash

	// Waiting receives (service_lease.go).
	after           func(time.Duration) <-chan time.Time
	pollInterval    time.Duration // of a ReceivePoller store; 0 for others
	waiters         waiters
	waitingReceives atomic.Int64
	stopping        chan struct{}
	stopOnce        sync.Once

	webhookOpts WebhookOptions
}

type cachedKey struct {
	key     APIKey
	err     error
	fetched time.Time
}

const maxCachedKeys = 10_000

// NewService returns a Service over store; opts may be nil.
func NewService(store Store, opts *Options) *Service {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.KeyCacheTTL <= 0 {
		o.KeyCacheTTL = 2 * time.Second
	}
	if o.MaxInboxScan <= 0 {
		o.MaxInboxScan = 5000
	}
	if o.MaxPageBytes <= 0 {
		o.MaxPageBytes = MaxPageBytes
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Webhooks.MaxSubscriptions <= 0 {
		o.Webhooks.MaxSubscriptions = DefaultMaxSubscriptions
	}
	s := &Service{store: store, now: o.Now, retention: o.Retention, keyTTL: o.KeyCacheTTL,
		maxInboxScan: o.MaxInboxScan, maxPageBytes: o.MaxPageBytes, keyCache: map[string]cachedKey{},
		after: o.After, stopping: make(chan struct{}), webhookOpts: o.Webhooks}
	if p, ok := store.(ReceivePoller); ok {
		s.pollInterval = p.ReceivePollInterval()
	}
	return s
}

// Now returns the service clock's current time, UTC, to the microsecond.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Retention returns how long events are kept.
func (s *Service) Retention() time.Duration { return s.retention }

func (s *Service) notBefore(now time.Time) time.Time { return now.Add(-s.retention) }

// CreateResult is the outcome of creating one event.
type CreateResult struct {
	Event    Event
	Replayed bool  // an idempotent replay of an earlier create
	Err      error // this item failed (EIDEMPOTENCY, EUNAVAILABLE, ...)
}

// CreateEvent stores one validated event for tenant. On an idempotent replay
// it returns the original event's ID and CreatedAt with Replayed set; the same
// idempotency key with a different request is EIDEMPOTENCY.
func (s *Service) CreateEvent(ctx context.Context, tenant string, ne NewEvent) (CreateResult, error) {
	res, err := s.insertEvents(ctx, tenant, []NewEvent{ne})
	if err != nil {
		return CreateResult{}, err
	}
	return res[0], res[0].Err
}

// CreateEvents parses and stores the events of a bulk create for tenant, one
// raw JSON object per item, in one store call, applied as if in order. Each
// item has its result, in input order: ETOOLARGE for an item over
// MaxEventBytes, EINVALID naming the field as items[i].field, and otherwise as
// for CreateEvent; an idempotency key repeated in the call replays its first
// item. The error is for the whole request: a number of items outside 1 to
// BulkLimit, or a store failure after which nothing was stored.
func (s *Service) CreateEvents(ctx context.Context, tenant string, items []json.RawMessage) ([]CreateResult, error) {
	if err := checkBulkSize("items", "events", len(items)); err != nil {
		return nil, err
	}
	out := make([]CreateResult, len(items))
	var valid []NewEvent
	var at []int // input index of each valid item
	for i, raw := range items {
		ne, err := parseBulkItem(i, raw)
		if err != nil {
			out[i].Err = err
			continue
		}
		valid = append(valid, ne)
		at = append(at, i)
	}
	if len(valid) == 0 {
		return out, nil
	}
	res, err := s.insertEvents(ctx, tenant, valid)
	if err != nil {
		return nil, err
	}
	for n, r := range res {
		out[at[n]] = r
	}
	return out, nil
}

// parseBulkItem parses item i of a bulk create, naming its fields
// items[i].field so that each message is the single create's with a prefix.
func parseBulkItem(i int, raw json.RawMessage) (NewEvent, error) {
	if len(raw) > MaxEventBytes {
		err := Errorf(ETOOLARGE, "items[%d] is larger than the limit of %d bytes for one event", i, MaxEventBytes)
		err.Details = map[string]any{"limit_bytes": MaxEventBytes}
		return NewEvent{}, err
	}
	return ParseNewEvent(raw, "", "items["+strconv.Itoa(i)+"].")
}

// insertEvents stores validated events for tenant in one store call, applied
// as if in order, with one result per item. An idempotency key repeated in
// items is sent to the store once (the Store contract): its later items take
// the outcome of the first, as the store would have given it in order.
func (s *Service) insertEvents(ctx context.Context, tenant string, items []NewEvent) ([]CreateResult, error) {
	now := s.Now()
	inserts := make([]Insert, 0, len(items))
	at := make([]int, len(items))        // the insert of each item: its own, or that of the first with its key
	firstWithKey := make(map[string]int) // idempotency key -> insert index
	for i, ne := range items {
		if n, ok := firstWithKey[ne.IdempotencyKey]; ok {
			at[i] = n
			continue
		}
		if ne.IdempotencyKey != "" {
			firstWithKey[ne.IdempotencyKey] = len(inserts)
		}
		at[i] = len(inserts)
		inserts = append(inserts, Insert{
			Event: Event{
				ID: NewEventID(now), Tenant: tenant, Source: ne.Source, EventType: ne.EventType,
				Payload: ne.Payload, Metadata: ne.Metadata, Priority: ne.Priority, CreatedAt: now,
			},
			IdempotencyKey:       ne.IdempotencyKey,
			RequestHash:          ne.RequestHash,
			IdempotencyNotBefore: now.Add(-IdempotencyWindow),
		})
	}
	results, err := s.store.InsertEvents(ctx, inserts)
	if err != nil {
		return nil, err
	}
	for _, r := range results {
		if r.Err == nil && !r.Replayed {
			s.eventsAvailable(tenant)
			break
		}
	}
	for _, r := range results {
		if r.Err == nil && r.Outbox {
			s.deliveriesDue()
			break
		}
	}
	if len(results) != len(inserts) {
		return nil, fmt.Errorf("triggers: store returned %d results for %d inserts", len(results), len(inserts))
	}
	out := make([]CreateResult, len(items))
	seen := make([]bool, len(inserts))
	for i, n := range at {
		r := results[n]
		if seen[n] && r.Err == nil && !r.Replayed {
			// A later item with the key of an event this call created:
			// a replay of it, as the store reports one from an earlier call.
			r = InsertResult{Event: Event{ID: r.Event.ID, Tenant: r.Event.Tenant, CreatedAt: r.Event.CreatedAt},
				Replayed: true, RequestHash: inserts[n].RequestHash}
		}
		seen[n] = true
		out[i] = CreateResult{Event: r.Event, Replayed: r.Replayed, Err: r.Err}
		if r.Replayed && r.RequestHash != items[i].RequestHash {
			out[i] = CreateResult{Err: Errorf(EIDEMPOTENCY,
				"idempotency key was used within the last 24 hours for a different request; use a new key for a new event")}
		}
	}
	return out, nil
}

// GetEvent returns a visible event of tenant; ENOTFOUND otherwise.
func (s *Service) GetEvent(ctx context.Context, tenant, id string) (Event, error) {
	now := s.Now()
	e, err := s.store.GetEvent(ctx, tenant, id, s.notBefore(now))
	return present(e, now), err
}

// AckEvent acknowledges a pending or dead event; ENOTFOUND, ECONFLICT. With
// a leaseID ("" for none) it is conditional: ECONFLICT (lease_lost) unless
// that is the event's current lease, expired or not.
func (s *Service) AckEvent(ctx context.Context, tenant, id, leaseID string) (Event, error) {
	now := s.Now()
	e, err := s.store.AckEvent(ctx, tenant, Ack{ID: id, LeaseID: leaseID}, now, s.notBefore(now))
	return present(e, now), err
}

// DeleteEvent deletes an event if it exists; deleting an unknown one is no error.
func (s *Service) DeleteEvent(ctx context.Context, tenant, id string) (bool, error) {
	return s.store.DeleteEvent(ctx, tenant, id, s.notBefore(s.Now()))
}

// BulkLimit is the most items one bulk request may hold (DESIGN §5).
const BulkLimit = 25

// checkBulkSize refuses a bulk request of 0 or more than BulkLimit items,
// naming the request's list field and what it holds.
func checkBulkSize(field, items string, n int) error {
	if n < 1 || n > BulkLimit {
		return InvalidFields(FieldError{Field: field,
			Message: fmt.Sprintf("must be an array of 1 to %d %s (got %d)", BulkLimit, items, n)})
	}
	return nil
}

// AckEvents acknowledges up to BulkLimit events of tenant in one store call,
// applied as if in order: one result per id (EINVALID for an id that is not
// a UUID, ENOTFOUND, ECONFLICT, also for an id that came earlier in the
// call, ...). The error is for the whole request: a number of ids outside 1
// to BulkLimit, or a store failure after which nothing was done.
func (s *Service) AckEvents(ctx context.Context, tenant string, ids []string) ([]AckResult, error) {
	now := s.Now()
	return eachEventOnce(ids,
		func(ids []string) ([]AckResult, error) {
			acks := make([]Ack, len(ids))
			for i, id := range ids {
				acks[i] = Ack{ID: id}
			}
			return s.ackEvents(ctx, tenant, acks, now)
		}, failedResult, resultErr, repeatedAck)
}

func (s *Service) ackEvents(ctx context.Context, tenant string, acks []Ack, now time.Time) ([]AckResult, error) {
	res, err := s.store.AckEvents(ctx, tenant, acks, now, s.notBefore(now))
	presentResults(res, now)
	return res, err
}

func failedResult(err error) EventResult { return EventResult{Err: err} }

func resultErr(r EventResult) error { return r.Err }

// repeatedAck is the outcome of acknowledging an event again in one bulk
// call after an earlier item acknowledged it.
func repeatedAck(_ EventResult, id string) EventResult {
	return EventResult{Err: AlreadyAcknowledged(id)}
}

// DeleteEvents deletes up to BulkLimit events of tenant in one store call,
// applied as if in order: one result per id (EINVALID, ENOTFOUND for an
// unknown, other tenant's or already deleted event, also for an id that came
// earlier in the call, ...), each valid one with its EventID. Errors as for
// AckEvents.
func (s *Service) DeleteEvents(ctx context.Context, tenant string, ids []string) ([]DeleteResult, error) {
	notBefore := s.notBefore(s.Now())
	return eachEventOnce(ids,
		func(ids []string) ([]DeleteResult, error) {
			res, err := s.store.DeleteEvents(ctx, tenant, ids, notBefore)
			for n := range min(len(res), len(ids)) {
				res[n].EventID = ids[n]
			}
			return res, err
		},
		func(err error) DeleteResult { return DeleteResult{Err: err} },
		func(r DeleteResult) error { return r.Err },
		func(_ DeleteResult, id string) DeleteResult { return DeleteResult{EventID: id, Err: EventNotFound()} })
}

// eachEventOnce is the part of a bulk verb on event_ids that does not
// depend on the verb: see eachItemOnce; an id that is not a UUID is that
// item's EINVALID naming event_ids[i].
func eachEventOnce[R any](ids []string, apply func(ids []string) ([]R, error),
	failed func(err error) R, errOf func(R) error, repeat func(first R, id string) R) ([]R, error) {
	if err := checkBulkSize("event_ids", "event ids", len(ids)); err != nil {
		return nil, err
	}
	return eachItemOnce(len(ids),
		func(i int) (string, string, string, error) {
			id, err := ParseEventID(ids[i])
			if err != nil {
				return "", "", "", InvalidFields(FieldError{Field: fmt.Sprintf("event_ids[%d]", i),
					Message: "must be a UUID such as 0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"})
			}
			return id, "", id, nil
		}, apply, failed, errOf, repeat)
}

// eachItemOnce is the part of a bulk verb on n items naming events that
// does not depend on the verb: it applies the items as if in order, each
// store call with distinct events, as the Store contract asks.
//
// parse returns item i's event id in lowercase, its variant (what else
// decides its outcome: the lease it names, "" for none) and what the store
// needs of it, or the item's error (made into a result by failed). Items
// are then decided in order: a failed write changes nothing, so an item
// whose event an earlier item changed (errOf of its result is nil) gets
// repeat of that result; one whose event and variant an earlier item
// already tried without success gets the same failure; the others go to
// the store, the first one of each event in one call. Items repeating an
// event with a new variant after a failure (say, an unconditional ack after
// one naming a lost lease) take one more call each round: usually there is
// one call in all.
func eachItemOnce[T, R any](n int, parse func(i int) (id, variant string, item T, err error),
	apply func(items []T) ([]R, error), failed func(err error) R, errOf func(R) error,
	repeat func(changed R, id string) R) ([]R, error) {
	out := make([]R, n)
	decided := make([]bool, n)
	ids := make([]string, n)
	variants := make([]string, n)
	items := make([]T, n)
	for i := range n {
		id, variant, item, err := parse(i)
		if err != nil {
			out[i], decided[i] = failed(err), true
			continue
		}
		ids[i], variants[i], items[i] = id, variant, item
	}
	changed := map[string]R{} // by id: the result of the item that changed the event
	tried := map[string]R{}   // by id and variant: a failure
	for round := 0; ; round++ {
		var batch []int
		inBatch := map[string]bool{}
		for i := range n {
			if decided[i] {
				continue
			}
			if r, ok := changed[ids[i]]; ok {
				out[i], decided[i] = repeat(r, ids[i]), true
				continue
			}
			if r, ok := tried[ids[i]+"\x00"+variants[i]]; ok {
				out[i], decided[i] = r, true
				continue
			}
			if !inBatch[ids[i]] {
				inBatch[ids[i]] = true
				batch = append(batch, i)
			}
		}
		if len(batch) == 0 {
			return out, nil
		}
		call := make([]T, len(batch))
		for k, i := range batch {
			call[k] = items[i]
		}
		res, err := apply(call)
		if err != nil {
			if round == 0 {
				return nil, err
			}
			// Earlier rounds were written: fail only what is left.
			for i := range n {
				if !decided[i] {
					out[i], decided[i] = failed(err), true
				}
			}
			return out, nil
		}
		if len(res) != len(call) {
			return nil, fmt.Errorf("triggers: store returned %d results for %d items", len(res), len(call))
		}
		for k, i := range batch {
			out[i], decided[i] = res[k], true
			if errOf(res[k]) == nil {
				changed[ids[i]] = res[k]
			} else {
				tried[ids[i]+"\x00"+variants[i]] = res[k]
			}
		}
	}
}

// InboxPage is one page of an inbox with the cursor of the next.
type InboxPage struct {
	Events     []Event
	NextCursor string // "" when nothing more matches
}

// Inbox returns a page of tenant's pending events for a parsed query.
func (s *Service) Inbox(ctx context.Context, tenant string, req InboxRequest) (InboxPage, error) {
	now := s.Now()
	q := InboxQuery{Tenant: tenant, Filter: req.Filter, NotBefore: s.notBefore(now),
		Limit: req.Limit, MaxScan: s.maxInboxScan, MaxBytes: s.maxPageBytes}
	if req.Cursor != nil {
		q.After = &req.Cursor.Position
	}
	page, err := s.store.ListPending(ctx, q)
	if err != nil {
		return InboxPage{}, err
	}
	out := InboxPage{Events: presentAll(page.Events, now)}
	if page.Next != nil {
		out.NextCursor = Cursor{Position: *page.Next, FilterHash: req.Filter.Hash()}.Encode()
	}
	return out, nil
}

// PurgeExpired physically removes expired events and idempotency records.
func (s *Service) PurgeExpired(ctx context.Context) (int, error) {
	now := s.Now()
	return s.store.DeleteExpired(ctx, s.notBefore(now), now.Add(-IdempotencyWindow))
}

// Ready reports whether the store can answer.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// Authenticate returns the usable key whose raw value is raw; EUNAUTHORIZED
// for a missing, unknown, revoked or expired key. Answers are cached for
// KeyCacheTTL, so a revoked key stops working within that time.
func (s *Service) Authenticate(ctx context.Context, raw string) (APIKey, error) {
	unauthorized := Errorf(EUNAUTHORIZED, "a valid API key is required in the X-API-Key header (or Authorization: Bearer)")
	if raw == "" || len(raw) > 1024 {
		return APIKey{}, unauthorized
	}
	hash := HashKey(raw)
	now := s.now()

	s.keyMu.Lock()
	c, ok := s.keyCache[hash]
	s.keyMu.Unlock()
	if !ok || now.Sub(c.fetched) >= s.keyTTL || now.Before(c.fetched) {
		k, err := s.store.KeyByHash(ctx, hash)
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return APIKey{}, err // store trouble: not the client's fault, not cached
		}
		c = cachedKey{key: k, err: err, fetched: now}
		s.keyMu.Lock()
		if len(s.keyCache) >= maxCachedKeys {
			clear(s.keyCache)
		}
		s.keyCache[hash] = c
		s.keyMu.Unlock()
	}
	if c.err != nil || !c.key.Usable(now) {
		return APIKey{}, unauthorized
	}
	return c.key, nil
}

// KeySpec describes a key to create.
type KeySpec struct {
	Tenant     string
	Name       string
	RateLimit  int            // 0 = server default
	AllowedIPs []netip.Prefix // empty = all
	Raw        string         // the secret; "" to generate one
	ExpiresAt  time.Time      // zero = never
}

// CreateKey validates spec and stores a new key. It returns the record and
// the raw key, which is not stored and cannot be shown again.
func (s *Service) CreateKey(ctx context.Context, spec KeySpec) (APIKey, string, error) {
	if err := ValidateTenant(spec.Tenant); err != nil {
		return APIKey{}, "", err
	}
	if err := ValidateRateLimit(spec.RateLimit); err != nil {
		return APIKey{}, "", err
	}
	if len(spec.Name) > 100 {
		return APIKey{}, "", Errorf(EINVALID, "name must be at most 100 characters")
	}
	raw := spec.Raw
	if raw == "" {
		raw = GenerateKey()
	} else if err := ValidateRawKey(raw); err != nil {
		return APIKey{}, "", err
	}
	k := APIKey{ID: NewKeyID(), Hash: HashKey(raw), Tenant: spec.Tenant, Name: spec.Name,
		CreatedAt: s.Now(), Active: true, RateLimit: spec.RateLimit, AllowedIPs: spec.AllowedIPs,
		ExpiresAt: spec.ExpiresAt}
	if err := s.store.CreateKey(ctx, k); err != nil {
		return APIKey{}, "", err
	}
	return k, raw, nil
}

// EnsureKey makes sure a key with the raw value exists and is usable (the
// --dev-key bootstrap): it creates it for tenant if missing and reactivates
// it if revoked. It reports whether it changed anything.
func (s *Service) EnsureKey(ctx context.Context, raw, tenant string) (APIKey, bool, error) {
	if err := ValidateRawKey(raw); err != nil {
		return APIKey{}, false, err
	}
	k, err := s.store.KeyByHash(ctx, HashKey(raw))
	switch {
	case ErrorCode(err) == ENOTFOUND:
		k, _, err = s.CreateKey(ctx, KeySpec{Tenant: tenant, Name: "dev key", Raw: raw})
		if ErrorCode(err) == ECONFLICT { // created concurrently by another process
			k, err = s.store.KeyByHash(ctx, HashKey(raw))
			return k, false, err
		}
		return k, err == nil, err
	case err != nil:
		return APIKey{}, false, err
	case k.Usable(s.now()):
		return k, false, nil
	}
	k, err = s.store.UpdateKey(ctx, k.ID, func(k *APIKey) error {
		k.Active, k.ExpiresAt = true, time.Time{}
		return nil
	})
	return k, err == nil, err
}

// ListKeys returns every key, oldest first.
func (s *Service) ListKeys(ctx context.Context) ([]APIKey, error) { return s.store.ListKeys(ctx) }

// RevokeKey deactivates a key; ENOTFOUND. Revoking twice is not an error.
func (s *Service) RevokeKey(ctx context.Context, id string) (APIKey, error) {
	return s.store.UpdateKey(ctx, id, func(k *APIKey) error { k.Active = false; return nil })
}

// KeyUpdate holds the changes to a key; a nil field is left as it is.
type KeyUpdate struct {
	RateLimit  *int
	AllowedIPs *[]netip.Prefix // pointer to empty clears the list
}

// UpdateKey changes a key's limit or allowlist; ENOTFOUND, EINVALID.
func (s *Service) UpdateKey(ctx context.Context, id string, u KeyUpdate) (APIKey, error) {
	if u.RateLimit != nil {
		if err := ValidateRateLimit(*u.RateLimit); err != nil {
			return APIKey{}, err
		}
	}
	return s.store.UpdateKey(ctx, id, func(k *APIKey) error {
		if u.RateLimit != nil {
			k.RateLimit = *u.RateLimit
		}
		if u.AllowedIPs != nil {
			k.AllowedIPs = *u.AllowedIPs
		}
		return nil
	})
}
