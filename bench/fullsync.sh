#!/usr/bin/env bash
# Fullsync cost against the size of the difference. Two fresh release-built sites on
# loopback; site-a gets N objects (default 100 000 of 1 KiB); site-b gets them by one
# fullsync (a full copy), then site-a gets 0%, 1% and 10% more objects and one fullsync
# runs after each. Prints, per run: keys compared, differences, time, bytes exchanged
# both ways, and those bytes against the bytes of one site's metadata.
# Usage: bench/fullsync.sh [objects]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
objects="${1:-100000}"
. bench/lib.sh

site site-a "$work/a" "fullsync_interval = 0"; s3a=$s3
site site-b "$work/b" "fullsync_interval = 0"; repl_b=$repl
a="$work/a/strata.toml"
"$bin" admin --config "$a" user create bench --access-key BENCHKEY000000000001 \
    --secret-key bench-secret-0000000000000000000000001 > /dev/null
"$bin" repl --config "$a" connect "127.0.0.1:$repl_b" > /dev/null

put() { # count
    "$bin" bench --endpoint "http://127.0.0.1:$s3a" --access-key BENCHKEY000000000001 \
        --secret-key bench-secret-0000000000000000000000001 --json --op put --keep \
        --workers 32 --size 1KiB --count "$1" > /dev/null
}

# Runs one fullsync (enable the first time, start after) and prints its row.
fullsync() { # label op
    local before
    before=$(python3 -c 'import time; print(int(time.time()*1000))')
    "$bin" repl --config "$a" fullsync "$2" site-b > /dev/null
    while ! "$bin" repl --config "$a" status --json | python3 -c '
import json, sys
last = json.load(sys.stdin)["peers"][0]["sink"]["fullsync"]["last"] or {}
sys.exit(0 if last.get("result") == "complete" and last["ended_ms"] > int(sys.argv[1]) else 1)' "$before"; do
        sleep 0.2
    done
    "$bin" repl --config "$a" status --json > "$work/status.json"
    python3 - "$1" "$work/status.json" "$(du -sb "$work/a/data/meta" | cut -f1)" <<'PY'
import json, sys
label, path, meta = sys.argv[1], sys.argv[2], int(sys.argv[3])
last = json.load(open(path))["peers"][0]["sink"]["fullsync"]["last"]
x = last["bytes_exchanged"]
print(f"| {label} | {last['keys_compared']} | {last['differences']} | {last['duration_ms'] / 1000:.2f} s | "
      f"{x / 1e6:.3f} MB | {100 * x / meta:.3f}% of {meta / 1e6:.1f} MB |")
PY
}

echo "Writing $objects objects of 1 KiB to site-a..." >&2
put "$objects"
echo "| run | keys compared | differences | time | bytes exchanged | of site-a's metadata |"
echo "| --- | --- | --- | --- | --- | --- |"
fullsync "full copy to an empty sink" enable
fullsync "0% different" start
put $((objects / 100))
fullsync "1% different" start
put $((objects / 10))
fullsync "10% different" start
