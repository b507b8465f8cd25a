package sqlite_test

import (
	"testing"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
	"github.com/triggersapi/triggers/storetest"
)

// MustOpen opens a store on a real file in a temporary directory.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.TempDir(), nil)
	if err != nil {
		tb.Fatalf("sqlite.Open() = %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) triggers.Store { return MustOpen(t) })
}
