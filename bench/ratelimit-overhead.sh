#!/usr/bin/env bash
# Inbox throughput with the in-process rate limiter on (a limit never
# reached) and off, alternating (on, off, on, off) on one data directory with
# 10,000 pending events, so that the two are compared within one run.
#   bench/ratelimit-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p /tmp/rl
go build -o /tmp/rl/triggers ./cmd/triggers
go build -o /tmp/rl/load ./bench/load
rm -rf /tmp/rl/data
D=/tmp/rl/data; K=bench-key-0123456789; A=127.0.0.1:18282
start() { TRIGGERS_DEFAULT_RATE_LIMIT=1000000 /tmp/rl/triggers serve --data-dir $D --addr $A --dev-key $K --log-level warn --rate-limiter $1 > /tmp/rl/log-$1 2>&1 & PID=$!; /tmp/rl/load -url http://$A -scenario ready -d 10s >/dev/null 2>&1; }
stop() { kill $PID; wait $PID 2>/dev/null || true; }
start local; /tmp/rl/load -url http://$A -key $K -scenario seed -n 10000 -c 16 >/dev/null 2>&1; stop
for round in 1 2; do for mode in local off; do
  start $mode
  /tmp/rl/load -url http://$A -key $K -scenario inbox -c 16 -d 10s -warmup 2s -pid $PID -json 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print('$mode round $round', d['rps'], d['p50_ms'], d['p95_ms'], d['p99_ms'])"
  stop
done; done
