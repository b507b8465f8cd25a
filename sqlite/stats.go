package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// The counter statements (migration 006), prepared when the store opens
// (hotWrites): each adds to one row, making it if needed.
const (
	qCountEvent = `INSERT INTO stats_counts (tenant, source, event_type, open, dead) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO UPDATE SET open = open + excluded.open, dead = dead + excluded.dead`
	qCountMinute = `INSERT INTO stats_minutes (tenant, minute, created, acked) VALUES (?, ?, ?, ?)
		ON CONFLICT DO UPDATE SET created = created + excluded.created, acked = acked + excluded.acked`
	qCountDetail = `INSERT INTO stats_detail (tenant, source, event_type, minute, created, acked) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO UPDATE SET created = created + excluded.created, acked = acked + excluded.acked`
)

var _ triggers.StatsTotaler = (*DB)(nil)

// countKey is a row of stats_counts.
type countKey struct{ tenant, source, eventType string }

// minuteKey is a row of stats_minutes; detailKey one of stats_detail.
type (
	minuteKey struct {
		tenant string
		minute int64
	}
	detailKey struct {
		countKey
		minute int64
	}
)

// countDeltas are the counter changes of a group commit's writes, added up
// in memory and written at the commit, one upsert per counter row (flush):
// a commit of 25 events of one source and type makes three upserts instead
// of 75. The counters stay in the events' transaction, so Stats stays exact.
// Writer only.
type countDeltas struct {
	events  map[countKey][2]int  // open, dead
	minutes map[minuteKey][2]int // created, acked
	detail  map[detailKey][2]int // created, acked
}

func newCountDeltas() *countDeltas {
	return &countDeltas{events: map[countKey][2]int{}, minutes: map[minuteKey][2]int{}, detail: map[detailKey][2]int{}}
}

// reset empties d for the next commit, keeping its maps' room.
func (d *countDeltas) reset() {
	clear(d.events)
	clear(d.minutes)
	clear(d.detail)
}

// flush writes d's changes in tx.
func (d *countDeltas) flush(tx *writeTx) error {
	for k, v := range d.events {
		if v == [2]int{} {
			continue
		}
		if _, err := tx.Exec(qCountEvent, k.tenant, k.source, k.eventType, v[0], v[1]); err != nil {
			return fmt.Errorf("sqlite: count events: %w", err)
		}
	}
	for k, v := range d.minutes {
		if _, err := tx.Exec(qCountMinute, k.tenant, k.minute, v[0], v[1]); err != nil {
			return fmt.Errorf("sqlite: count history: %w", err)
		}
	}
	for k, v := range d.detail {
		if _, err := tx.Exec(qCountDetail, k.tenant, k.source, k.eventType, k.minute, v[0], v[1]); err != nil {
			return fmt.Errorf("sqlite: count history: %w", err)
		}
	}
	return nil
}

// countEvent adds open and dead to the counters of tenant's events of
// source and eventType: every write that makes, removes or moves an event
// between the open (pending) and dead states calls it in its own
// transaction, which is what makes Stats exact. In a group commit's first
// run the change goes to tx.counts, written at the commit; in a rerun with
// savepoints (tx.counts nil) at once, so that a write rolled back to its
// savepoint takes its counts with it.
func countEvent(tx *writeTx, tenant, source, eventType string, open, dead int) error {
	if open == 0 && dead == 0 {
		return nil
	}
	if d := tx.counts; d != nil {
		k := countKey{tenant, source, eventType}
		v := d.events[k]
		d.events[k] = [2]int{v[0] + open, v[1] + dead}
		return nil
	}
	if _, err := tx.Exec(qCountEvent, tenant, source, eventType, open, dead); err != nil {
		return fmt.Errorf("sqlite: count events: %w", err)
	}
	return nil
}

