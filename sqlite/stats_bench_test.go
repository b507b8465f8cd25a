package sqlite

import (
	"context"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// The stats benchmark's store: statsBenchEvents events of tenant "bench",
// one every 170 ms (about 48 hours) up to the instant it was built, over 50
// sources and 10 event types; one in 51 acknowledged 30 s after its
// creation, which leaves 1,000,000 pending, of which 1 in 1,000 are leased
// and 1 in 10,000 dead. The pair (s0, t0) has a single event, among the
// newest: its source and its type have 20,000 pending events each, the
// worst case of the oldest pending event with both filters.
const (
	statsBenchEvents = 1_020_000
	statsBenchStep   = 170 * time.Millisecond
)

// statsBenchDB returns the directory of the benchmark's database and the
// instant it ends at. It is built once and kept under os.TempDir, keyed by
// the migrations' text: the events are written in bulk as a database of
// schema version 5, then migration 006 counts them (its backfill, timed).
func statsBenchDB(b *testing.B) (string, time.Time) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		b.Fatal(err)
	}
	sum := crc32.NewIEEE()
	for _, name := range names {
		body, _ := migrations.ReadFile(name)
		sum.Write(body)
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("triggers-stats-bench-%08x-%d", sum.Sum32(), statsBenchEvents))
	endFile := filepath.Join(dir, "end")
	if text, err := os.ReadFile(endFile); err == nil {
		end, err := time.Parse(time.RFC3339, string(text))
		if err != nil {
			b.Fatal(err)
		}
		return dir, end
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	end := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	pool, err := openPool(filepath.Join(dir, FileName), []string{"journal_mode(WAL)", "synchronous(OFF)"}, true)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := migrateTo(pool, 5); err != nil {
		b.Fatal(err)
	}
	step := int64(statsBenchStep / time.Microsecond)
	first := micros(end) - statsBenchEvents*step
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO events (tenant, id, created_at, source, event_type, priority, payload, metadata)
			WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %[1]d - 1)
			SELECT 'bench', printf('e%%07d', i), %[2]d + i * %[3]d, 's' || (i %% 50),
				CASE WHEN i %% 500 = 0 AND i < %[1]d - 500 THEN 't10' ELSE 't' || ((i / 50) %% 10) END,
				'normal', '{"n":1}', '{"priority":"normal"}' FROM n`, statsBenchEvents, first, step),
		`UPDATE events SET acked_at = created_at + 30000000 WHERE seq % 51 = 0`,
		fmt.Sprintf(`UPDATE events SET lease_id = 'l', lease_expires_at = %d, attempts = 1
			WHERE seq %% 1000 = 7 AND acked_at IS NULL`, micros(end.Add(time.Hour))),
		fmt.Sprintf(`UPDATE events SET dead_at = %d, attempts = 10 WHERE seq %% 10000 = 3 AND acked_at IS NULL`, micros(end)),
	} {
		if _, err := pool.Exec(q); err != nil {
			b.Fatalf("build the stats benchmark's database: %v", err)
		}
	}
	loaded := time.Now()
	if err := migrate(pool); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s in %v, of which migration 006 (backfill of %d events) %v", dir, time.Since(start).Round(time.Second),
		statsBenchEvents, time.Since(loaded).Round(100*time.Millisecond))
	if err := os.WriteFile(endFile, []byte(end.Format(time.RFC3339)), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir, end
}

// BenchmarkStats measures one Stats call on a tenant with 1,000,000
// pending events (see statsBenchEvents), without filters, with each and
// with both, and TotalStats. Run it with
//
//	go test ./sqlite -run '^$' -bench Stats -benchtime 200x
func BenchmarkStats(b *testing.B) {
	dir, end := statsBenchDB(b)
	db, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := end.Add(time.Minute)
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
