#!/usr/bin/env python3
"""Fullsync cost against the size of the difference. Run by bench/fullsync.sh (which
builds the release binary); see docs/performance.md.

Two fresh sites on loopback; site-a gets OBJECTS objects of 1 KiB; site-b gets them by
one fullsync (a full copy), then site-a gets 0%, 1% and 10% more objects and one
fullsync runs after each. Prints, per run: keys compared, differences, time, bytes
exchanged both ways, those bytes against the size of site-a's metadata (the files in
its data/meta), and the peak resident memory (VmHWM) of both sites so far.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

from sites import Site


def meta_bytes(site):
    meta = os.path.join(site.dir, "data", "meta")
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(meta) for f in files)


def fullsync(a, b, label, op):
    """Runs one fullsync to site-b (`enable` the first time, `start` after) and prints its row."""
    before = int(time.time() * 1000)
    a.cli("repl", "fullsync", op, "site-b")
    while True:
        last = a.status()["peers"][0]["sink"]["fullsync"]["last"] or {}
        if last.get("result") == "complete" and last["ended_ms"] > before:
            break
        time.sleep(0.2)
    meta, x = meta_bytes(a), last["bytes_exchanged"]
    print(f"| {label} | {last['keys_compared']} | {last['differences']} | {last['duration_ms'] / 1000:.2f} s | "
          f"{x / 1e6:.3f} MB | {100 * x / meta:.3f}% of {meta / 1e6:.1f} MB | "
          f"{a.peak_rss_mib():.0f} / {b.peak_rss_mib():.0f} MiB |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/strata")
    ap.add_argument("objects", type=int, nargs="?", default=100_000)
    args = ap.parse_args()
    root = tempfile.mkdtemp()
    sites = []
    try:
        a = Site(args.bin, "site-a", root, repl_extra="fullsync_interval = 0")
        sites.append(a)
        b = Site(args.bin, "site-b", root, repl_extra="fullsync_interval = 0")
        sites.append(b)
        a.create_bench_user()
        a.cli("repl", "connect", f"127.0.0.1:{b.repl}")

        def put(count):
            a.bench("--op", "put", "--keep", "--workers", "32", "--size", "1KiB", "--count", str(count))

        print(f"Writing {args.objects} objects of 1 KiB to site-a...", file=sys.stderr)
        put(args.objects)
        print(f"Peak RSS after the writes: site-a {a.peak_rss_mib():.0f} MiB, site-b {b.peak_rss_mib():.0f} MiB; "
              "site-a restarts, so the figures below are fullsync's", file=sys.stderr)
        a.restart()
        print("| run | keys compared | differences | time | bytes exchanged | of site-a's metadata "
              "| peak RSS a / b |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        fullsync(a, b, "full copy to an empty sink", "enable")
        fullsync(a, b, "0% different", "start")
        put(args.objects // 100)
        fullsync(a, b, "1% different", "start")
        put(args.objects // 10)
        fullsync(a, b, "10% different", "start")
    finally:
        for s in sites:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