// countHistory adds created and acked to the history of the minute of at
// (Unix microseconds): the tenant's and its source and event type's. Like
// countEvent, through tx.counts when it is set.
func countHistory(tx *writeTx, tenant, source, eventType string, at int64, created, acked int) error {
	minute := at / minuteMicros
	if d := tx.counts; d != nil {
		mk := minuteKey{tenant, minute}
		v := d.minutes[mk]
		d.minutes[mk] = [2]int{v[0] + created, v[1] + acked}
		dk := detailKey{countKey{tenant, source, eventType}, minute}
		v = d.detail[dk]
		d.detail[dk] = [2]int{v[0] + created, v[1] + acked}
		return nil
	}
	if _, err := tx.Exec(qCountMinute, tenant, minute, created, acked); err != nil {
		return fmt.Errorf("sqlite: count history: %w", err)
	}
	if _, err := tx.Exec(qCountDetail, tenant, source, eventType, minute, created, acked); err != nil {
		return fmt.Errorf("sqlite: count history: %w", err)
	}
	return nil
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Stats returns a tenant's inbox statistics (triggers.Store), exact, in one
// read transaction of the read pool, so that every number is of the same
// snapshot. Its work is bounded by what the counters cannot say, never by
// the backlog:
//
//   - Pending, Dead and BySource come from stats_counts (migration 006),
//     which every write of an event updates in its own transaction
//     (countEvent),
//     minus the expired events the purge has not removed yet (an index
//     range of the events created at or before NotBefore: the purge runs
//     every minute, so it is short);
//   - Leased counts the range of events_held after Now (the leases and nack
//     delays in flight);
//   - OldestPending is the first entry after NotBefore of the inbox index
//     the filters choose; with both filters, of the smaller of the source's
//     and the event type's, walked until an entry matches the other filter;
//   - PerMinute reads the 60 rows of stats_minutes, or with filters the
//     rows of stats_detail of each (source, event type) pair matching them.
func (db *DB) Stats(ctx context.Context, q triggers.StatsQuery) (triggers.Stats, error) {
	tx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return triggers.Stats{}, formatError(fmt.Errorf("sqlite: stats: %w", err))
	}
	defer tx.Rollback() // read only: nothing to commit
	st, err := db.stats(ctx, readTx{db: db, tx: tx, ctx: ctx}, q)
	if err != nil {
		return triggers.Stats{}, formatError(fmt.Errorf("sqlite: stats: %w", err))
	}
	return st, nil
}

// readTx runs the read pool's cached statements in one transaction.
type readTx struct {
	db  *DB
	tx  *sql.Tx
	ctx context.Context
}

func (r readTx) query(query string, args ...any) (*sql.Rows, error) {
	s, err := r.db.readStmt(query)
	if err != nil {
		return nil, err
	}
	return r.tx.StmtContext(r.ctx, s).QueryContext(r.ctx, args...)
}

// scanOne reads the one row of query into dest; no row leaves dest as is.
func (r readTx) scanOne(query string, args []any, dest ...any) error {
	rows, err := r.query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
	}
	return rows.Err()
}

// statsFilter is the filters of a stats call as SQL terms on columns named
// source and event_type (with a prefix), and their arguments.
func statsFilter(q triggers.StatsQuery, prefix string) (string, []any) {
	var terms strings.Builder
	var args []any
	if q.Source != "" {
		terms.WriteString(" AND " + prefix + "source = ?")
		args = append(args, q.Source)
	}
	if q.EventType != "" {
		terms.WriteString(" AND " + prefix + "event_type = ?")
		args = append(args, q.EventType)
	}
	return terms.String(), args
}

// minuteMicros is a Unix minute in the microseconds of created_at and
// acked_at: the history tables' minute is created_at / minuteMicros.
const minuteMicros = int64(time.Minute / time.Microsecond)

func (db *DB) stats(ctx context.Context, r readTx, q triggers.StatsQuery) (triggers.Stats, error) {
	var st triggers.Stats
	filter, fargs := statsFilter(q, "")
	nb := micros(q.NotBefore)

	// The counters, by source.
	bySource := map[string]int64{}
	rows, err := r.query(`SELECT source, sum(open), sum(dead) FROM stats_counts WHERE tenant = ?`+filter+` GROUP BY source`,
		append([]any{q.Tenant}, fargs...)...)
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var source string
		var open, dead int64
		if err := rows.Scan(&source, &open, &dead); err != nil {
			rows.Close()
			return st, err
		}
		bySource[source] += open
		st.Pending += open
		st.Dead += dead
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}

	// Less the expired events not purged yet.
	if st.Pending > 0 {
		rows, err := r.query(expiredPendingSQL(q), expiredArgs(q)...)
		if err != nil {
			return st, err
		}
		for rows.Next() {
			var source string
			var n int64
			if err := rows.Scan(&source, &n); err != nil {
				rows.Close()
				return st, err
			}
			bySource[source] -= n
			st.Pending -= n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, err
		}
	}
	if st.Dead > 0 {
		var n int64
		if err := r.scanOne(expiredDeadSQL(filter), append([]any{q.Tenant, nb}, fargs...), &n); err != nil {
			return st, err
		}
		st.Dead -= n
	}
	for source, n := range bySource {
		st.BySource = append(st.BySource, triggers.SourceCount{Source: source, Pending: n})
	}
	st.BySource = triggers.SortSourceCounts(st.BySource, q.TopSources)

	if st.Pending > 0 {
		if err := r.scanOne(leasedSQL(filter), append([]any{q.Tenant, micros(q.Now), micros(q.Now), nb}, fargs...), &st.Leased); err != nil {
			return st, err
		}
		query, args, err := oldestSQL(r, q)
		if err != nil {
			return st, err
		}
		var oldest sql.NullInt64
		if err := r.scanOne(query, args, &oldest); err != nil {
			return st, err
		}
		st.OldestPending = instant(oldest)
	}

	// The history.
	hist, hargs := historySQL(q)
	rows, err = r.query(hist, hargs...)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var m triggers.MinuteStats
		var minute int64
		if err := rows.Scan(&minute, &m.Created, &m.Acknowledged); err != nil {
			return st, err
		}
		if m.Created == 0 && m.Acknowledged == 0 {
			continue
		}
		m.Minute = time.Unix(minute*60, 0).UTC()
		st.PerMinute = append(st.PerMinute, m)
	}
	return st, rows.Err()
}

