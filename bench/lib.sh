# Shared by the replication benchmarks: a release build, a work directory cleaned up on
# exit, and site() to start one replicating site on free loopback ports.
# Source it from the repository root: `. bench/lib.sh`.
cargo build --release --quiet -p strata-gateway
bin=target/release/strata
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; }

# site NAME DIR [EXTRA_REPL_CONFIG]: writes DIR/strata.toml, starts the site, and sets
# $s3 and $repl to its ports.
site() {
    local name=$1 dir=$2 extra=${3:-} admin
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
$extra
TOML
    "$bin" serve --config "$dir/strata.toml" > /dev/null 2> "$dir/strata.log" &
    pids+=($!)
    wait_port "$admin"; wait_port "$repl"
}
