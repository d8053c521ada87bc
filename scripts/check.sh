#!/usr/bin/env bash
# Typecheck and lint side by side (each is mostly one core), then report both; used by `npm test`.
set -uo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
npx tsc -p tsconfig.json --noEmit > "$out/typecheck" 2>&1 &
typecheck=$!
npx eslint . > "$out/lint" 2>&1 &
lint=$!
wait "$typecheck"; typecheck_rc=$?
wait "$lint"; lint_rc=$?
cat "$out/typecheck" "$out/lint"
rm -rf "$out"
[ "$typecheck_rc" -eq 0 ] || echo "typecheck failed (tsc exit $typecheck_rc)" >&2
[ "$lint_rc" -eq 0 ] || echo "lint failed (eslint exit $lint_rc)" >&2
[ "$typecheck_rc" -eq 0 ] && [ "$lint_rc" -eq 0 ]
