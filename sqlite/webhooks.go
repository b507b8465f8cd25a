package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// Push delivery (DESIGN §11): subscriptions, and deliveries written by the
// outbox in the transaction of each event's insert (migration 007).
//
// The writer keeps every subscription in memory (DB.subs, writer only), so
// that an insert finds the subscriptions of its tenant without a query: a
// tenant without any pays one map lookup per event. The subscription writes
// go through the writer and update it once their statements have
// succeeded; when a group commit fails or is run again with savepoints, the
// cache is marked stale and read again from the next transaction that
// needs it (see subsOf).

var _ triggers.WebhookStore = (*DB)(nil)

// The outbox's insert, prepared when the store opens (hotWrites).
const qInsertDelivery = `INSERT INTO deliveries (tenant, subscription_id, event_id, event_created_at, status, next_attempt_at, tries, attempts, held)
	VALUES (?, ?, ?, ?, 'pending', ?, 0, '[]', 0)`

const (
	subColumns = `tenant, id, url, description, filter, ack_on_delivery, status, secret, previous_secret,
	previous_secret_until, created_at, updated_at, failing_since, version`
	deliveryColumns = `tenant, subscription_id, event_id, event_created_at, status, next_attempt_at, tries, attempts,
	lease_id, lease_expires_at`
)

// deleteBatch bounds the deliveries one write removes (a deleted
// subscription's, or purged ones), so that the writer is never held long.
const deleteBatch = 1000

// replayScan bounds the events one ReplayDeliveries call examines (beyond
// max, when its filter matches few): a call then returns where it stopped.
const replayScan = 2000

// subsOf returns the subscriptions of tenant, any status, from the
// writer's cache, reading it again first when it is stale. Writer only.
func (db *DB) subsOf(tx *writeTx, tenant string) ([]*triggers.Subscription, error) {
	if db.subsStale {
		subs, err := loadSubs(tx)
		if err != nil {
			return nil, err
		}
		db.subs, db.subsStale = subs, false
	}
	return db.subs[tenant], nil
}

// subOf returns one cached subscription, nil when there is none.
func (db *DB) subOf(tx *writeTx, tenant, id string) (*triggers.Subscription, error) {
	subs, err := db.subsOf(tx, tenant)
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		if s.ID == id {
			return s, nil
		}
	}
	return nil, nil
}

// putSub stores sub in the cache, replacing the one of its id. Writer only,
// after the write's statements have succeeded.
func (db *DB) putSub(sub triggers.Subscription) {
	subs := db.subs[sub.Tenant]
	for i, s := range subs {
		if s.ID == sub.ID {
			subs[i] = &sub
			return
		}
	}
	db.subs[sub.Tenant] = append(subs, &sub)
}

// dropSub removes a subscription from the cache. Writer only.
func (db *DB) dropSub(tenant, id string) {
	subs := db.subs[tenant]
	for i, s := range subs {
		if s.ID == id {
			subs = append(subs[:i:i], subs[i+1:]...)
			break
		}
	}
	if len(subs) == 0 {
		delete(db.subs, tenant)
	} else {
		db.subs[tenant] = subs
	}
}

type querier interface {
	Query(query string, args ...any) (*sql.Rows, error)
}

