package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// statsEvent is a pending event of tenant created at at.
func statsEvent(tenant, source, eventType string, at time.Time) triggers.Event {
	return triggers.Event{ID: triggers.NewEventID(at), Tenant: tenant, Source: source, EventType: eventType,
		Payload: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(`{"priority":"normal","k":"v"}`),
		Priority: triggers.PriorityNormal, CreatedAt: at}
}

func mustInsertAll(t *testing.T, db *DB, evs ...triggers.Event) []triggers.Event {
	t.Helper()
	ins := make([]triggers.Insert, len(evs))
	for i, e := range evs {
		ins[i] = triggers.Insert{Event: e}
	}
	res, err := db.InsertEvents(context.Background(), ins)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]triggers.Event, len(res))
	for i, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		out[i] = r.Event
	}
	return out
}

// historyTally is the history a test expects (recount's want: tenant →
// Unix minute → created, acknowledged), counted as it writes; safe for
// concurrent use.
type historyTally struct {
	mu sync.Mutex
	m  map[string]map[int64][2]int64
}

// count adds created and acked to tenant's minute of at.
func (h *historyTally) count(tenant string, at time.Time, created, acked int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]map[int64][2]int64{}
	}
	if h.m[tenant] == nil {
		h.m[tenant] = map[int64][2]int64{}
	}
	k := at.Truncate(time.Minute).Unix()
	c := h.m[tenant][k]
	c[0] += created
	c[1] += acked
	h.m[tenant][k] = c
}

// recount compares stats_counts with a COUNT(*) of the events, and the
// history tables with want (tenant → Unix minute → created, acked) and
// with each other.
func recount(t *testing.T, db *DB, where string, want map[string]map[int64][2]int64) {
	t.Helper()
	diff := func(what, got, recounted string) {
		t.Helper()
		var out string
		if err := db.read.QueryRow(`SELECT coalesce(group_concat(r, ' '), '') FROM (
			SELECT * FROM (` + got + ` EXCEPT ` + recounted + `) UNION ALL SELECT * FROM (` + recounted + ` EXCEPT ` + got + `))
			`).Scan(&out); err != nil {
			t.Fatalf("%s: compare %s: %v", where, what, err)
		}
		if out != "" {
			t.Fatalf("%s: %s differ from a recount: rows only on one side: %s", where, what, out)
		}
	}
	diff("stats_counts",
		`SELECT tenant || '/' || source || '/' || event_type || ':' || open || ',' || dead AS r FROM stats_counts WHERE open > 0 OR dead > 0`,
		`SELECT tenant || '/' || source || '/' || event_type || ':' || sum(acked_at IS NULL AND dead_at IS NULL) || ',' ||
			sum(acked_at IS NULL AND dead_at IS NOT NULL) AS r FROM events GROUP BY tenant, source, event_type
			HAVING sum(acked_at IS NULL) > 0`)
	diff("stats_minutes and stats_detail",
		`SELECT tenant || '@' || minute || ':' || created || ',' || acked AS r FROM stats_minutes`,
		`SELECT tenant || '@' || minute || ':' || sum(created) || ',' || sum(acked) AS r FROM stats_detail GROUP BY tenant, minute`)
	got := map[string]map[int64][2]int64{}
	rows, err := db.read.Query(`SELECT tenant, minute, created, acked FROM stats_minutes`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tenant string
		var minute, created, acked int64
		if err := rows.Scan(&tenant, &minute, &created, &acked); err != nil {
			t.Fatal(err)
		}
		if got[tenant] == nil {
			got[tenant] = map[int64][2]int64{}
		}
		got[tenant][minute*60] = [2]int64{created, acked}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: history (tenant → unix second → created, acked) = %v\nwant %v", where, got, want)
	}
}

