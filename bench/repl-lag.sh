#!/usr/bin/env bash
# Realtime replication lag under a steady stream of PUTs. For each scenario it starts two
# fresh release-built sites, site-a streaming to site-b, drives site-a with
# `strata bench --rate`, samples site-a's status (lag of the oldest unacknowledged change)
# every half second, and reads site-b's commit-to-apply delay of every change it applied
# (the HLC of the change at site-a to its durable apply at site-b; one clock, one machine).
# Usage: bench/repl-lag.sh [seconds-per-scenario]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
. bench/lib.sh

scenario() { # label workers size rate
    local label=$1 workers=$2 size=$3 rate=$4 dir="$work/$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)" s3a
    site site-a "$dir/a"; s3a=$s3
    site site-b "$dir/b"
    local a="$dir/a/strata.toml" b="$dir/b/strata.toml"
    "$bin" repl --config "$a" connect "$(grep -A1 '^\[repl\]' "$b" | tail -1 | cut -d'"' -f2)" > /dev/null
    "$bin" repl --config "$a" realtime enable site-b > /dev/null
    "$bin" repl --config "$a" realtime start site-b > /dev/null
    "$bin" admin --config "$a" user create bench --access-key BENCHKEY000000000001 \
        --secret-key bench-secret-0000000000000000000000001 > /dev/null
    ( while true; do "$bin" repl --config "$a" status --json; sleep 0.5; done ) > "$dir/lag.jsonl" 2>/dev/null &
    local sampler=$!
    "$bin" bench --endpoint "http://127.0.0.1:$s3a" --access-key BENCHKEY000000000001 \
        --secret-key bench-secret-0000000000000000000000001 --json --op put --keep \
        --workers "$workers" --size "$size" ${rate:+--rate "$rate"} --duration "${secs}s" > "$dir/bench.json"
    # Let the stream drain, then read the sink's figures.
    for _ in $(seq 120); do
        "$bin" repl --config "$a" status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["peers"][0]["sink"]["pending_entries"]==0 else 1)' && break
        sleep 0.5
    done
    kill "$sampler" 2>/dev/null || true
    "$bin" repl --config "$b" status --json > "$dir/sink.json"
    python3 - "$label" "$dir" <<'PY'
import json, sys
label, d = sys.argv[1], sys.argv[2]
bench = json.load(open(f"{d}/bench.json"))["operations"]["put"]
sink = json.load(open(f"{d}/sink.json"))["peers"][0]["source"]
lags = []
for line in open(f"{d}/lag.jsonl"):
    try:
        lags.append(json.loads(line)["peers"][0]["sink"]["lag_ms"])
    except Exception:
        pass
lat = sink["latency"]
print(f"| {label} | {bench['ops_per_sec']:.0f} ops/s, {bench['mib_per_sec']:.1f} MiB/s | "
      f"{lat['p50_ms']} ms | {lat['p99_ms']} ms | {lat['max_ms']} ms | {max(lags) if lags else 0} ms | {lat['samples']} |")
PY
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}

echo "| stream of PUTs to site-a | achieved | apply delay p50 | p99 | max | max sampled lag | changes |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
scenario "4 KiB, 8 workers, 500/s" 8 4KiB 500
scenario "1 MiB, 4 workers, 50/s" 4 1MiB 50
scenario "4 KiB, 32 workers, unpaced" 32 4KiB ""
scenario "1 MiB, 8 workers, unpaced" 8 1MiB ""
