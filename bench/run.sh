#!/usr/bin/env bash
# bench/run.sh: build the server and the load generator, run the standard
# loopback benchmark and print a markdown table of the results.
#
#   1. server A (fresh data dir): health, then create, then bulk (25 creates
#      per request)
#   2. server B (fresh data dir): seed BENCH_SEED events (priorities low,
#      normal and high in turn), then inbox (a full page of limit=50 out of
#      BENCH_SEED pending events), then the same page filtered on
#      BENCH_INBOX_FILTER (priority=high: a third of the events match)
#
# Environment (all optional):
#   BENCH_DURATION     measured duration of each timed run, Go syntax (10s)
#   BENCH_WARMUP       warm-up before each timed run, not measured (2s)
#   BENCH_CONCURRENCY  workers = keep-alive connections (16)
#   BENCH_SEED         events created before the inbox run (10000)
#   BENCH_PAYLOAD      create payload size in bytes (300)
#   BENCH_INBOX_FILTER query of the filtered inbox run (priority=high)
#   BENCH_OUT          a directory to copy the JSON results into (NAME.json,
#                      one per run: health, create, bulk, seed, inbox,
#                      inbox_filtered); bench/all.sh reads them
#   BENCH_PORT         port to listen on (default: a free one from 20000-49999)
#   BENCH_RATE_LIMIT   TRIGGERS_DEFAULT_RATE_LIMIT given to the server, per
#                      minute (1000000, the maximum: the benchmark measures the server,
#                      not the limiter's refusals)
#   BENCH_KEEP=1       keep the temp dir (binaries, data, server logs, JSON);
#                      it is also kept when something fails
#
# Exit status: 0 when every run succeeded, 1 otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONC=${BENCH_CONCURRENCY:-16}
SEED=${BENCH_SEED:-10000}
PAYLOAD=${BENCH_PAYLOAD:-300}
FILTER=${BENCH_INBOX_FILTER:-priority=high}
RATE_LIMIT=${BENCH_RATE_LIMIT:-1000000}
KEY=bench-key-0123456789

TMP=$(mktemp -d "${TMPDIR:-/tmp}/triggers-bench.XXXXXX")
SERVER_PID=""
SERVER_LOG=""
URL=""
FAILED=()

stop_server() {
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "bench: server $SERVER_PID did not stop within 10s of SIGTERM; sending SIGKILL" >&2
			kill -KILL "$SERVER_PID" 2>/dev/null || true
		fi
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=""
}

