package triggers

import (
	"context"
	"time"
)

// Store is what Triggers needs from a storage backend. It holds storage verbs
// only: validation, ids, the clock, cursors and limits live in Service, above
// it. Every backend must pass the conformance suite in package storetest.
//
// Implementers: all methods are safe for concurrent use, across goroutines and
// (for shared backends) across processes. Tenant scoping is part of every
// event method's contract: an event of another tenant behaves exactly as an
// unknown id. Times are UTC with microsecond precision. Failures that a retry
// may cure (timeouts, throttling, a locked or unreachable store) are returned
// as EUNAVAILABLE errors (see Unavailable); any other non-*Error is internal.
type Store interface {
	// InsertEvents stores new events. Each insert is atomic and the inserts
	// are applied as if in order; the call returns only when every stored
	// event is durable. An insert with an IdempotencyKey whose record exists
	// for the tenant and was created after IdempotencyNotBefore stores nothing
	// and reports the original event (Replayed, with the original request's
	// hash); otherwise the event and its idempotency record are stored
	// together. A store may move an event's CreatedAt forward (never back) to
	// keep the inbox order consistent with commit order; the result holds the
	// stored value. Per-item failures are in InsertResult.Err; the returned
	// error is for failures of the whole call, after which nothing is stored.
	// The non-empty idempotency keys of one call are distinct (Service
	// resolves a key repeated in one request), so the inserts of a call never
	// replay one another.
	InsertEvents(ctx context.Context, inserts []Insert) ([]InsertResult, error)

	// GetEvent returns the event, ENOTFOUND if it is unknown, of another
	// tenant, or created at or before notBefore (expired).
	GetEvent(ctx context.Context, tenant, id string, notBefore time.Time) (Event, error)

	// AckEvent marks a pending event acknowledged at `at` and returns it.
	// ENOTFOUND as for GetEvent; ECONFLICT if it was already acknowledged.
	// Of concurrent acks of one event exactly one succeeds.
	AckEvent(ctx context.Context, tenant, id string, at, notBefore time.Time) (Event, error)

	// DeleteEvent removes the event and reports whether it existed (visible,
	// in this tenant). Deleting an unknown event is not an error.
	DeleteEvent(ctx context.Context, tenant, id string, notBefore time.Time) (bool, error)

	// AckEvents acknowledges events of tenant at `at`, one result per id:
	// ENOTFOUND as for GetEvent, ECONFLICT if already acknowledged. The ids
	// of one call are distinct (Service resolves an id repeated in one
	// request), so the items may be applied in any order. The returned error
	// is for failures of the whole call, after which nothing was
	// acknowledged; a store failure that hits only some items is those
	// items' Err (EUNAVAILABLE), never a success for an item not written. A
	// bulk call costs a bounded number of sequential round trips, not one
	// per item.
	AckEvents(ctx context.Context, tenant string, ids []string, at, notBefore time.Time) ([]AckResult, error)

	// DeleteEvents deletes events of tenant, one result per id: ENOTFOUND
	// when the event is unknown, of another tenant, expired or already
	// deleted. The ids of one call are distinct, and errors are as for
	// AckEvents.
	DeleteEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]DeleteResult, error)

	// ListPending returns a page of the tenant's pending events matching the
	// query, oldest first (CreatedAt, then ID). The page holds q.Limit events
	// whenever that many match beyond q.After, unless q.MaxScan was reached
	// first; Page.Next is nil only when nothing more matches.
	ListPending(ctx context.Context, q InboxQuery) (Page, error)

	// DeleteExpired physically removes events created at or before
	// eventsBefore and idempotency records created at or before idemBefore,
	// and returns how many events it removed.
	DeleteExpired(ctx context.Context, eventsBefore, idemBefore time.Time) (int, error)

	// CreateKey stores a new key; ECONFLICT if its ID or Hash exists.
	CreateKey(ctx context.Context, k APIKey) error
	// KeyByHash returns the key with this hash (active or not); ENOTFOUND.
	KeyByHash(ctx context.Context, hash string) (APIKey, error)
	// ListKeys returns every key, oldest first.
	ListKeys(ctx context.Context) ([]APIKey, error)
	// UpdateKey applies fn to the key with this ID and stores the result
	// atomically; fn may run more than once. ENOTFOUND; fn's error is returned.
	UpdateKey(ctx context.Context, id string, fn func(*APIKey) error) (APIKey, error)

	// Ping reports whether the store can answer now (for /v1/health/ready).
	Ping(ctx context.Context) error
	// Close releases the store; in-flight calls may fail after it.
	Close() error
}

// Insert is one event to store, with its optional idempotency record.
type Insert struct {
	Event                Event
	IdempotencyKey       string // "" for none
	RequestHash          string
	IdempotencyNotBefore time.Time // records created at or before this are expired
}

// InsertResult is the outcome of one Insert.
type InsertResult struct {
	// Event is the stored event; on a replay, the original event's ID and
	// CreatedAt (other fields unset).
	Event       Event
	Replayed    bool
	RequestHash string // on a replay, the original request's hash
	Err         error  // this insert failed; nothing of it was stored
}

// AckResult is the outcome of acknowledging one event in AckEvents.
type AckResult struct {
	Event Event // the acknowledged event, when Err is nil
	Err   error // ENOTFOUND, ECONFLICT, EUNAVAILABLE, ...; nothing was written
}

// DeleteResult is the outcome of deleting one event in DeleteEvents.
type DeleteResult struct {
	// EventID is the event's id in lowercase, for the answer to a bulk
	// delete; Service.DeleteEvents sets it for every id that is a UUID, and
	// a Store need not.
	EventID string
	Err     error // ENOTFOUND, EUNAVAILABLE, ...; nil when the event was deleted
}
