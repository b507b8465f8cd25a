package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// The lease write statements, prepared when the store opens (hotWrites).
// Events are found again by seq (the rowid), which the receive queries read
// from their indexes.
const (
	qDeadLetter = `UPDATE events SET dead_at = ?, lease_id = NULL, lease_expires_at = NULL, available_at = NULL
		WHERE seq = ? RETURNING tenant, id, source, event_type`
	// qNextAvailable reads the earliest instant after now at which a held
	// event of the tenant becomes available: one entry of events_held.
	qNextAvailable = `SELECT ` + readyAt + ` FROM events INDEXED BY events_held
		WHERE tenant = ? AND ` + heldTerms + ` AND ` + readyAt + ` > ? ORDER BY ` + readyAt + ` LIMIT 1`
	// qNack and qExtend change the event's lease only while the lease named
	// is its current, unexpired one; arguments: the new value, tenant, id,
	// notBefore, lease id, now.
	qNack = `UPDATE events SET lease_id = NULL, lease_expires_at = NULL, available_at = ?
		WHERE tenant = ? AND id = ? AND created_at > ? AND ` + pendingTerms + ` AND lease_id = ? AND lease_expires_at > ?
		RETURNING ` + eventColumns
	qExtend = `UPDATE events SET lease_expires_at = ?
		WHERE tenant = ? AND id = ? AND created_at > ? AND ` + pendingTerms + ` AND lease_id = ? AND lease_expires_at > ?
		RETURNING ` + eventColumns
	qRedrive = `UPDATE events SET attempts = 0, lease_id = NULL, lease_expires_at = NULL, available_at = NULL, dead_at = NULL
		WHERE tenant = ? AND id = ? AND created_at > ? AND dead_at IS NOT NULL AND acked_at IS NULL
		RETURNING ` + eventColumns
	// qEventBytes reads what an event to lease weighs against the
	// receive's byte bound.
	qEventBytes = `SELECT ` + eventBytes + ` FROM events WHERE seq = ?`
)

// The conditions of the two indexes that split the pending events for
// receives (migration 004): idle events have no lease or delay recorded and
// are all available; held events have one and are available from readyAt.
const (
	idleTerms = pendingTerms + " AND lease_expires_at IS NULL AND available_at IS NULL"
	heldTerms = pendingTerms + " AND (lease_expires_at IS NOT NULL OR available_at IS NOT NULL)"
	// readyAt is when a held event becomes available: the later of its
	// lease expiry and its nack delay. It is the key of events_held, whose
	// expression a query must repeat exactly for SQLite to use it.
	readyAt = `max(coalesce(lease_expires_at, 0), coalesce(available_at, 0))`
)

// The walks of a receive without filters, prepared when the store opens;
// other receives are parsed when they run.
var qReceiveIdle, qReceiveHeld = receiveWalkSQL(triggers.ReceiveQuery{})

func receiveWalkSQL(q triggers.ReceiveQuery) (string, string) {
	w := planReceive(q)
	return w[0].sql, w[1].sql
}

// receiveWalk is one query of a receive. It returns (seq, created_at, id,
// attempts) of available events matching the receive, oldest first, having
// examined at most its scan bound of index entries.
type receiveWalk struct {
	sql  string
	args []any
}

