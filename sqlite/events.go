package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// The hot write statements, prepared when the store opens (hotWrites).
const (
	qSelectIdem = `SELECT request_hash, event_id, event_created_at FROM idempotency
		WHERE tenant = ? AND key = ? AND created_at > ?`
	qInsertEvent = `INSERT INTO events (tenant, id, created_at, source, event_type, priority, payload, metadata)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qInsertIdem = `INSERT OR REPLACE INTO idempotency (tenant, key, request_hash, event_id, event_created_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`
	// qAck acknowledges a pending event, ending its lease; with a lease id
	// (given twice, "" for none) only while that is its lease. qAckDead
	// acknowledges a dead event (which has no lease). They are two so that
	// the statistics know which counter the event leaves (countEvent).
	qAck = `UPDATE events SET acked_at = ?, lease_id = NULL, lease_expires_at = NULL, available_at = NULL
		WHERE tenant = ? AND id = ? AND created_at > ? AND acked_at IS NULL AND dead_at IS NULL AND (? = '' OR lease_id = ?)
		RETURNING ` + eventColumns
	qAckDead = `UPDATE events SET acked_at = ?, dead_at = NULL
		WHERE tenant = ? AND id = ? AND created_at > ? AND acked_at IS NULL AND dead_at IS NOT NULL
		RETURNING ` + eventColumns
	// qEventState tells why a conditional write found nothing to change.
	qEventState = `SELECT acked_at IS NOT NULL, dead_at IS NOT NULL, coalesce(lease_id, ''), coalesce(lease_expires_at, 0)
		FROM events WHERE tenant = ? AND id = ? AND created_at > ?`
	qDeleteEvent = `DELETE FROM events WHERE tenant = ? AND id = ? AND created_at > ?
		RETURNING ` + stateColumns + `, source, event_type`
	qInsertTerm = `INSERT OR IGNORE INTO event_metadata (tenant, key, value, created_at, id, source, event_type, priority)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// qDeleteTerms removes an event's metadata index rows: a range of
	// event_metadata_by_event (migration 005), which SQLite without
	// statistics would not choose over a walk of the tenant.
	qDeleteTerms = `DELETE FROM event_metadata INDEXED BY event_metadata_by_event WHERE tenant = ? AND id = ?`
)

// stateColumns reads whether a row is open (pending: neither acknowledged
// nor dead) and whether it is dead, the two states the statistics count.
const stateColumns = `acked_at IS NULL AND dead_at IS NULL, acked_at IS NULL AND dead_at IS NOT NULL`

// indexMetadata adds the metadata index rows of a pending event (terms
// from triggers.MetadataTerms), and unindexMetadata removes them when it
// stops being pending (acknowledged, dead, deleted or purged). Removing
// them reads neither the event's metadata nor the rules that made them: it
// costs one index range of as many rows as were written.
func indexMetadata(tx *writeTx, e *triggers.Event, terms []triggers.MetadataMatch, created int64) error {
	for _, t := range terms {
		if _, err := tx.Exec(qInsertTerm, e.Tenant, t.Key, t.Value, created, e.ID, e.Source, e.EventType, string(e.Priority)); err != nil {
			return fmt.Errorf("sqlite: index metadata: %w", err)
		}
	}
	return nil
}

func unindexMetadata(tx *writeTx, tenant, id string) error {
	if _, err := tx.Exec(qDeleteTerms, tenant, id); err != nil {
		return fmt.Errorf("sqlite: unindex metadata: %w", err)
	}
	return nil
}

// deleteOne deletes a visible event and its metadata index rows, reporting
// whether it existed.
func deleteOne(tx *writeTx, tenant, id string, notBefore time.Time) (bool, error) {
	var pending, dead bool
	var source, eventType string
	err := tx.QueryRow(qDeleteEvent, tenant, id, micros(notBefore)).Scan(&pending, &dead, &source, &eventType)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: delete event: %w", err)
	}
	if err := countEvent(tx, tenant, source, eventType, -b2i(pending), -b2i(dead)); err != nil {
		return false, err
	}
	if pending {
		return true, unindexMetadata(tx, tenant, id)
	}
	return true, nil
}

