// Package sqlite is the embedded Triggers store: one SQLite database file in
// WAL mode, with group commit.
//
// # Writes
//
// Every write goes through one writer goroutine. It takes all writes queued
// at that moment, runs them in one transaction (each in its own savepoint, so
// one failing write does not undo the others) and commits once: concurrent
// requests share one fsync (synchronous=FULL), and each caller returns only
// after the commit is on disk.
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
	queue  chan *writeOp
	stop   chan struct{}
	done   chan struct{}
	maxBat int

	lastCreated int64 // the greatest created_at committed or queued; writer only
	syncNormal  bool  // the write connection runs with synchronous=NORMAL; writer only

	commits, committedOps, volatileCommits atomic.Uint64

	pages *pageCache // nil: off

	readStmts  sync.Map // query text -> *sql.Stmt on the read pool
	writeStmts sync.Map // query text -> *sql.Stmt on the write connection
}

var _ triggers.Store = (*DB)(nil)

type writeOp struct {
	ctx  context.Context
	fn   func(tx *writeTx) error
	done chan error
	// volatile marks a write that may be lost in a power failure (a lease:
	// DESIGN §10.5): a batch of volatile writes only is committed without
	// an fsync of its own (see commit).
	volatile bool
}

// writeTx is the group-commit transaction as write functions see it. Its
// statements are prepared once and reused, since SQL parsing would otherwise
// be a large part of the single writer's time.
type writeTx struct {
	db *DB
	tx *sql.Tx
}

// hotWrites are the write statements prepared when the store opens. They
// cannot be prepared later: the one write connection is then busy with the
// transaction.
var hotWrites = []string{qSavepoint, qRelease, qRollbackTo, qSelectIdem, qInsertEvent, qInsertIdem, qAck, qEventState, qDeleteEvent,
	qInsertTerm, qDeleteTerm, qReceiveIdle, qReceiveHeld, qDeadLetter, qNextAvailable, qNack, qExtend, qRedrive}

// Exec runs a statement in the transaction.
func (w *writeTx) Exec(query string, args ...any) (sql.Result, error) {
	if s, ok := w.db.writeStmts.Load(query); ok {
		return w.tx.Stmt(s.(*sql.Stmt)).Exec(args...)
	}
	return w.tx.Exec(query, args...)
}

// QueryRow runs a query returning at most one row in the transaction.
func (w *writeTx) QueryRow(query string, args ...any) *sql.Row {
	if s, ok := w.db.writeStmts.Load(query); ok {
		return w.tx.Stmt(s.(*sql.Stmt)).QueryRow(args...)
	}
	return w.tx.QueryRow(query, args...)
}

