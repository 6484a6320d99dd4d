#!/usr/bin/env bash
# Fullsync cost against the size of the difference: builds the release binary, then
# runs bench/fullsync_bench.py (what it measures is described there).
# Usage: bench/fullsync.sh [objects]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p strata-gateway
exec python3 bench/fullsync_bench.py --bin target/release/strata "$@"