// InsertEvents stores each insert as one write of the tenant's lane (see
// Writes in the package doc): the inserts of a call run in order, in one
// group commit or, when they are large, several, and the call returns once
// every one is durable. A failure of some inserts is their Err; when none
// was stored, it is the call's error.
//
// Each event stored (not a replay) gets its deliveries in the same write:
// one per active subscription of its tenant that matches it, found in the
// writer's cache of subscriptions (the outbox, see webhooks.go).
//
// Everything that does not need the transaction (the metadata terms, the
// column values) is prepared here, in the caller's goroutine, so that the
// single writer only executes statements.
func (db *DB) InsertEvents(ctx context.Context, inserts []triggers.Insert) ([]triggers.InsertResult, error) {
	if len(inserts) == 0 {
		return []triggers.InsertResult{}, nil
	}
	rows := make([]insertRow, len(inserts))
	for i, in := range inserts {
		rows[i] = insertRow{Insert: in, payload: string(in.Event.Payload), metadata: string(in.Event.Metadata),
			terms: triggers.MetadataTerms(in.Event.Metadata)}
	}
	results := make([]triggers.InsertResult, len(inserts))
	errs, err := db.execEach(ctx, inserts[0].Event.Tenant, len(rows),
		func(i int) int { return len(rows[i].payload) + len(rows[i].metadata) },
		func(tx *writeTx, i int) error {
			last := db.lastCreated
			r, err := insertOne(tx, &rows[i], &last)
			if err != nil {
				return err
			}
			if !r.Replayed {
				if r.Outbox, err = db.outbox(tx, &r.Event, rows[i].terms); err != nil {
					return err
				}
			}
			db.lastCreated = last
			results[i] = r
			return nil
		})
	if err != nil {
		return nil, err
	}
	for i, err := range errs {
		if err != nil {
			results[i] = triggers.InsertResult{Err: err}
		}
	}
	return results, nil
}

// insertRow is an insert with its column values prepared outside the writer.
type insertRow struct {
	triggers.Insert
	payload, metadata string
	terms             []triggers.MetadataMatch
}

func insertOne(tx *writeTx, in *insertRow, last *int64) (triggers.InsertResult, error) {
	e := in.Event
	if in.IdempotencyKey != "" {
		var hash, id string
		var created int64
		err := tx.QueryRow(qSelectIdem, e.Tenant, in.IdempotencyKey, micros(in.IdempotencyNotBefore)).Scan(&hash, &id, &created)
		switch {
		case err == nil:
			return triggers.InsertResult{Event: triggers.Event{ID: id, Tenant: e.Tenant, CreatedAt: fromMicros(created)},
				Replayed: true, RequestHash: hash}, nil
		case !errors.Is(err, sql.ErrNoRows):
			return triggers.InsertResult{}, fmt.Errorf("sqlite: read idempotency record: %w", err)
		}
	}
	created := micros(e.CreatedAt)
	if created <= *last {
		created = *last + 1
	}
	*last = created
	e.CreatedAt = fromMicros(created)
	if _, err := tx.Exec(qInsertEvent, e.Tenant, e.ID, created, e.Source, e.EventType, string(e.Priority), in.payload, in.metadata); err != nil {
		return triggers.InsertResult{}, fmt.Errorf("sqlite: insert event: %w", err)
	}
	if err := indexMetadata(tx, &e, in.terms, created); err != nil {
		return triggers.InsertResult{}, err
	}
	if err := countEvent(tx, e.Tenant, e.Source, e.EventType, 1, 0); err != nil {
		return triggers.InsertResult{}, err
	}
	if err := countHistory(tx, e.Tenant, e.Source, e.EventType, created, 1, 0); err != nil {
		return triggers.InsertResult{}, err
	}
	if in.IdempotencyKey != "" {
		// REPLACE: an expired record of the same key gives way to the new one.
		if _, err := tx.Exec(qInsertIdem, e.Tenant, in.IdempotencyKey, in.RequestHash, e.ID, created, created); err != nil {
			return triggers.InsertResult{}, fmt.Errorf("sqlite: insert idempotency record: %w", err)
		}
	}
	return triggers.InsertResult{Event: e}, nil
}