// Query runs a query returning rows in the transaction.
func (w *writeTx) Query(query string, args ...any) (*sql.Rows, error) {
	if s, ok := w.db.writeStmts.Load(query); ok {
		return w.tx.Stmt(s.(*sql.Stmt)).Query(args...)
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

	db := &DB{path: path, write: write, read: read, queue: make(chan *writeOp, 4096),
		stop: make(chan struct{}), done: make(chan struct{}), maxBat: o.MaxBatch}
	if o.PageCache > 0 {
		db.pages = newPageCache(o.PageCache)
	}
	if err := write.QueryRow(`SELECT coalesce(max(created_at), 0) FROM events`).Scan(&db.lastCreated); err != nil {
		db.close()
		return nil, fmt.Errorf("sqlite: read last created_at: %w", err)
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

// exec queues fn to run inside the next group-commit transaction and waits
// until that transaction is durable. fn's own error undoes only its work.
// fn may run twice (see commit), and must return domain errors
// (*triggers.Error) only before it has written anything.
func (db *DB) exec(ctx context.Context, fn func(tx *writeTx) error) error {
	return db.queueOp(&writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// execVolatile is exec for a write that a power failure may undo without
// harm (a lease, DESIGN §10.5: losing one only means a redelivery). It
// returns once the write is committed to the WAL, which survives a crash of
// the process; the next durable commit makes it durable too.
func (db *DB) execVolatile(ctx context.Context, fn func(tx *writeTx) error) error {
	return db.queueOp(&writeOp{ctx: ctx, fn: fn, done: make(chan error, 1), volatile: true})
}

func (db *DB) queueOp(op *writeOp) error {
	ctx := op.ctx
	select {
	case db.queue <- op:
	case <-db.stop:
		return errClosed
	case <-ctx.Done():
		return triggers.Unavailable(ctx.Err())
	}
	// Once queued, the op is committed or refused by the writer; waiting for
	// its answer even when ctx ends keeps the caller's view truthful.
	return <-op.done
}

// execRemoving is exec for a write that may take pending events of tenant
// out of the inbox (ack, delete), put one back (redrive) or change how one
// is shown (its lease): the tenant's cached inbox pages are dropped once the
// write has committed, before its caller is answered.
func (db *DB) execRemoving(ctx context.Context, tenant string, fn func(tx *writeTx) error) error {
	err := db.exec(ctx, fn)
	db.pages.invalidate(tenant)
	return err
}

func (db *DB) writer() {
	defer close(db.done)
	batch := make([]*writeOp, 0, db.maxBat)
	for {
		batch = batch[:0]
		select {
		case op := <-db.queue:
			batch = append(batch, op)
		case <-db.stop:
			// Finish what is queued, then stop.
			for {
				select {
				case op := <-db.queue:
					batch = append(batch, op)
					if len(batch) == db.maxBat {
						db.commit(batch)
						batch = batch[:0]
					}
				default:
					if len(batch) > 0 {
						db.commit(batch)
					}
					return
				}
			}
		}
	fill:
		for len(batch) < db.maxBat {
			select {
			case op := <-db.queue:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		db.commit(batch)
	}
}

// commit runs a batch of writes in one transaction and answers each op.
//
// Ops run back to back without savepoints: a write function that fails with
// a domain error (ENOTFOUND, ECONFLICT, ...) has written nothing. Any other
// failure may have left half an op written, so the batch is rolled back and
// run again with each op in its own savepoint, where one failing op undoes
// only its own work. Savepoints cost two statements per op, which is why
// they are kept for that rare path.
func (db *DB) commit(batch []*writeOp) {
	volatile := allVolatile(batch)
	if err := db.setSync(volatile); err != nil {
		err = formatError(fmt.Errorf("sqlite: commit: %w", err))
		for _, op := range batch {
			op.done <- err
		}
		return
	}
	lastCreated := db.lastCreated
	errs, err := db.runBatch(batch, false)
	if errors.Is(err, errNeedSavepoints) {
		db.lastCreated = lastCreated
		errs, err = db.runBatch(batch, true)
	}
	if err != nil {
		db.lastCreated = lastCreated
		err = formatError(fmt.Errorf("sqlite: commit: %w", err))
		for _, op := range batch {
			op.done <- err
		}
		return
	}
	db.commits.Add(1)
	db.committedOps.Add(uint64(len(batch)))
	if volatile {
		db.volatileCommits.Add(1)
	}
	for i, op := range batch {
		op.done <- errs[i]
	}
}

// allVolatile reports whether every write of batch is volatile.
func allVolatile(batch []*writeOp) bool {
	for _, op := range batch {
		if !op.volatile {
			return false
		}
	}
	return true
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

// Stats are counters of the group commit, for metrics: the mean batch size
// is CommittedOps / Commits.
type Stats struct {
	Commits      uint64 // transactions committed (each one fsync, but VolatileCommits)
	CommittedOps uint64 // writes in those transactions
	// VolatileCommits are the commits of leases only, without an fsync.
	VolatileCommits uint64
	PageHits        uint64 // inbox pages answered from memory (pageCache)
	PageMisses      uint64 // inbox pages read from the database
}

// Stats returns the group-commit counters since Open.
func (db *DB) Stats() Stats {
	st := Stats{Commits: db.commits.Load(), CommittedOps: db.committedOps.Load(), VolatileCommits: db.volatileCommits.Load()}
	if db.pages != nil {
		st.PageHits, st.PageMisses = db.pages.hits.Load(), db.pages.misses.Load()
	}
	return st
}

var errNeedSavepoints = errors.New("sqlite: an op failed midway; rerun the batch with savepoints")

func (db *DB) runBatch(batch []*writeOp, savepoints bool) ([]error, error) {
	ctx := context.Background() // one caller's cancellation must not undo the others
	errs := make([]error, len(batch))
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	tx := &writeTx{db: db, tx: sqlTx}
	for i, op := range batch {
		switch {
		case op.ctx.Err() != nil:
			errs[i] = triggers.Unavailable(op.ctx.Err())
		case savepoints:
			errs[i] = db.inSavepoint(tx, op.fn)
		default:
			errs[i] = op.fn(tx)
			if errs[i] != nil && !cleanFailure(errs[i]) {
				sqlTx.Rollback()
				return nil, errNeedSavepoints
			}
		}
	}
	return errs, sqlTx.Commit()
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
