#!/usr/bin/env bash
# A/B of small PUTs on the embedded engine: two strata binaries, each run alternately on
# a fresh site, `strata bench` 4 KiB PUT with 32 workers (and LIST of 1000-key pages
# over a 10 000-key bucket), one line per run. Alternating pairs keep this machine's
# drift out of the comparison.
# Usage: bench/small-put-ab.sh BIN_BEFORE BIN_AFTER [pairs] [seconds]   (4 pairs, 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"; after="$2"; pairs="${3:-4}"; secs="${4:-10}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() {
    local bin="$1" label="$2" work port admin server
    work="$(mktemp -d)"
    port=$(free_port); admin=$(free_port)
    cat > "$work/strata.toml" <<TOML
site_name = "bench"
data_dir = "data"
[s3]
listen = "127.0.0.1:$port"
[admin]
listen = "127.0.0.1:$admin"
token = "bench-admin-token-0123456789"
TOML
    "$bin" serve --config "$work/strata.toml" 2> "$work/strata.log" &
    server=$!
    for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$admin") 2>/dev/null && break; sleep 0.1; done
    "$bin" admin --config "$work/strata.toml" user create bench --access-key BENCHKEY000000000001 \
        --secret-key bench-secret-0000000000000000000000001 > /dev/null
    b() { "$bin" bench --endpoint "http://127.0.0.1:$port" --access-key BENCHKEY000000000001 \
        --secret-key bench-secret-0000000000000000000000001 --json "$@"; }
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
