package triggers

import (
	"context"
	"time"
)

// DeliveryStatus is where a delivery stands (DESIGN §11.2).
type DeliveryStatus string

// The delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryFailed    DeliveryStatus = "failed"
)

// MaxDeliveryLog is how many attempts a delivery's log keeps: the oldest
// are dropped beyond it, so that a record stays small however often it is
// retried by hand.
const MaxDeliveryLog = 50

// ReasonSubscriptionLimit is the details.reason of the ECONFLICT a create
// gets when the tenant has its maximum of subscriptions.
const ReasonSubscriptionLimit = "subscription_limit"

// Delivery is the push of one event to one subscription: at most one per
// (subscription, event). A retry or a replay makes it pending again and
// keeps its log.
type Delivery struct {
	Tenant         string
	SubscriptionID string
	EventID        string
	// EventCreatedAt orders a subscription's deliveries (oldest event first).
	EventCreatedAt time.Time
	Status         DeliveryStatus
	// NextAttemptAt is when a pending delivery is due.
	NextAttemptAt time.Time
	// Tries counts the attempts since the delivery was last made pending
	// by its event's creation, a retry or a replay: the position in the
	// retry schedule.
	Tries int
	// Attempts is the log, oldest first, at most MaxDeliveryLog.
	Attempts []DeliveryAttempt
	// LeaseID and LeaseExpiresAt: a dispatcher holds the delivery while
	// it attempts it (ClaimDeliveries); zero when none does.
	LeaseID        string
	LeaseExpiresAt time.Time
}

// DeliveryAttempt is one attempt in a delivery's log.
type DeliveryAttempt struct {
	At         time.Time
	StatusCode int    // 0 when no response came
	Error      string // why no response came, or why the response was a failure; "" on success
	Latency    time.Duration
}

// DeliveryKey names a delivery.
type DeliveryKey struct {
	Tenant         string
	SubscriptionID string
	EventID        string
}

// Key returns the delivery's key.
func (d *Delivery) Key() DeliveryKey {
	return DeliveryKey{Tenant: d.Tenant, SubscriptionID: d.SubscriptionID, EventID: d.EventID}
}

// ClaimQuery is one dispatcher's request for due deliveries.
type ClaimQuery struct {
	Now time.Time
	Max int
	// LeaseIDs holds Max fresh lease ids (NewLeaseID), used in order.
	LeaseIDs       []string
	LeaseExpiresAt time.Time
}

// DeliveryOutcome is what a dispatcher reports after one attempt.
type DeliveryOutcome struct {
	Key     DeliveryKey
	LeaseID string
	Attempt DeliveryAttempt
	// Status is DeliverySucceeded, DeliveryFailed (no attempt left, or
	// nothing left to deliver) or DeliveryPending (retried at NextAttemptAt).
	Status        DeliveryStatus
	NextAttemptAt time.Time
}

// DeliveryQuery selects a page of one subscription's deliveries, oldest
// event first.
type DeliveryQuery struct {
	Tenant         string
	SubscriptionID string
	Status         DeliveryStatus // "" = any
	EventID        string         // "" = any
	// After is the EventID of the last delivery of the previous page (the
	// deliveries are in event order, and event ids are ordered by time).
	After string
	Limit int
}

