package sqlite

import (
	"context"
	"errors"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// errLeasesTODO stands for the lease verbs until they are built.
var errLeasesTODO = errors.New("sqlite: leases are not implemented yet")

// ReceiveEvents leases available events (see triggers.Store).
func (db *DB) ReceiveEvents(ctx context.Context, q triggers.ReceiveQuery) (triggers.Received, error) {
	return triggers.Received{}, errLeasesTODO
}

// NackEvents ends leases (see triggers.Store).
func (db *DB) NackEvents(ctx context.Context, tenant string, nacks []triggers.Nack, now, notBefore time.Time) ([]triggers.EventResult, error) {
	return nil, errLeasesTODO
}

// ExtendLease extends a lease (see triggers.Store).
func (db *DB) ExtendLease(ctx context.Context, tenant string, a triggers.Ack, expiresAt, now, notBefore time.Time) (triggers.Event, error) {
	return triggers.Event{}, errLeasesTODO
}

// RedriveEvents makes dead events pending again (see triggers.Store).
func (db *DB) RedriveEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.EventResult, error) {
	return nil, errLeasesTODO
}
