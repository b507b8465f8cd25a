//go:build cgo && !triggers_purego

package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Driver names the SQLite implementation this build uses: SQLite's own C
// code through github.com/mattn/go-sqlite3, chosen whenever cgo is on (the
// default with a C compiler). Build with CGO_ENABLED=0 or the tag
// triggers_purego for the pure-Go modernc.org/sqlite instead.
const Driver = "github.com/mattn/go-sqlite3 (cgo)"

// openPool opens a connection pool on the database file. Every new
// connection runs pragmas (each "name(value)"); immediate makes BEGIN take
// the write lock at once (BEGIN IMMEDIATE).
func openPool(path string, pragmas []string, immediate bool) (*sql.DB, error) {
	v := url.Values{}
	if immediate {
		v.Set("_txlock", "immediate")
	}
	stmts := make([]string, len(pragmas))
	for i, p := range pragmas {
		stmts[i] = "PRAGMA " + pragmaSQL(p)
	}
	return sql.OpenDB(&connector{dsn: "file:" + path + "?" + v.Encode(), pragmas: stmts}), nil
}

// pragmaSQL turns "name(value)" into "name = value".
func pragmaSQL(p string) string {
	for i := range len(p) {
		if p[i] == '(' && p[len(p)-1] == ')' {
			return p[:i] + " = " + p[i+1:len(p)-1]
		}
	}
	return p
}

// connector opens connections that have run the pool's pragmas.
type connector struct {
	dsn     string
	pragmas []string
	drv     sqlite3.SQLiteDriver
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	for _, p := range c.pragmas {
		if _, err := conn.(*sqlite3.SQLiteConn).Exec(p, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return conn, nil
}

func (c *connector) Driver() driver.Driver { return &c.drv }

// resultCode returns the primary SQLite result code of err (SQLITE_BUSY,
// ...), and whether err came from SQLite at all.
func resultCode(err error) (int, bool) {
	var se sqlite3.Error // the driver's errors are values
	if errors.As(err, &se) {
		return int(se.Code), true
	}
	return 0, false
}
