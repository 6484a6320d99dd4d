#!/usr/bin/env bash
# A site of 1, 2 and 3 gateways over a test Ceph cluster, loaded round robin by
# `strata bench`: builds the release binary, installs Ceph from Debian if missing, then
# runs bench/rados_bench.py (what it measures is described there).
# Usage: bench/rados-site.sh [--gateways 1,2,3]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p strata-gateway
scripts/install-ceph.sh >/dev/null
exec python3 bench/rados_bench.py --bin target/release/strata "$@"
