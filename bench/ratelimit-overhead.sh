#!/usr/bin/env bash
# bench/ratelimit-overhead.sh: inbox throughput and latency with the
# in-process rate limiter on (a limit never reached) and off, alternating
# (on, off, on, off, ...) on one data directory with RL_SEED pending events,
# so that the two are compared within one run on the same data.
#
#   bench/ratelimit-overhead.sh
#   RL_DURATION=5s RL_ROUNDS=3 bench/ratelimit-overhead.sh
#
# Environment (all optional):
#   RL_DURATION  measured duration of each run (10s)
#   RL_WARMUP    warm-up before each run, not measured (2s)
#   RL_ROUNDS    rounds of (on, off) (2)
#   RL_SEED      pending events in the inbox (10000)
#   RL_CONC      connections (16)
#   RL_OUT       a directory to copy the JSON results into (on-1.json,
#                off-1.json, ...); bench/all.sh reads them
#
# It prints one line per run, then the totals: on/off req/s ratio and the
# difference of the mean and p95 latencies (on - off), the limiter's cost
# per request as the client sees it. Exit status 1 if a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${RL_DURATION:-10s}
WARMUP=${RL_WARMUP:-2s}
ROUNDS=${RL_ROUNDS:-2}
SEED=${RL_SEED:-10000}
CONC=${RL_CONC:-16}
K=bench-key-0123456789

TMP=$(mktemp -d "${TMPDIR:-/tmp}/triggers-rl.XXXXXX")
PID=""
stop() {
	if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	PID=""
}
cleanup() {
	local rc=$?
	stop
	if [[ $rc -ne 0 ]]; then
		echo "ratelimit-overhead: kept $TMP (server logs)" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port on 127.0.0.1 (other runs may share the machine).
port=""
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 30000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
[[ -n $port ]] || { echo "ratelimit-overhead: found no free port" >&2; exit 1; }
A=127.0.0.1:$port

go build -o "$TMP/triggers" ./cmd/triggers
go build -o "$TMP/load" ./bench/load

# start MODE: a server on the shared data dir with --rate-limiter MODE.
start() {
	TRIGGERS_DEFAULT_RATE_LIMIT=1000000 "$TMP/triggers" serve --data-dir "$TMP/data" --addr "$A" --dev-key "$K" \
		--log-level warn --rate-limiter "$1" >"$TMP/log-$1" 2>&1 &
	PID=$!
	if ! "$TMP/load" -url "http://$A" -scenario ready -d 30s >/dev/null 2>&1; then
		echo "ratelimit-overhead: the server did not start; its log:" >&2
		tail -n 20 "$TMP/log-$1" >&2
		exit 1
	fi
}

start local
"$TMP/load" -url "http://$A" -key "$K" -scenario seed -n "$SEED" -c "$CONC" >/dev/null 2>&1
stop

failed=0
for round in $(seq "$ROUNDS"); do
	for mode in local off; do
		start "$mode"
		name=$([[ $mode == local ]] && echo on || echo off)-$round
		"$TMP/load" -url "http://$A" -key "$K" -scenario inbox -c "$CONC" -d "$DURATION" -warmup "$WARMUP" \
			-pid "$PID" -json >"$TMP/$name.json" 2>"$TMP/$name.err" || failed=1
		stop
		if [[ -n ${RL_OUT:-} ]]; then
			mkdir -p "$RL_OUT"
			cp "$TMP/$name.json" "$RL_OUT/$name.json"
		fi
	done
done

python3 - "$TMP" "$ROUNDS" <<'PY'
import json, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
tot = {"on": [0, 0.0, 0.0], "off": [0, 0.0, 0.0]}  # requests, seconds, latency sum (ms)
p95 = {"on": [], "off": []}
for r in range(1, rounds + 1):
    for mode in ("on", "off"):
        d = json.load(open(f"{tmp}/{mode}-{r}.json"))
        print(f"limiter {mode:3} round {r}: {d['rps']:.0f} req/s, mean {d['mean_ms']:.2f} ms, "
              f"p50 {d['p50_ms']:.2f}, p95 {d['p95_ms']:.2f}, p99 {d['p99_ms']:.2f} ms")
        tot[mode][0] += d["ok"]
        tot[mode][1] += d["duration_s"]
        tot[mode][2] += d["mean_ms"] * d["ok"]
        p95[mode].append(d["p95_ms"])
rps = {m: tot[m][0] / tot[m][1] for m in tot}
mean = {m: tot[m][2] / tot[m][0] for m in tot}
print(f"on/off req/s ratio: {rps['on'] / rps['off']:.3f}")
print(f"mean latency on - off: {mean['on'] - mean['off']:+.3f} ms")
print(f"p95 latency on - off (mean of rounds): {sum(p95['on']) / rounds - sum(p95['off']) / rounds:+.3f} ms")
PY
exit $failed
