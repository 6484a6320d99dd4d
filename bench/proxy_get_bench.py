#!/usr/bin/env python3
"""Proxy-get benchmark: the first GET of a large object on a sink that has its manifest
but none of its blocks (realtime --metadata-only), against the same GET on the source
and the sink's second GET (the blocks local by then, as after replication). Run by
bench/proxy-get.sh (which builds the release binary and the Python clients).

For each size: site-a takes the object (boto3, multipart), site-b gets the manifest
only, and curl reads a presigned URL: time to first byte, total time and MiB/s for

- source: GET on site-a;
- first read: GET on site-b, every block fetched from site-a by proxy-get;
- local read: GET on site-b again, its blocks now on its disk;
- replicated: the same object carried to site-c by realtime with blocks, over the same
  kind of link: from CompleteMultipartUpload on site-a until site-c has acknowledged it
  (the first read's throughput is compared with this one's).

With --rtt-ms, site-b reaches site-a, and site-a reaches site-c, through
`strata wan-proxy` adding that round trip (site-a advertises the proxy's address as its
replication address).
"""
import argparse
import os
import shutil
import subprocess
import tempfile
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from sites import AK, SK, Site, free_port, wait_port

MIB = 1 << 20


def size_arg(s):
    units = {"MiB": MIB, "GiB": 1 << 30}
    for u, m in units.items():
        if s.endswith(u):
            return int(s[: -len(u)]) * m
    return int(s)


class RandomReader:
    """`size` bytes of fresh random data, read like a file (no two blocks alike, so
    nothing deduplicates)."""

    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def client(site):
    return boto3.client("s3", endpoint_url=site.endpoint, aws_access_key_id=AK, aws_secret_access_key=SK,
                        region_name="us-east-1",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def timed_get(site, key):
    """curl of a presigned GET: (first byte s, total s, bytes)."""
    url = client(site).generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": key},
                                              ExpiresIn=3600)
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                          "%{http_code} %{time_starttransfer} %{time_total} %{size_download}", url],
                         check=True, capture_output=True, text=True).stdout.split()
    if out[0] != "200":
        raise SystemExit(f"GET {key} on {site.name} answered {out[0]}")
    return float(out[1]), float(out[2]), int(out[3])


def row(label, size, t):
    first, total, got = t
    if got != size:
        raise SystemExit(f"{label}: {got} bytes of {size}")
    first = "" if first is None else f"{first * 1000:.1f} ms"
    print(f"| {size // MIB} MiB | {label} | {first} | {total:.2f} s | {size / MIB / total:.0f} MiB/s |", flush=True)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sizes", default="64MiB,512MiB,4GiB")
    ap.add_argument("--rtt-ms", type=int, default=0)
    ap.add_argument("--window", type=int, default=None, help="[repl] proxy_get_window on the sink")
    args = ap.parse_args()

    root = tempfile.mkdtemp()
    procs, proxies = [], []
    try:
        advertise = ""
        proxy_port = None
        if args.rtt_ms:
            proxy_port = free_port()
            advertise = f'advertise = "127.0.0.1:{proxy_port}"'
        a = Site(args.bin, "site-a", root, repl_extra=advertise)
        window = f"proxy_get_window = {args.window}" if args.window else ""
        b = Site(args.bin, "site-b", root, repl_extra=window)
        c = Site(args.bin, "site-c", root)
        procs = [a, b, c]
        c_addr = f"127.0.0.1:{c.repl}"
        if proxy_port:
            c_proxy = free_port()
            for port, to in [(proxy_port, a.repl), (c_proxy, c.repl)]:
                proxies.append(subprocess.Popen([args.bin, "wan-proxy", "--listen", f"127.0.0.1:{port}", "--to",
                                                 f"127.0.0.1:{to}", "--rtt-ms", str(args.rtt_ms)],
                                                stdout=subprocess.DEVNULL))
                wait_port(port)
            c_addr = f"127.0.0.1:{c_proxy}"
        a.cli("repl", "connect", f"127.0.0.1:{b.repl}")
        a.cli("repl", "realtime", "enable", "site-b", "--metadata-only")
        a.cli("repl", "realtime", "start", "site-b")
        a.cli("repl", "connect", c_addr)
        a.cli("repl", "realtime", "enable", "site-c")
        a.cli("repl", "realtime", "start", "site-c")
        # After realtime starts, so the user (and bucket) stream to site-b.
        a.create_bench_user()
        a.cli("repl", "proxy-get", "enable", "site-b")
        ca = client(a)
        ca.create_bucket(Bucket="bench")
        rtt = f", {args.rtt_ms} ms RTT between the sites" if args.rtt_ms else ", loopback"
        print(f"\nproxy-get first read{rtt}, window {args.window or 'default'}\n")
        print("| size | read | first byte | total | throughput |")
        print("| --- | --- | --- | --- | --- |")
        for size in map(size_arg, args.sizes.split(",")):
            key = f"object-{size}"
            ca.upload_fileobj(RandomReader(size), "bench", key,
                              Config=TransferConfig(multipart_chunksize=64 * MIB, max_concurrency=4))
            uploaded = time.monotonic()
            deadline = uploaded + 600
            while any(p["sink"]["pending_entries"] != 0 for p in a.status()["peers"]):
                if time.monotonic() > deadline:
                    raise SystemExit("the object never reached site-b and site-c")
                time.sleep(0.02)
            replicated = time.monotonic() - uploaded
            row("source", size, timed_get(a, key))
            first = row("first read on the sink (proxy-get)", size, timed_get(b, key))
            local = row("second read on the sink (local)", size, timed_get(b, key))
            row("replicated to site-c (realtime with blocks)", size, (None, replicated, size))
            print(f"| {size // MIB} MiB | first read against local read, replicated | | | "
                  f"{local / first:.0%}, {replicated / first:.0%} |", flush=True)
            ca.delete_object(Bucket="bench", Key=key)
        counters = b.status()["proxy_get"]
        print(f"\nsink's proxy-get counters: {counters}")
    finally:
        for s in procs:
            s.stop()
        for p in proxies:
            p.terminate()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
