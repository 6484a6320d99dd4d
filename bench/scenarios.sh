#!/usr/bin/env bash
# Starts a fresh release-built site and runs the standard scenarios with `strata bench`,
# then prints one table, with the server's peak RSS over the whole run:
#   1. one 1 GiB object, single stream: PUT and GET
#   2. 64 MiB objects, 4 workers, multipart with 8 MiB parts: PUT and GET
#   3. 4 KiB objects, 32 workers: PUT and GET
#   4. LIST of a 10 000-key bucket, 1000 keys per page
# Usage: bench/scenarios.sh [seconds-per-timed-scenario]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
cargo build --release --quiet -p strata-gateway
bin=target/release/strata
work="$(mktemp -d)"
trap 'pkill -INT -P "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/site.sh
start_site "$bin" "$work" /usr/bin/time -v -o "$work/time.txt"
b() { bench_cmd "$bin" "$@"; }
b --op put --workers 1 --size 1GiB --count 3 > "$work/1-put.json"
b --op get --workers 1 --size 1GiB --objects 1 --count 3 > "$work/1-get.json"
# The peak so far is the peak of scenario 1 (GNU time's figure covers the whole run).
grep VmHWM "/proc/$(pgrep -P "$server")/status" | awk '{print $2}' > "$work/rss-1.txt"
b --op put --workers 4 --size 64MiB --part-size 8MiB --count 32 > "$work/2-put.json"
b --op get --workers 4 --size 64MiB --part-size 8MiB --objects 8 --count 32 > "$work/2-get.json"
b --op put --workers 32 --size 4KiB --duration "${secs}s" > "$work/3-put.json"
b --op get --workers 32 --size 4KiB --objects 1024 --duration "${secs}s" > "$work/3-get.json"
b --op list --workers 1 --objects 10000 --max-keys 1000 --duration "${secs}s" > "$work/4-list.json"
# GNU time ignores SIGINT; stop the server it watches, then read its peak RSS.
pkill -INT -P "$server"; wait "$server" || true
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
def f(name, op):
    return json.load(open(f"{w}/{name}.json"))["operations"][op]
rss = next(l for l in open(f"{w}/time.txt") if "Maximum resident" in l).split(":")[1].strip()
rss1 = open(f"{w}/rss-1.txt").read().strip()
rows = [
    ("1 GiB single stream PUT", f"{f('1-put','put')['mib_per_sec']:.0f} MiB/s", ">= 450 MiB/s"),
    ("1 GiB single stream GET", f"{f('1-get','get')['mib_per_sec']:.0f} MiB/s", ">= 900 MiB/s"),
    ("64 MiB x4 workers, 8 MiB parts, PUT", f"{f('2-put','put')['mib_per_sec']:.0f} MiB/s", ""),
    ("64 MiB x4 workers GET", f"{f('2-get','get')['mib_per_sec']:.0f} MiB/s", ""),
    ("4 KiB PUT, 32 workers", f"{f('3-put','put')['ops_per_sec']:.0f} ops/s, p99 {f('3-put','put')['p99_ms']:.1f} ms", ">= 3000 ops/s, p99 <= 30 ms"),
    ("4 KiB GET, 32 workers", f"{f('3-get','get')['ops_per_sec']:.0f} ops/s, p99 {f('3-get','get')['p99_ms']:.1f} ms", ">= 8000 ops/s"),
    ("LIST 10 000 keys, 1000 per page", f"{f('4-list','list')['ops_per_sec']:.0f} pages/s", ""),
    ("server peak RSS during scenario 1", f"{int(rss1) / 1024:.0f} MiB", "<= 200 MiB"),
    ("server peak RSS over the whole run", f"{int(rss) / 1024:.0f} MiB", ""),
]
print(f"| {'scenario':<38} | {'measured':<28} | {'target':<28} |")
print(f"| {'-'*38} | {'-'*28} | {'-'*28} |")
for r in rows:
    print(f"| {r[0]:<38} | {r[1]:<28} | {r[2]:<28} |")
PY
