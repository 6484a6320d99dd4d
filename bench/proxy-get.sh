#!/usr/bin/env bash
# Proxy-get's first read of large objects against the source's and a local read: builds
# the release binary and the pinned Python clients, then runs bench/proxy_get_bench.py
# (what it measures is described there).
# Usage: bench/proxy-get.sh [--sizes 64MiB,512MiB,4GiB] [--rtt-ms 50] [--window N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p strata-gateway
s3-compat/setup.sh >/dev/null
exec s3-compat/.venv/bin/python bench/proxy_get_bench.py --bin target/release/strata "$@"
