#!/usr/bin/env bash
# `npm run screenshots`: re-takes the README's Web UI screenshots (docs/screenshots/*.png) by
# running the browser test, which photographs each step against a real dev server, worker,
# Duo sandbox and the demo directory.
set -euo pipefail
cd "$(dirname "$0")/.."
DUO_SYNC_SCREENSHOTS="$(pwd)/docs/screenshots" exec bash scripts/e2e.sh "$@"
