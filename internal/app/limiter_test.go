package app

import (
	"context"
	"log/slog"
	"testing"

	"github.com/triggersapi/triggers/dynamodb"
	"github.com/triggersapi/triggers/ratelimit"
)

// TestOpenLimiter checks which limiter each store gets: auto never puts the
// in-process limiter on a shared store; asking for it explicitly works (with
// a warning); "off" disables limiting.
func TestOpenLimiter(t *testing.T) {
	tests := []struct {
		name, store, limiter string
		want                 string // "local", "dynamodb", "off", "error"
	}{
		{"AutoOnSQLite", "sqlite", "auto", "local"},
		{"AutoOnDynamoDB", "dynamodb", "auto", "dynamodb"},
		{"ExplicitLocalOnDynamoDB", "dynamodb", "local", "local"},
		{"DynamoDBOnSQLite", "sqlite", "dynamodb", "dynamodb"},
		{"Off", "sqlite", "off", "off"},
		{"ErrUnknown", "sqlite", "redis", "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Store: tt.store, RateLimiter: tt.limiter, DynamoDBEndpoint: "http://127.0.0.1:1"}
			cfg.defaults()
			client, err := newDynamoDBClient(context.Background(), cfg) // builds, never dials
			if err != nil {
				t.Fatal(err)
			}
			l, err := openLimiter(cfg, client, slog.New(slog.DiscardHandler))
			got := "error"
			switch l.(type) {
			case *ratelimit.Local:
				got = "local"
			case *dynamodb.RateLimiter:
				got = "dynamodb"
			case nil:
				if err == nil {
					got = "off"
				}
			}
			if got != tt.want {
				t.Fatalf("openLimiter(store %s, limiter %s) = %T, %v; want %s", tt.store, tt.limiter, l, err, tt.want)
			}
		})
	}
}
