#!/usr/bin/env bash
# End-to-end browser tests of the dashboard (/ui, docs/DASHBOARD.md):
# Playwright (playwright-core, pinned in e2e/package-lock.json, installed with
# npm ci) driving Debian's Chromium against a real server built from this tree
# on a fresh data directory, with three keys: the dev key, one limited to
# 3 requests per minute (to see a 429) and one allowed only from 10.9.9.9/32
# (to see a 403), and webhooks allowed to reach http://127.0.0.1 (the test's
# receiver). Playwright never downloads a browser.
#
#   scripts/e2e.sh                      # screenshots in e2e/artifacts/
#   CHROMIUM=/path/to/chromium scripts/e2e.sh
#
# Chromium: /usr/bin/chromium. When it is missing, it is installed with
# apt-get if this runs as root; otherwise the tests are skipped with a message,
# or fail when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
started=$(date +%s)
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "e2e: $CHROMIUM is missing: installing Debian's chromium with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    if [ ! -x "$CHROMIUM" ]; then
      echo "e2e: FAILED: $CHROMIUM is still missing after installing Debian's chromium." >&2
      exit 1
    fi
  elif [ "${CI:-}" = true ]; then
    echo "e2e: FAILED: $CHROMIUM is missing and this is not root, so it cannot be installed here." >&2
    echo "e2e: install Debian's chromium (apt-get install chromium) or set CHROMIUM to a Chromium binary." >&2
    exit 1
  else
    echo "e2e: SKIPPED: $CHROMIUM is missing (install Debian's chromium as root: apt-get install chromium," >&2
    echo "e2e: or set CHROMIUM); CI=true makes this a failure." >&2
    exit 0
  fi
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "e2e: FAILED: node and npm are needed (Debian: apt-get install nodejs npm)." >&2
  exit 1
fi

echo "== e2e: npm ci (e2e/)"
# playwright-core has no browser download step; the variable makes sure of it.
(cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== e2e: build"
go build -o "$tmp/triggers" ./cmd/triggers

data="$tmp/data"
export TRIGGERS_E2E_DEV_KEY="e2e-dev-key-$(date +%s)-$$"
export TRIGGERS_E2E_LIMITED_KEY="e2e-limited-key-0000000001"
export TRIGGERS_E2E_BLOCKED_KEY="e2e-blocked-key-0000000001"
"$tmp/triggers" keys create --data-dir "$data" --tenant e2e-limited --name e2e-limited \
  --rate-limit 3 --key "$TRIGGERS_E2E_LIMITED_KEY" --json >/dev/null
"$tmp/triggers" keys create --data-dir "$data" --tenant e2e-blocked --name e2e-blocked \
  --allowed-ips 10.9.9.9/32 --key "$TRIGGERS_E2E_BLOCKED_KEY" --json >/dev/null

echo "== e2e: start server"
# The webhook flags let the dashboard test's receiver (http on 127.0.0.1) be a destination.
"$tmp/triggers" serve --addr 127.0.0.1:0 --data-dir "$data" --dev-key "$TRIGGERS_E2E_DEV_KEY" \
  --webhook-allow-insecure --webhook-allow-private >"$tmp/server.log" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 100); do
  addr=$(grep -o '"msg":"listening","addr":"[^"]*"' "$tmp/server.log" 2>/dev/null | sed 's/.*"addr":"//; s/"$//' || true)
  [ -n "$addr" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "e2e: FAILED: the server did not start:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
export TRIGGERS_E2E_URL="http://$addr"
export TRIGGERS_E2E_CHROMIUM="$CHROMIUM"
export TRIGGERS_E2E_ARTIFACTS="$PWD/e2e/artifacts"
echo "server at $TRIGGERS_E2E_URL"

echo "== e2e: browser tests"
status=0
# One file after the other: both use the dev key's inbox.
(cd e2e && node --test --test-reporter=spec dashboard.test.mjs && node --test --test-reporter=spec docs.test.mjs) || status=$?
if [ "$status" != 0 ]; then
  echo "e2e: FAILED; the server's log:" >&2
  tail -n 50 "$tmp/server.log" >&2
  exit "$status"
fi
echo "e2e: passed in $(( $(date +%s) - started )) s; screenshots in e2e/artifacts/"
