#!/usr/bin/env bash
# bench/leases.sh: Triggers as a work queue (issue 13), on a freshly built
# server, printed as markdown:
#
#  1. Embedded store, PRELOAD events (default 100,000): wrk (the shared
#     harness's scenario.lua, CONNS connections, DURATION s each) on
#     POST /v1/inbox/receive {"max_events":25,"lease_seconds":1} beside
#     GET /v1/inbox?limit=25, alternating ROUNDS times, so that the ratio
#     compares like with like in one run. Leases of 1 s make the leased
#     events available again, so receives keep leasing 25 throughout.
#  2. Embedded store, fresh: bench/consume (1 producer creating single
#     events at full speed, 4 consumers receiving 25 with wait_seconds 1 and
#     bulk-acking by lease): backlog, drain time, create→receive latency.
#  3. The same consume run on the DynamoDB store against dynalite (skipped
#     with DYNAMO=0), with the server's DynamoDB calls per receive.
#
#   bench/leases.sh                 # about 2 minutes
#   DURATION=10 ROUNDS=3 PRELOAD=100000 CONNS=16 bench/leases.sh
#
# It needs wrk (apt-get install wrk) and, for step 3, node (tools/dynalite).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
PRELOAD="${PRELOAD:-100000}"
CONNS="${CONNS:-16}"
CONSUME_SECONDS="${CONSUME_SECONDS:-10}"
LUA="${LUA:-../shared/load/scenario.lua}"
KEY=bench-key-0123456789

TMP=$(mktemp -d "${TMPDIR:-/tmp}/triggers-leases.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
go build -o "$TMP/triggers" ./cmd/triggers
go build -o "$TMP/load" ./bench/load
go build -o "$TMP/consume" ./bench/consume

# start_server NAME ARGS...: a server on a free port; sets URL.
start_server() {
  local name="$1"; shift
  local port=$(( 20000 + RANDOM % 20000 ))
  TRIGGERS_DEFAULT_RATE_LIMIT=1000000 "$TMP/triggers" serve --addr "127.0.0.1:$port" --dev-key "$KEY" "$@" \
    >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  URL="http://127.0.0.1:$port"
  "$TMP/load" -scenario ready -url "$URL" -d 30s >/dev/null
}

# wrk_row LABEL METHOD PATH [BODYFILE]: one wrk run, one markdown row.
wrk_row() {
  local out
  out=$(LOAD_METHOD="$2" LOAD_API_KEY="$KEY" LOAD_BODY_FILE="${4:-}" \
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$LUA" "$URL$3" 2>&1 | grep '^RESULT')
  awk -v label="$1" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "| %s | %.0f | %.2f | %.2f | %.2f | %d |\n", label, v["rps"], v["p50_ms"], v["p95_ms"], v["p99_ms"], v["status_ge400"]
  }' <<<"$out"
}

echo "## Receive of 25 vs an inbox page of 25 (embedded store, $PRELOAD events, $CONNS connections, ${DURATION}s each)"
echo
start_server sqlite --data-dir "$TMP/data1"
"$TMP/load" -scenario seed -url "$URL" -key "$KEY" -n "$PRELOAD" >/dev/null
echo '{"max_events":25,"lease_seconds":1,"max_attempts":1000}' >"$TMP/receive.json"
echo "| run | req/s | p50 ms | p95 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
for r in $(seq "$ROUNDS"); do
  wrk_row "receive 25 (round $r)" POST /v1/inbox/receive "$TMP/receive.json"
  wrk_row "inbox limit=25 (round $r)" GET "/v1/inbox?limit=25"
done
echo
curl -fs "$URL/metrics" | grep -E '^triggers_(leases|sqlite_commits|sqlite_committed)' | sed 's/^/    /' || true
echo

echo "## Producer and consumers at once (embedded store, fresh, ${CONSUME_SECONDS}s)"
echo
start_server sqlite2 --data-dir "$TMP/data2"
"$TMP/consume" -url "$URL" -key "$KEY" -d "${CONSUME_SECONDS}s"
echo

if [ "${DYNAMO:-1}" != 0 ]; then
  echo "## Producer and consumers at once (DynamoDB store on dynalite, ${CONSUME_SECONDS}s)"
  echo
  eval "$(tools/dynalite/start.sh)"
  PIDS+=("$DYNALITE_PID")
  TRIGGERS_DYNAMODB_ENDPOINT="$TRIGGERS_DYNAMODB_ENDPOINT" AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 \
    start_server dynamo --store dynamodb --stage "bench$RANDOM" --create-tables
  "$TMP/consume" -url "$URL" -key "$KEY" -d "${CONSUME_SECONDS}s"
  echo
  curl -fs "$URL/metrics" | grep -E '^triggers_(leases|dynamodb|receive)' | sed 's/^/    /' || true
fi
