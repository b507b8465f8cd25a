// Package mockstore is a triggers.Store whose methods are function fields,
// for unit tests of code above the store (triggers.Service): a test sets the
// functions it expects to be called, sees their arguments and chooses their
// answers. A call to a method whose function is not set panics, naming it,
// so that an unexpected store call is a failure, not a silent zero value.
package mockstore

import (
	"context"
	"time"

	triggers "github.com/triggersapi/triggers"
)

var _ triggers.Store = (*Store)(nil)

// Store is a triggers.Store with one …Fn field per method; each method calls
// its field. It is as safe for concurrent use as the functions it is given.
type Store struct {
	InsertEventsFn  func(ctx context.Context, inserts []triggers.Insert) ([]triggers.InsertResult, error)
	GetEventFn      func(ctx context.Context, tenant, id string, notBefore time.Time) (triggers.Event, error)
	AckEventFn      func(ctx context.Context, tenant string, a triggers.Ack, at, notBefore time.Time) (triggers.Event, error)
	DeleteEventFn   func(ctx context.Context, tenant, id string, notBefore time.Time) (bool, error)
	AckEventsFn     func(ctx context.Context, tenant string, acks []triggers.Ack, at, notBefore time.Time) ([]triggers.AckResult, error)
	DeleteEventsFn  func(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.DeleteResult, error)
	ReceiveEventsFn func(ctx context.Context, q triggers.ReceiveQuery) (triggers.Received, error)
	NackEventsFn    func(ctx context.Context, tenant string, nacks []triggers.Nack, now, notBefore time.Time) ([]triggers.EventResult, error)
	ExtendLeaseFn   func(ctx context.Context, tenant string, a triggers.Ack, expiresAt, now, notBefore time.Time) (triggers.Event, error)
	RedriveEventsFn func(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.EventResult, error)
	ListPendingFn   func(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error)
	StatsFn         func(ctx context.Context, q triggers.StatsQuery) (triggers.Stats, error)
	DeleteExpiredFn func(ctx context.Context, eventsBefore, idemBefore time.Time) (int, error)
	CreateKeyFn     func(ctx context.Context, k triggers.APIKey) error
	KeyByHashFn     func(ctx context.Context, hash string) (triggers.APIKey, error)
	ListKeysFn      func(ctx context.Context) ([]triggers.APIKey, error)
	UpdateKeyFn     func(ctx context.Context, id string, fn func(*triggers.APIKey) error) (triggers.APIKey, error)
	PingFn          func(ctx context.Context) error
	CloseFn         func() error
}

// unset panics for a call of method whose function is not set.
func unset(method string) {
	panic("mockstore: Store." + method + " called, but " + method + "Fn is not set")
}

// InsertEvents calls InsertEventsFn.
func (s *Store) InsertEvents(ctx context.Context, inserts []triggers.Insert) ([]triggers.InsertResult, error) {
	if s.InsertEventsFn == nil {
		unset("InsertEvents")
	}
	return s.InsertEventsFn(ctx, inserts)
}

// GetEvent calls GetEventFn.
func (s *Store) GetEvent(ctx context.Context, tenant, id string, notBefore time.Time) (triggers.Event, error) {
	if s.GetEventFn == nil {
		unset("GetEvent")
	}
	return s.GetEventFn(ctx, tenant, id, notBefore)
}

// AckEvent calls AckEventFn.
func (s *Store) AckEvent(ctx context.Context, tenant string, a triggers.Ack, at, notBefore time.Time) (triggers.Event, error) {
	if s.AckEventFn == nil {
		unset("AckEvent")
	}
	return s.AckEventFn(ctx, tenant, a, at, notBefore)
}

// DeleteEvent calls DeleteEventFn.
func (s *Store) DeleteEvent(ctx context.Context, tenant, id string, notBefore time.Time) (bool, error) {
	if s.DeleteEventFn == nil {
		unset("DeleteEvent")
	}
	return s.DeleteEventFn(ctx, tenant, id, notBefore)
}

