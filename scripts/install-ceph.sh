#!/usr/bin/env bash
# Installs Ceph 16.2 from Debian: the daemons scripts/ceph-cluster.sh starts and the
# librados that a site over RADOS loads. Idempotent.
set -euo pipefail
if command -v ceph-osd >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/librados.so.2 ]; then
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    ceph-mon ceph-osd ceph-mgr ceph-common >/dev/null
