#!/usr/bin/env bash
# The cost of a durable event write on the SQLite store and on Pebble given
# the same keys (bench/engines; docs/PERFORMANCE.md, issue 17's fifth
# session): single writes and writes of 25 from 16 concurrent writers, each
# engine in turn, ROUNDS times (default 2), DURATION each (default 5s).
set -euo pipefail
cd "$(dirname "$0")/engines"
export PATH="$PATH:/usr/local/go/bin"
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
go build -o "$BIN/engines" .
for _ in $(seq "${ROUNDS:-2}"); do
  for n in 1 25; do
    "$BIN/engines" -engine sqlite -n "$n" -d "${DURATION:-5s}"
    "$BIN/engines" -engine pebble -n "$n" -d "${DURATION:-5s}" 2>/dev/null
    "$BIN/engines" -engine pebble -keys min -n "$n" -d "${DURATION:-5s}" 2>/dev/null
  done
done