// expiredDeadSQL counts the dead events created at or before NotBefore:
// a range of events_dead, each event read for the filter (dead events are
// few, and these are about to be purged).
func expiredDeadSQL(filter string) string {
	return `SELECT count(*) FROM events INDEXED BY events_dead
		WHERE tenant = ? AND dead_at IS NOT NULL AND created_at <= ?` + filter
}

// leasedSQL counts the events whose lease expires after Now: the range of
// events_held after Now (leases and nack delays in flight), each event
// read for its lease and the filter.
func leasedSQL(filter string) string {
	return `SELECT count(*) FROM events INDEXED BY events_held
		WHERE tenant = ? AND ` + heldTerms + ` AND ` + readyAt + ` > ? AND lease_expires_at > ? AND created_at > ?` + filter
}

// historySQL is the query of the per-minute counts from Since to Now:
// stats_minutes without filters, else the stats_detail range of each
// (source, event type) pair matching them, which stats_counts lists (it
// keeps a row while the pair has history).
func historySQL(q triggers.StatsQuery) (string, []any) {
	first, last := micros(q.Since)/minuteMicros, micros(q.Now)/minuteMicros
	if q.Source == "" && q.EventType == "" {
		return `SELECT minute, created, acked FROM stats_minutes WHERE tenant = ? AND minute BETWEEN ? AND ?`,
			[]any{q.Tenant, first, last}
	}
	cf, cargs := statsFilter(q, "c.")
	return `SELECT d.minute, sum(d.created), sum(d.acked) FROM stats_counts AS c CROSS JOIN stats_detail AS d
			ON d.tenant = c.tenant AND d.source = c.source AND d.event_type = c.event_type
			WHERE c.tenant = ?` + cf + ` AND d.minute BETWEEN ? AND ? GROUP BY d.minute`,
		append(append([]any{q.Tenant}, cargs...), first, last)
}

// expiredPendingSQL counts, by source, the pending events matching q's
// filters created at or before NotBefore: a range of the inbox index the
// filters choose (the plain one reads each event's source from the table).
func expiredPendingSQL(q triggers.StatsQuery) string {
	index, check := "events_inbox", ""
	switch {
	case q.Source != "":
		index = "events_inbox_source"
		if q.EventType != "" {
			check = " AND event_type = ?"
		}
	case q.EventType != "":
		index = "events_inbox_type"
	}
	key := ""
	if q.Source != "" {
		key = " AND source = ?"
	} else if q.EventType != "" {
		key = " AND event_type = ?"
	}
	return `SELECT source, count(*) FROM events INDEXED BY ` + index + `
		WHERE tenant = ? AND ` + pendingTerms + key + ` AND created_at <= ?` + check + ` GROUP BY source`
}

func expiredArgs(q triggers.StatsQuery) []any {
	args := []any{q.Tenant}
	if q.Source != "" {
		args = append(args, q.Source)
	} else if q.EventType != "" {
		args = append(args, q.EventType)
	}
	args = append(args, micros(q.NotBefore))
	if q.Source != "" && q.EventType != "" {
		args = append(args, q.EventType)
	}
	return args
}

// oldestSQL is the query of the oldest pending event matching q: the first
// entry after NotBefore of an inbox index. With both filters it walks the
// index of the filter with fewer pending events (by the counters), checking
// the other filter on each entry from the index's own columns.
func oldestSQL(r readTx, q triggers.StatsQuery) (string, []any, error) {
	index, key, check := "events_inbox", "", ""
	args := []any{q.Tenant}
	var checkArg any
	switch {
	case q.Source != "" && q.EventType != "":
		var bySource, byType int64
		if err := r.scanOne(`SELECT coalesce(sum(open), 0) FROM stats_counts WHERE tenant = ? AND source = ?`,
			[]any{q.Tenant, q.Source}, &bySource); err != nil {
			return "", nil, err
		}
		if err := r.scanOne(`SELECT coalesce(sum(open), 0) FROM stats_counts WHERE tenant = ? AND event_type = ?`,
			[]any{q.Tenant, q.EventType}, &byType); err != nil {
			return "", nil, err
		}
		if bySource <= byType {
			index, key, check = "events_inbox_source", " AND source = ?", " AND event_type = ?"
			args, checkArg = append(args, q.Source), q.EventType
		} else {
			index, key, check = "events_inbox_type", " AND event_type = ?", " AND source = ?"
			args, checkArg = append(args, q.EventType), q.Source
		}
	case q.Source != "":
		index, key = "events_inbox_source", " AND source = ?"
		args = append(args, q.Source)
	case q.EventType != "":
		index, key = "events_inbox_type", " AND event_type = ?"
		args = append(args, q.EventType)
	}
	args = append(args, micros(q.NotBefore))
	if checkArg != nil {
		args = append(args, checkArg)
	}
	return `SELECT created_at FROM events INDEXED BY ` + index + `
		WHERE tenant = ? AND ` + pendingTerms + key + ` AND created_at > ?` + check + `
		ORDER BY created_at, id LIMIT 1`, args, nil
}

