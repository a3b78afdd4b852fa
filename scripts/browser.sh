#!/usr/bin/env bash
# The browser of the real-browser tests (test/browser/): Debian's chromium, driven by
# playwright-core (which never downloads a browser of its own).
#
#   bash scripts/browser.sh        install chromium when /usr/bin/chromium is missing, print its version
#
# Installs with apt-get (--no-install-recommends); runs `apt-get update` only when the first
# install attempt fails (stale or empty package lists). Exits non-zero, saying why, when
# chromium cannot be installed or does not start. CHROMIUM overrides the path.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

log() { printf '[browser] %s\n' "$*"; }
err() { printf '[browser] ERROR: %s\n' "$*" >&2; }

run_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  run_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 chromium
}

if [[ ! -x "$CHROMIUM" ]]; then
  log "$CHROMIUM not found: installing Debian's chromium"
  start=$SECONDS
  if ! apt_install; then
    log "install failed; running apt-get update and trying again"
    if ! run_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || ! apt_install; then
      err "could not install chromium with apt-get; the browser tests (test/browser/) need it at $CHROMIUM"
      exit 1
    fi
  fi
  log "installed in $((SECONDS - start))s"
fi

if [[ ! -x "$CHROMIUM" ]]; then
  err "apt-get installed chromium but $CHROMIUM is still missing"
  exit 1
fi

if ! version="$("$CHROMIUM" --headless --no-sandbox --disable-gpu --version 2>/dev/null)"; then
  err "$CHROMIUM is installed but does not start (--version failed)"
  exit 1
fi
log "$version at $CHROMIUM"
