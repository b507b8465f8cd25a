package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	triggers "github.com/triggersapi/triggers"
)

// TestFormatError_DriverCodes checks, on whichever driver this build has
// (the cgo one, or the pure-Go one with CGO_ENABLED=0), that SQLite's own
// failures reach the API as the right codes: a database locked by another
// writer is EUNAVAILABLE (503, a retry may cure it), a UNIQUE violation is
// ECONFLICT, and an error that is not SQLite's passes through.
func TestFormatError_DriverCodes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	pragmas := []string{"journal_mode(WAL)", "busy_timeout(0)"}
	holder, err := openPool(path, pragmas, true)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	other, err := openPool(path, pragmas, true)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := holder.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(`INSERT INTO t VALUES ('a')`); err != nil {
		t.Fatal(err)
	}

	tx, err := holder.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, busy := other.Exec(`INSERT INTO t VALUES ('b')`)
	tx.Rollback()
	_, unique := holder.Exec(`INSERT INTO t VALUES ('a')`)
	plain := errors.New("not from SQLite")

	for _, c := range []struct {
		name string
		err  error
		want triggers.Code
	}{
		{"locked by another writer", busy, triggers.EUNAVAILABLE},
		{"unique violation", unique, triggers.ECONFLICT},
		{"not SQLite's", plain, triggers.EINTERNAL},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatalf("no error to map (driver %s)", Driver)
			}
			if got := triggers.ErrorCode(formatError(c.err)); got != c.want {
				t.Fatalf("formatError(%v) has code %s, want %s (driver %s)", c.err, got, c.want, Driver)
			}
		})
	}
}
