#!/usr/bin/env bash
# Builds Strata and starts two local sites replicating to each other (site-a on
# 127.0.0.1:9000, site-b on 127.0.0.1:9010) with a ready user; prints both endpoints, the
# credentials and aws-cli commands that write to one and read from the other. Extra
# arguments go to `strata dev` (see `strata dev --help`). Ctrl-C stops both; data stays
# in .strata-dev/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p strata-gateway
exec target/release/strata dev "$@"
