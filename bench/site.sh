# Sourced by the shell benchmarks: a fresh embedded site on free loopback ports, with
# the bench user. `start_site BIN WORK [PREFIX...]` writes WORK/strata.toml, starts
# `BIN serve` (behind PREFIX, e.g. `/usr/bin/time -v -o FILE`), waits for its admin
# port and creates the user; it sets `port`, `admin` and `server` (the pid started).
# `bench_cmd BIN ARGS...` runs `strata bench --json` against it as that user.
AK=BENCHKEY000000000001
SK=bench-secret-0000000000000000000000001
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_site() {
    local bin="$1" work="$2"
    shift 2
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
    "$@" "$bin" serve --config "$work/strata.toml" 2> "$work/strata.log" &
    server=$!
    for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$admin") 2>/dev/null && break; sleep 0.1; done
    "$bin" admin --config "$work/strata.toml" user create bench --access-key "$AK" --secret-key "$SK" > /dev/null
}

bench_cmd() {
    local bin="$1"
    shift
    "$bin" bench --endpoint "http://127.0.0.1:$port" --access-key "$AK" --secret-key "$SK" --json "$@"
}
