#!/usr/bin/env bash
# Installs what the test suite drives besides cargo: the official Socket.IO
# clients from npm, python-socketio in a virtualenv, and Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium not installed: the browser test will skip (install Debian's chromium)" >&2
  fi
fi
