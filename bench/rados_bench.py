"""A site of 1, 2 and 3 gateways over one test Ceph cluster (scripts/ceph-cluster.sh:
memstore OSD, on this machine), loaded by `strata bench` with every request sent to the
next gateway: ops/s, MiB/s, p99 latency, and the gateways' CPU seconds per GiB moved (counted over the whole
`strata bench` run, its preparation and cleanup included).

Each gateway count gets pools of its own, deleted after, so the runs start alike. Client,
gateways and the cluster share this machine's cores: the figures say what one machine
of them does, not what a site of many would.
"""
import argparse
import json
import os
import subprocess
import tempfile

from sites import AK, SK, TOKEN, cpu_seconds, free_port, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "..", "scripts", "ceph-cluster.sh")

LOADS = [
    # (op, size, workers, how many: duration or count)
    ("put", "4KiB", 32, ["--duration", "10s"]),
    ("get", "4KiB", 32, ["--duration", "10s", "--objects", "1000"]),
    ("put", "1MiB", 8, ["--count", "400"]),
    ("get", "1MiB", 8, ["--duration", "10s", "--objects", "100"]),
]


class Gateway:
    def __init__(self, binary, root, name, conf, prefix):
        self.bin, self.dir = binary, os.path.join(root, name)
        self.s3, self.admin = free_port(), free_port()
        os.makedirs(self.dir, exist_ok=True)
        self.config = os.path.join(self.dir, "strata.toml")
        with open(self.config, "w") as f:
            f.write(f'''site_name = "bench"
data_dir = "data"
[store]
engine = "rados"
ceph_conf = "{conf}"
data_pool = "{prefix}-data"
meta_pool = "{prefix}-meta"
[s3]
listen = "127.0.0.1:{self.s3}"
[admin]
listen = "127.0.0.1:{self.admin}"
token = "{TOKEN}"
''')
        log = open(os.path.join(self.dir, "strata.log"), "a")
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config],
                                     stdout=subprocess.DEVNULL, stderr=log)
        wait_port(self.s3)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.s3}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def run(binary, conf, root, gateways):
    prefix = f"bench{gateways}"
    gws = [Gateway(binary, root, f"{prefix}-gw{i}", conf, prefix) for i in range(gateways)]
    rows = []
    try:
        subprocess.run([binary, "admin", "--config", gws[0].config, "user", "create", "bench",
                        "--access-key", AK, "--secret-key", SK], check=True, stdout=subprocess.DEVNULL)
        endpoints = [a for g in gws for a in ("--endpoint", g.endpoint)]
        # The pools are new: their placement groups settle during the first seconds,
        # which a warm-up run absorbs instead of the first measurement.
        subprocess.run([binary, "bench", *endpoints, "--access-key", AK, "--secret-key", SK, "--op", "put",
                        "--size", "4KiB", "--workers", "8", "--duration", "5s"], check=True, capture_output=True)
        for op, size, workers, amount in LOADS:
            before = [cpu_seconds(g.proc.pid) for g in gws]
            out = subprocess.run([binary, "bench", *endpoints, "--access-key", AK, "--secret-key", SK,
                                  "--json", "--op", op, "--size", size, "--workers", str(workers), *amount],
                                 check=True, capture_output=True, text=True).stdout
            cpu = sum(cpu_seconds(g.proc.pid) for g in gws) - sum(before)
            report = json.loads(out)
            o = report["operations"][op]
            gib = o["mib_per_sec"] * report["elapsed_secs"] / 1024
            rows.append((gateways, f"{op} {size}", workers, o["ops_per_sec"], o["mib_per_sec"], o["p99_ms"],
                         cpu / gib if gib else 0.0, cpu / gateways / report["elapsed_secs"]))
    finally:
        for g in gws:
            g.stop()
        for pool in (f"{prefix}-data", f"{prefix}-meta"):
            subprocess.run(["ceph", "-c", conf, "osd", "pool", "delete", pool, pool,
                            "--yes-i-really-really-mean-it"], capture_output=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--gateways", default="1,2,3")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="strata-rados-bench-")
    ceph_dir = os.path.join(root, "ceph")
    conf = subprocess.run([CLUSTER, "start", ceph_dir], check=True, capture_output=True, text=True).stdout.strip()
    rows = []
    try:
        for n in [int(x) for x in args.gateways.split(",")]:
            rows += run(os.path.abspath(args.bin), conf, root, n)
    finally:
        subprocess.run([CLUSTER, "stop", ceph_dir])
    print("| gateways | load | workers | ops/s | MiB/s | p99 ms | gateway CPU s per GiB | CPU per gateway (cores) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.0f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.0f} | {r[7]:.2f} |")


if __name__ == "__main__":
    main()