// TestStats_CountersMatchRecount makes random writes of every kind
// (creates, acks, conditional acks, receives that lease and dead-letter,
// nacks, redrives, deletes, purges) in two tenants, and checks after each
// round, and after a reopen, that the counters equal a recount of the
// events and the history equals the tally of the writes made.
func TestStats_CountersMatchRecount(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	notBefore := base.Add(-time.Hour)
	tally := &historyTally{}
	count := tally.count
	var live []triggers.Event // created, not deleted or purged
	now := base
	for round := range 12 {
		now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
		var evs []triggers.Event
		for range 5 + rng.IntN(20) {
			tenant := []string{"a", "b"}[rng.IntN(2)]
			evs = append(evs, statsEvent(tenant, fmt.Sprint("s", rng.IntN(3)), fmt.Sprint("t", rng.IntN(3)), now))
		}
		for _, e := range mustInsertAll(t, db, evs...) {
			live = append(live, e)
			count(e.Tenant, e.CreatedAt, 1, 0)
		}
		for range 10 {
			e := live[rng.IntN(len(live))]
			switch rng.IntN(5) {
			case 0, 1:
				if _, err := db.AckEvent(ctx, e.Tenant, triggers.Ack{ID: e.ID}, now, notBefore); err == nil {
					count(e.Tenant, now, 0, 1)
				}
			case 2:
				q := triggers.ReceiveQuery{Tenant: e.Tenant, NotBefore: notBefore, Now: now, Max: 3, LeaseIDs: make([]string, 3),
					LeaseExpiresAt: now.Add(time.Duration(rng.IntN(60)) * time.Second), MaxAttempts: 1 + rng.IntN(2), MaxScan: 100}
				for i := range q.LeaseIDs {
					q.LeaseIDs[i] = triggers.NewLeaseID()
				}
				got, err := db.ReceiveEvents(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range got.Events {
					if rng.IntN(2) == 0 {
						db.NackEvents(ctx, l.Tenant, []triggers.Nack{{ID: l.ID, LeaseID: l.LeaseID, AvailableAt: now.Add(time.Minute)}}, now, notBefore)
					}
				}
			case 3:
				if res, err := db.RedriveEvents(ctx, e.Tenant, []string{e.ID}, notBefore); err != nil {
					t.Fatal(err)
				} else if res[0].Err == nil && rng.IntN(2) == 0 {
					if _, err := db.AckEvent(ctx, e.Tenant, triggers.Ack{ID: e.ID}, now, notBefore); err == nil {
						count(e.Tenant, now, 0, 1)
					}
				}
			case 4:
				if _, err := db.DeleteEvent(ctx, e.Tenant, e.ID, notBefore); err != nil {
					t.Fatal(err)
				}
			}
		}
		if round%4 == 3 {
			// Purge the events of the first minutes (their history stays).
			if _, err := db.DeleteExpired(ctx, base.Add(time.Duration(round)*time.Minute), notBefore); err != nil {
				t.Fatal(err)
			}
		}
		recount(t, db, fmt.Sprint("round ", round), tally.m)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	recount(t, db, "after a reopen", tally.m)
}

// TestStats_CountersOfGroupCommits checks the counters when many writes
// share a group commit (their changes are added up and written at the
// commit, countDeltas), and when a write that fails midway makes the
// commit run again with savepoints (the changes are then written at once):
// concurrent creates of two tenants, acks, and inserts of an id already
// stored, then a recount.
func TestStats_CountersOfGroupCommits(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	now := time.Now().UTC()
	notBefore := now.Add(-time.Hour)
	before := db.WriterStats()
	tally := &historyTally{}
	count := tally.count
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			tenant := []string{"a", "b"}[w%2]
			for i := range 40 {
				e := statsEvent(tenant, fmt.Sprint("s", i%3), fmt.Sprint("t", w%3), now)
				ins := []triggers.Insert{{Event: e}}
				if i%10 == 9 {
					// An id already stored fails midway (a constraint, not a
					// domain error): the whole commit runs again with savepoints.
					ins = append(ins, triggers.Insert{Event: e})
				}
				res, err := db.InsertEvents(ctx, ins)
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range res {
					if r.Err == nil {
						count(tenant, r.Event.CreatedAt, 1, 0)
					}
				}
				if res[0].Err == nil && i%3 == 0 {
					if _, err := db.AckEvent(ctx, tenant, triggers.Ack{ID: res[0].Event.ID}, now, notBefore); err != nil {
						t.Error(err)
						return
					}
					count(tenant, now, 0, 1)
				}
			}
		})
	}
	wg.Wait()
	after := db.WriterStats()
	if ops, commits := after.CommittedOps-before.CommittedOps, after.Commits-before.Commits; ops <= commits {
		t.Logf("no group commit held more than one write (%d writes in %d commits): the test checked less than it should", ops, commits)
	}
	recount(t, db, "after concurrent writes", tally.m)
}

