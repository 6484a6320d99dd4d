#!/usr/bin/env python3
"""Replication benchmark: one table of ingest, replication throughput, lag and CPU cost,
for each object size x TLS on the replication link x compression x added round-trip time.
Run by bench/repl-lag.sh (which builds the release binary); see docs/performance.md.

Every row uses fresh sites on loopback, site-a replicating to site-b in realtime with
blocks (through `strata wan-proxy` when an RTT is added), in three phases:

1. backlog: realtime enabled but stopped, `strata bench` writes COUNT objects to site-a
   (its ingest rate, nothing else running); then realtime starts and the time until
   site-b has acknowledged everything gives the sink's sustained throughput, and the
   CPU both sites spent meanwhile gives CPU seconds per GiB replicated;
2. live: new sites, realtime running, the same COUNT objects written as fast as site-a
   takes them; throughput is COUNT over the time from the first write until site-b has
   caught up (ingest and replication sharing the machine);
3. steady: new sites, realtime running, a paced stream (500 PUT/s of 4 KiB, or 50 PUT/s
   of 1 MiB) for SECONDS; site-b's apply delay of every change (the change's HLC at
   site-a to its durable apply at site-b, one clock) gives lag p50 and p99.
"""
import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time

from sites import Site, cpu_seconds, free_port, wait_port

SIZES = {"4KiB": 4 << 10, "1MiB": 1 << 20}
# Objects per throughput phase, and the steady stream: (rate, workers).
COUNT = {"4KiB": 10000, "1MiB": 2000}
STEADY = {"4KiB": (500, 8), "1MiB": (50, 4)}


