#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust unit and integration tests (real strata
# processes driven by aws-sdk-s3), the client-compatibility suite with pinned aws-cli,
# boto3 and s3cmd (on one embedded site, then on three gateways over a test Ceph
# cluster), and the replication page in headless Chromium. Installs what it
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
run_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --no-fail-fast "$@"
    else
        cargo test --no-fail-fast "$@"
    fi
}
run_tests --workspace

step "client compatibility (aws-cli, s3cmd, boto3)"
s3-compat/setup.sh
s3-compat/.venv/bin/python s3-compat/run.py target/debug/strata

step "the same integration tests and client suite on sites over Ceph RADOS"
ceph_dir=$(mktemp -d)
trap 'scripts/ceph-cluster.sh stop "$ceph_dir"' EXIT
ceph_conf=$(scripts/ceph-cluster.sh start "$ceph_dir")
# Each test's site in a RADOS namespace of its own (tests/src/lib.rs, rados_from_env).
# Not here: full_disk (a small filesystem under the data disk: a site over Ceph keeps
# nothing there), slow_clients (its latency budget is the embedded engine's; over the
# test cluster p99 is about 170 ms, docs/performance.md) and rados_site (clusters of
# its own, in the run above).
rados_tests=(authority bad_input bench crash credentials equal failover fullsync identity
    lifecycle page_sessions proxy_get purge repl s3 scrub shapes tls versions wan)
STRATA_TEST_CEPH_CONF=$ceph_conf run_tests -p strata-tests "${rados_tests[@]/#/--test=}"
# Index shards over RADOS: one object per shard, a bucket delete racing writes.
STRATA_TEST_CEPH_CONF=$ceph_conf run_tests -p strata-blockstore --test=shards
# Requests spread over the gateways per connection; smaller large files, as the test
# cluster's OSD keeps everything in memory.
s3-compat/.venv/bin/python s3-compat/run.py target/debug/strata --ceph-conf "$ceph_conf" --gateways 3 \
    --large-mib 64 --rclone-mib 64
scripts/ceph-cluster.sh stop "$ceph_dir"
trap - EXIT

step "replication page in a headless browser (Chromium)"
scripts/install-browser.sh
s3-compat/.venv/bin/python tests/browser/replication_page.py target/debug/strata
