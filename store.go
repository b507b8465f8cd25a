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

	// AckEvent marks a pending or dead event acknowledged at `at`, ending
	// any lease (LeaseID, LeaseExpiresAt, AvailableAt and DeadAt become
	// zero), and returns it. ENOTFOUND as for GetEvent; ECONFLICT
	// (AlreadyAcknowledged) if it was already acknowledged; with a.LeaseID
	// set, ECONFLICT (LeaseLost) when that is not the event's recorded lease,
	// expired or not, and nothing changes. Of concurrent acks of one event
	// exactly one succeeds.
	AckEvent(ctx context.Context, tenant string, a Ack, at, notBefore time.Time) (Event, error)

	// DeleteEvent removes the event and reports whether it existed (visible,
	// in this tenant). Deleting an unknown event is not an error.
	DeleteEvent(ctx context.Context, tenant, id string, notBefore time.Time) (bool, error)

	// AckEvents acknowledges events of tenant at `at`, one result per ack,
	// each as AckEvent would. The ids of one call are distinct (Service
	// resolves an id repeated in one request), so the items may be applied
	// in any order. The returned error is for failures of the whole call,
	// after which nothing was acknowledged; a store failure that hits only
	// some items is those items' Err (EUNAVAILABLE), never a success for an
	// item not written. A bulk call costs a bounded number of sequential
	// round trips, not one per item.
	AckEvents(ctx context.Context, tenant string, acks []Ack, at, notBefore time.Time) ([]AckResult, error)

	// DeleteEvents deletes events of tenant, one result per id: ENOTFOUND
	// when the event is unknown, of another tenant, expired or already
	// deleted. The ids of one call are distinct, and errors are as for
	// AckEvents.
	DeleteEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]DeleteResult, error)

	// ListPending returns a page of the tenant's events matching the query,
	// oldest first (CreatedAt, then ID): pending events (leased or not), or
	// dead events when q.Filter.Status is StatusDead. The page holds q.Limit events
	// whenever that many match beyond q.After, unless q.MaxScan was reached
	// first or the next match would take the page over q.MaxBytes (see
	// ByteBudget); Page.Next is nil only when nothing more matches. A store whose
	// writes can become visible out of order may keep Next behind a settle
	// window (DESIGN §4, at most 1 s); it then waits for the page's events
	// to settle, rather than answer short.
	ListPending(ctx context.Context, q InboxQuery) (Page, error)

	// ReceiveEvents leases up to q.Max events of q.Tenant that match
	// q.Filter and are available at q.Now (Event.Available), oldest first
	// (the aim; a shared store may deviate under contention), and returns
	// them as stored by the lease: each with a LeaseID of q.LeaseIDs, no
	// two alike (the i-th event with q.LeaseIDs[i] unless a shared store
	// lost races on the way), LeaseExpiresAt q.LeaseExpiresAt, Attempts one
	// more than before, AvailableAt zero. An available matching event whose Attempts
	// already reached q.MaxAttempts is dead-lettered instead (DeadAt q.Now;
	// LeaseID, LeaseExpiresAt and AvailableAt zero; Attempts kept; it
	// leaves the pending inbox), does not count toward q.Max and is counted
	// in Received.DeadLettered.
	//
	// With no other receive competing, the events leased are the oldest
	// available matching ones, and the events dead-lettered are among those
	// examined before the last one leased; a store shared by several
	// processes may spread competing receives over more than the oldest
	// events (DESIGN §10.2: oldest first is the aim, not a promise across
	// instances), and may return fewer than q.Max when competing receives
	// won the events it tried within its bounded number of rounds.
	//
	// Leases are exclusive: across concurrent calls, and processes sharing
	// the store, an event is never leased while it holds an unexpired lease.
	// The call returns only once every lease it reports is stored (durable
	// on stores that fsync). A store examines at most q.MaxScan events; it
	// may then return fewer than q.Max although more are available further
	// on. It leases fewer than q.Max when the next event would take the
	// leased events over q.MaxBytes (see ByteBudget), and never leases an
	// event it does not return. Nothing available is not an error:
	// Received.Events is empty.
	ReceiveEvents(ctx context.Context, q ReceiveQuery) (Received, error)

	// NackEvents ends leases of tenant's events, one result per nack: the
	// event keeps its attempts, loses its lease and is available again at
	// n.AvailableAt (zero: at once). ENOTFOUND as for GetEvent; ECONFLICT
	// with LeaseLost when n.LeaseID is not the event's recorded lease (also
	// for a dead event), LeaseExpired when it is but expired at now,
	// AlreadyAcknowledged for an acknowledged event; such items change
	// nothing. Ids are distinct and errors are as for AckEvents.
	NackEvents(ctx context.Context, tenant string, nacks []Nack, now, notBefore time.Time) ([]EventResult, error)

	// ExtendLease sets the expiry of the event's current lease to expiresAt
	// and returns the event. Errors as for NackEvents.
	ExtendLease(ctx context.Context, tenant string, a Ack, expiresAt, now, notBefore time.Time) (Event, error)

	// RedriveEvents makes dead events of tenant pending and available again
	// with Attempts 0 and DeadAt (and any lease or delay) zero, one result per id: ENOTFOUND as for
	// GetEvent, ECONFLICT (NotDead) for an event that is not dead. Ids are
	// distinct and errors are as for AckEvents.
	RedriveEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]EventResult, error)

	// Stats returns the statistics of q.Tenant's events that match q.Source
	// and q.EventType (DESIGN §12; see Stats for what each number counts).
	// Events created at or before q.NotBefore are not counted as pending,
	// leased or dead, purged or not. A call costs a bounded amount of work
	// however many events the tenant has: a store keeps counters with its
	// writes rather than count events. A store whose counters are kept
	// outside the events' own atomic writes sets Approximate; it must still
	// be exact once its writes have returned and DeleteExpired has removed
	// the expired events.
	Stats(ctx context.Context, q StatsQuery) (Stats, error)

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
	// Outbox: the insert left work for a webhook dispatcher (DESIGN §11.3):
	// deliveries written with the event, or an outbox entry to fan out.
	// A store that knows the event matched no subscription leaves it false,
	// so that a create wakes no dispatcher for nothing.
	Outbox bool
}