// loadSubs reads every subscription, by tenant.
func loadSubs(q querier) (map[string][]*triggers.Subscription, error) {
	rows, err := q.Query(`SELECT ` + subColumns + ` FROM subscriptions ORDER BY tenant, created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: load subscriptions: %w", err)
	}
	defer rows.Close()
	out := map[string][]*triggers.Subscription{}
	for rows.Next() {
		s, _, err := scanSub(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: load subscriptions: %w", err)
		}
		out[s.Tenant] = append(out[s.Tenant], &s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load subscriptions: %w", err)
	}
	return out, nil
}

// filterJSON is how a subscription's filter is stored.
type filterJSON struct {
	Source    string          `json:"source,omitempty"`
	EventType string          `json:"event_type,omitempty"`
	Priority  string          `json:"priority,omitempty"`
	Metadata  []metadataMatch `json:"metadata,omitempty"`
}

type metadataMatch struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func encodeFilter(f triggers.InboxFilter) string {
	j := filterJSON{Source: f.Source, EventType: f.EventType, Priority: string(f.Priority)}
	for _, m := range f.Metadata {
		j.Metadata = append(j.Metadata, metadataMatch{m.Key, m.Value})
	}
	b, _ := json.Marshal(j) // strings only: it cannot fail
	return string(b)
}

func decodeFilter(s string) (triggers.InboxFilter, error) {
	var j filterJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return triggers.InboxFilter{}, fmt.Errorf("decode filter: %w", err)
	}
	f := triggers.InboxFilter{Source: j.Source, EventType: j.EventType, Priority: triggers.Priority(j.Priority)}
	for _, m := range j.Metadata {
		f.Metadata = append(f.Metadata, triggers.MetadataMatch{Key: m.Key, Value: m.Value})
	}
	return f, nil
}

// filterMatches is triggers.InboxFilter.Matches for a subscription's
// filter (source, type, priority, metadata) on an event whatever its
// status, with the event's metadata terms computed once by the caller
// (nil: computed here when needed).
func filterMatches(f *triggers.InboxFilter, e *triggers.Event, terms []triggers.MetadataMatch) bool {
	switch {
	case f.Source != "" && e.Source != f.Source,
		f.EventType != "" && e.EventType != f.EventType,
		f.Priority != "" && e.Priority != f.Priority:
		return false
	case len(f.Metadata) == 0:
		return true
	}
	if terms == nil {
		terms = triggers.MetadataTerms(e.Metadata)
	}
	return f.MatchesMetadata(terms)
}

func scanSub(row scanner) (triggers.Subscription, int64, error) {
	var s triggers.Subscription
	var filter, status string
	var prevUntil, failing sql.NullInt64
	var created, updated, version int64
	if err := row.Scan(&s.Tenant, &s.ID, &s.URL, &s.Description, &filter, &s.AckOnDelivery, &status, &s.Secret,
		&s.PreviousSecret, &prevUntil, &created, &updated, &failing, &version); err != nil {
		return triggers.Subscription{}, 0, err
	}
	f, err := decodeFilter(filter)
	if err != nil {
		return triggers.Subscription{}, 0, err
	}
	s.Filter, s.Status = f, triggers.SubscriptionStatus(status)
	s.PreviousSecretUntil, s.FailingSince = instant(prevUntil), instant(failing)
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return s, version, nil
}

// subValues are the columns of sub after tenant and id, in subColumns
// order, without version.
func subValues(s *triggers.Subscription) []any {
	return []any{s.URL, s.Description, encodeFilter(s.Filter), s.AckOnDelivery, string(s.Status), s.Secret, s.PreviousSecret,
		nullMicros(s.PreviousSecretUntil), micros(s.CreatedAt), micros(s.UpdatedAt), nullMicros(s.FailingSince)}
}

// CreateSubscription stores a new subscription (triggers.WebhookStore). The
// limit check reads the writer's cache and runs in the same write as the
// insert: concurrent creates cannot pass it together. max <= 0 means no
// limit.
func (db *DB) CreateSubscription(ctx context.Context, sub triggers.Subscription, max int) error {
	args := append([]any{sub.Tenant, sub.ID}, subValues(&sub)...)
	err := db.exec(ctx, sub.Tenant, func(tx *writeTx) error {
		subs, err := db.subsOf(tx, sub.Tenant)
		if err != nil {
			return err
		}
		if max > 0 && len(subs) >= max {
			return triggers.SubscriptionLimitReached(max)
		}
		if _, err := tx.Exec(`INSERT INTO subscriptions (`+subColumns+`) VALUES (`+placeholders(14)+`)`, append(args, 0)...); err != nil {
			return fmt.Errorf("sqlite: insert subscription: %w", err)
		}
		db.putSub(sub)
		return nil
	})
	return formatError(err)
}

// GetSubscription returns one subscription (triggers.WebhookStore).
func (db *DB) GetSubscription(ctx context.Context, tenant, id string) (triggers.Subscription, error) {
	s, _, err := db.getSub(ctx, tenant, id)
	return s, err
}

func (db *DB) getSub(ctx context.Context, tenant, id string) (triggers.Subscription, int64, error) {
	s, version, err := scanSub(db.queryRow(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE tenant = ? AND id = ?`, tenant, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return triggers.Subscription{}, 0, triggers.SubscriptionNotFound()
	case err != nil:
		return triggers.Subscription{}, 0, formatError(fmt.Errorf("sqlite: get subscription: %w", err))
	}
	return s, version, nil
}

