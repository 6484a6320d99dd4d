#!/usr/bin/env bash
# Measures PUT and GET of one 1 GiB object with the pinned aws-cli against a fresh
# release-built site, and the server's peak RSS over the run (/usr/bin/time -v).
# Usage: s3-compat/measure-1gib.sh [size-in-MiB]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${1:-1024}"
s3-compat/setup.sh
cargo build --release --quiet -p strata-gateway
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/strata.toml" <<TOML
site_name = "measure"
data_dir = "data"
[s3]
listen = "127.0.0.1:$port"
[admin]
listen = "127.0.0.1:$admin"
token = "measure-token-0123456789"
TOML
/usr/bin/time -v -o "$work/time.txt" target/release/strata serve --config "$work/strata.toml" 2> "$work/strata.log" &
server=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$admin") 2>/dev/null && break; sleep 0.1; done
target/release/strata admin --config "$work/strata.toml" user create m --access-key MEASUREKEY0000000001 --secret-key measure-secret-000000000000000000000001 > /dev/null
export AWS_ACCESS_KEY_ID=MEASUREKEY0000000001 AWS_SECRET_ACCESS_KEY=measure-secret-000000000000000000000001 AWS_DEFAULT_REGION=us-east-1
aws=(s3-compat/.venv/bin/aws --endpoint-url "http://127.0.0.1:$port")
"${aws[@]}" s3 mb s3://measure > /dev/null
head -c "$((mib << 20))" /dev/urandom > "$work/object"
t0=$(date +%s.%N); "${aws[@]}" s3 cp --only-show-errors "$work/object" s3://measure/object; t1=$(date +%s.%N)
"${aws[@]}" s3 cp --only-show-errors s3://measure/object "$work/back"; t2=$(date +%s.%N)
cmp "$work/object" "$work/back"
# GNU time ignores SIGINT; stop the server it watches.
pkill -INT -P "$server"; wait "$server" || true
python3 - "$mib" "$t0" "$t1" "$t2" "$work/time.txt" <<'PY'
import sys
mib, t0, t1, t2, tf = int(sys.argv[1]), *map(float, sys.argv[2:5]), sys.argv[5]
rss = next(l for l in open(tf) if "Maximum resident" in l).split(":")[1].strip()
print(f"aws-cli PUT {mib} MiB: {t1-t0:.1f} s ({mib/(t1-t0):.0f} MiB/s)")
print(f"aws-cli GET {mib} MiB: {t2-t1:.1f} s ({mib/(t2-t1):.0f} MiB/s), bytes identical")
print(f"server peak RSS: {int(rss)/1024:.0f} MiB")
PY
