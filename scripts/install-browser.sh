#!/usr/bin/env bash
# Installs Chromium from Debian for the replication page's browser test
# (tests/browser/replication_page.py). Idempotent; safe to run every time.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