// ListSubscriptions returns a tenant's subscriptions, oldest first
// (triggers.WebhookStore).
func (db *DB) ListSubscriptions(ctx context.Context, tenant string) ([]triggers.Subscription, error) {
	rows, err := db.query(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE tenant = ? ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, formatError(fmt.Errorf("sqlite: list subscriptions: %w", err))
	}
	defer rows.Close()
	out := []triggers.Subscription{}
	for rows.Next() {
		s, _, err := scanSub(rows)
		if err != nil {
			return nil, formatError(fmt.Errorf("sqlite: list subscriptions: %w", err))
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("sqlite: list subscriptions: %w", err))
	}
	return out, nil
}

// updateAttempts bounds UpdateSubscription's compare-and-set rounds.
const updateAttempts = 10

// UpdateSubscription applies fn and stores the result
// (triggers.WebhookStore). fn runs outside the writer, on the subscription
// as read; the write then succeeds only if no other write came between
// (the version column), and otherwise fn runs again on the new state. A
// change of status holds (disabled) or releases (active) the
// subscription's pending deliveries in the same write.
func (db *DB) UpdateSubscription(ctx context.Context, tenant, id string, fn func(*triggers.Subscription) error) (triggers.Subscription, error) {
	for range updateAttempts {
		cur, version, err := db.getSub(ctx, tenant, id)
		if err != nil {
			return triggers.Subscription{}, err
		}
		next := cur
		next.Filter.Metadata = append([]triggers.MetadataMatch(nil), cur.Filter.Metadata...)
		if err := fn(&next); err != nil {
			return triggers.Subscription{}, err
		}
		next.Tenant, next.ID = tenant, id
		args := append(subValues(&next), tenant, id, version)
		changed := false
		err = db.exec(ctx, tenant, func(tx *writeTx) error {
			changed = false
			res, err := tx.Exec(`UPDATE subscriptions SET url = ?, description = ?, filter = ?, ack_on_delivery = ?, status = ?,
				secret = ?, previous_secret = ?, previous_secret_until = ?, created_at = ?, updated_at = ?, failing_since = ?,
				version = version + 1 WHERE tenant = ? AND id = ? AND version = ?`, args...)
			if err != nil {
				return fmt.Errorf("sqlite: update subscription: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return err // another write came first: read again
			}
			if next.Status != cur.Status {
				held, was := 1, 0
				if next.Status == triggers.SubscriptionActive {
					held, was = 0, 1
				}
				if _, err := tx.Exec(`UPDATE deliveries INDEXED BY deliveries_by_status SET held = ?
					WHERE tenant = ? AND subscription_id = ? AND status = 'pending' AND held = ?`, held, tenant, id, was); err != nil {
					return fmt.Errorf("sqlite: hold deliveries: %w", err)
				}
			}
			if _, err := db.subsOf(tx, tenant); err != nil {
				return err
			}
			db.putSub(next)
			changed = true
			return nil
		})
		if err != nil {
			return triggers.Subscription{}, formatError(err)
		}
		if changed {
			return next, nil
		}
	}
	return triggers.Subscription{}, triggers.Unavailable(errors.New("sqlite: subscription changed concurrently too often"))
}

// DeleteSubscription removes a subscription (triggers.WebhookStore) and
// then its deliveries, in writes of at most deleteBatch. Deliveries left by
// an interrupted delete are unreachable: a claim that meets one deletes it
// (its subscription is not in the cache), and retention purges the others.
func (db *DB) DeleteSubscription(ctx context.Context, tenant, id string) (bool, error) {
	var found bool
	var n int64
	err := db.exec(ctx, tenant, func(tx *writeTx) error {
		found, n = false, 0
		res, err := tx.Exec(`DELETE FROM subscriptions WHERE tenant = ? AND id = ?`, tenant, id)
		if err != nil {
			return fmt.Errorf("sqlite: delete subscription: %w", err)
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			return err
		}
		if n, err = deleteDeliveries(tx, tenant, id); err != nil {
			return err
		}
		if _, err := db.subsOf(tx, tenant); err != nil {
			return err
		}
		db.dropSub(tenant, id)
		found = true
		return nil
	})
	if err != nil {
		return false, formatError(err)
	}
	for n == deleteBatch && ctx.Err() == nil {
		if db.exec(ctx, tenant, func(tx *writeTx) error {
			var err error
			n, err = deleteDeliveries(tx, tenant, id)
			return err
		}) != nil {
			break // the rest is unreachable, and purged in time
		}
	}
	return found, nil
}

// deleteDeliveries deletes up to deleteBatch deliveries of a subscription.
func deleteDeliveries(tx *writeTx, tenant, id string) (int64, error) {
	res, err := tx.Exec(`DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries INDEXED BY deliveries_by_key
		WHERE tenant = ? AND subscription_id = ? LIMIT ?)`, tenant, id, deleteBatch)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete deliveries: %w", err)
	}
	return res.RowsAffected()
}

