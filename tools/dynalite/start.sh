#!/usr/bin/env bash
# Starts dynalite (a DynamoDB-API server, in memory) on a free loopback port
# for the DynamoDB store's tests, installing it first (npm ci) when
# node_modules is missing.
#
#   eval "$(tools/dynalite/start.sh)"   # sets TRIGGERS_DYNAMODB_ENDPOINT and DYNALITE_PID
#   ...
#   kill "$DYNALITE_PID"
#
# It prints the two shell assignments on stdout once the server answers;
# everything else goes to stderr. The server's log is in $DYNALITE_LOG
# (default: a temporary file).
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
if [ ! -d "$dir/node_modules/dynalite" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
log="${DYNALITE_LOG:-$(mktemp -t dynalite.XXXXXX)}"
portfile="$(mktemp -t dynalite-port.XXXXXX)"
# Port 0: the kernel picks a free port, and the server writes it to portfile.
# Tables are ACTIVE at once (no simulated CREATING/DELETING delay).
node -e '
const dynalite = require(process.argv[1]);
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(0, "127.0.0.1", () => {
  require("fs").writeFileSync(process.argv[2], String(server.address().port));
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
' "$dir/node_modules/dynalite" "$portfile" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  if [ -s "$portfile" ]; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "dynalite exited; its log:" >&2; cat "$log" >&2; rm -f "$portfile"; exit 1
  fi
  sleep 0.05
done
if [ ! -s "$portfile" ]; then
  echo "dynalite did not start within 10s; its log:" >&2; cat "$log" >&2
  kill "$pid" 2>/dev/null || true; rm -f "$portfile"; exit 1
fi
port="$(cat "$portfile")"
rm -f "$portfile"
echo "export TRIGGERS_DYNAMODB_ENDPOINT=http://127.0.0.1:$port"
echo "DYNALITE_PID=$pid"