const eventColumns = `id, tenant, created_at, source, event_type, priority, payload, metadata, acked_at,
	attempts, lease_id, lease_expires_at, available_at, dead_at`

type scanner interface{ Scan(dest ...any) error }

func scanEvent(row scanner) (triggers.Event, error) {
	var e triggers.Event
	var created int64
	var acked, leaseExpires, available, dead sql.NullInt64
	var leaseID sql.NullString
	var priority, payload, metadata string
	if err := row.Scan(&e.ID, &e.Tenant, &created, &e.Source, &e.EventType, &priority, &payload, &metadata, &acked,
		&e.Attempts, &leaseID, &leaseExpires, &available, &dead); err != nil {
		return triggers.Event{}, err
	}
	e.CreatedAt = fromMicros(created)
	e.Priority = triggers.Priority(priority)
	e.Payload = json.RawMessage(payload)
	e.Metadata = json.RawMessage(metadata)
	e.AcknowledgedAt = instant(acked)
	e.LeaseID = leaseID.String
	e.LeaseExpiresAt = instant(leaseExpires)
	e.AvailableAt = instant(available)
	e.DeadAt = instant(dead)
	return e, nil
}

// instant reads an optional instant stored by nullMicros.
func instant(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// GetEvent returns a visible event of the tenant.
func (db *DB) GetEvent(ctx context.Context, tenant, id string, notBefore time.Time) (triggers.Event, error) {
	row := db.queryRow(ctx, `SELECT `+eventColumns+` FROM events
		WHERE tenant = ? AND id = ? AND created_at > ?`, tenant, id, micros(notBefore))
	e, err := scanEvent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return triggers.Event{}, triggers.EventNotFound()
	}
	if err != nil {
		return triggers.Event{}, formatError(fmt.Errorf("sqlite: get event: %w", err))
	}
	return e, nil
}

// AckEvent acknowledges a pending or dead event. The single writer makes
// the check-and-set atomic: of concurrent acks exactly one finds it pending.
func (db *DB) AckEvent(ctx context.Context, tenant string, a triggers.Ack, at, notBefore time.Time) (triggers.Event, error) {
	var e triggers.Event
	err := db.execRemoving(ctx, tenant, func(tx *writeTx) error {
		var err error
		e, err = ackOne(tx, tenant, a, at, notBefore)
		return err
	})
	if err != nil {
		return triggers.Event{}, formatError(err)
	}
	return e, nil
}

// DeleteEvent deletes a visible event of the tenant.
func (db *DB) DeleteEvent(ctx context.Context, tenant, id string, notBefore time.Time) (bool, error) {
	var found bool
	err := db.execRemoving(ctx, tenant, func(tx *writeTx) error {
		var err error
		found, err = deleteOne(tx, tenant, id, notBefore)
		return err
	})
	if err != nil {
		return false, formatError(err)
	}
	return found, nil
}

// AckEvents acknowledges the events in order, each one write of the
// tenant's lane (see eachEvent).
func (db *DB) AckEvents(ctx context.Context, tenant string, acks []triggers.Ack, at, notBefore time.Time) ([]triggers.AckResult, error) {
	return db.eachEvent(ctx, tenant, len(acks), func(tx *writeTx, i int) (triggers.Event, error) {
		return ackOne(tx, tenant, acks[i], at, notBefore)
	})
}

// isDomain reports whether err is a per-item outcome (not found, conflict)
// rather than a store failure.
func isDomain(err error) bool {
	switch triggers.ErrorCode(err) {
	case triggers.ENOTFOUND, triggers.ECONFLICT:
		return true
	}
	return false
}