// outbox writes the deliveries of a new event (e, with its metadata terms)
// to the tenant's active subscriptions that match it, in the event's
// insert (see triggers.WebhookStore), and reports whether it wrote any. Writer only.
func (db *DB) outbox(tx *writeTx, e *triggers.Event, terms []triggers.MetadataMatch) (wrote bool, err error) {
	subs, err := db.subsOf(tx, e.Tenant)
	if err != nil || len(subs) == 0 {
		return false, err
	}
	created := micros(e.CreatedAt)
	for _, s := range subs {
		if s.Status != triggers.SubscriptionActive || !filterMatches(&s.Filter, e, terms) {
			continue
		}
		if _, err := tx.Exec(qInsertDelivery, e.Tenant, s.ID, e.ID, created, created); err != nil {
			return false, fmt.Errorf("sqlite: insert delivery: %w", err)
		}
		wrote = true
	}
	return wrote, nil
}

// attemptJSON is one attempt of a delivery's stored log.
type attemptJSON struct {
	At         int64  `json:"at"` // Unix microseconds
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
	LatencyNS  int64  `json:"latency_ns"`
}

func decodeAttempts(s string) ([]triggers.DeliveryAttempt, error) {
	var js []attemptJSON
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return nil, fmt.Errorf("decode delivery attempts: %w", err)
	}
	var out []triggers.DeliveryAttempt
	for _, a := range js {
		out = append(out, triggers.DeliveryAttempt{At: fromMicros(a.At), StatusCode: a.StatusCode, Error: a.Error, Latency: time.Duration(a.LatencyNS)})
	}
	return out, nil
}

func encodeAttempts(as []triggers.DeliveryAttempt) string {
	js := make([]attemptJSON, len(as))
	for i, a := range as {
		js[i] = attemptJSON{At: micros(a.At), StatusCode: a.StatusCode, Error: a.Error, LatencyNS: int64(a.Latency)}
	}
	b, _ := json.Marshal(js) // numbers and strings only: it cannot fail
	return string(b)
}

