#!/usr/bin/env bash
# Runs every test of the project: formatting and vet, the OpenAPI linters,
# the whole suite under the race detector (SQLite on real files, HTTP against
# real listening servers, the CLI as a real process, the DynamoDB store
# against dynalite), the HTTP black-box tests a second time on the DynamoDB
# store, then each fuzz target briefly.
#
#   FUZZTIME=1000000x scripts/test.sh   # longer fuzzing (or a duration, e.g. 60s)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
# A count of executions, not a duration: with a duration the fuzzer can
# end with a spurious "context deadline exceeded" when time runs out.
FUZZTIME="${FUZZTIME:-50000x}"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
# The other SQLite driver: builds are cgo (mattn/go-sqlite3) by default and
# pure Go (modernc.org/sqlite) with CGO_ENABLED=0, as the Lambda binary is
# built (docs/DEPLOY.md).
CGO_ENABLED=0 go vet ./...

echo "== pure-Go builds (CGO_ENABLED=0)"
CGO_ENABLED=0 go build -o /dev/null ./cmd/triggers
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -o /dev/null ./cmd/triggers-lambda

echo "== bench/engines (a module of its own: the store beside Pebble, docs/PERFORMANCE.md)"
(cd bench/engines && go vet .)

echo "== OpenAPI lint (tools/openapi-lint)"
# redocly lint (recommended rules, any error or warning fails) on the served
# document, and the TypeScript types openapi-typescript generates from it
# compiled with tsc; pinned in package-lock.json, npm ci on first use.
tools/openapi-lint/lint.sh

echo "== dynalite"
# A local DynamoDB-API server for the dynamodb package's conformance tests
# (tools/dynalite: pinned in package-lock.json, installed with npm ci on first
# use), in memory on a free loopback port, stopped when this script exits.
eval "$(tools/dynalite/start.sh)"
trap 'kill "$DYNALITE_PID" 2>/dev/null || true' EXIT
echo "dynalite at $TRIGGERS_DYNAMODB_ENDPOINT"

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

echo "== go test -race ./http/ ./client/ on the DynamoDB store (TRIGGERS_TEST_STORE=dynamodb, dynalite)"
# The same HTTP black-box tests, each test server on fresh DynamoDB tables
# under a unique stage instead of SQLite (http/server_test.go openTestStore).
TRIGGERS_TEST_STORE=dynamodb go test -race -count=1 -timeout 20m ./http/ ./client/

echo "== go test ./sqlite/ ./cmd/triggers/ on the pure-Go SQLite driver (CGO_ENABLED=0, no race detector)"
# The conformance suite and the CLI (kill -9 durability included) once more
# on modernc.org/sqlite, the driver of CGO_ENABLED=0 builds.
CGO_ENABLED=0 go test -count=1 -timeout 20m ./sqlite/ ./cmd/triggers/

echo "== e2e: the dashboard in a real browser (scripts/e2e.sh)"
scripts/e2e.sh

echo "== fuzz (${FUZZTIME} each)"
# Every Fuzz function, run from its package's seed corpus plus FUZZTIME of
# new inputs.
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    echo "-- $dir $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$dir" > /tmp/fuzz-$$.log 2>&1 || {
      cat /tmp/fuzz-$$.log; rm -f /tmp/fuzz-$$.log; exit 1; }
    tail -n 1 /tmp/fuzz-$$.log
  done
done
rm -f /tmp/fuzz-$$.log
echo "== all tests passed"
