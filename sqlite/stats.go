package sqlite

import (
	"context"
	"errors"

	triggers "github.com/triggersapi/triggers"
)

// Stats returns a tenant's inbox statistics (triggers.Store).
func (db *DB) Stats(ctx context.Context, q triggers.StatsQuery) (triggers.Stats, error) {
	return triggers.Stats{}, errors.New("sqlite: Stats is not built yet")
}
