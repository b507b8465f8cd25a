package dynamodb

import (
	"context"
	"errors"

	triggers "github.com/triggersapi/triggers"
)

// Stats returns a tenant's inbox statistics (triggers.Store).
func (s *Store) Stats(ctx context.Context, q triggers.StatsQuery) (triggers.Stats, error) {
	return triggers.Stats{}, errors.New("dynamodb: Stats is not built yet")
}
