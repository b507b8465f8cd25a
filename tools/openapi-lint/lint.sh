#!/usr/bin/env bash
# Lints the served OpenAPI document (http/openapi/openapi.json, embedded and
# served byte for byte at /openapi.json), installing the linters first (npm
# ci, pinned in package-lock.json) when node_modules is missing:
#
#   1. redocly lint with the recommended rules (redocly.yaml says which are
#      configured and why; .redocly.lint-ignore.yaml lists the problems
#      ignored one by one). Any error or warning fails.
#   2. openapi-typescript generates TypeScript types from the document and
#      tsc --noEmit compiles them with check.ts, a client's use of them.
#
#   tools/openapi-lint/lint.sh [document]   # default: the served document
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
doc="$(realpath "${1:-$dir/../../http/openapi/openapi.json}")"
cd "$dir"
if [ ! -x node_modules/.bin/redocly ] || [ ! -x node_modules/.bin/openapi-typescript ] || [ ! -x node_modules/.bin/tsc ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
# No telemetry, update checks or notices: the tests use loopback only.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true REDOCLY_SUPPRESS_NOTIFICATIONS=true

# redocly lint exits non-zero on errors only: count the warnings from its
# JSON report, and show the problems in its readable format when any.
report="$(node_modules/.bin/redocly lint --config redocly.yaml --lint-config error --format json "$doc" 2>/dev/null)" || true
totals="$(node -e '
const t = JSON.parse(process.argv[1]).totals;
console.log(`${t.errors} ${t.warnings} ${t.ignored}`);
' "$report")" || { echo "redocly lint gave no report:"; node_modules/.bin/redocly lint --config redocly.yaml --lint-config error "$doc"; exit 1; }
read -r errors warnings ignored <<<"$totals"
if [ "$errors" != 0 ] || [ "$warnings" != 0 ]; then
  node_modules/.bin/redocly lint --config redocly.yaml --lint-config error "$doc" 2>&1 || true
  echo "redocly lint: $errors errors, $warnings warnings in $doc"
  exit 1
fi
echo "redocly lint: no problems ($ignored ignored by .redocly.lint-ignore.yaml)"

# openapi-typescript runs its own lint with redocly's defaults, which do not
# read the ignore file: its output is shown only if it fails.
out="$(mktemp -d -t openapi-ts.XXXXXX)"
trap 'rm -rf "$out"' EXIT
if ! log="$(node_modules/.bin/openapi-typescript "$doc" --redocly redocly.yaml -o "$out/openapi.d.ts" 2>&1)"; then
  echo "$log"; echo "openapi-typescript failed on $doc"; exit 1
fi
cp check.ts tsconfig.json "$out/"
node_modules/.bin/tsc --project "$out/tsconfig.json"
echo "openapi-typescript: the generated types compile (tsc --noEmit --strict)"
