#!/usr/bin/env bash
# A/B of small PUTs on the embedded engine: two strata binaries, each run alternately on
# a fresh site, `strata bench` 4 KiB PUT with 32 workers (and LIST of 1000-key pages
# over a 10 000-key bucket), one line per run. Alternating pairs keep this machine's
# drift out of the comparison.
# Usage: bench/small-put-ab.sh BIN_BEFORE BIN_AFTER [pairs] [seconds]   (4 pairs, 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"; after="$2"; pairs="${3:-4}"; secs="${4:-10}"
source bench/site.sh

run() {
    local bin="$1" label="$2" work
    work="$(mktemp -d)"
    start_site "$bin" "$work"
    b() { bench_cmd "$bin" "$@"; }
    b --op put --workers 32 --size 4KiB --duration "${secs}s" > "$work/put.json"
    b --op list --workers 1 --objects 10000 --max-keys 1000 --duration "${secs}s" > "$work/list.json"
    kill -INT "$server"; wait "$server" || true
    python3 - "$work" "$label" <<'PY'
import json, sys
w, label = sys.argv[1], sys.argv[2]
put = json.load(open(f"{w}/put.json"))["operations"]["put"]
lst = json.load(open(f"{w}/list.json"))["operations"]["list"]
print(f"{label:<7} 4 KiB PUT {put['ops_per_sec']:7.0f} ops/s  p99 {put['p99_ms']:5.1f} ms   LIST {lst['ops_per_sec']:5.0f} pages/s")
PY
    rm -rf "$work"
}

for i in $(seq "$pairs"); do
    run "$before" before
    run "$after" after
done
