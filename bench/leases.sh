#!/usr/bin/env bash
# bench/leases.sh: Triggers as a work queue (issue 13), on a freshly built
# server, printed as markdown:
#
#  1. Embedded store, preloaded with bulk creates for PRELOAD_SECONDS
#     (default 25 s, some 450,000 events here):
#     - GET /v1/inbox?limit=25 with wrk (the shared harness's scenario.lua,
#       CONNS connections, DURATION s, ROUNDS times), the yardstick;
#     - receives of 25 with wrk, leases of 1 h, never acked: the receive
#       alone, each event leased once;
#     - the backlog consumed as workers do: CONNS consumers each receiving
#       25 (no wait) and bulk-acking them by lease (bench/consume
#       -producers 0): receive req/s and p95;
#     - a stress case with wrk: receives of 25 never acked, leases of 1 s,
#       so every event of the rest of the backlog is leased again and again.
#  2. Embedded store, fresh: bench/consume (1 producer creating single
#     events at full speed, 4 consumers receiving 25 with wait_seconds 1 and
#     bulk-acking by lease): backlog, drain time, create→receive latency.
#  3. The same consume run on the DynamoDB store against dynalite (skipped
#     with DYNAMO=0), with the lease metrics.
#
#   bench/leases.sh                 # about 2 minutes
#   DURATION=10 ROUNDS=3 PRELOAD_SECONDS=20 CONNS=16 bench/leases.sh
#
# It needs wrk (apt-get install wrk) and, for step 3, node (tools/dynalite).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
PRELOAD_SECONDS="${PRELOAD_SECONDS:-25}"
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

start_server sqlite --data-dir "$TMP/data1"
"$TMP/load" -scenario bulk -url "$URL" -key "$KEY" -c 4 -warmup 0s -d "${PRELOAD_SECONDS}s" >/dev/null 2>&1
PRELOADED=$(curl -fs "$URL/metrics" | awk '/^triggers_bulk_items_total\{code="OK",op="create"\}/ {print $2}')
echo "## Receive of 25 vs an inbox page of 25 (embedded store, ${PRELOADED:-?} events, $CONNS connections, ${DURATION}s each)"
echo
echo '{"max_events":25,"lease_seconds":1,"max_attempts":1000}' >"$TMP/receive.json"
echo "| run | req/s | p50 ms | p95 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
for r in $(seq "$ROUNDS"); do
  wrk_row "inbox limit=25 (round $r)" GET "/v1/inbox?limit=25"
done
echo
echo "Receives of 25 from the deep backlog, never acked, leases of 1 h (each event is leased"
echo "once): the receive alone, at $CONNS connections:"
echo
echo "| run | req/s | p50 ms | p95 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
leases() { curl -fs "$URL/metrics" | awk '/^triggers_leases_granted_total/ {print $2}'; }
echo '{"max_events":25,"lease_seconds":3600}' >"$TMP/receive-long.json"
l0=$(leases)
wrk_row "receive 25, leases of 1 h" POST /v1/inbox/receive "$TMP/receive-long.json"
echo
echo "Leases granted in that run (warm-up included): $(awk -v a="$l0" -v b="$(leases)" 'BEGIN{printf "%.0f", b-a}')"
echo
echo "Consumers as workers run them, on the rest of the backlog: $CONNS consumers each"
echo "receiving 25 (no wait) and bulk-acking them by lease, ${DURATION}s:"
echo
"$TMP/consume" -url "$URL" -key "$KEY" -producers 0 -consumers "$CONNS" -wait 0 -d "${DURATION}s"
echo
echo "Stress: receives of 25 that are never acked, with leases of 1 s, so that every"
echo "event of the rest of the backlog is leased again and again:"
echo
echo "| run | req/s | p50 ms | p95 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
l0=$(leases)
wrk_row "receive 25, never acked, leases of 1 s" POST /v1/inbox/receive "$TMP/receive.json"
echo
echo "Leases granted in that run: $(awk -v a="$l0" -v b="$(leases)" 'BEGIN{printf "%.0f", b-a}')"
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
