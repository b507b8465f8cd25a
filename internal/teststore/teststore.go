// Package teststore holds the helpers that tests of several packages share:
// the store a black-box test runs against, the DynamoDB server and fresh
// tables on it, and a settable clock.
//
// Open chooses the store with the environment variable TRIGGERS_TEST_STORE,
// so that one test suite covers every backend:
//
//   - "sqlite" (the default): a SQLite store in a temporary directory;
//   - "dynamodb": a DynamoDB store on fresh tables under a unique stage (see
//     MustStage), on the server named by TRIGGERS_DYNAMODB_ENDPOINT
//     (scripts/test.sh starts dynalite and runs the HTTP and client tests a
//     second time so).
//
// Every helper that needs DynamoDB goes through MustEndpoint: without an
// endpoint the test is skipped, except with CI=true, where it fails: CI never
// skips silently.
package teststore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	"github.com/triggersapi/triggers/sqlite"
)

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
		return OpenDynamoDB(tb, MustClient(tb), prefix)
	default:
		tb.Fatalf("TRIGGERS_TEST_STORE=%q: want sqlite or dynamodb", kind)
		return nil
	}
}

// OpenDynamoDB opens a DynamoDB store through client on the tables of a new
// stage (see MustStage), with the inbox settle window of a server
// (dynamodb.DefaultInboxSettle), so that the suites run on it (conformance,
// HTTP, client) test the store as deployed; the store is closed and the
// tables are deleted when the test ends.
func OpenDynamoDB(tb testing.TB, client *awsdynamodb.Client, prefix string) *dynamodb.Store {
	tb.Helper()
	store, err := dynamodb.Open(context.Background(), client, MustStage(tb, client, prefix),
		&dynamodb.Options{InboxSettle: dynamodb.DefaultInboxSettle})
	if err != nil {
		tb.Fatalf("dynamodb.Open() = %v", err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}

// MustEndpoint returns the DynamoDB endpoint that TRIGGERS_DYNAMODB_ENDPOINT
// names (scripts/test.sh starts dynalite and sets it). Without one the test
// is skipped, except with CI=true, where it fails: a CI run that skipped
// every DynamoDB test would pass without testing the backend.
func MustEndpoint(tb testing.TB) string {
	tb.Helper()
	endpoint := os.Getenv("TRIGGERS_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("TRIGGERS_DYNAMODB_ENDPOINT is not set, and CI=true: run the tests with scripts/test.sh (make test), which starts dynalite")
		}
		tb.Skip("TRIGGERS_DYNAMODB_ENDPOINT is not set; scripts/test.sh (make test) starts dynalite and sets it")
	}
	return endpoint
}

// MustClient returns a DynamoDB client for MustEndpoint's server (skipping
// or failing as it does).
func MustClient(tb testing.TB) *awsdynamodb.Client {
	tb.Helper()
	endpoint := MustEndpoint(tb)
	client, err := dynamodb.NewClient(context.Background(), endpoint)
	if err != nil {
		tb.Fatalf("dynamodb.NewClient(%s) = %v", endpoint, err)
	}
	return client
}

// MustStage creates the tables of a new stage (see EmptyStage) through
// client and returns the stage; the tables are deleted when the test ends.
// It fails the test unless every table was created, so that a test never
// runs on tables left by another.
func MustStage(tb testing.TB, client *awsdynamodb.Client, prefix string) string {
	tb.Helper()
	stage := EmptyStage(tb, client, prefix)
	rep, err := dynamodb.CreateTables(context.Background(), client, stage)
	if err != nil {
		tb.Fatalf("dynamodb.CreateTables(%s) = %v", stage, err)
	}
	if want := len(dynamodb.TableDefinitions(stage)); len(rep.Created) != want {
		tb.Fatalf("dynamodb.CreateTables(%s) created %v, want %d tables", stage, rep.Created, want)
	}
	return stage
}

var stages atomic.Int64

// EmptyStage returns the name of a new stage starting with prefix, unique
// across tests, processes and runs on one server, whose tables do not exist
// yet: for tests that create them themselves (CreateTables, the CLI's
// "tables create"). Whatever tables of it exist when the test ends are
// deleted then, through client.
func EmptyStage(tb testing.TB, client *awsdynamodb.Client, prefix string) string {
	tb.Helper()
	var b [4]byte
	rand.Read(b[:])
	stage := prefix + "-" + hex.EncodeToString(b[:]) + "-" + strconv.FormatInt(stages.Add(1), 10)
	// Registered before any table is created, so that a partial creation is
	// removed too (DeleteTables ignores missing tables).
	tb.Cleanup(func() {
		if err := dynamodb.DeleteTables(context.Background(), client, stage); err != nil {
			tb.Errorf("dynamodb.DeleteTables(%s) = %v", stage, err)
		}
	})
	return stage
}
