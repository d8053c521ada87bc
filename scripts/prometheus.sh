#!/usr/bin/env bash
# Ensures a Prometheus server binary for `npm run docs:dashboard` (the dashboard picture) and prints
# its path. Order: $DUO_SYNC_PROMETHEUS, `prometheus` on PATH, then Debian's `prometheus` package
# (Apache-2.0) with apt-get. The Debian postinst would start a system-wide Prometheus on :9090; the
# picture script runs its own on a free loopback port with a throwaway config and data dir, so a
# policy-rc.d denies service starts during the install and anything started anyway is stopped.
set -euo pipefail

if [ -n "${DUO_SYNC_PROMETHEUS:-}" ]; then
  if [ -x "$DUO_SYNC_PROMETHEUS" ]; then
    echo "$DUO_SYNC_PROMETHEUS"
    exit 0
  fi
  echo "prometheus.sh: DUO_SYNC_PROMETHEUS=$DUO_SYNC_PROMETHEUS is not an executable" >&2
  exit 1
fi
if command -v prometheus >/dev/null 2>&1; then
  command -v prometheus
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "prometheus.sh: prometheus is missing and cannot be installed here (needs root and apt-get)." >&2
  echo "prometheus.sh: install Debian's 'prometheus' package, or set DUO_SYNC_PROMETHEUS to a Prometheus 2.x executable." >&2
  exit 1
fi

# shellcheck source=scripts/lib/apt-install.sh
source "$(dirname "$0")/lib/apt-install.sh"
echo "prometheus.sh: installing Debian's prometheus (apt-get update + install)" >&2
apt_install_without_starting prometheus

# Belt and braces: if something did start the system Prometheus anyway, stop it.
if pidof prometheus >/dev/null 2>&1 && command -v service >/dev/null 2>&1; then
  service prometheus stop >&2 || true
fi
if ! command -v prometheus >/dev/null 2>&1; then
  echo "prometheus.sh: the prometheus package is installed but no prometheus binary is on PATH" >&2
  exit 1
fi
command -v prometheus
