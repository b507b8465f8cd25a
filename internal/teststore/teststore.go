// Package teststore opens the store that black-box tests run against, so
// that one test suite covers every backend: the environment variable
// TRIGGERS_TEST_STORE chooses it.
//
//   - "sqlite" (the default): a SQLite store in a temporary directory;
//   - "dynamodb": a DynamoDB store on fresh tables under a unique stage, on
//     the server named by TRIGGERS_DYNAMODB_ENDPOINT (scripts/test.sh starts
//     dynalite and runs the HTTP and client tests a second time so). The
//     tables are deleted when the test ends. Without an endpoint the test is
//     skipped, except with CI=true, where it fails: CI never skips silently.
package teststore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	"github.com/triggersapi/triggers/sqlite"
)

var stages atomic.Int64

// Open opens the store chosen by TRIGGERS_TEST_STORE; prefix starts the
// DynamoDB stage name, to tell the suites' tables apart. The store is closed
// when the test ends.
func Open(tb testing.TB, prefix string) triggers.Store {
	tb.Helper()
	switch kind := os.Getenv("TRIGGERS_TEST_STORE"); kind {
	case "", "sqlite":
		store, err := sqlite.Open(tb.TempDir(), nil)
		if err != nil {
			tb.Fatalf("sqlite.Open() = %v", err)
		}
		tb.Cleanup(func() { store.Close() })
		return store
	case "dynamodb":
		endpoint := os.Getenv("TRIGGERS_DYNAMODB_ENDPOINT")
		if endpoint == "" {
			if os.Getenv("CI") == "true" {
				tb.Fatal("TRIGGERS_TEST_STORE=dynamodb but TRIGGERS_DYNAMODB_ENDPOINT is not set, and CI=true: run the tests with scripts/test.sh, which starts dynalite")
			}
			tb.Skip("TRIGGERS_TEST_STORE=dynamodb but TRIGGERS_DYNAMODB_ENDPOINT is not set; scripts/test.sh starts dynalite and sets it")
		}
		ctx := context.Background()
		client, err := dynamodb.NewClient(ctx, endpoint)
		if err != nil {
			tb.Fatalf("dynamodb.NewClient(%s) = %v", endpoint, err)
		}
		var b [4]byte
		rand.Read(b[:])
		stage := prefix + "-" + hex.EncodeToString(b[:]) + "-" + strconv.FormatInt(stages.Add(1), 10)
		// Registered before CreateTables, so that a partial creation is
		// removed too (DeleteTables ignores missing tables).
		tb.Cleanup(func() {
			if err := dynamodb.DeleteTables(context.Background(), client, stage); err != nil {
				tb.Errorf("dynamodb.DeleteTables(%s) = %v", stage, err)
			}
		})
		if _, err := dynamodb.CreateTables(ctx, client, stage); err != nil {
			tb.Fatalf("dynamodb.CreateTables(%s) = %v", stage, err)
		}
		store, err := dynamodb.Open(ctx, client, stage, nil)
		if err != nil {
			tb.Fatalf("dynamodb.Open() = %v", err)
		}
		tb.Cleanup(func() { store.Close() })
		return store
	default:
		tb.Fatalf("TRIGGERS_TEST_STORE=%q: want sqlite or dynamodb", kind)
		return nil
	}
}
