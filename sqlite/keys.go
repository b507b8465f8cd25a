package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	triggers "github.com/triggersapi/triggers"
)

const keyColumns = `id, hash, tenant, name, created_at, active, rate_limit, allowed_ips, expires_at`

func scanKey(row scanner) (triggers.APIKey, error) {
	var k triggers.APIKey
	var created int64
	var active bool
	var rateLimit, expires sql.NullInt64
	var allowed sql.NullString
	if err := row.Scan(&k.ID, &k.Hash, &k.Tenant, &k.Name, &created, &active, &rateLimit, &allowed, &expires); err != nil {
		return triggers.APIKey{}, err
	}
	k.CreatedAt = fromMicros(created)
	k.Active = active
	k.RateLimit = int(rateLimit.Int64)
	if expires.Valid {
		k.ExpiresAt = fromMicros(expires.Int64)
	}
	for s := range strings.SplitSeq(allowed.String, ",") {
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return triggers.APIKey{}, fmt.Errorf("sqlite: key %s has a bad allowed_ips entry %q: %w", k.ID, s, err)
		}
		k.AllowedIPs = append(k.AllowedIPs, p)
	}
	return k, nil
}

func keyArgs(k triggers.APIKey) []any {
	var rateLimit sql.NullInt64
	if k.RateLimit > 0 {
		rateLimit = sql.NullInt64{Int64: int64(k.RateLimit), Valid: true}
	}
	var allowed sql.NullString
	if len(k.AllowedIPs) > 0 {
		s := make([]string, len(k.AllowedIPs))
		for i, p := range k.AllowedIPs {
			s[i] = p.String()
		}
		allowed = sql.NullString{String: strings.Join(s, ","), Valid: true}
	}
	return []any{k.ID, k.Hash, k.Tenant, k.Name, micros(k.CreatedAt), k.Active, rateLimit, allowed, nullMicros(k.ExpiresAt)}
}

// CreateKey stores a new key.
func (db *DB) CreateKey(ctx context.Context, k triggers.APIKey) error {
	err := db.exec(ctx, "", func(tx *writeTx) error {
		_, err := tx.Exec(`INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, keyArgs(k)...)
		return err
	})
	if triggers.ErrorCode(formatError(err)) == triggers.ECONFLICT {
		return triggers.Errorf(triggers.ECONFLICT, "a key with this id or value already exists")
	}
	return formatError(err)
}

var errKeyNotFound = triggers.Errorf(triggers.ENOTFOUND, "key not found")

// KeyByHash returns the key with this hash.
func (db *DB) KeyByHash(ctx context.Context, hash string) (triggers.APIKey, error) {
	k, err := scanKey(db.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return triggers.APIKey{}, errKeyNotFound
	}
	if err != nil {
		return triggers.APIKey{}, formatError(fmt.Errorf("sqlite: key by hash: %w", err))
	}
	return k, nil
}

// ListKeys returns every key, oldest first.
func (db *DB) ListKeys(ctx context.Context) ([]triggers.APIKey, error) {
	rows, err := db.query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, formatError(fmt.Errorf("sqlite: list keys: %w", err))
	}
	defer rows.Close()
	var keys []triggers.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, formatError(fmt.Errorf("sqlite: list keys: %w", err))
		}
		keys = append(keys, k)
	}
	return keys, formatError(rows.Err())
}

// UpdateKey applies fn to a key inside the write transaction.
func (db *DB) UpdateKey(ctx context.Context, id string, fn func(*triggers.APIKey) error) (triggers.APIKey, error) {
	var k triggers.APIKey
	err := db.exec(ctx, "", func(tx *writeTx) error {
		var err error
		k, err = scanKey(tx.QueryRow(`SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errKeyNotFound
		}
		if err != nil {
			return err
		}
		if err := fn(&k); err != nil {
			return err
		}
		k.ID = id // the id is the identity; fn cannot move the record
		args := keyArgs(k)
		_, err = tx.Exec(`UPDATE api_keys SET hash = ?, tenant = ?, name = ?, created_at = ?, active = ?,
			rate_limit = ?, allowed_ips = ?, expires_at = ? WHERE id = ?`, append(args[1:], id)...)
		return err
	})
	if err != nil {
		return triggers.APIKey{}, formatError(err)
	}
	return k, nil
}
