#!/usr/bin/env bash
# Builds Strata and starts a local site on 127.0.0.1:9000 with a ready user; prints the
# endpoint, the credentials and aws-cli commands to try. Extra arguments go to
# `strata dev` (see `strata dev --help`). Ctrl-C stops it; data stays in .strata-dev/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p strata-gateway
exec target/release/strata dev "$@"
