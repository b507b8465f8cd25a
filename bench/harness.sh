#!/usr/bin/env bash
# bench/harness.sh: the shared load harness (../shared/load/run.sh, wrk) against
# a freshly built server on a fresh embedded store, as the performance issue
# quotes it: 16 connections, 2 threads, 10 s per scenario, 10,000 preloaded
# events, the server's CPU and RSS monitored.
#
#   bench/harness.sh OUTFILE            # the default build (cgo SQLite driver)
#   TAGS=triggers_purego bench/harness.sh OUTFILE   # the pure-Go driver
#
# Environment: TAGS (go build -tags), SCENARIOS, CONNS, DURATION, ... (passed
# on to run.sh), HARNESS (path of run.sh; default ../shared/load/run.sh),
# PPROF_SECONDS and PPROF_DELAY (a CPU profile of the server over
# PPROF_SECONDS, starting PPROF_DELAY seconds after the first scenario starts, is written to
# OUTFILE.cpu.prof: with the default delay of 5 s, the measured window of the
# first scenario after the preload, e.g. SCENARIOS=m PPROF_SECONDS=8).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
OUT="${1:?usage: bench/harness.sh OUTFILE}"
HARNESS="${HARNESS:-../shared/load/run.sh}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/triggers-harness.XXXXXX")
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$TMP"' EXIT
go build ${TAGS:+-tags "$TAGS"} -o "$TMP/triggers" ./cmd/triggers
PORT=$(( 20000 + RANDOM % 20000 ))
KEY=bench-key-0123456789
TRIGGERS_DEFAULT_RATE_LIMIT=1000000 TRIGGERS_PPROF_ADDR="${PPROF_SECONDS:+127.0.0.1:$((PORT + 1))}" \
  "$TMP/triggers" serve --addr "127.0.0.1:$PORT" --data-dir "$TMP/data" --dev-key "$KEY" \
  >"$TMP/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/v1/health" >/dev/null 2>&1 && break
  sleep 0.1
done
rm -f "$OUT.raw"
if [ -n "${PPROF_SECONDS:-}" ]; then
  ( until grep -q "^== \\[" "$OUT.raw" 2>/dev/null; do sleep 0.5; done
    sleep "${PPROF_DELAY:-5}"; curl -fs -o "$OUT.cpu.prof" \
      "http://127.0.0.1:$((PORT + 1))/debug/pprof/profile?seconds=$PPROF_SECONDS" ) &
  PROF=$!
fi
MONITOR="server:$PID" "$HARNESS" "http://127.0.0.1:$PORT" "$KEY" "$OUT"
if [ -n "${PROF:-}" ]; then wait "$PROF" || true; fi
