#!/usr/bin/env bash
# Installs what the Rust integration tests need beyond the toolchain, from Debian:
# libfaketime (a site whose clock runs an hour ahead, tests/tests/equal.rs) and Ceph (a
# real one-host cluster for the RADOS tests, blockstore/tests/rados.rs). Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
./install-ceph.sh
if [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ]; then
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq faketime >/dev/null