// ackOne acknowledges one event: ENOTFOUND, ECONFLICT (AlreadyAcknowledged,
// or LeaseLost when a.LeaseID is set and is not the event's lease).
func ackOne(tx *writeTx, tenant string, a triggers.Ack, at, notBefore time.Time) (triggers.Event, error) {
	e, err := scanEvent(tx.QueryRow(qAck, micros(at), tenant, a.ID, micros(notBefore), a.LeaseID, a.LeaseID))
	dead := false
	if errors.Is(err, sql.ErrNoRows) && a.LeaseID == "" {
		e, err = scanEvent(tx.QueryRow(qAckDead, micros(at), tenant, a.ID, micros(notBefore)))
		dead = true
	}
	if err == nil {
		if err := countEvent(tx, tenant, e.Source, e.EventType, -b2i(!dead), -b2i(dead)); err != nil {
			return triggers.Event{}, err
		}
		if err := countHistory(tx, tenant, e.Source, e.EventType, micros(at), 0, 1); err != nil {
			return triggers.Event{}, err
		}
		if dead {
			return e, nil // a dead event has no metadata rows
		}
		return e, unindexMetadata(tx, tenant, a.ID)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return triggers.Event{}, fmt.Errorf("sqlite: ack event: %w", err)
	}
	st, err := readState(tx, tenant, a.ID, notBefore)
	switch {
	case err != nil:
		return triggers.Event{}, err
	case st.acked:
		return triggers.Event{}, triggers.AlreadyAcknowledged(a.ID)
	}
	return triggers.Event{}, triggers.LeaseLost(a.ID)
}

// eventState is what qEventState reads.
type eventState struct {
	acked, dead  bool
	leaseID      string
	leaseExpires int64
}

// readState reads the state of a visible event after a conditional write
// changed nothing; ENOTFOUND when there is no such event.
func readState(tx *writeTx, tenant, id string, notBefore time.Time) (eventState, error) {
	var st eventState
	err := tx.QueryRow(qEventState, tenant, id, micros(notBefore)).Scan(&st.acked, &st.dead, &st.leaseID, &st.leaseExpires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return eventState{}, triggers.EventNotFound()
	case err != nil:
		return eventState{}, fmt.Errorf("sqlite: read event state: %w", err)
	}
	return st, nil
}

// DeleteEvents deletes the events in order, each one write of the tenant's
// lane (see eachEvent).
func (db *DB) DeleteEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.DeleteResult, error) {
	res, err := db.eachEvent(ctx, tenant, len(ids), func(tx *writeTx, i int) (triggers.Event, error) {
		found, err := deleteOne(tx, tenant, ids[i], notBefore)
		if err == nil && !found {
			err = triggers.EventNotFound()
		}
		return triggers.Event{}, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]triggers.DeleteResult, len(res))
	for i, r := range res {
		out[i].Err = r.Err
	}
	return out, nil
}

// purgeBatch bounds the rows one retention transaction deletes, so that the
// writer is never held for long: 100 events of 400 KB take about 10 ms
// (1,000 took about 90 ms in one transaction; the total barely changes).
const purgeBatch = 100

