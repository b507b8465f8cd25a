// Package sqlite is the embedded Triggers store: one SQLite database file in
// WAL mode, with group commit.
//
// # Writes
//
// Every write goes through one writer goroutine. It runs the writes queued
// at that moment, up to a budget, in one transaction (each in its own
// savepoint when one fails, so one failing write does not undo the others)
// and commits once: concurrent requests share one fsync (synchronous=FULL),
// and each caller returns only after the commit is on disk.
//
// The writer is fair between tenants. A call's writes form a job (a bulk
// verb is one write per item: a create's item is atomic with its
// idempotency record); jobs wait in one lane per tenant, and the lanes take
// turns, one write per turn, a lane with new work first (see schedule). A
// group commit stops taking writes before it has run them for MaxCommitTime
// or inserted MaxCommitBytes of events, so a huge bulk create is committed
// in several group commits, other tenants' writes in between, and its call
// returns after the last one. A small write queued behind it waits for the
// commit running and about one more write, not for the bulk.
//
// The writer also gives events their inbox order: it moves an event's
// created_at forward when needed so that created_at order is commit order.
// A reader's snapshot therefore always holds a prefix of the inbox, and a
// cursor can never skip an event that commits later.
//
// # Reads
//
// Reads use a separate pool of read-only connections; WAL lets them run
// while the writer commits. Inbox pages that no create can change are
// answered from memory until an event leaves the tenant's inbox (pageCache):
// SQLite drops a reader's page cache at every commit, so a busy inbox would
// otherwise re-read the same pages again and again.
//
// # Drivers
//
// Builds with cgo use SQLite's C code (github.com/mattn/go-sqlite3);
// CGO_ENABLED=0 builds, or the tag triggers_purego, use the pure-Go
// modernc.org/sqlite. Driver names which one a binary has.
//
// Other processes (the triggers keys CLI) may write the same file; SQLite's
// locks serialize them. Two servers on one file are not supported.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	triggers "github.com/triggersapi/triggers"
)

//go:embed migrations/*.sql
var migrations embed.FS

// FileName is the database file's name inside the data directory.
const FileName = "triggers.db"

// Options configure a DB; the zero value of each field means its default.
type Options struct {
	// MaxBatch bounds the writes committed together; default 256.
	MaxBatch int
	// MaxCommitTime bounds how long one group commit runs writes before it
	// commits: it takes another write only while the time spent plus that
	// write's expected time stays below it (see Writes); default 4ms.
	MaxCommitTime time.Duration
	// MaxCommitBytes bounds the event bytes (payload and metadata) one
	// group commit inserts: a write that would go beyond it waits for the
	// next commit, unless it is the first; default 1 MiB.
	MaxCommitBytes int
	// ReadConns is the size of the read pool; default 4.
	ReadConns int
	// PageCache is how many inbox pages are kept in memory (see pageCache);
	// default 512, negative for none.
	PageCache int
}

// DB is a triggers.Store on one SQLite database file.
type DB struct {
	path   string
	write  *sql.DB
	read   *sql.DB
	queue  chan *writeJob
	stop   chan struct{}
	done   chan struct{}
	maxBat int

	maxTime  time.Duration // Options.MaxCommitTime
	maxBytes int           // Options.MaxCommitBytes

	lastCreated int64        // the greatest created_at committed or queued; writer only
	syncNormal  bool         // the write connection runs with synchronous=NORMAL; writer only
	counts      *countDeltas // the running group commit's counter changes; writer only

	commits, committedOps, volatileCommits atomic.Uint64

	pages *pageCache // nil: off

	// subs is every subscription by tenant, for the outbox and claims
	// (sqlite/webhooks.go); subsStale: a failed commit may have left it
	// ahead of the database, so it is read again before its next use.
	// Writer only.
	subs      map[string][]*triggers.Subscription
	subsStale bool

	readStmts  sync.Map // query text -> *sql.Stmt on the read pool
	writeStmts sync.Map // query text -> *sql.Stmt on the write connection
}

var _ triggers.Store = (*DB)(nil)

