"""Real sites on loopback for the benchmarks (repl_bench.py, fullsync_bench.py): one
place that writes a site's config, starts it and talks to it."""

import json
import os
import socket
import subprocess
import time
import urllib.request

TOKEN = "bench-admin-token-0123456789"
AK, SK = "BENCHKEY000000000001", "bench-secret-0000000000000000000000001"
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class Site:
    """A site in ROOT/NAME on free ports. `tls`: mutual TLS on the replication link with
    the certificates `strata config dev-certs --dir ROOT` wrote; `repl_extra`: more
    lines for its [repl] section."""

    def __init__(self, binary, name, root, tls=False, repl_extra=""):
        self.bin, self.name, self.dir = binary, name, os.path.join(root, name)
        self.s3, self.admin, self.repl = free_port(), free_port(), free_port()
        os.makedirs(self.dir, exist_ok=True)
        repl_tls = ('tls_cert = "tls/cert.pem"\ntls_key = "tls/key.pem"\n'
                    'tls_ca = "../ca.pem"\ntls_client_auth = true\n') if tls else ""
        with open(self.config, "w") as f:
            f.write(f'''site_name = "{name}"
data_dir = "data"
[s3]
listen = "127.0.0.1:{self.s3}"
[admin]
listen = "127.0.0.1:{self.admin}"
token = "{TOKEN}"
[repl]
listen = "127.0.0.1:{self.repl}"
access_key = "bench-repl"
secret_key = "bench-repl-secret-000000000001"
{repl_extra}
{repl_tls}''')
        self.start()

    def start(self):
        log = open(os.path.join(self.dir, "strata.log"), "a")
        self.proc = subprocess.Popen([self.bin, "serve", "--config", self.config],
                                     stdout=subprocess.DEVNULL, stderr=log)
        wait_port(self.admin)
        wait_port(self.repl)

    def restart(self):
        """Stops and starts the site (its peak memory counts from then)."""
        self.stop()
        self.start()

    @property
    def config(self):
        return os.path.join(self.dir, "strata.toml")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.s3}"

    def cli(self, *args):
        """`strata COMMAND --config CONFIG ARGS...`"""
        subprocess.run([self.bin, *args[:1], "--config", self.config, *args[1:]],
                       check=True, stdout=subprocess.DEVNULL)

    def create_bench_user(self):
        self.cli("admin", "user", "create", "bench", "--access-key", AK, "--secret-key", SK)

    def bench(self, *args):
        """Runs `strata bench` against this site as the bench user; its JSON report."""
        out = subprocess.run(
            [self.bin, "bench", "--endpoint", self.endpoint, "--access-key", AK, "--secret-key", SK,
             "--json", *args], check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    def status(self):
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin}/v1/repl/status",
                                     headers={"authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def cpu_seconds(self):
        return cpu_seconds(self.proc.pid)

    def peak_rss_mib(self):
        """The process's peak resident memory so far (VmHWM), MiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        return kib / 1024

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