// DeleteExpired removes expired events, their deliveries and idempotency
// records in small transactions.
//
// It also removes the statistics history that no stats call can ask for
// any more (purgeHistory).
func (db *DB) DeleteExpired(ctx context.Context, eventsBefore, idemBefore time.Time) (int, error) {
	if err := db.purgeHistory(ctx); err != nil {
		return 0, formatError(fmt.Errorf("sqlite: purge stats history: %w", err))
	}
	total := 0
	for {
		var n, idem, deliveries int64
		err := db.exec(ctx, "", func(tx *writeTx) error {
			n, idem, deliveries = 0, 0, 0
			rows, err := tx.tx.Query(`DELETE FROM events WHERE seq IN
				(SELECT seq FROM events WHERE created_at <= ? LIMIT ?)
				RETURNING tenant, id, `+stateColumns+`, source, event_type`, micros(eventsBefore), purgeBatch)
			if err != nil {
				return err
			}
			type gone struct{ tenant, id string }
			var pending []gone
			counts := map[countKey][2]int{} // open, dead
			for rows.Next() {
				var g gone
				var k countKey
				var isPending, isDead bool
				if err := rows.Scan(&g.tenant, &g.id, &isPending, &isDead, &k.source, &k.eventType); err != nil {
					rows.Close()
					return err
				}
				n++
				if isPending {
					pending = append(pending, g)
				}
				if isPending || isDead {
					k.tenant = g.tenant
					c := counts[k]
					counts[k] = [2]int{c[0] - b2i(isPending), c[1] - b2i(isDead)}
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, g := range pending {
				if err := unindexMetadata(tx, g.tenant, g.id); err != nil {
					return err
				}
			}
			for k, c := range counts {
				if err := countEvent(tx, k.tenant, k.source, k.eventType, c[0], c[1]); err != nil {
					return err
				}
			}
			res, err := tx.Exec(`DELETE FROM idempotency WHERE (tenant, key) IN
				(SELECT tenant, key FROM idempotency WHERE created_at <= ? LIMIT ?)`, micros(idemBefore), purgeBatch)
			if err != nil {
				return err
			}
			if idem, err = res.RowsAffected(); err != nil {
				return err
			}
			// The deliveries of purged events go with them.
			res, err = tx.Exec(`DELETE FROM deliveries WHERE rowid IN
				(SELECT rowid FROM deliveries INDEXED BY deliveries_by_age WHERE event_created_at <= ? LIMIT ?)`,
				micros(eventsBefore), deleteBatch)
			if err != nil {
				return err
			}
			deliveries, err = res.RowsAffected()
			return err
		})
		db.pages.invalidateAll()
		if err != nil {
			return total, formatError(err)
		}
		total += int(n)
		// Idempotency records expire after 24 h, events after the
		// retention: either may have a full batch left while the other
		// has none.
		if n < purgeBatch && idem < purgeBatch && deliveries < deleteBatch || ctx.Err() != nil {
			return total, nil
		}
	}
}

// ListPending reads one inbox page: pending events, or dead ones with
// Filter.Status dead (see listDead). When the chosen index serves every
// condition, one query reads the page. Otherwise it goes in two steps: the
// first walks the index in inbox order, with the other conditions evaluated
// on the index's own columns, and stops after Limit+1 matches or MaxScan
// index entries; the second reads the matched events whole.
//
// Pages that no later create can change are kept in memory (pageCache) and
// answered from there until an event leaves the tenant's inbox.
func (db *DB) ListPending(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error) {
	if q.Filter.Status == triggers.StatusDead {
		return db.listDead(ctx, q) // never cached: a dead-lettering may add to any page
	}
	key := pageKey(q)
	if page, ok := db.pages.get(key, q); ok {
		return page, nil
	}
	gen := db.pages.gen(q.Tenant) // before the query: see pageCache
	page, err := db.listPending(ctx, q)
	if err == nil {
		db.pages.put(key, q.Tenant, gen, page)
	}
	return page, err
}

func (db *DB) listPending(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error) {
	plan := planInbox(q)
	rows, err := db.query(ctx, plan.sql, plan.args...)
	if err != nil {
		return triggers.Page{}, formatError(fmt.Errorf("sqlite: list pending: %w", err))
	}
	defer rows.Close()
	if !plan.bounded {
		return pageOfEvents(rows, q)
	}
	return db.pageOfMatches(ctx, rows, q, plan.scanLimit)
}

// pageOfEvents reads a page from rows of whole events, at most q.Limit+1 of
// them: the extra one only tells that there is a next page. It stops at the
// first event that does not fit q.MaxBytes, which also tells that there is
// a next page.
func pageOfEvents(rows *sql.Rows, q triggers.InboxQuery) (triggers.Page, error) {
	events := make([]triggers.Event, 0, q.Limit+1)
	budget := triggers.ByteBudget{Max: q.MaxBytes}
	more := false
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return triggers.Page{}, formatError(fmt.Errorf("sqlite: list pending: %w", err))
		}
		if len(events) == q.Limit || !budget.Take(triggers.EventBytes(&e)) {
			more = true
			break
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return triggers.Page{}, formatError(fmt.Errorf("sqlite: list pending: %w", err))
	}
	page := triggers.Page{Events: events}
	if more {
		last := events[len(events)-1]
		page.Next = &triggers.Position{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// pageOfMatches reads a page in two steps from rows of (created_at, id,
// matches) index entries, at most scanLimit of them: it collects the
// positions of up to q.Limit+1 matches, closes rows, then reads the matched
// events whole. When the scan stops at scanLimit, the page continues after
// the last entry examined, matched or not.
func (db *DB) pageOfMatches(ctx context.Context, rows *sql.Rows, q triggers.InboxQuery, scanLimit int) (triggers.Page, error) {
	var matched []triggers.Position
	var last triggers.Position
	scanned := 0
	for rows.Next() {
		var created int64
		var id string
		var ok bool
		if err := rows.Scan(&created, &id, &ok); err != nil {
			return triggers.Page{}, formatError(fmt.Errorf("sqlite: list pending: %w", err))
		}
		scanned++
		last = triggers.Position{CreatedAt: fromMicros(created), ID: id}
		if ok {
			matched = append(matched, last)
			if len(matched) > q.Limit {
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		return triggers.Page{}, formatError(fmt.Errorf("sqlite: list pending: %w", err))
	}
	rows.Close()

	var page triggers.Page
	switch {
	case len(matched) > q.Limit:
		matched = matched[:q.Limit]
		next := matched[q.Limit-1]
		page.Next = &next
	case scanned == scanLimit:
		// The scan bound was hit: more may match beyond what was examined.
		page.Next = &last
	}
	if len(matched) == 0 {
		return page, nil
	}
	if q.MaxBytes > 0 {
		n, err := db.fitting(ctx, q, matched)
		if err != nil {
			return triggers.Page{}, err
		}
		if n < len(matched) {
			matched = matched[:n]
			next := matched[n-1]
			page.Next = &next
		}
	}
	var err error
	page.Events, err = db.eventsByID(ctx, q.Tenant, matched)
	if err != nil {
		return triggers.Page{}, err
	}
	return page, nil
}

// fitting returns how many of the events at ps, in order, fit q.MaxBytes
// (at least one). It reads only their sizes, which SQLite knows without
// reading the values, so that a page of large events is never read whole
// only to be cut.
func (db *DB) fitting(ctx context.Context, q triggers.InboxQuery, ps []triggers.Position) (int, error) {
	args := make([]any, 0, len(ps)+1)
	args = append(args, q.Tenant)
	for _, p := range ps {
		args = append(args, p.ID)
	}
	rows, err := db.query(ctx, `SELECT id, `+eventBytes+` FROM events
		WHERE tenant = ? AND id IN (`+placeholders(len(ps))+`)`, args...)
	if err != nil {
		return 0, formatError(fmt.Errorf("sqlite: read event sizes: %w", err))
	}
	defer rows.Close()
	sizes := make(map[string]int, len(ps))
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return 0, formatError(fmt.Errorf("sqlite: read event sizes: %w", err))
		}
		sizes[id] = n
	}
	if err := rows.Err(); err != nil {
		return 0, formatError(fmt.Errorf("sqlite: read event sizes: %w", err))
	}
	// An event gone since the first step is not counted: eventsByID leaves
	// it out.
	budget := triggers.ByteBudget{Max: q.MaxBytes}
	for i, p := range ps {
		if n, ok := sizes[p.ID]; ok && !budget.Take(n) {
			return i, nil
		}
	}
	return len(ps), nil
}

// eventBytes is triggers.EventBytes in SQL. octet_length reads a value's
// length from its record header, not the value itself.
const eventBytes = `octet_length(payload) + octet_length(metadata)`

func (db *DB) eventsByID(ctx context.Context, tenant string, ps []triggers.Position) ([]triggers.Event, error) {
	args := make([]any, 0, len(ps)+1)
	args = append(args, tenant)
	for _, p := range ps {
		args = append(args, p.ID)
	}
	rows, err := db.query(ctx, `SELECT `+eventColumns+` FROM events
		WHERE tenant = ? AND id IN (`+placeholders(len(ps))+`) ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, formatError(fmt.Errorf("sqlite: read events: %w", err))
	}
	defer rows.Close()
	events := make([]triggers.Event, 0, len(ps))
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, formatError(fmt.Errorf("sqlite: read events: %w", err))
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("sqlite: read events: %w", err))
	}
	// An event acknowledged, dead-lettered or deleted between the two steps
	// may be missing or no longer pending: leave it out, as a read a moment
	// later would.
	out := events[:0]
	for _, e := range events {
		if e.Status() == triggers.StatusPending {
			out = append(out, e)
		}
	}
	return out, nil
}

// pendingTerms are the conditions of the inbox indexes (migration 004): a
// query names them so that SQLite may use a partial index.
const pendingTerms = "acked_at IS NULL AND dead_at IS NULL"

// inboxPlan is the first-step query of ListPending.
type inboxPlan struct {
	sql  string
	args []any
	// bounded: some condition is not served by the index. The query then
	// reads (created_at, id, matches) for at most scanLimit index entries;
	// otherwise it reads whole matching events, at most scanLimit of them.
	bounded   bool
	scanLimit int
}

// planInbox picks the index for a query, in this order: the metadata index
// for a metadata filter (its first condition), the source index for a
// source, the event type index for a type, the priority index for
// priority=high or low, else the plain inbox index. The created_at range
// (retention, created_after, created_before and the cursor) is always a
// range on the chosen index. The other conditions are evaluated per index
// entry on columns the index carries (migration 003), or for further
// metadata conditions by a primary-key lookup in the metadata index, and the
// walk is capped at MaxScan entries.
func planInbox(q triggers.InboxQuery) inboxPlan {
	t := chooseIndex(q)
	t.createdRange(q)
	return t.plan(q)
}

// inboxTerms is the first-step query of ListPending being built: the table
// and index walked, the terms the index serves (where) and the conditions
// evaluated per index entry (residual), each with its arguments.
type inboxTerms struct {
	table, index string
	// col prefixes the walked table's columns: "m." on the metadata index,
	// else empty.
	col                string
	where, residual    []string
	args, residualArgs []any
}

// check adds the condition column = value, evaluated per index entry.
func (t *inboxTerms) check(column, value string) {
	t.residual = append(t.residual, t.col+column+" = ?")
	t.residualArgs = append(t.residualArgs, value)
}

// chooseIndex picks the index for q (see planInbox) and the terms it serves,
// leaving the other filters as residual conditions.
func chooseIndex(q triggers.InboxQuery) inboxTerms {
	f := q.Filter
	t := inboxTerms{table: "events", index: "events_inbox"}
	switch {
	case len(f.Metadata) > 0:
		t.table, t.index, t.col = "event_metadata AS m", "", "m."
		t.where = append(t.where, "m.tenant = ?", "m.key = ?", "m.value = ?")
		t.args = append(t.args, q.Tenant, f.Metadata[0].Key, f.Metadata[0].Value)
		for _, m := range f.Metadata[1:] {
			t.residual = append(t.residual, `EXISTS (SELECT 1 FROM event_metadata AS m2 WHERE m2.tenant = m.tenant
				AND m2.key = ? AND m2.value = ? AND m2.created_at = m.created_at AND m2.id = m.id)`)
			t.residualArgs = append(t.residualArgs, m.Key, m.Value)
		}
		for _, c := range [][2]string{{"source", f.Source}, {"event_type", f.EventType}, {"priority", string(f.Priority)}} {
			if c[1] != "" {
				t.check(c[0], c[1])
			}
		}
	case f.Source != "":
		t.index = "events_inbox_source"
		t.where = append(t.where, "tenant = ?", pendingTerms, "source = ?")
		t.args = append(t.args, q.Tenant, f.Source)
		if f.EventType != "" {
			t.check("event_type", f.EventType)
		}
		if f.Priority != "" {
			t.check("priority", string(f.Priority))
		}
	case f.EventType != "":
		t.index = "events_inbox_type"
		t.where = append(t.where, "tenant = ?", pendingTerms, "event_type = ?")
		t.args = append(t.args, q.Tenant, f.EventType)
		if f.Priority != "" {
			t.check("priority", string(f.Priority))
		}
	case f.Priority != "" && f.Priority != triggers.PriorityNormal:
		t.index = "events_inbox_priority"
		// The second term is the partial index's own condition, which
		// SQLite needs to see to use it.
		t.where = append(t.where, "tenant = ?", pendingTerms, "priority = ?", "priority <> 'normal'")
		t.args = append(t.args, q.Tenant, string(f.Priority))
	default:
		t.where = append(t.where, "tenant = ?", pendingTerms)
		t.args = append(t.args, q.Tenant)
		if f.Priority != "" {
			t.check("priority", string(f.Priority))
		}
	}
	return t
}

// createdRange adds the created_at range on the chosen index: after the
// later of retention (NotBefore) and created_after, or after the cursor if
// it is later still, and before created_before.
func (t *inboxTerms) createdRange(q triggers.InboxQuery) {
	f := q.Filter
	lower := q.NotBefore
	if f.CreatedAfter.After(lower) {
		lower = f.CreatedAfter
	}
	if q.After != nil && !q.After.CreatedAt.Before(lower) {
		t.where = append(t.where, "("+t.col+"created_at, "+t.col+"id) > (?, ?)")
		t.args = append(t.args, micros(q.After.CreatedAt), q.After.ID)
		// Keep a plain lower bound too: it is what SQLite turns into the
		// index range most reliably.
		t.where = append(t.where, t.col+"created_at >= ?")
		t.args = append(t.args, micros(q.After.CreatedAt))
	} else {
		t.where = append(t.where, t.col+"created_at > ?")
		t.args = append(t.args, micros(lower))
	}
	if !f.CreatedBefore.IsZero() {
		t.where = append(t.where, t.col+"created_at < ?")
		t.args = append(t.args, micros(f.CreatedBefore))
	}
}

// plan writes the query: with residual conditions, a bounded walk reading
// (created_at, id, matches) for at most max(MaxScan, Limit+1) entries;
// otherwise the whole events, at most Limit+1, joined to the metadata index
// when that is the one walked.
func (t inboxTerms) plan(q triggers.InboxQuery) inboxPlan {
	from := t.table
	if t.index != "" {
		from += " INDEXED BY " + t.index
	}
	where, args := t.where, t.args
	plan := inboxPlan{bounded: len(t.residual) > 0, scanLimit: q.Limit + 1}
	var columns string
	switch {
	case plan.bounded:
		plan.scanLimit = max(q.MaxScan, q.Limit+1)
		columns = t.col + "created_at, " + t.col + "id, " + strings.Join(t.residual, " AND ")
		args = append(t.residualArgs, args...)
	case t.col != "":
		// Every condition served by the metadata index: read the events
		// by id in the same query.
		from += " CROSS JOIN events AS e INDEXED BY events_by_id"
		where = append(where, "e.tenant = m.tenant", "e.id = m.id", "e.acked_at IS NULL", "e.dead_at IS NULL")
		columns = "e." + strings.ReplaceAll(eventColumns, ", ", ", e.")
	default:
		columns = eventColumns
	}
	plan.args = append(args, plan.scanLimit)
	plan.sql = `SELECT ` + columns + ` FROM ` + from +
		` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + t.col + `created_at, ` + t.col + `id LIMIT ?`
	return plan
}
