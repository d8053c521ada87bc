#!/usr/bin/env bash
# `npm run docs:dashboard`: re-takes docs/images/dashboard.png from real metrics (a Temporal dev
# server, the Duo sandbox at Duo's time-scaled limits, two workers, Prometheus scraping them; see
# scripts/dashboard/picture.ts). Ensures the Temporal CLI, Debian's Prometheus and Chromium first.
# Takes about 6-8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/temporal-cli.sh >/dev/null
DUO_SYNC_PROMETHEUS="$(bash scripts/prometheus.sh)"
DUO_SYNC_CHROMIUM="$(bash scripts/chromium.sh)"
export DUO_SYNC_PROMETHEUS DUO_SYNC_CHROMIUM
mkdir -p docs/images
exec node -r ts-node/register/transpile-only scripts/dashboard/picture.ts "$@"