// The queries of TotalStats: the expired pending events not purged yet (a
// range of events_by_age, each event read for its state), and the oldest
// pending event, one seek of events_inbox per tenant with pending events.
const (
	qTotalExpired = `SELECT count(*) FROM events INDEXED BY events_by_age WHERE created_at <= ? AND ` + pendingTerms
	qTotalOldest  = `SELECT min((SELECT created_at FROM events INDEXED BY events_inbox
			WHERE tenant = c.tenant AND ` + pendingTerms + ` AND created_at > ? ORDER BY created_at, id LIMIT 1))
		FROM (SELECT tenant FROM stats_counts GROUP BY tenant HAVING sum(open) > 0) AS c`
)

// TotalStats returns the pending events of every tenant together and the
// oldest one's creation time (triggers.StatsTotaler), for the metrics: the
// sum of the counters less the expired events not purged yet (a range of
// events_by_age), and one seek of events_inbox per tenant with pending
// events.
func (db *DB) TotalStats(ctx context.Context, now, notBefore time.Time) (triggers.TotalStats, error) {
	tx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return triggers.TotalStats{}, formatError(fmt.Errorf("sqlite: total stats: %w", err))
	}
	defer tx.Rollback()
	r := readTx{db: db, tx: tx, ctx: ctx}
	var total triggers.TotalStats
	var open, expired int64
	var oldest sql.NullInt64
	nb := micros(notBefore)
	err = r.scanOne(`SELECT coalesce(sum(open), 0) FROM stats_counts`, nil, &open)
	if err == nil {
		err = r.scanOne(qTotalExpired, []any{nb}, &expired)
	}
	if err == nil && open > expired {
		err = r.scanOne(qTotalOldest, []any{nb}, &oldest)
	}
	if err != nil {
		return triggers.TotalStats{}, formatError(fmt.Errorf("sqlite: total stats: %w", err))
	}
	total.Pending = open - expired
	total.OldestPending = instant(oldest)
	return total, nil
}

// historyMinutes is how many minutes of history the purge keeps before a
// tenant's latest one: twice the stats window, measured from the tenant's
// own latest activity rather than from a clock of the store's, so that a
// stats call's window (the 60 minutes before its Now, which is never
// before that activity) is always kept.
const historyMinutes = 120

// purgeHistory removes the history minutes older than historyMinutes before
// each tenant's latest, and the stats_counts rows that count nothing and
// have no history left, in one write: each tenant costs a seek per
// (source, event type) pair and the rows removed.
func (db *DB) purgeHistory(ctx context.Context) error {
	return db.exec(ctx, "", func(tx *writeTx) error {
		rows, err := tx.Query(`SELECT tenant, max(minute) FROM stats_minutes GROUP BY tenant`)
		if err != nil {
			return err
		}
		type cut struct {
			tenant string
			before int64
		}
		var cuts []cut
		for rows.Next() {
			var c cut
			if err := rows.Scan(&c.tenant, &c.before); err != nil {
				rows.Close()
				return err
			}
			c.before -= historyMinutes
			cuts = append(cuts, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range cuts {
			if _, err := tx.Exec(`DELETE FROM stats_minutes WHERE tenant = ? AND minute < ?`, c.tenant, c.before); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM stats_detail WHERE (tenant, source, event_type, minute) IN
				(SELECT d.tenant, d.source, d.event_type, d.minute FROM stats_counts AS c CROSS JOIN stats_detail AS d
					ON d.tenant = c.tenant AND d.source = c.source AND d.event_type = c.event_type AND d.minute < ?
				WHERE c.tenant = ?)`, c.before, c.tenant); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM stats_counts WHERE tenant = ? AND open = 0 AND dead = 0 AND NOT EXISTS
				(SELECT 1 FROM stats_detail AS d WHERE d.tenant = stats_counts.tenant
					AND d.source = stats_counts.source AND d.event_type = stats_counts.event_type)`, c.tenant); err != nil {
				return err
			}
		}
		return nil
	})
}
