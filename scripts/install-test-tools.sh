#!/usr/bin/env bash
# Installs what the Rust integration tests need beyond the toolchain: libfaketime from
# Debian (a site whose clock runs an hour ahead, tests/tests/equal.rs). Idempotent.
set -euo pipefail
if [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ]; then
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq faketime >/dev/null