// TestMigration006_BackfillsCounters migrates a database as schema version
// 5 left it, with pending, leased, dead and acknowledged events, and checks
// that Stats counts them, the history of the last two hours included, and
// that the counters then follow new writes.
func TestMigration006_BackfillsCounters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := openPool(filepath.Join(dir, FileName), []string{"journal_mode(WAL)"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(old, 5); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	minute := now.Truncate(time.Minute)
	type v5Event struct {
		source              string
		created             time.Time
		acked, dead, leased bool
		ackedAt             time.Time
	}
	evs := []v5Event{
		{source: "shop", created: minute.Add(-3 * time.Hour)}, // pending, out of the history's two hours
		{source: "shop", created: minute.Add(-10 * time.Minute)},
		{source: "shop", created: minute.Add(-10*time.Minute + time.Second), leased: true},
		{source: "crm", created: minute.Add(-5 * time.Minute), dead: true},
		{source: "crm", created: minute.Add(-5*time.Minute + time.Second), acked: true, ackedAt: minute.Add(-time.Minute)},
	}
	for i, e := range evs {
		var acked, dead, lease any
		if e.acked {
			acked = micros(e.ackedAt)
		}
		if e.dead {
			dead = micros(now)
		}
		if e.leased {
			lease = micros(now.Add(time.Minute))
		}
		if _, err := old.Exec(`INSERT INTO events (tenant, id, created_at, source, event_type, priority, payload, metadata,
				acked_at, dead_at, lease_expires_at, lease_id, attempts)
			VALUES ('a', ?, ?, ?, 't', 'normal', '{}', '{"priority":"normal"}', ?, ?, ?, 'l', 1)`,
			fmt.Sprint("e", i), micros(e.created), e.source, acked, dead, lease); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	db, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open() of a version 5 database = %v", err)
	}
	defer db.Close()
	q := triggers.StatsQuery{Tenant: "a", Now: now, NotBefore: now.Add(-24 * time.Hour),
		Since: minute.Add(-59 * time.Minute), TopSources: 20}
	st, err := db.Stats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("pending %d leased %d dead %d oldest %v by source %v", st.Pending, st.Leased, st.Dead,
		st.OldestPending.UTC(), st.BySource)
	want := fmt.Sprintf("pending %d leased %d dead %d oldest %v by source %v", 3, 1, 1, evs[0].created,
		[]triggers.SourceCount{{Source: "shop", Pending: 3}})
	if got != want {
		t.Fatalf("Stats() after the migration = %s\nwant %s", got, want)
	}
	minutes := map[time.Time][2]int64{}
	for _, m := range st.PerMinute {
		minutes[m.Minute] = [2]int64{m.Created, m.Acknowledged}
	}
	wantMinutes := map[time.Time][2]int64{minute.Add(-10 * time.Minute): {2, 0}, minute.Add(-5 * time.Minute): {2, 0},
		minute.Add(-time.Minute): {0, 1}}
	if fmt.Sprint(minutes) != fmt.Sprint(wantMinutes) {
		t.Fatalf("per minute after the migration = %v\nwant %v", minutes, wantMinutes)
	}
	if _, err := db.AckEvent(ctx, "a", triggers.Ack{ID: "e1"}, now, q.NotBefore); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteEvent(ctx, "a", "e3", q.NotBefore); err != nil {
		t.Fatal(err)
	}
	if st, err = db.Stats(ctx, q); err != nil || st.Pending != 2 || st.Dead != 0 {
		t.Fatalf("Stats() after an ack and a delete = pending %d, dead %d, %v; want 2, 0", st.Pending, st.Dead, err)
	}
}

// TestDeleteExpired_PurgesOldHistory checks that the purge removes the
// history minutes more than two hours before the tenant's latest minute,
// keeps the others, and removes the counter rows that count nothing and
// have no history left.
func TestDeleteExpired_PurgesOldHistory(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	latest := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	// In creation order: the writer makes created_at follow commit order.
	evs := mustInsertAll(t, db, statsEvent("b", "gone", "t", latest.Add(-(historyMinutes+1)*time.Minute)),
		statsEvent("a", "gone", "t", latest.Add(-(historyMinutes+1)*time.Minute)),
		statsEvent("a", "kept", "t", latest.Add(-historyMinutes*time.Minute)), statsEvent("a", "kept", "t", latest))
	old := evs[1:]
	if _, err := db.AckEvent(ctx, "a", triggers.Ack{ID: old[0].ID}, old[0].CreatedAt, latest.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteExpired(ctx, latest.Add(-24*time.Hour), latest.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var minutes, detail, counts string
	for _, c := range []struct {
		query string
		dest  *string
	}{
		{`SELECT group_concat(tenant || '@' || ((minute * 60 - ?) / 60), ' ') FROM (SELECT * FROM stats_minutes ORDER BY tenant, minute)`, &minutes},
		{`SELECT group_concat(tenant || '/' || source || '@' || ((minute * 60 - ?) / 60), ' ') FROM (SELECT * FROM stats_detail ORDER BY 1, 2, 3, 4)`, &detail},
		{`SELECT group_concat(tenant || '/' || source || ':' || open || ',' || dead, ' ') FROM (SELECT * FROM stats_counts ORDER BY 1, 2, 3)
			WHERE ? > 0`, &counts},
	} {
		if err := db.read.QueryRow(c.query, latest.Unix()).Scan(c.dest); err != nil {
			t.Fatal(err)
		}
	}
	// Tenant a: the acked "gone" event's minute is purged with its counter
	// row; b's only minute is its latest, kept.
	if want := "a@-120 a@0 b@-121"; minutes != want {
		t.Errorf("stats_minutes after the purge (tenant@minute from latest) = %q, want %q", minutes, want)
	}
	if want := "a/kept@-120 a/kept@0 b/gone@-121"; detail != want {
		t.Errorf("stats_detail after the purge = %q, want %q", detail, want)
	}
	if want := "a/kept:2,0 b/gone:1,0"; counts != want {
		t.Errorf("stats_counts after the purge = %q, want %q", counts, want)
	}
}

// TestPlanStats_UsesIndexes checks with EXPLAIN QUERY PLAN that every query
// of Stats and TotalStats, for each combination of filters, reads counter
// rows by key or index ranges, never a scan of the events, and never sorts.
func TestPlanStats_UsesIndexes(t *testing.T) {
	db := openTemp(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	for _, f := range []struct{ source, eventType string }{{"", ""}, {"s", ""}, {"", "t"}, {"s", "t"}} {
		q := triggers.StatsQuery{Tenant: "a", Source: f.source, EventType: f.eventType, Now: now,
			NotBefore: now.Add(-time.Hour), Since: now.Add(-59 * time.Minute), TopSources: 20}
		filter, fargs := statsFilter(q, "")
		tx, err := db.read.Begin()
		if err != nil {
			t.Fatal(err)
		}
		oldest, oldestArgs, err := oldestSQL(readTx{db: db, tx: tx, ctx: t.Context()}, q)
		tx.Rollback()
		if err != nil {
			t.Fatal(err)
		}
		hist, histArgs := historySQL(q)
		oldestIndex := map[bool]string{false: "events_inbox", true: "events_inbox_source"}[f.source != ""]
		if f.source == "" && f.eventType != "" {
			oldestIndex = "events_inbox_type"
		}
		expiredIndex := oldestIndex
		histWant := "SEARCH stats_minutes USING PRIMARY KEY (tenant=? AND minute>? AND minute<?)"
		if f.source != "" || f.eventType != "" {
			histWant = "SEARCH d USING PRIMARY KEY (tenant=? AND source=? AND event_type=? AND minute>? AND minute<?)"
		}
		for _, c := range []struct {
			name, query string
			args        []any
			want        string
		}{
			{"counters", `SELECT source, sum(open), sum(dead) FROM stats_counts WHERE tenant = ?` + filter + ` GROUP BY source`,
				append([]any{"a"}, fargs...), "SEARCH stats_counts USING PRIMARY KEY (tenant=?"},
			{"expired pending", expiredPendingSQL(q), expiredArgs(q), "INDEX " + expiredIndex + " (tenant=? AND "},
			{"expired dead", expiredDeadSQL(filter), append([]any{"a", 0}, fargs...), "INDEX events_dead (tenant=? AND created_at<?)"},
			{"leased", leasedSQL(filter), append([]any{"a", 0, 0, 0}, fargs...), "INDEX events_held (tenant=? AND <expr>>?)"},
			{"oldest", oldest, oldestArgs, "INDEX " + oldestIndex + " (tenant=? AND "},
			{"history", hist, histArgs, histWant},
		} {
			t.Run(fmt.Sprintf("%s source=%q type=%q", c.name, f.source, f.eventType), func(t *testing.T) {
				got := queryPlan(t, db, c.query, c.args...)
				t.Log(got)
				if !strings.Contains(got, c.want) {
					t.Fatalf("plan = %q, want %q", got, c.want)
				}
				if strings.Contains(got, "SCAN") || c.name == "oldest" && strings.Contains(got, "TEMP B-TREE") {
					t.Fatalf("plan = %q scans or sorts", got)
				}
			})
		}
	}
	for _, c := range []struct{ name, query, want string }{
		{"total expired", qTotalExpired, "SEARCH events USING INDEX events_by_age (created_at<?)"},
		{"total oldest", qTotalOldest, "SEARCH events USING COVERING INDEX events_inbox (tenant=? AND created_at>?)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := queryPlan(t, db, c.query, 0)
			t.Log(got)
			if !strings.Contains(got, c.want) || strings.Contains(got, "SCAN events") {
				t.Fatalf("plan = %q, want %q and no scan of the events", got, c.want)
			}
		})
	}
}

// TestTotalStats sums the tenants' pending events, leaves out the expired
// ones not purged yet and finds the oldest of every tenant.
func TestTotalStats(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	t0 := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	if got, err := db.TotalStats(ctx, now, t0); err != nil || got != (triggers.TotalStats{}) {
		t.Fatalf("TotalStats() of an empty store = %+v, %v", got, err)
	}
	evs := mustInsertAll(t, db, statsEvent("a", "s", "t", t0), statsEvent("b", "s", "t", t0.Add(time.Minute)),
		statsEvent("a", "s", "t", t0.Add(2*time.Minute)), statsEvent("c", "s", "t", t0.Add(3*time.Minute)))
	if _, err := db.AckEvent(ctx, "a", triggers.Ack{ID: evs[2].ID}, now, t0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		notBefore time.Time
		want      triggers.TotalStats
	}{
		{t0.Add(-time.Hour), triggers.TotalStats{Pending: 3, OldestPending: evs[0].CreatedAt}},
		{t0, triggers.TotalStats{Pending: 2, OldestPending: evs[1].CreatedAt}}, // a's first expired, not purged
		{t0.Add(3 * time.Minute), triggers.TotalStats{}},
	} {
		got, err := db.TotalStats(ctx, now, c.notBefore)
		if err != nil || got.Pending != c.want.Pending || !got.OldestPending.Equal(c.want.OldestPending) {
			t.Errorf("TotalStats(notBefore %v) = %+v, %v; want %+v", c.notBefore, got, err, c.want)
		}
	}
}