func scanDelivery(row scanner) (triggers.Delivery, error) {
	var d triggers.Delivery
	var created, next int64
	var status, attempts string
	var leaseID sql.NullString
	var leaseExpires sql.NullInt64
	if err := row.Scan(&d.Tenant, &d.SubscriptionID, &d.EventID, &created, &status, &next, &d.Tries, &attempts,
		&leaseID, &leaseExpires); err != nil {
		return triggers.Delivery{}, err
	}
	as, err := decodeAttempts(attempts)
	if err != nil {
		return triggers.Delivery{}, err
	}
	d.EventCreatedAt, d.NextAttemptAt = fromMicros(created), fromMicros(next)
	d.Status, d.Attempts = triggers.DeliveryStatus(status), as
	d.LeaseID, d.LeaseExpiresAt = leaseID.String, instant(leaseExpires)
	return d, nil
}

// The claim's statements: qClaimWalk reads the rowids of due deliveries
// that no unexpired lease holds from deliveries_due alone (the lease
// expiry is one of its columns), earliest due first.
const (
	qClaimWalk = `SELECT rowid FROM deliveries INDEXED BY deliveries_due
		WHERE status = 'pending' AND held = 0 AND next_attempt_at <= ? AND coalesce(lease_expires_at, 0) <= ?
		ORDER BY next_attempt_at LIMIT ?`
	qClaimOne = `UPDATE deliveries SET lease_id = ?, lease_expires_at = ? WHERE rowid = ? RETURNING ` + deliveryColumns
)

// claimRounds bounds the walks of one claim: a walk is repeated only when
// it met deliveries of deleted or disabled subscriptions, each of which
// leaves the due index as it is met.
const claimRounds = 8

