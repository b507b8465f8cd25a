//go:build !cgo || triggers_purego

package sqlite

import (
	"database/sql"
	"errors"
	"net/url"

	sqlite3 "modernc.org/sqlite"
)

// Driver names the SQLite implementation this build uses: the pure-Go
// modernc.org/sqlite, chosen when cgo is off (CGO_ENABLED=0, as for the
// Lambda binary) or with the build tag triggers_purego.
const Driver = "modernc.org/sqlite (pure Go)"

// openPool opens a connection pool on the database file. Every new
// connection runs pragmas (each "name(value)"); immediate makes BEGIN take
// the write lock at once (BEGIN IMMEDIATE).
func openPool(path string, pragmas []string, immediate bool) (*sql.DB, error) {
	v := url.Values{}
	for _, p := range pragmas {
		v.Add("_pragma", p)
	}
	if immediate {
		v.Set("_txlock", "immediate")
	}
	return sql.Open("sqlite", "file:"+path+"?"+v.Encode())
}

// resultCode returns the primary SQLite result code of err (SQLITE_BUSY,
// ...), and whether err came from SQLite at all.
func resultCode(err error) (int, bool) {
	var se *sqlite3.Error
	if !errors.As(err, &se) {
		return 0, false
	}
	return se.Code() & 0xff, true
}