// AckEvents calls AckEventsFn.
func (s *Store) AckEvents(ctx context.Context, tenant string, acks []triggers.Ack, at, notBefore time.Time) ([]triggers.AckResult, error) {
	if s.AckEventsFn == nil {
		unset("AckEvents")
	}
	return s.AckEventsFn(ctx, tenant, acks, at, notBefore)
}

// DeleteEvents calls DeleteEventsFn.
func (s *Store) DeleteEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.DeleteResult, error) {
	if s.DeleteEventsFn == nil {
		unset("DeleteEvents")
	}
	return s.DeleteEventsFn(ctx, tenant, ids, notBefore)
}

// ListPending calls ListPendingFn.
func (s *Store) ListPending(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error) {
	if s.ListPendingFn == nil {
		unset("ListPending")
	}
	return s.ListPendingFn(ctx, q)
}

// DeleteExpired calls DeleteExpiredFn.
func (s *Store) DeleteExpired(ctx context.Context, eventsBefore, idemBefore time.Time) (int, error) {
	if s.DeleteExpiredFn == nil {
		unset("DeleteExpired")
	}
	return s.DeleteExpiredFn(ctx, eventsBefore, idemBefore)
}

// CreateKey calls CreateKeyFn.
func (s *Store) CreateKey(ctx context.Context, k triggers.APIKey) error {
	if s.CreateKeyFn == nil {
		unset("CreateKey")
	}
	return s.CreateKeyFn(ctx, k)
}

// KeyByHash calls KeyByHashFn.
func (s *Store) KeyByHash(ctx context.Context, hash string) (triggers.APIKey, error) {
	if s.KeyByHashFn == nil {
		unset("KeyByHash")
	}
	return s.KeyByHashFn(ctx, hash)
}

// ListKeys calls ListKeysFn.
func (s *Store) ListKeys(ctx context.Context) ([]triggers.APIKey, error) {
	if s.ListKeysFn == nil {
		unset("ListKeys")
	}
	return s.ListKeysFn(ctx)
}

// UpdateKey calls UpdateKeyFn.
func (s *Store) UpdateKey(ctx context.Context, id string, fn func(*triggers.APIKey) error) (triggers.APIKey, error) {
	if s.UpdateKeyFn == nil {
		unset("UpdateKey")
	}
	return s.UpdateKeyFn(ctx, id, fn)
}

// Ping calls PingFn.
func (s *Store) Ping(ctx context.Context) error {
	if s.PingFn == nil {
		unset("Ping")
	}
	return s.PingFn(ctx)
}

// Close calls CloseFn.
func (s *Store) Close() error {
	if s.CloseFn == nil {
		unset("Close")
	}
	return s.CloseFn()
}

// ReceiveEvents calls ReceiveEventsFn.
func (s *Store) ReceiveEvents(ctx context.Context, q triggers.ReceiveQuery) (triggers.Received, error) {
	if s.ReceiveEventsFn == nil {
		unset("ReceiveEvents")
	}
	return s.ReceiveEventsFn(ctx, q)
}

// NackEvents calls NackEventsFn.
func (s *Store) NackEvents(ctx context.Context, tenant string, nacks []triggers.Nack, now, notBefore time.Time) ([]triggers.EventResult, error) {
	if s.NackEventsFn == nil {
		unset("NackEvents")
	}
	return s.NackEventsFn(ctx, tenant, nacks, now, notBefore)
}

// ExtendLease calls ExtendLeaseFn.
func (s *Store) ExtendLease(ctx context.Context, tenant string, a triggers.Ack, expiresAt, now, notBefore time.Time) (triggers.Event, error) {
	if s.ExtendLeaseFn == nil {
		unset("ExtendLease")
	}
	return s.ExtendLeaseFn(ctx, tenant, a, expiresAt, now, notBefore)
}

// RedriveEvents calls RedriveEventsFn.
func (s *Store) RedriveEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.EventResult, error) {
	if s.RedriveEventsFn == nil {
		unset("RedriveEvents")
	}
	return s.RedriveEventsFn(ctx, tenant, ids, notBefore)
}

// Stats calls StatsFn.
func (s *Store) Stats(ctx context.Context, q triggers.StatsQuery) (triggers.Stats, error) {
	if s.StatsFn == nil {
		unset("Stats")
	}
	return s.StatsFn(ctx, q)
}