// planReceive writes the queries of a receive, whose results ReceiveEvents
// merges in inbox order.
//
// Without filters other than the created_at range and priority=normal, two
// walks: events_idle from the start of the range, where every entry is
// available, and the range of events_held up to now (expired leases, nack
// delays over), sorted. Leased events thus cost nothing to skip however many
// there are: with short leases and busy receivers, the head of the inbox is
// thousands of leased events.
//
// With other filters, one walk of the index the inbox would choose, in inbox
// order, checking availability per entry (from the table: the filter
// indexes do not carry the lease columns, so that a lease does not rewrite
// an entry in each of them).
//
// Each walk runs in a subquery whose LIMIT is the scan bound
// (max(MaxScan, Max) entries) and which SQLite runs as a co-routine: rows
// are produced as the receive reads them, and reading stops with it.
func planReceive(q triggers.ReceiveQuery) []receiveWalk {
	iq := triggers.InboxQuery{Tenant: q.Tenant, Filter: q.Filter, NotBefore: q.NotBefore, Limit: q.Max, MaxScan: q.MaxScan}
	iq.Filter.Status = triggers.StatusPending
	scan := max(q.MaxScan, q.Max)
	f := q.Filter
	if f.Source != "" || f.EventType != "" || len(f.Metadata) > 0 || f.Priority != "" && f.Priority != triggers.PriorityNormal {
		return []receiveWalk{filteredWalk(iq, q.Now, scan)}
	}
	// The created_at range is the idle walk's index range; on the held walk
	// it is checked per entry, as priority=normal is on both.
	var r inboxTerms
	r.createdRange(iq)
	idleOK, heldOK := []string{"1"}, r.where
	var prioArgs []any
	if f.Priority != "" {
		idleOK, heldOK = []string{"priority = ?"}, slices.Concat(r.where, []string{"priority = ?"})
		prioArgs = []any{string(f.Priority)}
	}
	idle := receiveWalk{
		sql: `SELECT seq, created_at, id, attempts FROM (SELECT seq, created_at, id, attempts, ` + idleOK[0] + ` AS ok
			FROM events INDEXED BY events_idle WHERE tenant = ? AND ` + idleTerms + ` AND ` + strings.Join(r.where, " AND ") + `
			ORDER BY created_at, id LIMIT ?) WHERE ok ORDER BY created_at, id`,
		args: slices.Concat(prioArgs, []any{q.Tenant}, r.args, []any{scan}),
	}
	held := receiveWalk{
		sql: `SELECT seq, created_at, id, attempts FROM (SELECT seq, created_at, id, attempts, ` + strings.Join(heldOK, " AND ") + ` AS ok
			FROM events INDEXED BY events_held WHERE tenant = ? AND ` + heldTerms + ` AND ` + readyAt + ` <= ?
			ORDER BY ` + readyAt + ` LIMIT ?) WHERE ok ORDER BY created_at, id`,
		args: slices.Concat(r.args, prioArgs, []any{q.Tenant, micros(q.Now), scan}),
	}
	return []receiveWalk{idle, held}
}