// writeOp is one write: fn runs inside a group commit and is atomic (see
// exec). bytes is what it inserts (payload and metadata), counted against
// the commit's MaxCommitBytes.
type writeOp struct {
	fn    func(tx *writeTx) error
	bytes int

	job *writeJob
	err error // the outcome, set by the writer before the job is done
}

// writeJob is the writes of one call, queued together. The writer runs them
// in order, in one group commit or several (see schedule), and closes done
// once each has its outcome.
type writeJob struct {
	ctx    context.Context
	tenant string // the lane; "" for writes of no tenant (keys, retention)
	// volatile marks writes that may be lost in a power failure (a lease:
	// DESIGN §10.5): a commit of volatile writes only has no fsync of its
	// own (see fill).
	volatile bool
	ops      []writeOp
	next     int           // ops[next] is the next to run; writer only
	left     int           // ops without an outcome; writer only
	took     time.Duration // the time its last op ran; writer only
	done     chan struct{}
}

// writeTx is the group-commit transaction as write functions see it. Its
// statements are prepared once and reused, since SQL parsing would otherwise
// be a large part of the single writer's time.
type writeTx struct {
	db    *DB
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // hot statements bound to tx, on first use
	// counts, when set, collects the statistics counters' changes, which
	// the commit writes (see countDeltas); nil writes them at once.
	counts *countDeltas
}

// hotWrites are the write statements prepared when the store opens. They
// cannot be prepared later: the one write connection is then busy with the
// transaction.
var hotWrites = []string{qSavepoint, qRelease, qRollbackTo, qSelectIdem, qInsertEvent, qInsertIdem, qAck, qAckDead, qEventState, qDeleteEvent,
	qInsertTerm, qDeleteTerms, qCountEvent, qCountMinute, qCountDetail, qReceiveIdle, qReceiveHeld, qDeadLetter, qNextAvailable, qNack, qExtend, qRedrive, qEventBytes,
	qInsertDelivery, qClaimWalk, qClaimOne, qCompleteRead, qCompleteWrite}

// stmt returns the hot statement query bound to the transaction, or nil
// if query is not one of hotWrites. It is bound once per transaction, not
// once per use: an insert with many metadata terms, or a group commit of
// many writes, then makes no statement object per execution.
func (w *writeTx) stmt(query string) *sql.Stmt {
	if s, ok := w.stmts[query]; ok {
		return s
	}
	p, ok := w.db.writeStmts.Load(query)
	if !ok {
		return nil
	}
	if w.stmts == nil {
		w.stmts = make(map[string]*sql.Stmt)
	}
	s := w.tx.Stmt(p.(*sql.Stmt))
	w.stmts[query] = s
	return s
}

// Exec runs a statement in the transaction.
func (w *writeTx) Exec(query string, args ...any) (sql.Result, error) {
	if s := w.stmt(query); s != nil {
		return s.Exec(args...)
	}
	return w.tx.Exec(query, args...)
}

// QueryRow runs a query returning at most one row in the transaction.
func (w *writeTx) QueryRow(query string, args ...any) *sql.Row {
	if s := w.stmt(query); s != nil {
		return s.QueryRow(args...)
	}
	return w.tx.QueryRow(query, args...)
}

// Query runs a query returning rows in the transaction.
func (w *writeTx) Query(query string, args ...any) (*sql.Rows, error) {
	if s := w.stmt(query); s != nil {
		return s.Query(args...)
	}
	return w.tx.Query(query, args...)
}

