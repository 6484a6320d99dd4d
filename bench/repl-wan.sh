#!/usr/bin/env bash
# Replication throughput of 1 MiB objects from site-a to site-b, directly and through a
# proxy that adds a round-trip time (bench/delay_proxy.py), each on fresh release-built
# sites: `strata bench` writes COUNT objects with 8 workers, then the time until site-b
# has applied all of them gives the throughput.
# Usage: bench/repl-wan.sh [count] [rtt-ms...]   (default 300 objects; 0 and 50 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-300}"; shift || true
rtts=("${@:-0 50}"); read -r -a rtts <<< "${rtts[*]}"
. bench/lib.sh

run() { # rtt-ms [extra repl config]
    local rtt=$1 extra=${2:-} dir="$work/rtt-$1-$RANDOM" s3a addr
    site site-a "$dir/a" "$extra"; s3a=$s3
    site site-b "$dir/b" "$extra"
    local a="$dir/a/strata.toml" b="$dir/b/strata.toml"
    addr="127.0.0.1:$(grep -A1 '^\[repl\]' "$b" | tail -1 | cut -d'"' -f2 | cut -d: -f2)"
    if [ "$rtt" != 0 ]; then
        local p; p=$(free_port)
        python3 bench/delay_proxy.py "$p" "$addr" "$(python3 -c "print($rtt/2)")" &
        pids+=($!); wait_port "$p"; addr="127.0.0.1:$p"
    fi
    "$bin" repl --config "$a" connect "$addr" > /dev/null
    "$bin" repl --config "$a" realtime enable site-b > /dev/null
    "$bin" repl --config "$a" realtime start site-b > /dev/null
    "$bin" admin --config "$a" user create bench --access-key BENCHKEY000000000001 \
        --secret-key bench-secret-0000000000000000000000001 > /dev/null
    local start end
    start=$(date +%s.%N)
    "$bin" bench --endpoint "http://127.0.0.1:$s3a" --access-key BENCHKEY000000000001 \
        --secret-key bench-secret-0000000000000000000000001 --json --op put --keep \
        --workers 8 --size 1MiB --count "$count" > "$dir/bench.json"
    local ingest; ingest=$(python3 -c "import json; print(round(json.load(open('$dir/bench.json'))['operations']['put']['mib_per_sec']))")
    for _ in $(seq 600); do
        "$bin" repl --config "$a" status --json | python3 -c 'import json,sys; s=json.load(sys.stdin)["peers"][0]["sink"]; sys.exit(0 if s["pending_entries"]==0 and s["state"]=="synced" else 1)' && break
        sleep 0.2
    done
    end=$(date +%s.%N)
    python3 -c "print(f'{\"$rtt ms\":>8} {\"${extra:-plain}\":<24} ingest {$ingest:>4} MiB/s   replicated {$count/($end-$start):6.1f} MiB/s (write start to sink caught up)')"
}

for rtt in "${rtts[@]}"; do
    run "$rtt"
done
