#!/usr/bin/env bash
# Unit-tests the Prometheus alert rules (deploy/prometheus/alerts.yml) with promtool against the
# synthetic series of deploy/prometheus/alerts.test.yml. promtool ships with Prometheus:
# scripts/prometheus.sh finds or installs it (Debian's package) and promtool sits beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
prometheus="$(bash scripts/prometheus.sh)"
promtool="$(dirname "$prometheus")/promtool"
if [ ! -x "$promtool" ]; then promtool="$(command -v promtool || true)"; fi
if [ -z "$promtool" ]; then
  echo "alerts-test.sh: promtool not found beside $prometheus or on PATH; install Prometheus's promtool" >&2
  exit 1
fi
"$promtool" check config deploy/prometheus/prometheus.yml
"$promtool" test rules deploy/prometheus/alerts.test.yml
