package sqlite

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// The stats benchmark's store: statsBenchEvents events of tenant "bench",
// one every 170 ms up to statsBenchEnd (about 48 hours), over 50 sources
// and 10 event types; one in 51 acknowledged 30 s after its creation, which
// leaves 1,000,000 pending, of which 1 in 1,000 are leased and 1 in 10,000
// dead. The pair (s0, t0) has a single event, the newest but a few: its
// source and its type have 20,000 pending events each, the worst case of
// the oldest pending event with both filters.
const (
	statsBenchEvents = 1_020_000
	statsBenchStep   = 170 * time.Millisecond
)

var statsBenchEnd = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// statsBenchDir returns the directory of the benchmark's database, built
// once and kept under os.TempDir, keyed by the schema version (building it
// takes about a minute).
func statsBenchDir(b *testing.B) string {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("triggers-stats-bench-v%d-%d", len(names), statsBenchEvents))
	ready := filepath.Join(dir, "ready")
	if _, err := os.Stat(ready); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	pool, err := openPool(filepath.Join(dir, FileName), []string{"journal_mode(WAL)", "synchronous(OFF)"}, true)
	if err != nil {
		b.Fatal(err)
	}
	if err := migrate(pool); err != nil {
		b.Fatal(err)
	}
	step := int64(statsBenchStep / time.Microsecond)
	first := micros(statsBenchEnd) - statsBenchEvents*step
	now := micros(statsBenchEnd)
	for _, q := range []string{
		// The triggers keep the counters as for any insert.
		fmt.Sprintf(`INSERT INTO events (tenant, id, created_at, source, event_type, priority, payload, metadata, acked_at)
			WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %[1]d - 1)
			SELECT 'bench', printf('e%%07d', i), %[2]d + i * %[3]d, 's' || (i %% 50),
				CASE WHEN i %% 500 = 0 AND i < %[1]d - 500 THEN 't10' ELSE 't' || ((i / 50) %% 10) END,
				'normal', '{"n":1}', '{"priority":"normal"}', NULL FROM n`, statsBenchEvents, first, step),
		`UPDATE events SET acked_at = created_at + 30000000 WHERE seq % 51 = 0`,
		fmt.Sprintf(`UPDATE events SET lease_id = 'l', lease_expires_at = %d, attempts = 1
			WHERE seq %% 1000 = 7 AND acked_at IS NULL`, now+int64(time.Hour/time.Microsecond)),
		fmt.Sprintf(`UPDATE events SET dead_at = %d, attempts = 10 WHERE seq %% 10000 = 3 AND acked_at IS NULL`, now),
	} {
		if _, err := pool.Exec(q); err != nil {
			b.Fatalf("build the stats benchmark's database: %v", err)
		}
	}
	pool.Close()
	db, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	// As the purge loop leaves it: two hours of history.
	if err := db.purgeHistory(context.Background()); err != nil {
		b.Fatal(err)
	}
	db.Close()
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s in %v", dir, time.Since(start).Round(time.Second))
	return dir
}

// BenchmarkStats measures one Stats call on a tenant with 1,000,000
// pending events (see statsBenchEvents), without filters, with each and
// with both, and TotalStats. Run it with
//
//	go test ./sqlite -run '^$' -bench Stats -benchtime 200x
func BenchmarkStats(b *testing.B) {
	db, err := Open(statsBenchDir(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := statsBenchEnd.Add(time.Minute)
	for _, c := range []struct {
		name, source, eventType string
	}{
		{"unfiltered", "", ""},
		{"source", "s1", ""},
		{"event_type", "", "t1"},
		{"both", "s1", "t1"},
		{"both_worst", "s0", "t0"},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := triggers.StatsQuery{Tenant: "bench", Source: c.source, EventType: c.eventType, Now: now,
				NotBefore: now.Add(-7 * 24 * time.Hour), Since: now.Truncate(time.Minute).Add(-59 * time.Minute),
				TopSources: triggers.StatsTopSources}
			st, err := db.Stats(ctx, q)
			if err != nil || st.Pending == 0 || st.OldestPending.IsZero() || len(st.PerMinute) == 0 {
				b.Fatalf("Stats() = %+v, %v", st, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := db.Stats(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(st.Pending), "pending")
		})
	}
	b.Run("total", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := db.TotalStats(ctx, now, now.Add(-7*24*time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
