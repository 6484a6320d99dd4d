#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust unit and integration tests (real strata
# processes driven by aws-sdk-s3), the client-compatibility suite with pinned aws-cli,
# boto3 and s3cmd, and the replication page in headless Chromium. Installs what it
# needs; works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
python3 scripts/check-imports.py

step "build"
# Builds the strata binary too: the integration tests start it as a real process.
cargo build --workspace --all-targets

step "unit and integration tests"
scripts/install-test-tools.sh
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

step "client compatibility (aws-cli, s3cmd, boto3)"
s3-compat/setup.sh
s3-compat/.venv/bin/python s3-compat/run.py target/debug/strata

step "replication page in a headless browser (Chromium)"
scripts/install-browser.sh
s3-compat/.venv/bin/python tests/browser/replication_page.py target/debug/strata