// EventResult is the outcome of one item of a bulk verb on events.
type EventResult struct {
	Event Event // the event as the verb left it, when Err is nil
	Err   error // ENOTFOUND, ECONFLICT, EUNAVAILABLE, ...; nothing was written
}

// AckResult is the outcome of acknowledging one event in AckEvents.
type AckResult = EventResult

// Ack names an event to acknowledge (or whose lease to extend), with the
// lease the caller holds: "" acknowledges whatever its lease.
type Ack struct {
	ID      string
	LeaseID string
}

// Nack ends the lease LeaseID of event ID; the event is available again at
// AvailableAt (zero: at once).
type Nack struct {
	ID          string
	LeaseID     string
	AvailableAt time.Time
}

// ReceiveQuery is what Service asks a store for in one receive attempt.
type ReceiveQuery struct {
	Tenant string
	Filter InboxFilter // Status is always pending
	// NotBefore hides expired events, as in InboxQuery.
	NotBefore time.Time
	Now       time.Time
	Max       int
	// LeaseIDs holds Max fresh lease ids, used in order.
	LeaseIDs       []string
	LeaseExpiresAt time.Time
	MaxAttempts    int
	MaxScan        int
	// MaxBytes bounds the event bytes of the events leased, as
	// InboxQuery.MaxBytes bounds a page (see ByteBudget): a store leases no
	// event beyond the first that does not fit, which stays available and
	// keeps its attempts. 0 means no bound.
	MaxBytes int
}

// Received is the outcome of ReceiveEvents.
type Received struct {
	Events       []Event // leased, oldest first
	DeadLettered int     // events dead-lettered by this call
	// NextAvailable is, when Events is empty, the earliest instant after Now
	// at which an event of the tenant now leased or delayed by a nack becomes
	// available (matching the filter or not), so that a waiting receive can
	// sleep until then; zero when there is none or the store does not know.
	NextAvailable time.Time
}

// DeleteResult is the outcome of deleting one event in DeleteEvents.
type DeleteResult struct {
	// EventID is the event's id in lowercase, for the answer to a bulk
	// delete; Service.DeleteEvents sets it for every id that is a UUID, and
	// a Store need not.
	EventID string
	Err     error // ENOTFOUND, EUNAVAILABLE, ...; nil when the event was deleted
}

// ReceivePoller is implemented by stores that several processes share. A
// create in another process cannot wake a receive waiting in this one, so
// while it waits Service asks the store again after the interval, doubling
// it up to four times its value.
type ReceivePoller interface {
	ReceivePollInterval() time.Duration
}

// AcksOf returns unconditional acks of ids.
func AcksOf(ids []string) []Ack {
	acks := make([]Ack, len(ids))
	for i, id := range ids {
		acks[i] = Ack{ID: id}
	}
	return acks
}
