#!/usr/bin/env bash
# What the console's browser tests need: Debian's Chromium (no browser is
# downloaded by a tool) and the scenarios' npm packages, exactly as locked.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null 2>&1; then
  echo "== installing Debian's chromium"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci (tests/browser)"
  npm ci --no-audit --no-fund --loglevel=error
fi
