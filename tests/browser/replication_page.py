#!/usr/bin/env python3
"""The replication page in a real browser (headless Chromium from Debian, driven over
the DevTools protocol): two replicating sites, the page of the source signed in to with
the admin token through its form, and every figure it shows for the sink compared with
`strata repl status --json`. Also: the token never appears in a URL, the session cookie
is not readable by scripts, a wrong token and a signed-out request are refused.

Usage: replication_page.py STRATA_BINARY [--screenshot PATH]
Prints PASS/FAIL lines and exits non-zero on a failure. Without a chromium binary it
fails under CI (CI=true) and otherwise prints why it skipped.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "s3-compat"))
from run import free_port  # noqa: E402  (the port reservation the other suites share)

TOKEN = "browser-test-admin-token-0123456789"
ACCESS_KEY, SECRET_KEY = "BROWSERTESTKEY000001", "browser-test-secret-0000000000000000001"


class Site:
    def __init__(self, binary, work, name):
        self.binary, self.name = binary, name
        self.s3, self.admin, self.repl = free_port(), free_port(), free_port()
        d = os.path.join(work, name)
        os.makedirs(d)
        self.config = os.path.join(d, "strata.toml")
        with open(self.config, "w") as f:
            f.write(f'site_name = "{name}"\ndata_dir = "data"\nreserve_bytes = 16777216\n'
                    f'[s3]\nlisten = "127.0.0.1:{self.s3}"\n'
                    f'[admin]\nlisten = "127.0.0.1:{self.admin}"\ntoken = "{TOKEN}"\n'
                    f'[repl]\nlisten = "127.0.0.1:{self.repl}"\naccess_key = "browser-repl"\n'
                    f'secret_key = "browser-repl-secret-000000001"\n')
        self.log = open(os.path.join(d, "strata.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config], stdout=subprocess.DEVNULL, stderr=self.log)
        wait_port(self.admin)
        wait_port(self.s3)

    def cmd(self, group, *args):
        out = subprocess.run([self.binary, group, "--config", self.config, *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise AssertionError(f"strata {group} {args}: {out.stderr}")
        return out.stdout

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def wait_port(port, secs=20):
    deadline = time.time() + secs
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"nothing listens on {port}")
            time.sleep(0.05)


class Cdp:
    """A minimal DevTools protocol client: one WebSocket (RFC 6455) to one page."""

    def __init__(self, ws_url):
        rest = ws_url.split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), 10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"no websocket: {head!r}")
        self.next_id = 0
        self.sock.settimeout(30)

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise RuntimeError("the browser closed the connection")
            out += chunk
        return out

    def _frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._read(2), "big")
        elif n == 127:
            n = int.from_bytes(self._read(8), "big")
        return b0 & 0x80, b0 & 0x0F, self._read(n)

    def _message(self):
        data = b""
        while True:
            fin, op, payload = self._frame()
            if op == 9:  # ping
                self._send(10, payload)
                continue
            if op == 8:
                raise RuntimeError("the browser closed the websocket")
            data += payload
            if fin:
                return json.loads(data)

    def _send(self, op, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | op])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def call(self, method, **params):
        self.next_id += 1
        self._send(1, json.dumps({"id": self.next_id, "method": method, "params": params}).encode())
        while True:
            msg = self._message()
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, secs=20):
        deadline = time.time() + secs
        while time.time() < deadline:
            try:
                if self.eval(expression):
                    return
            except RuntimeError:
                pass  # the page is navigating
            time.sleep(0.2)
        raise AssertionError(f"never true: {expression}")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def start_browser(work):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        return None, None
    port = free_port()
    proc = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             f"--remote-debugging-port={port}", f"--user-data-dir={os.path.join(work, 'chromium')}",
                             "--window-size=1280,1100", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            if pages:
                return proc, Cdp(pages[0]["webSocketDebuggerUrl"])
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("chromium did not open its DevTools port")
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="strata-browser-")
    browser, page = start_browser(work)
    if page is None:
        if os.environ.get("CI"):
            print("FAIL replication page: no chromium (scripts/install-browser.sh installs it)")
            sys.exit(1)
        print("SKIPPED replication page: no chromium on this machine (scripts/install-browser.sh installs it)")
        return
    binary = os.path.abspath(args.binary)
    a, b = Site(binary, work, "site-a"), Site(binary, work, "site-b")
    failed = False
    try:
        a.cmd("admin", "user", "create", "browser", "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
        a.cmd("repl", "connect", f"127.0.0.1:{b.repl}")
        for c in (["realtime", "enable", "site-b"], ["realtime", "start", "site-b"], ["fullsync", "enable", "site-b"]):
            a.cmd("repl", *c)
        import boto3
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{a.s3}", aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        s3.create_bucket(Bucket="shown")
        # Writes spread over some seconds, so the throughput samples (every 2 s) see them.
        for i in range(40):
            s3.put_object(Bucket="shown", Key=f"k/{i:03}", Body=os.urandom(200_000 + i))
            time.sleep(0.15)
        sink = lambda: next(p for p in json.loads(a.cmd("repl", "status", "--json"))["peers"] if p["site"] == "site-b")["sink"]
        deadline = time.time() + 60
        while not (sink()["state"] == "synced" and sink()["pending_entries"] == 0 and sink()["fullsync"]["history"]):
            check(time.time() < deadline, f"site-b never synced: {sink()}")
            time.sleep(0.3)
        a.cmd("repl", "verify", "site-b")
        a.cmd("admin", "scrub")
        time.sleep(5)  # a few throughput samples for the chart

        home = f"http://127.0.0.1:{a.admin}/"
        try:
            urllib.request.urlopen(home + "ui/data")
            raise AssertionError("the page's data answered without signing in")
        except urllib.error.HTTPError as e:
            check(e.code == 401, f"signed-out data: {e.code}")

        page.call("Page.enable")
        page.call("Page.navigate", url=home)
        page.wait_for("!!document.querySelector('form[action=\"/login\"] input[name=token]')")
        page.eval("document.querySelector('input[name=token]').value = 'not-the-token'; document.forms[0].submit(); true")
        page.wait_for("document.body.innerText.includes(\"not this site's admin token\")")
        print("PASS replication page: a wrong token is refused")
        page.eval(f"document.querySelector('input[name=token]').value = {json.dumps(TOKEN)}; document.forms[0].submit(); true")
        page.wait_for("document.body.dataset.loaded === 'yes' && !!document.querySelector('[data-peer=\"site-b\"][data-field=\"state\"]')")
        href, cookie = page.eval("location.href"), page.eval("document.cookie")
        check(TOKEN not in href and href == home, f"the page is at {href}")
        check("strata_session" not in cookie, f"the session cookie is readable by scripts: {cookie}")
        print("PASS replication page: signed in through the form; no token in the URL, an HttpOnly cookie")

        shown = page.eval("Object.fromEntries([...document.querySelectorAll('[data-peer=\"site-b\"][data-value]')]"
                          ".map(e => [e.dataset.field, e.dataset.value]))")
        s = sink()
        want = {
            "state": s["state"],
            "pending_entries": str(s["pending_entries"]),
            "pending_bytes": str(s["pending_bytes"]),
            "dirty_keys": str(s["dirty_keys"]),
            "sent_objects": str(s["sent"]["objects"]),
            "sent_changes": str(s["sent"]["changes"]),
            "sent_bytes": str(s["sent"]["bytes"]),
            "fullsync_state": s["fullsync"]["state"],
            "fullsync_percent": f"{s['fullsync']['percent']:.1f}",
            "fullsync_differences": str(s["fullsync"]["differences"]),
        }
        want["verify_differences"] = str(s["last_verify"]["differences"])
        wrong = {k: (shown.get(k), v) for k, v in want.items() if shown.get(k) != v}
        check(not wrong, f"page vs status --json (shown, status): {wrong}")
        progress = page.eval("document.querySelector('[data-peer=\"site-b\"][data-field=\"fullsync_percent\"]').textContent")
        check(progress.startswith("complete,"), f"a finished fullsync shows as finished, not {progress!r}")
        scrub = json.loads(a.cmd("admin", "status", "--json"))["scrub"]["last"]
        shown_scrub = page.eval("document.querySelector('[data-peer=\"site\"][data-field=\"scrub_bad_found\"]').dataset.value")
        check(scrub is not None and shown_scrub == str(scrub["bad_found"]), f"scrub {shown_scrub} vs {scrub}")
        check(int(want["sent_objects"]) >= 40, f"objects sent: {want['sent_objects']}")
        runs = page.eval("document.querySelectorAll('[data-peer=\"site-b\"][data-field^=\"fullsync_run_\"]').length")
        check(runs == len(s["fullsync"]["history"][:5]) and runs >= 1, f"{runs} fullsync runs shown")
        paths = page.eval("document.querySelectorAll('svg[data-peer=\"site-b\"][data-field=\"throughput\"] path').length")
        peak = page.eval("Number(document.querySelector('svg[data-peer=\"site-b\"][data-field=\"throughput\"]').dataset.peak)")
        check(paths >= 1 and peak > 0, f"throughput chart: {paths} lines, peak {peak} B/s")
        pg = json.loads(a.cmd("repl", "status", "--json"))["proxy_get"]
        shown_pg = page.eval("document.querySelector('[data-peer=\"site\"][data-field=\"proxy_get_requests\"]').dataset.value")
        check(shown_pg == str(pg["requests"]), f"proxy-get reads {shown_pg} vs {pg['requests']}")
        print(f"PASS replication page: {len(want)} figures, fullsync history, proxy-get and the chart match status --json")

        if args.screenshot:
            shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print(f"screenshot: {args.screenshot}")

        page.eval("document.querySelector('form[action=\"/logout\"]').submit(); true")
        page.wait_for("!!document.querySelector('form[action=\"/login\"]')")
        check(page.eval("fetch('/ui/data').then(r => r.status)") == 401, "data still answered after signing out")
        print("PASS replication page: signing out ends the session")
    except Exception as e:  # noqa: BLE001 - any failure is reported with the logs
        failed = True
        print(f"FAIL replication page: {e}")
        for s in (a, b):
            s.log.flush()
            print(f"--- {s.name} log ---\n" + open(s.log.name).read()[-3000:])
    finally:
        for s in (a, b):
            s.stop()
        browser.kill()
        browser.wait()
    if failed:
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
