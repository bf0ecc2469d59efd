#!/usr/bin/env bash
# Installs Debian's Chromium for the Playwright browser tests (tests/e2e): Playwright's own browser
# download needs the open internet, Debian's package only the apt mirror. Idempotent and quiet:
# exits 0 at once when /usr/bin/chromium is already there; prints apt's output only on failure.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install_browser.sh: $CHROMIUM is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
  SUDO=(sudo -n)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium; } \
    >"$log" 2>&1; then
  cat "$log" >&2
  echo "install_browser.sh: apt-get could not install chromium" >&2
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  cat "$log" >&2
  echo "install_browser.sh: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