// readStmt returns a prepared statement on the read pool.
func (db *DB) readStmt(query string) (*sql.Stmt, error) {
	if s, ok := db.readStmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.read.Prepare(query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.readStmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// query runs a read query with a cached prepared statement.
func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := db.readStmt(query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// queryRow runs a read query returning at most one row.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := db.readStmt(query)
	if err != nil {
		return db.read.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// Open opens (creating if needed) the database in dir and migrates it.
func Open(dir string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if o.PageCache == 0 {
		o.PageCache = 512
	}
	if o.MaxCommitTime <= 0 {
		o.MaxCommitTime = 4 * time.Millisecond
	}
	if o.MaxCommitBytes <= 0 {
		o.MaxCommitBytes = 1 << 20
	}
	path := filepath.Join(dir, FileName)
	pragmas := []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "mmap_size(268435456)"}
	write, err := openPool(path, pragmas, true)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := migrate(write); err != nil {
		write.Close()
		return nil, err
	}
	read, err := openPool(path, append(pragmas, "query_only(1)"), false)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(o.ReadConns)
	read.SetMaxIdleConns(o.ReadConns)

	db := &DB{path: path, write: write, read: read, queue: make(chan *writeJob, 4096), counts: newCountDeltas(),
		stop: make(chan struct{}), done: make(chan struct{}), maxBat: o.MaxBatch,
		maxTime: o.MaxCommitTime, maxBytes: o.MaxCommitBytes}
	if o.PageCache > 0 {
		db.pages = newPageCache(o.PageCache)
	}
	if err := write.QueryRow(`SELECT coalesce(max(created_at), 0) FROM events`).Scan(&db.lastCreated); err != nil {
		db.close()
		return nil, fmt.Errorf("sqlite: read last created_at: %w", err)
	}
	if db.subs, err = loadSubs(write); err != nil {
		db.close()
		return nil, err
	}
	for _, q := range slices.Concat(hotWrites, leaseManyStatements()) {
		s, err := write.Prepare(q)
		if err != nil {
			db.close()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		db.writeStmts.Store(q, s)
	}
	go db.writer()
	return db, nil
}

// migrate applies the embedded migrations not yet applied, each in its own
// transaction, tracked by PRAGMA user_version.
func migrate(db *sql.DB) error { return migrateTo(db, -1) }

// migrateTo is migrate up to schema version target (-1: the latest); tests
// use it to build a database as an older release left it.
func migrateTo(db *sql.DB, target int) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	if target >= 0 {
		names = names[:min(target, len(names))]
	}
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	for i, name := range names[min(version, len(names)):] {
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.Begin()
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migrate %s: %w", name, err)
		}
		if step := goSteps[name]; step != nil {
			if err := step(tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("sqlite: migrate %s: %w", name, err)
			}
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, version+i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", name, err)
		}
	}
	return nil
}

// goSteps are the parts of migrations written in Go, run after the
// migration's SQL in the same transaction.
var goSteps = map[string]func(*sql.Tx) error{
	"migrations/003_covering_filters.sql": backfillMetadata,
}

// backfillMetadata indexes the metadata of the events pending before the
// metadata index existed.
func backfillMetadata(tx *sql.Tx) error {
	rows, err := tx.Query(`SELECT tenant, id, created_at, source, event_type, priority, metadata FROM events WHERE acked_at IS NULL`)
	if err != nil {
		return err
	}
	type pending struct {
		tenant, id, source, eventType, priority, metadata string
		created                                           int64
	}
	var evs []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.tenant, &p.id, &p.created, &p.source, &p.eventType, &p.priority, &p.metadata); err != nil {
			rows.Close()
			return err
		}
		evs = append(evs, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range evs {
		for _, t := range triggers.MetadataTerms(json.RawMessage(p.metadata)) {
			if _, err := tx.Exec(qInsertTerm, p.tenant, t.Key, t.Value, p.created, p.id, p.source, p.eventType, p.priority); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close stops the writer after the writes already queued and closes the file.
func (db *DB) Close() error {
	select {
	case <-db.stop:
		return nil
	default:
	}
	close(db.stop)
	<-db.done
	return db.close()
}

func (db *DB) close() error {
	for _, m := range []*sync.Map{&db.readStmts, &db.writeStmts} {
		m.Range(func(_, s any) bool { s.(*sql.Stmt).Close(); return true })
	}
	return errors.Join(db.read.Close(), db.write.Close())
}

// Ping checks that a read connection answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.queryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return formatError(err)
	}
	return nil
}

var errClosed = triggers.Unavailable(errors.New("sqlite: store closed"))

// exec runs fn as one write of tenant's lane ("" for none) inside a
// group-commit transaction and waits until that transaction is durable.
// fn's own error undoes only its work. fn may run twice (see commit), and
// must return domain errors (*triggers.Error) only before it has written
// anything.
func (db *DB) exec(ctx context.Context, tenant string, fn func(tx *writeTx) error) error {
	return db.execOne(ctx, &writeJob{tenant: tenant}, fn)
}

// execVolatile is exec for a write that a power failure may undo without
// harm (a lease, DESIGN §10.5: losing one only means a redelivery). It
// returns once the write is committed to the WAL, which survives a crash of
// the process; the next durable commit makes it durable too.
func (db *DB) execVolatile(ctx context.Context, tenant string, fn func(tx *writeTx) error) error {
	return db.execOne(ctx, &writeJob{tenant: tenant, volatile: true}, fn)
}

// execOne runs fn as the one write of job.
func (db *DB) execOne(ctx context.Context, job *writeJob, fn func(tx *writeTx) error) error {
	job.ops = []writeOp{{fn: fn}}
	if err := db.execJob(ctx, job); err != nil {
		return err
	}
	return job.ops[0].err
}

// execRemoving is exec for a write that may take pending events of tenant
// out of the inbox (ack, delete), put one back (redrive) or change how one
// is shown (its lease): the tenant's cached inbox pages are dropped once the
// write has committed, before its caller is answered.
func (db *DB) execRemoving(ctx context.Context, tenant string, fn func(tx *writeTx) error) error {
	err := db.exec(ctx, tenant, fn)
	db.pages.invalidate(tenant)
	return err
}

// execEach runs one(tx, i) for i in [0, n) as the n writes of one job of
// tenant (see writeJob): each as exec runs fn, in order, in one group
// commit or several; one records its item's outcome itself. size(i), if
// not nil, is what write i inserts (writeOp.bytes). It returns each
// write's failure (nil for the committed ones), or, when none was
// committed, the failure of the whole call.
func (db *DB) execEach(ctx context.Context, tenant string, n int, size func(i int) int, one func(tx *writeTx, i int) error) ([]error, error) {
	ops := make([]writeOp, n)
	for i := range ops {
		ops[i].fn = func(tx *writeTx) error { return one(tx, i) }
		if size != nil {
			ops[i].bytes = size(i)
		}
	}
	if err := db.execJob(ctx, &writeJob{tenant: tenant, ops: ops}); err != nil {
		return nil, err
	}
	errs := make([]error, n)
	failed := 0
	for i := range ops {
		if ops[i].err != nil {
			errs[i] = formatError(ops[i].err)
			failed++
		}
	}
	if failed == n && n > 0 {
		return nil, errs[0]
	}
	return errs, nil
}

// execJob queues job (its tenant, ops and volatile set) and waits until
// each op has its outcome (writeOp.err). Its own error is for a job never
// queued (the store closed, ctx done first): then no op ran.
func (db *DB) execJob(ctx context.Context, job *writeJob) error {
	job.ctx, job.left, job.done = ctx, len(job.ops), make(chan struct{})
	for i := range job.ops {
		job.ops[i].job = job
	}
	select {
	case db.queue <- job:
	case <-db.stop:
		return errClosed
	case <-ctx.Done():
		return triggers.Unavailable(ctx.Err())
	}
	// Once queued, every op is committed or refused by the writer; waiting
	// for the outcomes even when ctx ends keeps the caller's view truthful.
	select {
	case <-job.done:
		return nil
	case <-db.done:
		// The writer has stopped, after answering every job it took. A job
		// still unanswered went into the queue after its last look (the
		// select above may send even once stop is closed) and never runs.
		select {
		case <-job.done:
			return nil
		default:
			return errClosed
		}
	}
}

// answered records that op has its outcome.
func (op *writeOp) answered() {
	if op.job.left--; op.job.left == 0 {
		close(op.job.done)
	}
}

// schedule is the writer's queue of jobs, fair between tenants. Jobs wait
// in one lane per tenant, and the lanes take turns, one op per turn; within
// a lane its jobs take turns the same way, so the ops of one job run in
// order. A lane that joins (its tenant had nothing waiting) has its first
// turn before the lanes already waiting, which then take their turns in a
// ring; after its turn a lane still holding ops joins the back of the ring.
// A small write therefore runs before the rest of any bulk already
// queued, and a lane in the ring waits for one turn of each other lane.
// So that new lanes arriving without pause cannot hold the ring still, a
// commit after one that ran no op of the ring runs one first (owed, see
// fill). Writer only.
type schedule struct {
	lanes map[string]*lane // by tenant: the lanes waiting, new or in the ring
	fresh []*lane          // lanes that joined and have not had a turn, oldest first
	ring  []*lane          // the others; ring[0] has the next turn
	ops   int              // ops waiting
	// owed: the last commit ran no op of the ring, which was not empty;
	// the next commit runs ring[0]'s op first (see fill).
	owed bool
}

// lane is a tenant's jobs waiting in the schedule; jobs[0] has its next turn.
type lane struct {
	tenant string
	jobs   []*writeJob
}

// push adds a job at the back of its tenant's lane.
func (s *schedule) push(j *writeJob) {
	if len(j.ops) == 0 {
		close(j.done)
		return
	}
	l := s.lanes[j.tenant]
	if l == nil {
		l = &lane{tenant: j.tenant}
		s.lanes[j.tenant] = l
		s.fresh = append(s.fresh, l)
	}
	l.jobs = append(l.jobs, j)
	s.ops += len(j.ops)
}

// peek returns the op pop would return, without taking it.
func (s *schedule) peek(ringOnly bool) *writeOp {
	var l *lane
	switch {
	case len(s.fresh) > 0 && !ringOnly:
		l = s.fresh[0]
	case len(s.ring) > 0:
		l = s.ring[0]
	default:
		return nil
	}
	j := l.jobs[0]
	return &j.ops[j.next]
}

// pop returns the next op to run, or nil if none is waiting, and whether it
// is of a lane in the ring; ringOnly passes over the new lanes.
func (s *schedule) pop(ringOnly bool) (op *writeOp, inRing bool) {
	var l *lane
	switch {
	case len(s.fresh) > 0 && !ringOnly:
		l, s.fresh = s.fresh[0], s.fresh[1:]
	case len(s.ring) > 0:
		l, s.ring = s.ring[0], s.ring[1:]
		inRing = true
	default:
		return nil, false
	}
	j := l.jobs[0]
	l.jobs = l.jobs[1:]
	op = &j.ops[j.next]
	j.next++
	s.ops--
	if j.next < len(j.ops) {
		l.jobs = append(l.jobs, j)
	}
	if len(l.jobs) > 0 {
		s.ring = append(s.ring, l)
	} else {
		delete(s.lanes, l.tenant)
	}
	return op, inRing
}

// take moves the jobs queued now into s, without waiting.
func (db *DB) take(s *schedule) {
	for {
		select {
		case j := <-db.queue:
			s.push(j)
		default:
			return
		}
	}
}

func (db *DB) writer() {
	defer close(db.done)
	s := &schedule{lanes: map[string]*lane{}}
	batch := make([]*writeOp, 0, db.maxBat)
	for {
		if s.ops == 0 {
			select {
			case j := <-db.queue:
				s.push(j)
			case <-db.stop:
				// Finish what is queued, then stop.
				for db.take(s); s.ops > 0; db.take(s) {
					batch = db.commit(s, batch[:0])
				}
				return
			}
			continue // the job may have had no op
		}
		batch = db.commit(s, batch[:0])
	}
}

// commit runs the next group commit: it takes ops from s in turn and runs
// each at once while the commit's budget lasts (see fill; at most MaxBatch
// ops), commits, and gives each op taken its outcome. It returns the batch
// (for reuse).
//
// Ops run back to back without savepoints: a write function that fails with
// a domain error (ENOTFOUND, ECONFLICT, ...) has written nothing. Any other
// failure may have left half an op written, so the batch is rolled back and
// run again with each op in its own savepoint, where one failing op undoes
// only its own work. Savepoints cost two statements per op, which is why
// they are kept for that rare path.
func (db *DB) commit(s *schedule, batch []*writeOp) []*writeOp {
	lastCreated := db.lastCreated
	batch, volatile, err := db.fill(s, batch)
	if errors.Is(err, errNeedSavepoints) {
		db.lastCreated = lastCreated
		db.subsStale = true // the ops run again; the cache is read afresh
		err = db.rerun(batch)
	}
	if err != nil {
		db.lastCreated = lastCreated
		db.subsStale = true
		err = formatError(fmt.Errorf("sqlite: commit: %w", err))
		for _, op := range batch {
			op.err = err
		}
	} else {
		db.commits.Add(1)
		db.committedOps.Add(uint64(len(batch)))
		if volatile {
			db.volatileCommits.Add(1)
		}
	}
	for _, op := range batch {
		op.answered()
	}
	return batch
}

// setSync makes the next commit fsync (synchronous=FULL, the default) or
// not (NORMAL: in WAL mode a commit then reaches the WAL file, which a crash
// of the process does not lose, and is made durable by the next FULL
// commit's fsync of the WAL). It changes the setting only when the batch's
// kind changes. A failed switch to NORMAL is ignored (the commit is then
// durable anyway); a failed switch back to FULL fails the batch, whose
// writes must be durable.
func (db *DB) setSync(normal bool) error {
	if normal == db.syncNormal {
		return nil
	}
	q := "PRAGMA synchronous=FULL"
	if normal {
		q = "PRAGMA synchronous=NORMAL"
	}
	if _, err := db.write.Exec(q); err != nil {
		if normal {
			return nil
		}
		return fmt.Errorf("restore synchronous=FULL: %w", err)
	}
	db.syncNormal = normal
	return nil
}

// WriterStats are counters of the group commit, for metrics: the mean batch size
// is CommittedOps / Commits.
type WriterStats struct {
	Commits      uint64 // transactions committed (each one fsync, but VolatileCommits)
	CommittedOps uint64 // writes in those transactions (a bulk call's items count one each)
	// VolatileCommits are the commits of leases only, without an fsync.
	VolatileCommits uint64
	PageHits        uint64 // inbox pages answered from memory (pageCache)
	PageMisses      uint64 // inbox pages read from the database
}

// WriterStats returns the group-commit counters since Open.
func (db *DB) WriterStats() WriterStats {
	st := WriterStats{Commits: db.commits.Load(), CommittedOps: db.committedOps.Load(), VolatileCommits: db.volatileCommits.Load()}
	if db.pages != nil {
		st.PageHits, st.PageMisses = db.pages.hits.Load(), db.pages.misses.Load()
	}
	return st
}

var errNeedSavepoints = errors.New("sqlite: an op failed midway; rerun the batch with savepoints")

// fill is the first run of a group commit (see commit): it begins the
// transaction, takes ops from s and runs them while the commit's budget
// lasts, and commits. It returns the ops taken, whether the commit was
// volatile, and errNeedSavepoints (with the transaction rolled back) when
// one op failed midway.
//
// The budget: the first op always runs; another runs only if the ops so
// far and it insert at most MaxCommitBytes, and if the time spent running
// ops plus its expected time (the time its job's previous op took; zero
// for a job's first) stays under MaxCommitTime. So a small write that finds
// a bulk running is committed right after the bulk's op in progress, not
// with the bulk's next one. If a commit ran no op of the ring, the next one
// runs the ring's next op first, however long (schedule.owed): the lanes
// already waiting move on at least every other commit.
//
// A commit is volatile (synchronous=NORMAL, see setSync) when its first op
// is: it then stops before a durable op, which the next commit, durable,
// runs first.
func (db *DB) fill(s *schedule, batch []*writeOp) ([]*writeOp, bool, error) {
	db.take(s)
	ringFirst := s.owed && len(s.ring) > 0
	volatile := s.peek(ringFirst).job.volatile
	ctx := context.Background() // one caller's cancellation must not undo the others
	var sqlTx *sql.Tx
	err := db.setSync(volatile)
	if err == nil {
		sqlTx, err = db.write.BeginTx(ctx, nil)
	}
	if err != nil {
		// Give the ops waiting now this failure, rather than try again for
		// each (a busy database takes busy_timeout to refuse).
		for len(batch) < db.maxBat {
			op, _ := s.pop(false)
			if op == nil {
				break
			}
			batch = append(batch, op)
		}
		return batch, volatile, err
	}
	db.counts.reset()
	tx := &writeTx{db: db, tx: sqlTx, counts: db.counts}
	var ran time.Duration // running ops
	bytes := 0
	ringServed := false
	for len(batch) < db.maxBat {
		if len(batch) > 0 {
			db.take(s) // writes queued meanwhile get their turn in this commit
		}
		ringOnly := ringFirst && !ringServed
		next := s.peek(ringOnly)
		if next == nil || volatile && !next.job.volatile ||
			len(batch) > 0 && (bytes+next.bytes > db.maxBytes || ran+next.job.took >= db.maxTime) {
			break
		}
		op, inRing := s.pop(ringOnly)
		ringServed = ringServed || inRing
		batch = append(batch, op)
		if err := op.job.ctx.Err(); err != nil {
			op.err = triggers.Unavailable(err)
			continue
		}
		start := time.Now()
		op.err = op.fn(tx)
		op.job.took = time.Since(start)
		ran += op.job.took
		if op.err != nil && !cleanFailure(op.err) {
			sqlTx.Rollback()
			s.owed = len(s.ring) > 0 && !ringServed
			return batch, volatile, errNeedSavepoints
		}
		bytes += op.bytes
	}
	s.owed = len(s.ring) > 0 && !ringServed
	if err := db.counts.flush(tx); err != nil {
		sqlTx.Rollback()
		return batch, volatile, err
	}
	return batch, volatile, sqlTx.Commit()
}

// rerun runs a batch again, each op in its own savepoint, and commits.
func (db *DB) rerun(batch []*writeOp) error {
	sqlTx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	tx := &writeTx{db: db, tx: sqlTx}
	for _, op := range batch {
		if err := op.job.ctx.Err(); err != nil {
			op.err = triggers.Unavailable(err)
			continue
		}
		op.err = db.inSavepoint(tx, op.fn)
	}
	return sqlTx.Commit()
}

// cleanFailure reports whether a write function's error is one that, by the
// write functions' contract, leaves nothing written: a domain error.
func cleanFailure(err error) bool {
	switch triggers.ErrorCode(err) {
	case triggers.EINTERNAL, triggers.EUNAVAILABLE:
		return false
	}
	return true
}

const (
	qSavepoint  = `SAVEPOINT op`
	qRelease    = `RELEASE op`
	qRollbackTo = `ROLLBACK TO op`
)

func (db *DB) inSavepoint(tx *writeTx, fn func(*writeTx) error) error {
	if _, err := tx.Exec(qSavepoint); err != nil {
		return formatError(err)
	}
	if err := fn(tx); err != nil {
		if _, rerr := tx.Exec(qRollbackTo); rerr != nil {
			return formatError(errors.Join(err, rerr))
		}
		tx.Exec(qRelease)
		return err
	}
	if _, err := tx.Exec(qRelease); err != nil {
		return formatError(err)
	}
	return nil
}

// formatError maps SQLite failures to domain errors: busy, locked and I/O
// errors are EUNAVAILABLE (a retry may cure them); *triggers.Error passes
// through; anything else is internal.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var te *triggers.Error
	if errors.As(err, &te) {
		return err
	}
	if code, ok := resultCode(err); ok {
		switch code {
		case codeBusy, codeLocked, codeIOErr, codeFull, codeCantOpen:
			return triggers.Unavailable(err)
		case codeConstraint:
			return &triggers.Error{Code: triggers.ECONFLICT, Message: "already exists", Err: err}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return triggers.Unavailable(err)
	}
	return err
}

// SQLite's primary result codes that formatError maps (sqlite.org/rescode.html).
const (
	codeBusy       = 5
	codeLocked     = 6
	codeIOErr      = 10
	codeFull       = 13
	codeCantOpen   = 14
	codeConstraint = 19
)

// micros and fromMicros are the root package's one conversion of instants,
// short-named for the many queries here. The zero time is 0 (it was the
// negative micros of year 1 here before): only a bound that is not set is
// zero, never a stored instant (an absent one is NULL, see nullMicros), and
// every stored instant is an event's, key's or record's creation, after 1970,
// so "created_at > 0" admits exactly what it admitted before.
var (
	micros     = triggers.UnixMicros
	fromMicros = triggers.FromUnixMicros
)

// nullMicros stores an optional instant: NULL for the zero time.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
