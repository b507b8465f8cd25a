package sqlite

import (
	"strconv"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// openTemp opens a store on a real file in a temporary directory, closed
// when the test ends (the package's own tests; MustOpen is the external
// tests' twin).
func openTemp(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(tb.TempDir(), nil)
	if err != nil {
		tb.Fatalf("Open() = %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestPageCache_ResetNeverRevivesAGeneration checks that a page read before
// a write is refused after it even when the write's invalidation came with
// a reset of the generations (100,000 tenants), so that a stale page is
// never cached and served after the write was answered.
func TestPageCache_ResetNeverRevivesAGeneration(t *testing.T) {
	c := newPageCache(10)
	for i := range 100_000 {
		c.invalidate("tenant-" + strconv.Itoa(i))
	}
	now := time.Now()
	page := triggers.Page{Events: []triggers.Event{{ID: "e", Tenant: "a", CreatedAt: now}},
		Next: &triggers.Position{CreatedAt: now, ID: "e"}}
	q := triggers.InboxQuery{Tenant: "a", NotBefore: now.Add(-time.Hour)}
	before := c.gen("a") // a reader starts its query
	c.invalidate("a")    // a write commits: the map is full, so this resets
	c.put("k", "a", before, page)
	if _, ok := c.get("k", q); ok {
		t.Fatal("a page read before the write is served after it")
	}
	before = c.gen("a")
	c.invalidateAll()
	c.put("k", "a", before, page)
	if _, ok := c.get("k", q); ok {
		t.Fatal("a page read before invalidateAll is served after it")
	}
}

// TestDeleteExpired_PurgesEveryIdempotencyRecord checks that the purge goes
// on while idempotency records are left, even when no event has expired
// (records expire after 24 h, events after the retention).
func TestDeleteExpired_PurgesEveryIdempotencyRecord(t *testing.T) {
	db := openTemp(t)
	for i := range 3*purgeBatch + 7 {
		if _, err := db.write.Exec(`INSERT INTO idempotency (tenant, key, request_hash, event_id, event_created_at, created_at)
			VALUES ('a', ?, 'h', 'e', 1, 1)`, "k"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.DeleteExpired(t.Context(), time.Unix(0, 0), time.Unix(10, 0)); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.write.QueryRow(`SELECT count(*) FROM idempotency`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("idempotency records left after the purge = %d, %v; want 0", left, err)
	}
}