// WebhookStore is what push delivery needs from a store, besides Store
// (DESIGN §11). Both stores implement it and pass the webhook part of the
// conformance suite.
//
// The outbox: a store implementing WebhookStore extends InsertEvents. Every
// event it stores (not a replay) gets a pending delivery, due at once, to
// every subscription of its tenant that is active and matches the event
// (Subscription.Matches) when the event is stored; the event and the
// promise of its deliveries are one atomic write, so that a 201 event is
// never lost for delivery (a crash after the write cannot lose it). A store
// may write the delivery records themselves later (a fan-out step run by
// ClaimDeliveries), as long as the set of deliveries is the one the
// subscriptions had when the event was stored, and ListDeliveries shows
// them within a few seconds.
type WebhookStore interface {
	// CreateSubscription stores a new subscription; ECONFLICT with reason
	// ReasonSubscriptionLimit when its tenant already has max of them
	// (checked atomically with the write).
	CreateSubscription(ctx context.Context, sub Subscription, max int) error
	// GetSubscription returns one subscription; ENOTFOUND when it is
	// unknown or of another tenant.
	GetSubscription(ctx context.Context, tenant, id string) (Subscription, error)
	// ListSubscriptions returns every subscription of tenant, oldest first
	// (by CreatedAt, then ID). A tenant has at most a few dozen.
	ListSubscriptions(ctx context.Context, tenant string) ([]Subscription, error)
	// UpdateSubscription applies fn to the subscription and stores the
	// result atomically; fn may run more than once. ENOTFOUND as for
	// GetSubscription; fn's error is returned.
	UpdateSubscription(ctx context.Context, tenant, id string, fn func(*Subscription) error) (Subscription, error)
	// DeleteSubscription removes a subscription and reports whether it
	// existed. Its deliveries stop: they are removed or never attempted
	// again.
	DeleteSubscription(ctx context.Context, tenant, id string) (bool, error)

	// ClaimDeliveries leases up to q.Max pending deliveries due at q.Now
	// (NextAttemptAt at or before it) that no unexpired lease holds, of any
	// tenant, the earliest due first (the aim; a shared store may deviate
	// under contention), and returns them with LeaseID (from q.LeaseIDs)
	// and LeaseExpiresAt set. Leases are exclusive across calls and
	// processes: a delivery is never leased while an unexpired lease holds
	// it, so no delivery is attempted twice at once. Deliveries of deleted
	// or disabled subscriptions are never returned (those of a disabled
	// one wait, and are due again when it is made active).
	ClaimDeliveries(ctx context.Context, q ClaimQuery) ([]Delivery, error)
	// CompleteDelivery records an attempt and the delivery's new status
	// (appending to the log, at most MaxDeliveryLog kept; Tries one more),
	// and ends the lease; ECONFLICT (ReasonLeaseLost) when o.LeaseID is not
	// the delivery's lease any more, and then nothing changes; ENOTFOUND
	// when the delivery is gone.
	CompleteDelivery(ctx context.Context, o DeliveryOutcome) (Delivery, error)
	// ReleaseDelivery ends a claim without an attempt: the delivery is due
	// again at dueAt (its NextAttemptAt), its log and Tries unchanged. A
	// dispatcher releases what it claimed and will not attempt (a
	// subscription already at its bound, a shutdown), so that it need not
	// wait out the lease. ECONFLICT (ReasonLeaseLost) when leaseID is not
	// the delivery's lease, ENOTFOUND when it is gone.
	ReleaseDelivery(ctx context.Context, k DeliveryKey, leaseID string, dueAt time.Time) error
	// ListDeliveries returns a page of a subscription's deliveries and
	// whether more follow. ENOTFOUND when the subscription is unknown or of
	// another tenant.
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, bool, error)
	// RetryDelivery makes one delivery pending and due at now, whatever its
	// status, with Tries 0, keeping its log and an unexpired lease (an
	// attempt in flight finishes and its outcome stands: a delivery is
	// never attempted twice at once); ENOTFOUND when it is unknown.
	RetryDelivery(ctx context.Context, k DeliveryKey, now time.Time) (Delivery, error)
	// ReplayDeliveries makes a delivery to subscription id, pending and
	// due at now with Tries 0 (an unexpired lease kept, as by
	// RetryDelivery), of the events of tenant created after
	// `after` and before `before` (both exclusive) and after notBefore
	// (retained) that the subscription's filter matches, whatever became
	// of them since (acknowledged and dead events too), creating the
	// deliveries that do not exist; oldest event first, at most max of
	// them (events of one CreatedAt are never split between calls: a call
	// may go past max to take them all). It returns how many it queued, and the CreatedAt of the last
	// one when more events of the range remain (zero otherwise), from
	// which a next call can go on. ENOTFOUND when the subscription is
	// unknown or of another tenant.
	ReplayDeliveries(ctx context.Context, tenant, id string, after, before, notBefore, now time.Time, max int) (int, time.Time, error)
}

// SubscriptionLimitReached is the ECONFLICT of creating a subscription for
// a tenant that already has max of them.
func SubscriptionLimitReached(max int) *Error {
	return conflict(ReasonSubscriptionLimit, "the tenant already has its maximum of %d subscriptions", max)
}

// SubscriptionNotFound is the ENOTFOUND of a subscription that is unknown
// or of another tenant.
func SubscriptionNotFound() *Error { return Errorf(ENOTFOUND, "subscription not found") }

// DeliveryNotFound is the ENOTFOUND of a delivery that is unknown.
func DeliveryNotFound() *Error { return Errorf(ENOTFOUND, "delivery not found") }
