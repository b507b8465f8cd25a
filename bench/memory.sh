#!/usr/bin/env bash
# bench/memory.sh: the peak memory of a freshly built server under the load
# of issue 14 (bench/memory): 200 events of 400 KB, 8 slow readers of
# GET /v1/inbox?limit=100 (64 KB every 100 ms), 8 concurrent 10 MB bulk
# creates, then both at once; each phase on a freshly started server with a
# fresh data directory. Prints a markdown table.
#
#   bench/memory.sh              # the working tree, about 2 minutes
#   REV=main bench/memory.sh     # a git revision instead (git archive)
#   PHASES="readers" bench/memory.sh -readers 16
#
# Arguments go to bench/memory. The server runs with its defaults but for
# the rate limit (TRIGGERS_DEFAULT_RATE_LIMIT=1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
KEY=bench-key-0123456789
PHASES="${PHASES:-readers bulk both}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/triggers-memory.XXXXXX")
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
if [ -n "${REV:-}" ]; then
  mkdir "$TMP/src"
  git archive "$REV" | tar -x -C "$TMP/src"
  (cd "$TMP/src" && go build -o "$TMP/triggers" ./cmd/triggers)
  echo "server built from $REV ($(git rev-parse --short "$REV"))"
else
  go build -o "$TMP/triggers" ./cmd/triggers
  echo "server built from the working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', modified'))"
fi
go build -o "$TMP/memory" ./bench/memory
go build -o "$TMP/load" ./bench/load
echo
header=true
for phase in $PHASES; do
  port=$(( 20000 + RANDOM % 20000 ))
  TRIGGERS_DEFAULT_RATE_LIMIT=1000000 "$TMP/triggers" serve --addr "127.0.0.1:$port" --dev-key "$KEY" \
    --data-dir "$TMP/data-$phase" >"$TMP/server-$phase.log" 2>&1 &
  SERVER_PID=$!
  "$TMP/load" -scenario ready -url "http://127.0.0.1:$port" -d 30s >/dev/null
  "$TMP/memory" -url "http://127.0.0.1:$port" -key "$KEY" -pid "$SERVER_PID" -phases "$phase" -header="$header" "$@"
  header=false
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
done
echo
echo "server logs: requests by route and status (cut_off: the response was cut off)"
cat "$TMP"/server-*.log | grep -o '"route":"[^"]*","status":[0-9]*\(,[^}]*"cut_off":true\)\?' |
  sed 's/,".*"cut_off":true/ cut_off/' | sort | uniq -c | sed 's/^/    /'
