#!/usr/bin/env bash
# A throwaway one-host Ceph cluster for tests and benchmarks, all under one directory:
# one mon (v1 address on loopback), one mgr, one OSD on memstore, no authentication,
# pools of size 1. Ceph 16.2 from Debian (scripts/install-ceph.sh).
#
#   scripts/ceph-cluster.sh start DIR [MON_PORT]   # prints DIR/ceph.conf when healthy
#   scripts/ceph-cluster.sh stop DIR
#
# The OSD is added to the CRUSH map by hand and told not to update it (or its class) at
# start: otherwise its first mon commands are refused ("wrong fsid") and it exits.
set -euo pipefail

cmd=${1:?usage: ceph-cluster.sh start|stop DIR [MON_PORT]}
dir=${2:?usage: ceph-cluster.sh start|stop DIR [MON_PORT]}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf="$dir/ceph.conf"

stop() {
    for pid in "$dir"/run/*.pid; do
        [ -e "$pid" ] || continue
        kill "$(cat "$pid")" 2>/dev/null || true
    done
    # memstore keeps its data in memory: nothing to clean but the directory.
    for pid in "$dir"/run/*.pid; do
        [ -e "$pid" ] || continue
        for _ in $(seq 50); do
            kill -0 "$(cat "$pid")" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$(cat "$pid")" 2>/dev/null || true
        rm -f "$pid"
    done
}

if [ "$cmd" = stop ]; then
    stop
    exit 0
fi
[ "$cmd" = start ] || [ "$cmd" = start-once ] || { echo "unknown command $cmd" >&2; exit 2; }

# A port below the ephemeral range, so no outgoing connection of another test takes it
# between this check and the mon's bind; a start that still fails is tried again.
pick_port() {
    python3 -c '
import random, socket
while True:
    p = random.randint(20000, 32000)
    try:
        socket.socket().bind(("127.0.0.1", p))
        print(p)
        break
    except OSError:
        pass'
}

if [ "$cmd" = start-once ]; then
port=${3:-$(pick_port)}
fsid=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$dir"/{mon,osd,mgr,run,log}
cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# A test cluster starts whatever the disk's free space (a mon refuses below 5%).
mon data avail crit = 0
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon data = $dir/mon/\$cluster-\$id
mgr data = $dir/mgr/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
# Room for every test site of a suite run (each in its own namespace, none removed)
# and the client suite; memstore takes memory only as data is written.
memstore device bytes = 8589934592
osd crush update on start = false
osd class update on start = false
mgr initial modules =
# The cluster's capacity is known once the mgr has reported the OSD's statistics: every
# second rather than every five, so a started cluster is ready sooner.
mgr stats period = 1
CONF

# The daemons' own output goes to a log, never to this script's stdout: a caller
# reading that to its end would otherwise wait for as long as the daemons live.
out="$dir/log/daemons.out"
monmaptool --create --addv a "[v1:127.0.0.1:$port]" --fsid "$fsid" "$dir/monmap" >>"$out" 2>&1
ceph-mon --mkfs -i a --monmap "$dir/monmap" -c "$conf" >>"$out" 2>&1
ceph-mon -i a -c "$conf" >>"$out" 2>&1 </dev/null
ceph="ceph -c $conf --connect-timeout 10"
$ceph mon stat >>"$out" 2>&1
mkdir -p "$dir/mgr/ceph-x"
ceph-mgr -i x -c "$conf" >>"$out" 2>&1 </dev/null

osd=$($ceph osd create 2>>"$out")
mkdir -p "$dir/osd/ceph-$osd"
ceph-osd -i "$osd" -c "$conf" --mkfs >>"$out" 2>&1
$ceph osd crush add "osd.$osd" 1.0 root=default >>"$out" 2>&1
ceph-osd -i "$osd" -c "$conf" >>"$out" 2>&1 </dev/null
up=""
for _ in $(seq 300); do
    if $ceph osd stat 2>/dev/null | grep -q "1 up"; then
        up=1
        break
    fi
    sleep 0.1
done
if [ -z "$up" ]; then
    echo "the OSD did not come up" >>"$out"
    exit 1
fi
# Until then a client reads the cluster's capacity as 0 of 0 bytes (a gateway then
# cannot say how much room there is).
for _ in $(seq 150); do
    if $ceph df 2>/dev/null | grep -qE '^TOTAL +[1-9]'; then
        exit 0
    fi
    sleep 0.2
done
echo "the cluster did not report its capacity" >>"$out"
exit 1
fi

# Each attempt is a process of its own, so that `set -e` stops it at the first failure.
for attempt in 1 2 3; do
    if "$0" start-once "$dir" ${3:+"$3"}; then
        echo "$conf"
        exit 0
    fi
    echo "attempt $attempt to start the cluster in $dir failed:" >&2
    tail -n 15 "$dir/log/daemons.out" >&2 || true
    stop
    rm -rf "$dir"/{mon,osd,mgr,run,monmap}
done
echo "the test cluster did not start; logs in $dir/log" >&2
exit 1