// filteredWalk is the walk of a receive with filters: the inbox's index
// choice (chooseIndex), with the other filters and availability checked on
// each entry.
func filteredWalk(iq triggers.InboxQuery, now time.Time, scan int) receiveWalk {
	t := chooseIndex(iq)
	t.createdRange(iq)
	from, where, ev := t.table, t.where, t.col
	if t.index != "" {
		from += " INDEXED BY " + t.index
	}
	if t.col != "" {
		// The metadata index drives; each entry's event is read by id for
		// its lease columns.
		from += " CROSS JOIN events AS e INDEXED BY events_by_id"
		where = append(where, "e.tenant = m.tenant", "e.id = m.id", "e.acked_at IS NULL", "e.dead_at IS NULL")
		ev = "e."
	}
	ok := slices.Concat(t.residual, []string{"coalesce(" + ev + "lease_expires_at, 0) <= ?", "coalesce(" + ev + "available_at, 0) <= ?"})
	args := slices.Concat(t.residualArgs, []any{micros(now), micros(now)}, t.args, []any{scan})
	return receiveWalk{
		sql: `SELECT seq, created_at, id, attempts FROM (SELECT ` + ev + `seq AS seq, ` + t.col + `created_at AS created_at, ` +
			t.col + `id AS id, ` + ev + `attempts AS attempts, ` + strings.Join(ok, " AND ") + ` AS ok FROM ` + from +
			` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + t.col + `created_at, ` + t.col + `id LIMIT ?)
			WHERE ok ORDER BY created_at, id`,
		args: args,
	}
}

// ReceiveEvents leases available events (see triggers.Store) in one write of
// the single writer, which makes leases exclusive: every receive reads and
// leases inside the writer, after every write before it. The walks of
// planReceive find the events, one UPDATE by rowid leases or dead-letters
// each, and the call returns once the group commit holding them has
// reached the WAL: leases are volatile writes (execVolatile), committed
// without an fsync of their own when no durable write shares their commit.
func (db *DB) ReceiveEvents(ctx context.Context, q triggers.ReceiveQuery) (triggers.Received, error) {
	limit := min(q.Max, len(q.LeaseIDs))
	if limit <= 0 {
		return triggers.Received{}, nil
	}
	walks := planReceive(q)
	var got triggers.Received
	err := db.execVolatile(ctx, q.Tenant, func(tx *writeTx) error {
		var err error
		got, err = receive(tx, q, limit, walks) // afresh: fn may run twice (see commit)
		return err
	})
	if err != nil {
		return triggers.Received{}, formatError(err)
	}
	if len(got.Events) > 0 || got.DeadLettered > 0 {
		// Cached inbox pages show attempts and leases, and a dead event
		// leaves the inbox.
		db.pages.invalidate(q.Tenant)
	}
	return got, nil
}

// candidate is an available event a walk found.
type candidate struct {
	seq, created int64
	id           string
	attempts     int
}

// walkRows is a walk being read, with its current row.
type walkRows struct {
	rows *sql.Rows
	cur  candidate
	live bool // cur holds a row
}

func (w *walkRows) advance() error {
	if w.live = w.rows.Next(); w.live {
		return w.rows.Scan(&w.cur.seq, &w.cur.created, &w.cur.id, &w.cur.attempts)
	}
	return w.rows.Err()
}

// receive is ReceiveEvents inside the writer: it merges the walks in inbox
// order, dead-letters the events out of attempts and leases up to limit
// others.
func receive(tx *writeTx, q triggers.ReceiveQuery, limit int, walks []receiveWalk) (triggers.Received, error) {
	lease, dead, err := pick(tx, q, limit, walks)
	if err != nil {
		return triggers.Received{}, fmt.Errorf("sqlite: receive: %w", err)
	}
	var got triggers.Received
	for _, seq := range dead {
		var tenant, id, source, eventType string
		if err := tx.QueryRow(qDeadLetter, micros(q.Now), seq).Scan(&tenant, &id, &source, &eventType); err != nil {
			return triggers.Received{}, fmt.Errorf("sqlite: dead-letter: %w", err)
		}
		if err := countEvent(tx, tenant, source, eventType, -1, 1); err != nil {
			return triggers.Received{}, err
		}
		if err := unindexMetadata(tx, tenant, id); err != nil {
			return triggers.Received{}, err
		}
	}
	got.DeadLettered = len(dead)
	if len(lease) > 0 {
		got.Events = make([]triggers.Event, len(lease))
	}
	if err := leaseAll(tx, q, lease, got.Events); err != nil {
		return triggers.Received{}, err
	}
	if len(lease) == 0 {
		var next int64
		err := tx.QueryRow(qNextAvailable, q.Tenant, micros(q.Now)).Scan(&next)
		switch {
		case err == nil:
			got.NextAvailable = fromMicros(next)
		case !errors.Is(err, sql.ErrNoRows):
			return triggers.Received{}, fmt.Errorf("sqlite: next available: %w", err)
		}
	}
	return got, nil
}

// pick reads the walks merged in inbox order and returns the rowids of the
// events to lease (up to limit, oldest first, and only while they fit
// q.MaxBytes) and of those to dead-letter (out of attempts) met before the
// last one leased. Every walk is closed before it returns, so that the
// updates that follow do not change an index being read.
func pick(tx *writeTx, q triggers.ReceiveQuery, limit int, walks []receiveWalk) (lease, dead []int64, err error) {
	open := make([]*walkRows, 0, len(walks))
	defer func() {
		for _, w := range open {
			w.rows.Close()
		}
	}()
	for _, wk := range walks {
		rows, err := tx.Query(wk.sql, wk.args...)
		if err != nil {
			return nil, nil, err
		}
		w := &walkRows{rows: rows}
		open = append(open, w)
		if err := w.advance(); err != nil {
			return nil, nil, err
		}
	}
	budget := triggers.ByteBudget{Max: q.MaxBytes}
	for len(lease) < limit {
		var next *walkRows
		for _, w := range open {
			if w.live && (next == nil || w.cur.created < next.cur.created ||
				w.cur.created == next.cur.created && w.cur.id < next.cur.id) {
				next = w
			}
		}
		if next == nil {
			break
		}
		if q.MaxAttempts > 0 && next.cur.attempts >= q.MaxAttempts {
			dead = append(dead, next.cur.seq)
		} else {
			if q.MaxBytes > 0 {
				var n int
				if err := tx.QueryRow(qEventBytes, next.cur.seq).Scan(&n); err != nil {
					return nil, nil, err
				}
				if !budget.Take(n) {
					break // it stays available for the next receive
				}
			}
			lease = append(lease, next.cur.seq)
		}
		if err := next.advance(); err != nil {
			return nil, nil, err
		}
	}
	return lease, dead, nil
}

// NackEvents ends leases (see triggers.Store), every nack in one write.
func (db *DB) NackEvents(ctx context.Context, tenant string, nacks []triggers.Nack, now, notBefore time.Time) ([]triggers.EventResult, error) {
	return db.eachEvent(ctx, tenant, len(nacks), func(tx *writeTx, i int) (triggers.Event, error) {
		n := nacks[i]
		return leaseWrite(tx, qNack, nullMicros(n.AvailableAt), tenant, triggers.Ack{ID: n.ID, LeaseID: n.LeaseID}, now, notBefore)
	})
}

// ExtendLease sets the expiry of the event's current lease (see
// triggers.Store).
func (db *DB) ExtendLease(ctx context.Context, tenant string, a triggers.Ack, expiresAt, now, notBefore time.Time) (triggers.Event, error) {
	var e triggers.Event
	err := db.execRemoving(ctx, tenant, func(tx *writeTx) error {
		var err error
		e, err = leaseWrite(tx, qExtend, micros(expiresAt), tenant, a, now, notBefore)
		return err
	})
	if err != nil {
		return triggers.Event{}, formatError(err)
	}
	return e, nil
}

// leaseWrite runs qNack or qExtend, which set one column (to value) while
// a.LeaseID is the event's unexpired lease, and otherwise tells why not:
// ENOTFOUND, or ECONFLICT AlreadyAcknowledged, LeaseLost (another lease,
// none, or a dead event) or LeaseExpired.
func leaseWrite(tx *writeTx, query string, value any, tenant string, a triggers.Ack, now, notBefore time.Time) (triggers.Event, error) {
	e, err := scanEvent(tx.QueryRow(query, value, tenant, a.ID, micros(notBefore), a.LeaseID, micros(now)))
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return triggers.Event{}, fmt.Errorf("sqlite: write lease: %w", err)
	}
	st, err := readState(tx, tenant, a.ID, notBefore)
	switch {
	case err != nil:
		return triggers.Event{}, err
	case st.acked:
		return triggers.Event{}, triggers.AlreadyAcknowledged(a.ID)
	case st.dead || a.LeaseID == "" || st.leaseID != a.LeaseID:
		return triggers.Event{}, triggers.LeaseLost(a.ID)
	}
	return triggers.Event{}, triggers.LeaseExpired(a.ID)
}

// RedriveEvents makes dead events pending again (see triggers.Store), every
// redrive in one write; each gets its metadata index rows back.
func (db *DB) RedriveEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.EventResult, error) {
	return db.eachEvent(ctx, tenant, len(ids), func(tx *writeTx, i int) (triggers.Event, error) {
		e, err := scanEvent(tx.QueryRow(qRedrive, tenant, ids[i], micros(notBefore)))
		switch {
		case err == nil:
			if err := countEvent(tx, tenant, e.Source, e.EventType, 1, -1); err != nil {
				return triggers.Event{}, err
			}
			return e, indexMetadata(tx, &e, triggers.MetadataTerms(e.Metadata), micros(e.CreatedAt))
		case !errors.Is(err, sql.ErrNoRows):
			return triggers.Event{}, fmt.Errorf("sqlite: redrive: %w", err)
		}
		if _, err := readState(tx, tenant, ids[i], notBefore); err != nil {
			return triggers.Event{}, err
		}
		return triggers.Event{}, triggers.NotDead(ids[i])
	})
}

// eachEvent runs one(tx, i) for i in [0, n) as the n writes of one job of
// tenant (execEach: in order, in one group commit or several), and returns
// each outcome: a domain error is that item's; any other undoes that item
// only and is its Err, or the call's error when no item was written. The
// tenant's cached inbox pages are dropped after the last write.
func (db *DB) eachEvent(ctx context.Context, tenant string, n int, one func(tx *writeTx, i int) (triggers.Event, error)) ([]triggers.EventResult, error) {
	results := make([]triggers.EventResult, n)
	errs, err := db.execEach(ctx, tenant, n, nil, func(tx *writeTx, i int) error {
		e, err := one(tx, i)
		if err != nil && !isDomain(err) {
			return err
		}
		results[i] = triggers.EventResult{Event: e, Err: err} // afresh: it may run twice (see commit)
		return nil
	})
	db.pages.invalidate(tenant)
	if err != nil {
		return nil, err
	}
	for i, err := range errs {
		if err != nil {
			results[i] = triggers.EventResult{Err: err}
		}
	}
	return results, nil
}

// listDead reads a page of dead events: the index events_dead gives them in
// inbox order within the created_at range, and the other filters are
// checked on each event read (at most max(MaxScan, Limit+1) of them). Dead
// events are few, so this costs less than keeping filter indexes of them.
func (db *DB) listDead(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error) {
	t := inboxTerms{table: "events", index: "events_dead", where: []string{"tenant = ?", "dead_at IS NOT NULL"}, args: []any{q.Tenant}}
	t.createdRange(q)
	f := q.Filter
	scanLimit := q.Limit + 1
	if f.Source != "" || f.EventType != "" || f.Priority != "" || len(f.Metadata) > 0 {
		scanLimit = max(q.MaxScan, q.Limit+1)
	}
	rows, err := db.query(ctx, `SELECT `+eventColumns+` FROM events INDEXED BY events_dead WHERE `+
		strings.Join(t.where, " AND ")+` ORDER BY created_at, id LIMIT ?`, append(t.args, scanLimit)...)
	if err != nil {
		return triggers.Page{}, formatError(fmt.Errorf("sqlite: list dead: %w", err))
	}
	defer rows.Close()
	var page triggers.Page
	var last triggers.Position
	budget := triggers.ByteBudget{Max: q.MaxBytes}
	scanned := 0
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return triggers.Page{}, formatError(fmt.Errorf("sqlite: list dead: %w", err))
		}
		scanned++
		last = triggers.Position{CreatedAt: e.CreatedAt, ID: e.ID}
		if f.Matches(&e) {
			if len(page.Events) == q.Limit || !budget.Take(triggers.EventBytes(&e)) {
				next := page.Events[len(page.Events)-1]
				page.Next = &triggers.Position{CreatedAt: next.CreatedAt, ID: next.ID}
				return page, nil
			}
			page.Events = append(page.Events, e)
		}
	}
	if err := rows.Err(); err != nil {
		return triggers.Page{}, formatError(fmt.Errorf("sqlite: list dead: %w", err))
	}
	if scanned == scanLimit {
		page.Next = &last // the scan bound was hit: more may match beyond
	}
	return page, nil
}

// qLeaseMany leases n events in one statement (one statement instead of n
// saves a quarter of a receive's time in the writer): its arguments are the
// expiry, then (seq, lease id) n times. RETURNING names each row's seq,
// since the rows come back in no particular order.
func qLeaseMany(n int) string {
	return `UPDATE events SET attempts = attempts + 1, lease_id = v.column2, lease_expires_at = ?, available_at = NULL
		FROM (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?),", n), ",") + `) AS v
		WHERE events.seq = v.column1 RETURNING seq, ` + eventColumns
}

// leaseAll leases the events of rowids seqs (the i-th with q.LeaseIDs[i]) in
// one statement and stores them in out, in the order of seqs.
func leaseAll(tx *writeTx, q triggers.ReceiveQuery, seqs []int64, out []triggers.Event) error {
	if len(seqs) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*len(seqs))
	args = append(args, micros(q.LeaseExpiresAt))
	at := make(map[int64]int, len(seqs))
	for i, seq := range seqs {
		args = append(args, seq, q.LeaseIDs[i])
		at[seq] = i
	}
	rows, err := tx.Query(qLeaseMany(len(seqs)), args...)
	if err != nil {
		return fmt.Errorf("sqlite: lease: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var seq int64
		e, err := scanEvent(seqScanner{rows, &seq})
		if err != nil {
			return fmt.Errorf("sqlite: lease: %w", err)
		}
		out[at[seq]] = e
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: lease: %w", err)
	}
	if n != len(seqs) {
		return fmt.Errorf("sqlite: lease: %d of %d events updated", n, len(seqs))
	}
	return nil
}

// seqScanner scans a row of (seq, event columns...) for scanEvent.
type seqScanner struct {
	rows *sql.Rows
	seq  *int64
}

func (s seqScanner) Scan(dest ...any) error { return s.rows.Scan(append([]any{s.seq}, dest...)...) }

// leaseManyStatements are qLeaseMany for every receive size.
func leaseManyStatements() []string {
	out := make([]string, triggers.MaxReceiveMax)
	for n := range out {
		out[n] = qLeaseMany(n + 1)
	}
	return out
}
