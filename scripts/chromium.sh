#!/usr/bin/env bash
# Ensures Debian's Chromium for the browser tests and screenshots (playwright-core drives it; it
# never downloads a browser of its own). Prints the executable's path. Installs the `chromium`
# package with apt-get when missing; DUO_SYNC_CHROMIUM overrides the path.
set -euo pipefail

chromium="${DUO_SYNC_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  echo "$chromium"
  exit 0
fi
if [ -n "${DUO_SYNC_CHROMIUM:-}" ]; then
  echo "chromium.sh: DUO_SYNC_CHROMIUM=$DUO_SYNC_CHROMIUM is not an executable" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: $chromium is missing and cannot be installed here (needs root and apt-get)." >&2
  echo "chromium.sh: install Debian's 'chromium' package, or set DUO_SYNC_CHROMIUM to a Chromium executable." >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Other apt users on the machine hold the dpkg lock at times: wait for it instead of failing.
apt_opts=(-y --no-install-recommends -o DPkg::Lock::Timeout=600)
echo "chromium.sh: installing Debian's chromium (apt-get update + install, a few minutes on a cold machine)" >&2
if ! { apt-get -o DPkg::Lock::Timeout=600 update >&2 && apt-get install "${apt_opts[@]}" chromium >&2; }; then
  echo "chromium.sh: apt-get could not install chromium; install it by hand or set DUO_SYNC_CHROMIUM" >&2
  exit 1
fi
if [ ! -x "$chromium" ]; then
  echo "chromium.sh: chromium installed but $chromium is not there" >&2
  exit 1
fi
echo "$chromium"
