#!/usr/bin/env bash
# The replication benchmark: one table of ingest rate, replication throughput (from a
# backlog and while writing), lag p50/p99 under a steady stream and CPU seconds per GiB
# replicated, for 4 KiB and 1 MiB objects x TLS off/on x zstd off/on x 0 and 50 ms of
# added round trip (through `strata wan-proxy`). Fresh release-built sites on loopback
# for every row; what each column means is in bench/repl_bench.py.
# Usage: bench/repl-lag.sh [options of bench/repl_bench.py]
#   e.g. bench/repl-lag.sh --sizes 1MiB --tls off --compression 0 --rtt 0,50
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p strata-gateway
exec python3 bench/repl_bench.py --bin target/release/strata "$@"
