#!/usr/bin/env bash
# `npm run test:e2e`: the browser test. Ensures the Temporal CLI and Debian's Chromium (installing
# them when missing), then runs e2e/*.e2e.ts with mocha outside the default spec glob.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/temporal-cli.sh >/dev/null
DUO_SYNC_CHROMIUM="$(bash scripts/chromium.sh)"
export DUO_SYNC_CHROMIUM
exec npx mocha --no-config --require ts-node/register/transpile-only --timeout 300000 --slow 60000 'e2e/**/*.e2e.ts' "$@"