class Pair:
    """site-a replicating to site-b, through a WAN proxy when rtt > 0 or `proxied`."""

    def __init__(self, bench, tls, level, rtt, proxied):
        self.root = tempfile.mkdtemp(dir=bench.work)
        if tls:
            subprocess.run([bench.bin, "config", "dev-certs", "--dir", self.root, "site-a", "site-b"],
                           check=True, stdout=subprocess.DEVNULL)
        level_line = f"compression_level = {level}"
        self.a = Site(bench.bin, "site-a", self.root, tls, level_line)
        self.b = Site(bench.bin, "site-b", self.root, tls, level_line)
        self.procs = [self.a.proc, self.b.proc]
        self.proxy = None
        addr = f"127.0.0.1:{self.b.repl}"
        if rtt or proxied:
            port = free_port()
            self.proxy = subprocess.Popen(
                [bench.bin, "wan-proxy", "--listen", f"127.0.0.1:{port}", "--to", addr, "--rtt-ms", str(rtt)],
                stdout=subprocess.DEVNULL)
            self.procs.append(self.proxy)
            wait_port(port)
            addr = f"127.0.0.1:{port}"
        self.a.cli("repl", "connect", addr)
        self.a.cli("repl", "realtime", "enable", "site-b")
        self.a.create_bench_user()
        self.bench = bench

    def proxy_cpu_seconds(self):
        return cpu_seconds(self.proxy.pid) if self.proxy else 0.0

    def start_realtime(self):
        self.a.cli("repl", "realtime", "start", "site-b")

    def write(self, size, *args):
        text = ["--text"] if self.bench.payload == "text" else []
        return self.a.bench("--op", "put", "--keep", "--size", size, *text, *args)["operations"]["put"]

    def wait_caught_up(self, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sink = self.a.status()["peers"][0]["sink"]
            if sink["pending_entries"] == 0 and sink["state"] == "synced":
                return time.monotonic()
            time.sleep(0.05)
        raise SystemExit(f"site-b did not catch up in {timeout} s; logs in {self.root}")

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class Bench:
    def __init__(self, args):
        self.bin, self.work, self.seconds = args.bin, tempfile.mkdtemp(), args.seconds
        self.payload = args.payload

    def row(self, size, tls, level, rtt, proxied):
        n, nbytes = COUNT[size], COUNT[size] * SIZES[size]
        mib = nbytes / (1 << 20)
        workers = "32" if size == "4KiB" else "8"

        p = Pair(self, tls, level, rtt, proxied)
        try:
            ingest = p.write(size, "--workers", workers, "--count", str(n))
            cpu0 = p.a.cpu_seconds() + p.b.cpu_seconds()
            proxy0 = p.proxy_cpu_seconds()
            t0 = time.monotonic()
            p.start_realtime()
            t1 = p.wait_caught_up()
            cpu = p.a.cpu_seconds() + p.b.cpu_seconds() - cpu0
            proxy_cpu = p.proxy_cpu_seconds() - proxy0
            sent = p.a.status()["peers"][0]["sink"]["sent"]
        finally:
            p.close()
        backlog = mib / (t1 - t0)

        p = Pair(self, tls, level, rtt, proxied)
        try:
            p.start_realtime()
            t0 = time.monotonic()
            p.write(size, "--workers", workers, "--count", str(n))
            live = mib / (p.wait_caught_up() - t0)
        finally:
            p.close()

        rate, steady_workers = STEADY[size]
        p = Pair(self, tls, level, rtt, proxied)
        try:
            p.start_realtime()
            steady = p.write(size, "--workers", str(steady_workers), "--rate", str(rate),
                             "--duration", f"{self.seconds}s")
            p.wait_caught_up()
            latency = p.b.status()["peers"][0]["source"]["latency"]
        finally:
            p.close()

        return {
            "size": size, "tls": tls, "compression": level, "rtt_ms": rtt, "proxied": proxied,
            "ingest_mib_s": ingest["mib_per_sec"], "ingest_ops_s": ingest["ops_per_sec"],
            "backlog_mib_s": backlog, "backlog_ops_s": n * backlog / mib,
            "live_mib_s": live, "live_ops_s": n * live / mib,
            "steady_ops_s": steady["ops_per_sec"],
            "lag_p50_ms": latency["p50_ms"], "lag_p99_ms": latency["p99_ms"], "lag_max_ms": latency["max_ms"],
            "cpu_s_per_gib": cpu / (nbytes / (1 << 30)),
            "proxy_cpu_s_per_gib": proxy_cpu / (nbytes / (1 << 30)),
            "wire_ratio": sent["raw_bytes"] / sent["bytes"] if sent["bytes"] else 1.0,
        }


def fmt(r):
    proxy = f" (+{r['proxy_cpu_s_per_gib']:.1f} proxy)" if r["proxied"] else ""
    via = " via proxy" if r["proxied"] and not r["rtt_ms"] else ""
    def rate(mib, ops):
        return f"{mib:.1f} MiB/s ({ops:.0f}/s)" if r["size"] == "4KiB" else f"{mib:.0f} MiB/s"
    return (f"| {r['size']} | {'on' if r['tls'] else 'off'} | {r['compression'] or 'off'} | {r['rtt_ms']} ms{via} "
            f"| {rate(r['ingest_mib_s'], r['ingest_ops_s'])} | {rate(r['backlog_mib_s'], r['backlog_ops_s'])} "
            f"| {rate(r['live_mib_s'], r['live_ops_s'])} | {r['steady_ops_s']:.0f}/s: {r['lag_p50_ms']} / "
            f"{r['lag_p99_ms']} ms | {r['cpu_s_per_gib']:.1f}{proxy} | {r['wire_ratio']:.2f}x |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/strata")
    ap.add_argument("--seconds", type=int, default=10, help="length of each steady stream")
    ap.add_argument("--sizes", default="4KiB,1MiB")
    ap.add_argument("--tls", default="off,on")
    ap.add_argument("--compression", default="0,3", help="zstd levels; 0 is off")
    ap.add_argument("--rtt", default="0,50", help="added round-trip times in ms; 0p is the proxy adding "
                    "none (it shares the cores: the control that separates its CPU from round trips)")
    ap.add_argument("--payload", default="text", choices=["text", "random"],
                    help="object bodies: random words (about 5x compressible) or random bytes")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    bench = Bench(args)
    print("| size | TLS | zstd | added RTT | ingest | replicated from a backlog | replicated while writing "
          "| steady stream: lag p50 / p99 | CPU s per GiB replicated | wire ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    try:
        for size, tls, level, rtt in itertools.product(
                args.sizes.split(","), args.tls.split(","), args.compression.split(","), args.rtt.split(",")):
            r = bench.row(size, tls == "on", int(level), int(rtt.rstrip("p")), rtt.endswith("p") or rtt != "0")
            rows.append(r)
            print(fmt(r), flush=True)
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
