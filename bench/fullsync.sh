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
cargo build --release --quiet -p strata-gateway
bin=target/release/strata
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; }

site() { # name dir -> writes dir/strata.toml, starts the site, sets $s3 and $repl
    local name=$1 dir=$2 admin
    s3=$(free_port); admin=$(free_port); repl=$(free_port)
    mkdir -p "$dir"
    cat > "$dir/strata.toml" <<TOML
site_name = "$name"
data_dir = "data"
[s3]
listen = "127.0.0.1:$s3"
[admin]
listen = "127.0.0.1:$admin"
token = "bench-admin-token-0123456789"
[repl]
listen = "127.0.0.1:$repl"
access_key = "bench-repl"
secret_key = "bench-repl-secret-000000000001"
fullsync_interval = 0
TOML
    "$bin" serve --config "$dir/strata.toml" > /dev/null 2> "$dir/strata.log" &
    pids+=($!)
    wait_port "$admin"; wait_port "$repl"
}

site site-a "$work/a"; s3a=$s3
site site-b "$work/b"; repl_b=$repl
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