cleanup() {
	local rc=$?
	stop_server
	if [[ ${BENCH_KEEP:-0} == 1 || $rc -ne 0 || ${#FAILED[@]} -gt 0 ]]; then
		echo "bench: kept $TMP (server logs, data, JSON results)" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_log_tail() {
	echo "bench: last lines of $SERVER_LOG:" >&2
	tail -n 30 "$SERVER_LOG" >&2 || true
}

# pick_port prints a port on 127.0.0.1 that nothing is listening on.
pick_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "bench: found no free port" >&2
	return 1
}

# start_server NAME starts a server on a fresh data dir and waits until
# GET /v1/health answers.
start_server() {
	local name=$1 port
	port=${BENCH_PORT:-$(pick_port)}
	URL=http://127.0.0.1:$port
	SERVER_LOG=$TMP/server-$name.log
	mkdir -p "$TMP/data-$name"
	TRIGGERS_DEFAULT_RATE_LIMIT=$RATE_LIMIT "$TMP/triggers" serve \
		--data-dir "$TMP/data-$name" --addr "127.0.0.1:$port" --dev-key "$KEY" \
		>"$SERVER_LOG" 2>&1 &
	SERVER_PID=$!
	if ! "$TMP/load" -url "$URL" -scenario ready -d 30s; then
		kill -0 "$SERVER_PID" 2>/dev/null || echo "bench: the server exited" >&2
		server_log_tail
		exit 1
	fi
	echo "bench: server $name: pid $SERVER_PID on $URL, log $SERVER_LOG" >&2
}

# run_load NAME ARGS... runs the load generator against the current server and
# keeps its JSON result in $TMP/NAME.json.
run_load() {
	local name=$1 rc=0
	shift
	echo "bench: == $name" >&2
	"$TMP/load" -url "$URL" -key "$KEY" -pid "$SERVER_PID" -c "$CONC" -json "$@" \
		>"$TMP/$name.json" || rc=$?
	if [[ $rc -eq 2 || ! -s $TMP/$name.json ]]; then
		echo "bench: $name: the load generator could not run (exit $rc)" >&2
		exit 1
	fi
	if [[ $rc -ne 0 ]]; then
		FAILED+=("$name")
	fi
	if [[ -n ${BENCH_OUT:-} ]]; then
		mkdir -p "$BENCH_OUT"
		cp "$TMP/$name.json" "$BENCH_OUT/$name.json"
	fi
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		echo "bench: the server died during $name" >&2
		server_log_tail
		exit 1
	fi
}

# field NAME KEY prints one numeric (or null) field of a JSON result.
field() {
	sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$TMP/$1.json"
}

row() {
	local name=$1 label=$2 fails
	fails=$(($(field "$name" errors) + $(field "$name" non_2xx)))
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" \
		"$(field "$name" rps)" "$(field "$name" p50_ms)" "$(field "$name" p95_ms)" \
		"$(field "$name" p99_ms)" "$(field "$name" max_ms)" "$(field "$name" peak_rss_mb)" \
		"$(field "$name" server_cpu_cores)" "$fails"
}

echo "bench: building into $TMP" >&2
go build -o "$TMP/triggers" ./cmd/triggers
go build -o "$TMP/load" ./bench/load

TIMED=(-d "$DURATION" -warmup "$WARMUP")

start_server a
run_load health -scenario health "${TIMED[@]}"
run_load create -scenario create -payload-bytes "$PAYLOAD" "${TIMED[@]}"
run_load bulk -scenario bulk -payload-bytes "$PAYLOAD" "${TIMED[@]}"
stop_server

start_server b
run_load seed -scenario seed -n "$SEED" -payload-bytes "$PAYLOAD" -priority mixed
run_load inbox -scenario inbox -inbox-limit 50 "${TIMED[@]}"
run_load inbox_filtered -scenario inbox -inbox-limit 50 -inbox-query "$FILTER" "${TIMED[@]}"
stop_server

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain 2>/dev/null) ]]; then rev="$rev (dirty)"; fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)

echo
echo "Triggers loopback benchmark: commit $rev, $(go env GOVERSION), $(nproc) CPUs (${cpu:-unknown}), $(uname -sr)."
echo "Concurrency $CONC (one keep-alive connection each), closed loop, $DURATION measured after $WARMUP warm-up;"
echo "create payload $PAYLOAD bytes; bulk = 25 such creates per request (events/s = 25 x req/s);"
echo "inbox = GET /v1/inbox?limit=50 with $SEED pending events (priorities low, normal, high in turn); filtered adds $FILTER."
echo "Latencies are of 2xx responses, in ms; peak RSS is the server's VmHWM during the run, in MiB;"
echo "server CPU is in cores. The load generator runs on the same machine."
echo
echo "| scenario | req/s | p50 | p95 | p99 | max | peak RSS | server CPU | failures |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
row health "health (GET /v1/health)"
row create "create (POST /v1/events)"
row bulk "bulk (POST /v1/events/bulk, 25 items)"
row seed "seed ($SEED creates, no warm-up)"
row inbox "inbox (GET /v1/inbox?limit=50)"
row inbox_filtered "inbox filtered (limit=50&$FILTER)"
echo
awk -v c="$(field create rps)" -v h="$(field health rps)" \
	'BEGIN { if (h > 0) printf "create/health req/s ratio: %.3f\n", c / h; else print "create/health req/s ratio: n/a" }'
awk -v b="$(field bulk rps)" -v c="$(field create rps)" \
	'BEGIN { if (c > 0) printf "bulk/create events/s ratio: %.2f\n", 25 * b / c; else print "bulk/create events/s ratio: n/a" }'

if [[ ${#FAILED[@]} -gt 0 ]]; then
	echo
	echo "FAILED runs (errors or non-2xx responses; see stderr above): ${FAILED[*]}"
	exit 1
fi