// ClaimDeliveries leases due deliveries (triggers.WebhookStore) in one
// write of the single writer, which makes the leases exclusive. Like a
// receive's, the leases are volatile writes (execVolatile): a power failure
// may lose one, which only means a delivery attempted again.
//
// A delivery met whose subscription is gone (a delete interrupted before
// it removed every delivery) is deleted; one whose subscription is
// disabled is held (it leaves the due index until the subscription is
// active again). The subscription's status is read from the writer's cache.
func (db *DB) ClaimDeliveries(ctx context.Context, q triggers.ClaimQuery) ([]triggers.Delivery, error) {
	limit := min(q.Max, len(q.LeaseIDs))
	if limit <= 0 {
		return nil, nil
	}
	var got []triggers.Delivery
	err := db.execVolatile(ctx, "", func(tx *writeTx) error {
		got = got[:0] // afresh: fn may run twice (see commit)
		for range claimRounds {
			want := limit - len(got)
			seqs, err := claimWalk(tx, q.Now, want)
			if err != nil {
				return err
			}
			skipped := 0
			for _, seq := range seqs {
				d, err := scanDelivery(tx.QueryRow(qClaimOne, q.LeaseIDs[len(got)], micros(q.LeaseExpiresAt), seq))
				if err != nil {
					return fmt.Errorf("sqlite: claim delivery: %w", err)
				}
				sub, err := db.subOf(tx, d.Tenant, d.SubscriptionID)
				if err != nil {
					return err
				}
				switch {
				case sub == nil:
					_, err = tx.Exec(`DELETE FROM deliveries WHERE rowid = ?`, seq)
				case sub.Status != triggers.SubscriptionActive:
					_, err = tx.Exec(`UPDATE deliveries SET held = 1, lease_id = NULL, lease_expires_at = NULL WHERE rowid = ?`, seq)
				default:
					got = append(got, d)
					continue
				}
				if err != nil {
					return fmt.Errorf("sqlite: claim delivery: %w", err)
				}
				skipped++
			}
			if skipped == 0 || len(seqs) < want {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, formatError(err)
	}
	return got, nil
}

// claimWalk returns the rowids of up to n claimable deliveries, and closes
// the walk before the caller changes the index.
func claimWalk(tx *writeTx, now time.Time, n int) ([]int64, error) {
	rows, err := tx.Query(qClaimWalk, micros(now), micros(now), n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	defer rows.Close()
	seqs := make([]int64, 0, n)
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
		}
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	return seqs, nil
}

// The statements of a completion (CompleteDelivery), prepared at open
// (hotWrites): with the claims they are most of the dispatcher's writes.
const (
	qCompleteRead = `SELECT rowid, coalesce(lease_id, ''), attempts, next_attempt_at FROM deliveries
			WHERE tenant = ? AND subscription_id = ? AND event_id = ?`
	qCompleteWrite = `UPDATE deliveries SET status = ?, next_attempt_at = ?, tries = tries + 1, attempts = ?,
			lease_id = NULL, lease_expires_at = NULL WHERE rowid = ? RETURNING ` + deliveryColumns
)

// CompleteDelivery records an attempt's outcome and ends the lease
// (triggers.WebhookStore). A lease recorded but expired is still the
// delivery's until another claim replaces it.
//
// Like the claim, it is a volatile write (execVolatile): a completion lost
// in a power failure (not in a crash of the process: the WAL keeps it)
// leaves the delivery claimed, so it is attempted again once the lease
// expires, which at-least-once delivery allows (DESIGN §10.5 says the same
// of leases); the log then lacks that attempt. A completion is one write
// per attempt, and an fsync each would halve the deliveries per second.
func (db *DB) CompleteDelivery(ctx context.Context, o triggers.DeliveryOutcome) (triggers.Delivery, error) {
	var d triggers.Delivery
	err := db.execVolatile(ctx, o.Key.Tenant, func(tx *writeTx) error {
		var seq, next int64
		var lease, attempts string
		err := tx.QueryRow(qCompleteRead, o.Key.Tenant, o.Key.SubscriptionID, o.Key.EventID).
			Scan(&seq, &lease, &attempts, &next)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return triggers.DeliveryNotFound()
		case err != nil:
			return fmt.Errorf("sqlite: read delivery: %w", err)
		case lease == "" || lease != o.LeaseID:
			return triggers.LeaseLost(o.Key.EventID)
		}
		log, err := decodeAttempts(attempts)
		if err != nil {
			return fmt.Errorf("sqlite: read delivery: %w", err)
		}
		log = append(log, o.Attempt)
		if len(log) > triggers.MaxDeliveryLog {
			log = log[len(log)-triggers.MaxDeliveryLog:]
		}
		if o.Status == triggers.DeliveryPending {
			next = micros(o.NextAttemptAt)
		}
		d, err = scanDelivery(tx.QueryRow(qCompleteWrite, string(o.Status), next, encodeAttempts(log), seq))
		if err != nil {
			return fmt.Errorf("sqlite: complete delivery: %w", err)
		}
		return nil
	})
	if err != nil {
		return triggers.Delivery{}, formatError(err)
	}
	return d, nil
}

// ReleaseDelivery ends a claim without an attempt (triggers.WebhookStore),
// a volatile write as the claim was.
func (db *DB) ReleaseDelivery(ctx context.Context, k triggers.DeliveryKey, leaseID string, dueAt time.Time) error {
	return formatError(db.execVolatile(ctx, k.Tenant, func(tx *writeTx) error {
		var lease string
		err := tx.QueryRow(`SELECT coalesce(lease_id, '') FROM deliveries WHERE tenant = ? AND subscription_id = ? AND event_id = ?`,
			k.Tenant, k.SubscriptionID, k.EventID).Scan(&lease)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return triggers.DeliveryNotFound()
		case err != nil:
			return fmt.Errorf("sqlite: read delivery: %w", err)
		case lease == "" || lease != leaseID:
			return triggers.LeaseLost(k.EventID)
		}
		if _, err := tx.Exec(`UPDATE deliveries SET lease_id = NULL, lease_expires_at = NULL, next_attempt_at = ?
			WHERE tenant = ? AND subscription_id = ? AND event_id = ?`, micros(dueAt), k.Tenant, k.SubscriptionID, k.EventID); err != nil {
			return fmt.Errorf("sqlite: release delivery: %w", err)
		}
		return nil
	}))
}

// ListDeliveries returns a page of a subscription's deliveries in event
// order (triggers.WebhookStore): a range of deliveries_by_key, or of
// deliveries_by_status with a status.
func (db *DB) ListDeliveries(ctx context.Context, q triggers.DeliveryQuery) ([]triggers.Delivery, bool, error) {
	if _, _, err := db.getSub(ctx, q.Tenant, q.SubscriptionID); err != nil {
		return nil, false, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	index := "deliveries_by_key"
	where := []string{"tenant = ?", "subscription_id = ?"}
	args := []any{q.Tenant, q.SubscriptionID}
	if q.Status != "" {
		index = "deliveries_by_status"
		where = append(where, "status = ?")
		args = append(args, string(q.Status))
	}
	if q.EventID != "" {
		where = append(where, "event_id = ?")
		args = append(args, q.EventID)
	}
	if q.After != "" {
		where = append(where, "event_id > ?")
		args = append(args, q.After)
	}
	rows, err := db.query(ctx, `SELECT `+deliveryColumns+` FROM deliveries INDEXED BY `+index+` WHERE `+
		strings.Join(where, " AND ")+` ORDER BY event_id LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, formatError(fmt.Errorf("sqlite: list deliveries: %w", err))
	}
	defer rows.Close()
	out := []triggers.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, false, formatError(fmt.Errorf("sqlite: list deliveries: %w", err))
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, false, formatError(fmt.Errorf("sqlite: list deliveries: %w", err))
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// qResetDelivery makes a delivery pending again (a retry or a replay),
// creating it if needed: arguments tenant, subscription id, event id, event
// created_at, next attempt (now), held. An unexpired lease is kept: the
// attempt in flight finishes, and its outcome stands.
const qResetDelivery = `INSERT INTO deliveries (tenant, subscription_id, event_id, event_created_at, status, next_attempt_at, tries, attempts, held)
	VALUES (?, ?, ?, ?, 'pending', ?, 0, '[]', ?)
	ON CONFLICT (tenant, subscription_id, event_id) DO UPDATE SET status = 'pending', next_attempt_at = excluded.next_attempt_at,
		tries = 0, held = excluded.held,
		lease_id = CASE WHEN lease_expires_at > excluded.next_attempt_at THEN lease_id END,
		lease_expires_at = CASE WHEN lease_expires_at > excluded.next_attempt_at THEN lease_expires_at END`

// heldFor is the held column of a delivery made pending for sub.
func heldFor(sub *triggers.Subscription) int {
	if sub.Status == triggers.SubscriptionActive {
		return 0
	}
	return 1
}

// RetryDelivery makes one delivery pending and due at now
// (triggers.WebhookStore).
func (db *DB) RetryDelivery(ctx context.Context, k triggers.DeliveryKey, now time.Time) (triggers.Delivery, error) {
	var d triggers.Delivery
	err := db.exec(ctx, k.Tenant, func(tx *writeTx) error {
		sub, err := db.subOf(tx, k.Tenant, k.SubscriptionID)
		if err != nil {
			return err
		}
		if sub == nil {
			return triggers.DeliveryNotFound()
		}
		d, err = scanDelivery(tx.QueryRow(`UPDATE deliveries SET status = 'pending', next_attempt_at = ?1, tries = 0,
			lease_id = CASE WHEN lease_expires_at > ?1 THEN lease_id END,
			lease_expires_at = CASE WHEN lease_expires_at > ?1 THEN lease_expires_at END,
			held = ?2 WHERE tenant = ?3 AND subscription_id = ?4 AND event_id = ?5
			RETURNING `+deliveryColumns, micros(now), heldFor(sub), k.Tenant, k.SubscriptionID, k.EventID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return triggers.DeliveryNotFound()
		case err != nil:
			return fmt.Errorf("sqlite: retry delivery: %w", err)
		}
		return nil
	})
	if err != nil {
		return triggers.Delivery{}, formatError(err)
	}
	return d, nil
}

// ReplayDeliveries makes deliveries of a range of the tenant's events
// pending (triggers.WebhookStore), in one write. It walks the tenant's
// events, acknowledged and dead ones included, by created_at on
// events_by_tenant_age (migration 007), examining at most
// max(max, replayScan) of them; created_at is unique in the store (the
// writer makes it strictly increasing), so one instant is never split.
func (db *DB) ReplayDeliveries(ctx context.Context, tenant, id string, after, before, notBefore, now time.Time, max int) (int, time.Time, error) {
	lo := after
	if notBefore.After(lo) {
		lo = notBefore
	}
	hi := int64(math.MaxInt64)
	if !before.IsZero() {
		hi = micros(before)
	}
	scan := replayScan
	if max > scan {
		scan = max
	}
	var queued int
	var next time.Time
	err := db.exec(ctx, tenant, func(tx *writeTx) error {
		queued, next = 0, time.Time{}
		sub, err := db.subOf(tx, tenant, id)
		if err != nil {
			return err
		}
		if sub == nil {
			return triggers.SubscriptionNotFound()
		}
		matched, last, more, err := replayMatches(tx, sub, lo, hi, scan, max)
		if err != nil {
			return err
		}
		for _, e := range matched {
			if _, err := tx.Exec(qResetDelivery, tenant, id, e.ID, micros(e.CreatedAt), micros(now), heldFor(sub)); err != nil {
				return fmt.Errorf("sqlite: replay delivery: %w", err)
			}
		}
		queued = len(matched)
		if more {
			next = last
		}
		return nil
	})
	if err != nil {
		return 0, time.Time{}, formatError(err)
	}
	return queued, next, nil
}

// replayMatches walks the tenant's events created in (lo, hi) oldest
// first, examining at most scan of them, and returns those sub's filter
// matches (at most max), the created_at of the last examined, and whether
// events of the range remain after it.
func replayMatches(tx *writeTx, sub *triggers.Subscription, lo time.Time, hi int64, scan, max int) ([]triggers.Event, time.Time, bool, error) {
	rows, err := tx.Query(`SELECT id, created_at, source, event_type, priority, metadata FROM events INDEXED BY events_by_tenant_age
		WHERE tenant = ? AND created_at > ? AND created_at < ? ORDER BY created_at LIMIT ?`, sub.Tenant, micros(lo), hi, scan+1)
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("sqlite: replay: %w", err)
	}
	defer rows.Close()
	var matched []triggers.Event
	var last time.Time
	examined := 0
	for rows.Next() {
		if examined == scan || len(matched) == max && max > 0 {
			return matched, last, true, nil
		}
		var e triggers.Event
		var created int64
		var priority, metadata string
		if err := rows.Scan(&e.ID, &created, &e.Source, &e.EventType, &priority, &metadata); err != nil {
			return nil, time.Time{}, false, fmt.Errorf("sqlite: replay: %w", err)
		}
		e.CreatedAt, e.Priority, e.Metadata = fromMicros(created), triggers.Priority(priority), json.RawMessage(metadata)
		examined++
		last = e.CreatedAt
		if filterMatches(&sub.Filter, &e, nil) {
			matched = append(matched, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, false, fmt.Errorf("sqlite: replay: %w", err)
	}
	return matched, last, false, nil
}

// DeliveryBacklog returns, for metrics, how many deliveries are pending
// for active subscriptions (in flight included; those a disabled
// subscription holds are not counted) and the earliest NextAttemptAt among
// them (zero when there is none). It reads deliveries_due alone, on the
// read pool: the count walks that index, whose size is the backlog. now is
// not needed here; it is in the signature the dispatcher type-asserts.
func (db *DB) DeliveryBacklog(ctx context.Context, now time.Time) (pending int64, oldestDue time.Time, err error) {
	var oldest sql.NullInt64
	err = db.queryRow(ctx, `SELECT count(*), min(next_attempt_at) FROM deliveries INDEXED BY deliveries_due
		WHERE status = 'pending' AND held = 0`).Scan(&pending, &oldest)
	if err != nil {
		return 0, time.Time{}, formatError(fmt.Errorf("sqlite: delivery backlog: %w", err))
	}
	return pending, instant(oldest), nil
}
