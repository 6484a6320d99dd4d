#!/usr/bin/env python3
"""Client-compatibility scenarios: pinned aws-cli (v1), s3cmd and boto3 against a real
Strata site, each with its default settings (checksums, multipart sizes, signing).

Usage: run.py STRATA_BINARY [--large-mib 200] [--ceph-conf CONF [--gateways 3]]

Starts a fresh site on free loopback ports, runs every scenario, prints PASS/FAIL per
scenario and a closing "N passed, M failed" line; exits non-zero on any failure. With
--ceph-conf the site is several gateways over that Ceph cluster behind a round-robin
front (round_robin.py): each client connection goes to the next gateway.
"""
import argparse
import fcntl
import hashlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

from operations import operation_scenarios
from round_robin import RoundRobin

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_BIN = os.path.join(HERE, ".venv", "bin")
ACCESS_KEY = "STRATACOMPATKEY00001"
SECRET_KEY = "strata-compat-secret-000000000000000000001"


# Ports below the kernel's ephemeral range: no client socket can take one between the
# moment it is chosen and the moment the site binds it. Shared with the Rust harness
# (tests/src/lib.rs) by one flock'd file per port, held until this process exits.
PORTS = range(20000, 32000)
_reserved = []


def free_port():
    lock_dir = os.path.join(tempfile.gettempdir(), "strata-test-ports")
    os.makedirs(lock_dir, exist_ok=True)
    start = random.randrange(len(PORTS))
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        f = open(os.path.join(lock_dir, str(port)), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            f.close()
            continue
        _reserved.append(f)
        return port
    raise RuntimeError("no free port left in %r" % PORTS)


class Gateway:
    """One `strata serve` process in DIR; `store`: its [store] section, if any."""

    def __init__(self, binary, workdir, store=""):
        self.s3_port, self.admin_port = free_port(), free_port()
        os.makedirs(workdir, exist_ok=True)
        self.config = os.path.join(workdir, "strata.toml")
        with open(self.config, "w") as f:
            f.write(
                f'site_name = "compat"\ndata_dir = "data"\nreserve_bytes = 16777216\n{store}[s3]\nlisten = "127.0.0.1:{self.s3_port}"\n'
                f'[admin]\nlisten = "127.0.0.1:{self.admin_port}"\ntoken = "compat-admin-token-000000"\n'
                # Over Ceph: blocks of deleted objects go soon, so a test cluster of
                # memory does not fill.
                + ('[gc]\ngrace_secs = 5\ninterval_secs = 2\n' if store else "")
            )
        self.log = open(os.path.join(workdir, "strata.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config], stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.s3_port), 0.2).close()
                socket.create_connection(("127.0.0.1", self.admin_port), 0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("strata did not start; see " + self.log.name)
                time.sleep(0.05)


class Site:
    """One gateway on its data disk; or, with `ceph_conf`, `gateways` gateways over that
    cluster (one site: pools of its own) behind a round-robin front."""

    def __init__(self, binary, workdir, ceph_conf=None, gateways=1):
        self.binary = binary
        self.dir = workdir
        store = ""
        if ceph_conf:
            tag = f"compat-{random.randrange(1 << 32):08x}"
            store = (f'[store]\nengine = "rados"\nceph_conf = "{ceph_conf}"\n'
                     f'data_pool = "strata-compat-data"\nmeta_pool = "strata-compat-meta"\nnamespace = "{tag}"\n')
        self.gateways = [Gateway(binary, os.path.join(workdir, f"gw{i}"), store) for i in range(gateways)]
        first = self.gateways[0]
        self.config, self.admin_port = first.config, first.admin_port
        self.front = None
        if len(self.gateways) > 1:
            self.s3_port = free_port()
            self.front = RoundRobin(self.s3_port, [g.s3_port for g in self.gateways])
        else:
            self.s3_port = first.s3_port
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.log = first.log
        binary = self.binary
        subprocess.run(
            [binary, "admin", "--config", self.config, "user", "create", "compat",
             "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY],
            check=True, stdout=subprocess.DEVNULL,
        )

    def stop(self):
        if self.front:
            self.front.close()
        for g in self.gateways:
            g.proc.kill()
            g.proc.wait()

    def logs(self):
        return "".join(f"--- gateway {i}\n" + open(g.log.name).read()[-5000:] for i, g in enumerate(self.gateways))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_file(path, size, seed):
    """Pseudo-random bytes (incompressible, reproducible) without holding them all."""
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB
    with open(path, "wb") as f:
        left = size
        i = 0
        while left > 0:
            chunk = hashlib.sha256(block[:64] + i.to_bytes(8, "big")).digest() + block[32:]
            f.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))
            i += 1
    return path


class Runner:
    def __init__(self):
        self.passed, self.failed = 0, []

    def run(self, name, fn):
        start = time.time()
        try:
            fn()
            self.passed += 1
            print(f"PASS {name} ({time.time() - start:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - a scenario failure of any kind is reported
            self.failed.append(name)
            print(f"FAIL {name}: {e}", flush=True)
            traceback.print_exc()


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def sh(args, env=None, capture=True):
    r = subprocess.run(args, env=env, capture_output=capture, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r.stdout


def curl(site, path, work):
    """An anonymous GET with curl, as a browser or a download script makes it:
    (HTTP status, sha256 of the body)."""
    out = os.path.join(work, "curl-body")
    status = sh(["curl", "-s", "-o", out, "-w", "%{http_code}", site.endpoint + path]).strip()
    digest = sha256_file(out)
    os.remove(out)
    return int(status), digest


PUBLIC_PREFIX_POLICY = """{"Version": "2012-10-17", "Statement": [{"Sid": "PublicPrefix", "Effect": "Allow",
 "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/public/*"}]}"""


# ---------------------------------------------------------------- aws-cli

def aws_scenarios(r, site, work, files):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    def aws(*args):
        # Transfers print progress unless told not to; other commands have no such flag.
        quiet = ["--only-show-errors"] if args[:2] in (("s3", "cp"), ("s3", "sync"), ("s3", "rm")) else []
        return sh([os.path.join(VENV_BIN, "aws"), "--endpoint-url", site.endpoint, *args, *quiet], env)

    def mb():
        aws("s3", "mb", "s3://awscli")
        check("awscli" in aws("s3", "ls"), "bucket not listed")
    r.run("aws-cli: mb", mb)

    for label, path in files:
        def put_get(label=label, path=path):
            aws("s3", "cp", path, f"s3://awscli/objects/{label}")
            back = os.path.join(work, f"aws-back-{label}")
            aws("s3", "cp", f"s3://awscli/objects/{label}", back)
            check(sha256_file(back) == sha256_file(path), f"{label} differs after round trip")
            os.remove(back)
        r.run(f"aws-cli: put+get {label}", put_get)

    def ls_prefix():
        out = aws("s3", "ls", "s3://awscli/objects/")
        for label, _ in files:
            check(label in out, f"{label} missing from ls: {out}")
        out = aws("s3", "ls", "s3://awscli/")
        check("PRE objects/" in out, f"common prefix missing: {out}")
        out = aws("s3", "ls", "s3://awscli/objects/sm")
        check("small" in out and "20mib" not in out, f"prefix filter wrong: {out}")
    r.run("aws-cli: ls with prefixes", ls_prefix)

    def sync():
        tree = os.path.join(work, "tree")
        for i in range(300):
            d = os.path.join(tree, f"d{i % 7}", f"e{i % 3}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"f{i:03}.txt"), "wb") as f:
                f.write(hashlib.sha256(str(i).encode()).hexdigest().encode() * (1 + i % 50))
        aws("s3", "sync", tree, "s3://awscli/tree")
        listed = [l for l in aws("s3", "ls", "--recursive", "s3://awscli/tree/").splitlines() if l.strip()]
        check(len(listed) == 300, f"{len(listed)} objects after sync, want 300")
        # A second sync finds nothing to do; a sync down reproduces the tree.
        again = aws("s3", "sync", tree, "s3://awscli/tree")
        check(again.strip() == "", f"second sync copied again: {again[:200]}")
        down = os.path.join(work, "tree-down")
        aws("s3", "sync", "s3://awscli/tree", down)
        for root, _, names in os.walk(tree):
            for n in names:
                a = os.path.join(root, n)
                b = os.path.join(down, os.path.relpath(a, tree))
                check(os.path.exists(b) and sha256_file(a) == sha256_file(b), f"{b} differs")
        shutil.rmtree(down)
    r.run("aws-cli: sync of a 300-file tree", sync)

    def presign():
        url = aws("s3", "presign", "s3://awscli/objects/small", "--expires-in", "300").strip()
        out = os.path.join(work, "presigned")
        sh(["curl", "-sSf", "-o", out, url])
        check(sha256_file(out) == sha256_file(files[0][1]), "presigned GET returned other bytes")
        os.remove(out)
    r.run("aws-cli: presigned GET with curl", presign)

    def public_read():
        small = files[0][1]
        aws("s3", "cp", small, "s3://awscli/pub/small", "--acl", "public-read")
        check(curl(site, "/awscli/pub/small", work) == (200, sha256_file(small)), "public-read object not served to curl")
        check(curl(site, "/awscli/objects/small", work)[0] == 403, "a private object was served anonymously")
        aws("s3", "rm", "s3://awscli/pub/small")
    r.run("aws-cli: cp --acl public-read, then an anonymous curl", public_read)

    def policy():
        small = files[0][1]
        doc = os.path.join(work, "policy.json")
        with open(doc, "w") as f:
            f.write(PUBLIC_PREFIX_POLICY % "awscli")
        aws("s3api", "put-bucket-policy", "--bucket", "awscli", "--policy", f"file://{doc}")
        aws("s3", "cp", small, "s3://awscli/public/small")
        check(curl(site, "/awscli/public/small", work) == (200, sha256_file(small)), "public/* not readable by anyone")
        check(curl(site, "/awscli/objects/small", work)[0] == 403, "the rest of the bucket is not private")
        status = aws("s3api", "get-bucket-policy-status", "--bucket", "awscli")
        check('"IsPublic": true' in status, f"policy status: {status}")
        aws("s3api", "delete-bucket-policy", "--bucket", "awscli")
        check(curl(site, "/awscli/public/small", work)[0] == 403, "still public after the policy was deleted")
        aws("s3", "rm", "s3://awscli/public/small")
    r.run("aws-cli: a bucket policy makes public/* readable by anyone, the rest private", policy)

    def rm_rb():
        aws("s3", "rm", "--recursive", "s3://awscli/")
        check(aws("s3", "ls", "--recursive", "s3://awscli/").strip() == "", "objects left after rm")
        aws("s3", "rb", "s3://awscli")
        check("awscli" not in aws("s3", "ls"), "bucket still listed after rb")
    r.run("aws-cli: rm and rb", rm_rb)


# ---------------------------------------------------------------- s3cmd

def s3cmd_scenarios(r, site, work, files):
    cfg = os.path.join(work, "s3cmd.cfg")
    host = f"127.0.0.1:{site.s3_port}"
    with open(cfg, "w") as f:
        f.write(f"[default]\naccess_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\nhost_base = {host}\n"
                f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n")

    def s3cmd(*args):
        return sh([os.path.join(VENV_BIN, "python"), os.path.join(VENV_BIN, "s3cmd"), "-c", cfg, "--no-progress", *args])

    r.run("s3cmd: mb", lambda: s3cmd("mb", "s3://s3cmd-bucket"))
    for label, path in files:
        def put_get(label=label, path=path):
            s3cmd("put", path, f"s3://s3cmd-bucket/objects/{label}")
            back = os.path.join(work, f"s3cmd-back-{label}")
            s3cmd("get", "--force", f"s3://s3cmd-bucket/objects/{label}", back)
            check(sha256_file(back) == sha256_file(path), f"{label} differs after round trip")
            os.remove(back)
        r.run(f"s3cmd: put+get {label}", put_get)

    def ls():
        out = s3cmd("ls", "s3://s3cmd-bucket/objects/")
        for label, _ in files:
            check(f"objects/{label}" in out, f"{label} missing from ls: {out}")
        check("DIR" in s3cmd("ls", "s3://s3cmd-bucket/") and "objects/" in s3cmd("ls", "s3://s3cmd-bucket/"), "prefix missing")
    r.run("s3cmd: ls with prefixes", ls)

    def signurl():
        url = s3cmd("signurl", "s3://s3cmd-bucket/objects/small", "+300").strip()
        out = os.path.join(work, "s3cmd-presigned")
        sh(["curl", "-sSf", "-o", out, url])
        check(sha256_file(out) == sha256_file(files[0][1]), "presigned GET returned other bytes")
    r.run("s3cmd: signurl (SigV2) GET with curl", signurl)

    def public():
        small = files[0][1]
        want = (200, sha256_file(small))
        out = s3cmd("put", "-P", small, "s3://s3cmd-bucket/pub")
        check("Public URL" in out, f"s3cmd put -P printed no public URL: {out}")
        check(curl(site, "/s3cmd-bucket/pub", work) == want, "put -P object not served to curl")
        s3cmd("setacl", "--acl-private", "s3://s3cmd-bucket/pub")
        check(curl(site, "/s3cmd-bucket/pub", work)[0] == 403, "served after setacl --acl-private")
        s3cmd("setacl", "--acl-public", "s3://s3cmd-bucket/pub")
        check(curl(site, "/s3cmd-bucket/pub", work) == want, "not served after setacl --acl-public")
        info = s3cmd("info", "s3://s3cmd-bucket/pub")
        check("*anon*: READ" in info, f"s3cmd info shows no public grant: {info}")
        s3cmd("del", "s3://s3cmd-bucket/pub")
    r.run("s3cmd: put -P and setacl, then an anonymous curl", public)

    def non_ascii_metadata():
        import email.header
        s3cmd("put", "--add-header=x-amz-meta-drink:café", files[0][1], "s3://s3cmd-bucket/meta")
        line = [l for l in s3cmd("info", "s3://s3cmd-bucket/meta").splitlines() if "x-amz-meta-drink" in l]
        check(line, "metadata missing from s3cmd info")
        value = line[0].split(":", 1)[1].strip()
        # S3 returns non-ASCII metadata as an RFC 2047 encoded word, not as raw bytes a
        # Python client would read as ISO-8859-1 ("cafÃ©").
        raw, charset = email.header.decode_header(value)[0]
        check(charset is not None and raw.decode(charset) == "café", f"s3cmd info shows {value!r}")
        s3cmd("del", "s3://s3cmd-bucket/meta")
    r.run("s3cmd: non-ASCII metadata comes back as the text sent", non_ascii_metadata)

    def rm_rb():
        for label, _ in files:
            s3cmd("del", f"s3://s3cmd-bucket/objects/{label}")
        check(s3cmd("ls", "--recursive", "s3://s3cmd-bucket/").strip() == "", "objects left after del")
        s3cmd("rb", "s3://s3cmd-bucket")
        check("s3cmd-bucket" not in s3cmd("ls"), "bucket still listed after rb")
    r.run("s3cmd: del and rb", rm_rb)


# ---------------------------------------------------------------- boto3

def boto3_scenarios(r, site, work, files):
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3", endpoint_url=site.endpoint, aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    r.run("boto3: create_bucket", lambda: s3.create_bucket(Bucket="boto3-bucket"))
    for label, path in files:
        def put_get(label=label, path=path):
            s3.upload_file(path, "boto3-bucket", f"objects/{label}")
            back = os.path.join(work, f"boto3-back-{label}")
            s3.download_file("boto3-bucket", f"objects/{label}", back)
            check(sha256_file(back) == sha256_file(path), f"{label} differs after round trip")
            os.remove(back)
        r.run(f"boto3: upload_file+download_file {label}", put_get)

    def put_get_object():
        body = os.urandom(100_000)
        s3.put_object(Bucket="boto3-bucket", Key="direct/a b+c", Body=body, Metadata={"k": "v"}, ContentType="text/x")
        got = s3.get_object(Bucket="boto3-bucket", Key="direct/a b+c")
        check(got["Body"].read() == body, "put_object bytes differ")
        check(got["Metadata"] == {"k": "v"} and got["ContentType"] == "text/x", f"headers: {got['Metadata']}")
        part = s3.get_object(Bucket="boto3-bucket", Key="direct/a b+c", Range="bytes=10-19")["Body"].read()
        check(part == body[10:20], "range read differs")
    r.run("boto3: put_object/get_object with metadata and range", put_get_object)

    def listing():
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="boto3-bucket", Prefix="objects/", PaginationConfig={"PageSize": 1})
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
        check(keys == sorted(f"objects/{l}" for l, _ in files), f"paginated keys: {keys}")
        top = s3.list_objects_v2(Bucket="boto3-bucket", Delimiter="/")
        check([p["Prefix"] for p in top.get("CommonPrefixes", [])] == ["direct/", "objects/"], f"prefixes: {top}")
        # botocore asks for encoding-type=url on its own and decodes the answer.
        v1 = s3.list_objects(Bucket="boto3-bucket", Prefix="direct/")
        check([o["Key"] for o in v1["Contents"]] == ["direct/a b+c"], f"url-decoded keys: {v1['Contents']}")
    r.run("boto3: list_objects_v2 pagination, delimiter, encoding-type", listing)

    def presigned():
        # boto3's default for S3 presigned URLs is still Signature Version 2.
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto3-bucket", "Key": "objects/small"}, ExpiresIn=300)
        out = os.path.join(work, "boto3-presigned")
        sh(["curl", "-sSf", "-o", out, url])
        check(sha256_file(out) == sha256_file(files[0][1]), "presigned GET returned other bytes")
    r.run("boto3: presigned GET with curl", presigned)

    def errors():
        for call, want in [
            (lambda: s3.get_object(Bucket="boto3-bucket", Key="missing"), "NoSuchKey"),
            (lambda: s3.get_object(Bucket="no-such-bucket", Key="k"), "NoSuchBucket"),
            (lambda: s3.delete_bucket(Bucket="boto3-bucket"), "BucketNotEmpty"),
        ]:
            try:
                call()
                raise AssertionError(f"expected {want}")
            except ClientError as e:
                check(e.response["Error"]["Code"] == want, f"got {e.response['Error']['Code']}, want {want}")
    r.run("boto3: error codes", errors)

    def access():
        import urllib.error
        import urllib.request

        def anonymous(key):
            try:
                with urllib.request.urlopen(f"{site.endpoint}/boto3-bucket/{key}") as resp:
                    return resp.status, resp.read()
            except urllib.error.HTTPError as e:
                return e.code, None
        s3.put_object(Bucket="boto3-bucket", Key="acl/public", Body=b"for everyone", ACL="public-read")
        s3.put_object(Bucket="boto3-bucket", Key="acl/private", Body=b"for the owner")
        check(anonymous("acl/public") == (200, b"for everyone"), "public-read object not served")
        check(anonymous("acl/private")[0] == 403, "private object served")
        grants = s3.get_object_acl(Bucket="boto3-bucket", Key="acl/public")["Grants"]
        check({"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"} in [g["Grantee"] for g in grants],
              f"grants: {grants}")
        # A second user reads the bucket through a policy, and may not write.
        subprocess.run([site.binary, "admin", "--config", site.config, "user", "create", "reader",
                        "--access-key", "READERACCESSKEY00001", "--secret-key", "reader-secret-000000000000000000001"],
                       check=True, stdout=subprocess.DEVNULL)
        reader = boto3.client("s3", endpoint_url=site.endpoint, aws_access_key_id="READERACCESSKEY00001",
                              aws_secret_access_key="reader-secret-000000000000000000001", region_name="us-east-1")
        try:
            reader.get_object(Bucket="boto3-bucket", Key="acl/private")
            raise AssertionError("the second user read a private object before any policy")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "AccessDenied", f"got {e.response['Error']['Code']}")
        s3.put_bucket_policy(Bucket="boto3-bucket", Policy="""{"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/reader"},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::boto3-bucket", "arn:aws:s3:::boto3-bucket/*"]}]}""")
        check(reader.get_object(Bucket="boto3-bucket", Key="acl/private")["Body"].read() == b"for the owner",
              "the second user cannot read through the policy")
        keys = [o["Key"] for o in reader.list_objects_v2(Bucket="boto3-bucket", Prefix="acl/")["Contents"]]
        check(keys == ["acl/private", "acl/public"], f"the second user lists {keys}")
        try:
            reader.put_object(Bucket="boto3-bucket", Key="acl/x", Body=b"x")
            raise AssertionError("the second user wrote without permission")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "AccessDenied", f"got {e.response['Error']['Code']}")
        s3.delete_bucket_policy(Bucket="boto3-bucket")
    r.run("boto3: public-read object for anyone, a second user reading through a policy", access)

    def cleanup():
        for o in s3.list_objects_v2(Bucket="boto3-bucket").get("Contents", []):
            s3.delete_object(Bucket="boto3-bucket", Key=o["Key"])
        s3.delete_bucket(Bucket="boto3-bucket")
        check("boto3-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]], "bucket still listed")
    r.run("boto3: delete objects and bucket", cleanup)


# ---------------------------------------------------------------- rclone

def rclone_scenarios(r, site, work, big):
    env = dict(os.environ, RCLONE_CONFIG_STRATA_TYPE="s3", RCLONE_CONFIG_STRATA_PROVIDER="Other",
               RCLONE_CONFIG_STRATA_ACCESS_KEY_ID=ACCESS_KEY, RCLONE_CONFIG_STRATA_SECRET_ACCESS_KEY=SECRET_KEY,
               RCLONE_CONFIG_STRATA_ENDPOINT=site.endpoint, RCLONE_CONFIG_STRATA_REGION="us-east-1",
               RCLONE_CONFIG=os.path.join(work, "rclone.conf"))

    def rclone(*args):
        return sh(["rclone", "--transfers", "8", "--checkers", "8", "-q", *args], env)

    tree = os.path.join(work, "rclone-tree")

    def sync_up_and_down():
        for i in range(1000):
            d = os.path.join(tree, f"d{i % 10}", f"e{i % 4}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"f{i:04}.bin"), "wb") as f:
                f.write(hashlib.sha256(str(i).encode()).digest() * (1 + i % 64))
        rclone("mkdir", "strata:rclone-bucket")
        rclone("sync", tree, "strata:rclone-bucket/tree")
        rclone("check", tree, "strata:rclone-bucket/tree")
        down = os.path.join(work, "rclone-down")
        rclone("sync", "strata:rclone-bucket/tree", down)
        count = 0
        for root, _, names in os.walk(tree):
            for n in names:
                a = os.path.join(root, n)
                b = os.path.join(down, os.path.relpath(a, tree))
                check(os.path.exists(b) and sha256_file(a) == sha256_file(b), f"{b} differs")
                count += 1
        check(count == 1000, f"{count} files compared")
        # A change on one side is found by check, then repaired by sync.
        with open(os.path.join(tree, "d0", "e0", "f0000.bin"), "ab") as f:
            f.write(b"changed")
        try:
            rclone("check", tree, "strata:rclone-bucket/tree")
            raise AssertionError("rclone check missed a changed file")
        except AssertionError as e:
            check("exited" in str(e), str(e))
        rclone("sync", tree, "strata:rclone-bucket/tree")
        rclone("check", tree, "strata:rclone-bucket/tree")
        shutil.rmtree(down)
    r.run("rclone: sync of a 1000-file tree up and back, check", sync_up_and_down)

    def copy_big():
        rclone("copy", big, "strata:rclone-bucket/big")
        rclone("check", os.path.dirname(big), "strata:rclone-bucket/big", "--include", os.path.basename(big))
        back = os.path.join(work, "rclone-big-back")
        rclone("copyto", f"strata:rclone-bucket/big/{os.path.basename(big)}", back)
        check(sha256_file(back) == sha256_file(big), "big file differs after round trip")
        os.remove(back)
    r.run(f"rclone: copy of a {os.path.getsize(big) >> 20} MiB file", copy_big)

    def server_side_copy_and_purge():
        rclone("copyto", "strata:rclone-bucket/tree/d1/e1/f0001.bin", "strata:rclone-bucket/moved/one.bin")
        back = os.path.join(work, "rclone-moved")
        rclone("copyto", "strata:rclone-bucket/moved/one.bin", back)
        check(sha256_file(back) == sha256_file(os.path.join(tree, "d1", "e1", "f0001.bin")), "server-side copy differs")
        rclone("purge", "strata:rclone-bucket")
        check("rclone-bucket" not in rclone("lsd", "strata:"), "bucket left after purge")
    r.run("rclone: server-side copy and purge", server_side_copy_and_purge)


def boto3_surface_scenarios(r, site):
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3", endpoint_url=site.endpoint, aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    s3.create_bucket(Bucket="boto3-more")

    def code_of(call):
        try:
            call()
        except ClientError as e:
            return e.response["Error"]["Code"]
        return None

    def copy():
        body = os.urandom(50_000)
        s3.put_object(Bucket="boto3-more", Key="src", Body=body, Metadata={"a": "1"})
        s3.copy_object(Bucket="boto3-more", Key="dst", CopySource={"Bucket": "boto3-more", "Key": "src"})
        check(s3.get_object(Bucket="boto3-more", Key="dst")["Body"].read() == body, "copy bytes differ")
        s3.copy_object(Bucket="boto3-more", Key="src", CopySource="boto3-more/src", MetadataDirective="REPLACE",
                       Metadata={"b": "2"})
        check(s3.head_object(Bucket="boto3-more", Key="src")["Metadata"] == {"b": "2"}, "metadata not replaced")
        s3.copy({"Bucket": "boto3-more", "Key": "src"}, "boto3-more", "managed-copy")  # the transfer manager
        check(s3.get_object(Bucket="boto3-more", Key="managed-copy")["Body"].read() == body, "managed copy differs")
    r.run("boto3: copy_object (COPY, REPLACE onto itself) and managed copy", copy)

    def conditional():
        etag = s3.put_object(Bucket="boto3-more", Key="c", Body=b"1")["ETag"]
        check(code_of(lambda: s3.get_object(Bucket="boto3-more", Key="c", IfMatch='"x"')) == "PreconditionFailed", "If-Match")
        check(code_of(lambda: s3.get_object(Bucket="boto3-more", Key="c", IfNoneMatch=etag)) == "304", "If-None-Match")
        check(code_of(lambda: s3.put_object(Bucket="boto3-more", Key="c", Body=b"2", IfNoneMatch="*")) == "PreconditionFailed",
              "conditional put")
        check(s3.get_object(Bucket="boto3-more", Key="c")["Body"].read() == b"1", "conditional put wrote")
    r.run("boto3: conditional get and put", conditional)

    def tagging():
        s3.put_object(Bucket="boto3-more", Key="t", Body=b"x", Tagging="k=v")
        check(s3.get_object_tagging(Bucket="boto3-more", Key="t")["TagSet"] == [{"Key": "k", "Value": "v"}], "tags")
        s3.put_object_tagging(Bucket="boto3-more", Key="t", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
        check(s3.get_object_tagging(Bucket="boto3-more", Key="t")["TagSet"] == [{"Key": "a", "Value": "b"}], "retag")
        s3.put_bucket_tagging(Bucket="boto3-more", Tagging={"TagSet": [{"Key": "team", "Value": "x"}]})
        check(s3.get_bucket_tagging(Bucket="boto3-more")["TagSet"][0]["Key"] == "team", "bucket tags")
    r.run("boto3: object and bucket tagging", tagging)

    def batch_delete():
        for i in range(50):
            s3.put_object(Bucket="boto3-more", Key=f"batch/{i}", Body=b"x")
        keys = [{"Key": f"batch/{i}"} for i in range(50)]
        out = s3.delete_objects(Bucket="boto3-more", Delete={"Objects": keys})
        check(len(out["Deleted"]) == 50 and not out.get("Errors"), f"delete_objects: {out}")
        check(s3.list_objects_v2(Bucket="boto3-more", Prefix="batch/")["KeyCount"] == 0, "keys left")
        # The cleanup many test suites run: versions, then a batch delete, then the bucket.
        versions = s3.list_object_versions(Bucket="boto3-more").get("Versions", [])
        s3.delete_objects(Bucket="boto3-more", Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]})
        s3.delete_bucket(Bucket="boto3-more")
    r.run("boto3: delete_objects and versioned-style cleanup", batch_delete)

    def versions_paginator():
        # 2 500 versions of 30 keys, delete markers among them, walked by boto3's own
        # paginator in pages of 100: every version and marker exactly once, in order.
        s3.create_bucket(Bucket="boto3-versions")
        s3.put_bucket_versioning(Bucket="boto3-versions", VersioningConfiguration={"Status": "Enabled"})
        check(s3.get_bucket_versioning(Bucket="boto3-versions")["Status"] == "Enabled", "versioning status")
        made = []
        for i in range(2500):
            key = f"key-{i % 30:02d}"
            if i % 11 == 10:
                out = s3.delete_object(Bucket="boto3-versions", Key=key)
                check(out.get("DeleteMarker") is True, f"no delete marker: {out}")
            else:
                out = s3.put_object(Bucket="boto3-versions", Key=key, Body=f"{i}".encode())
            made.append((key, out["VersionId"]))
        seen, latest = [], {}
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket="boto3-versions", PaginationConfig={"PageSize": 100})
        for page in pages:
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                seen.append((v["Key"], v["VersionId"]))
                if v["IsLatest"]:
                    check(v["Key"] not in latest, f"two latest versions of {v['Key']}")
                    latest[v["Key"]] = v["VersionId"]
        check(len(seen) == len(set(seen)) == 2500, f"{len(seen)} listed, {len(set(seen))} distinct")
        check(set(seen) == set(made), "the listed versions are not the ones written")
        newest = {}
        for key, vid in made:
            newest[key] = vid
        check(latest == newest, "IsLatest is not the newest version of each key")
        # A version reads back by id; the bucket empties by version id.
        key, vid = next(m for i, m in enumerate(made) if i % 11 != 10)
        body = s3.get_object(Bucket="boto3-versions", Key=key, VersionId=vid)["Body"].read()
        check(body == str(made.index((key, vid))).encode(), "a version read by id differs")
        for start in range(0, 2500, 1000):
            batch = [{"Key": k, "VersionId": v} for k, v in made[start:start + 1000]]
            out = s3.delete_objects(Bucket="boto3-versions", Delete={"Objects": batch, "Quiet": True})
            check(not out.get("Errors"), f"delete_objects: {out.get('Errors')}")
        s3.delete_bucket(Bucket="boto3-versions")
    r.run("boto3: list_object_versions paginator over 2 500 versions of 30 keys", versions_paginator)


# ---------------------------------------------------------------- TLS

def tls_scenarios(r, binary, work, small):
    """aws-cli and boto3 over TLS against `strata dev --tls`, trusting its CA: what one
    site takes over https, the other serves over https (replication is mutual TLS)."""
    import boto3

    base = free_port()
    for extra in (1, 2, 10, 11, 12):  # the ports strata dev uses beside the first
        port_ok = False
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", base + extra))
            port_ok = True
        except OSError:
            pass
        if not port_ok:
            r.run("TLS: strata dev --tls ports free", lambda: check(False, f"port {base + extra} taken"))
            return
    dev_dir = os.path.join(work, "dev-tls")
    proc = subprocess.Popen([binary, "dev", "--tls", "--dir", dev_dir, "--port", str(base)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        fields = {}
        for line in proc.stdout:
            if ":" in line and line.strip().split(":")[0] in ("access key", "secret key"):
                k, v = line.strip().split(":", 1)
                fields[k] = v.strip()
            if len(fields) == 2:
                break
        ca = os.path.join(dev_dir, "ca.pem")
        a, b = f"https://127.0.0.1:{base}", f"https://127.0.0.1:{base + 10}"
        env = dict(os.environ, AWS_ACCESS_KEY_ID=fields["access key"], AWS_SECRET_ACCESS_KEY=fields["secret key"],
                   AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

        def aws(endpoint, *args):
            return sh([os.path.join(VENV_BIN, "aws"), "--endpoint-url", endpoint, "--ca-bundle", ca, *args], env)

        def aws_cli():
            aws(a, "s3", "mb", "s3://tls-demo")
            aws(a, "s3", "cp", small, "s3://tls-demo/small", "--only-show-errors")
            back = os.path.join(work, "tls-back")
            deadline = time.time() + 30
            while True:
                try:
                    aws(b, "s3", "cp", "s3://tls-demo/small", back, "--only-show-errors")
                    break
                except AssertionError:
                    check(time.time() < deadline, "site-b never served the object over TLS")
                    time.sleep(0.3)
            check(sha256_file(back) == sha256_file(small), "bytes differ over TLS")
        r.run("TLS: aws-cli --ca-bundle writes to one site and reads from the other", aws_cli)

        def boto3_tls():
            s3 = boto3.client("s3", endpoint_url=b, aws_access_key_id=fields["access key"],
                              aws_secret_access_key=fields["secret key"], region_name="us-east-1", verify=ca)
            s3.put_object(Bucket="tls-demo", Key="from-boto3", Body=b"boto3 over TLS")
            check(s3.get_object(Bucket="tls-demo", Key="from-boto3")["Body"].read() == b"boto3 over TLS", "boto3 read")
            untrusted = boto3.client("s3", endpoint_url=b, aws_access_key_id=fields["access key"],
                                     aws_secret_access_key=fields["secret key"], region_name="us-east-1")
            try:
                untrusted.list_buckets()
                raise AssertionError("a client that does not trust the dev CA got an answer")
            except Exception as e:  # noqa: BLE001 - botocore raises SSLError wrapped in its own types
                check("SSL" in type(e).__name__ or "certificate" in str(e).lower(), f"refused how? {e!r}")
        r.run("TLS: boto3 with verify=<dev CA>, and refused without it", boto3_tls)
    finally:
        proc.kill()
        proc.wait()


def boto3_client(site):
    import boto3
    return boto3.client("s3", endpoint_url=site.endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--large-mib", type=int, default=200)
    ap.add_argument("--rclone-mib", type=int, default=300)
    ap.add_argument("--ceph-conf", help="run the site as gateways over this Ceph cluster")
    ap.add_argument("--gateways", type=int, default=3)
    args = ap.parse_args()
    # Every client runs with its defaults: nothing from the host's AWS settings (a CA
    # bundle, a profile, a region) may leak in.
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    work = tempfile.mkdtemp(prefix="strata-compat-")
    if args.ceph_conf:
        site = Site(os.path.abspath(args.binary), work, os.path.abspath(args.ceph_conf), args.gateways)
        print(f"site: {args.gateways} gateways over {args.ceph_conf}, round robin per connection", flush=True)
    else:
        site = Site(os.path.abspath(args.binary), work)
    files = [
        ("small", make_file(os.path.join(work, "small"), 1000, 1)),
        ("20mib", make_file(os.path.join(work, "20mib"), 20 << 20, 2)),
        (f"large-{args.large_mib}mib", make_file(os.path.join(work, "large"), args.large_mib << 20, 3)),
    ]
    r = Runner()
    try:
        aws_scenarios(r, site, work, files)
        s3cmd_scenarios(r, site, work, files)
        boto3_scenarios(r, site, work, files)
        boto3_surface_scenarios(r, site)
        operation_scenarios(r, site, os.path.join(HERE, "..", "docs", "s3-compatibility.md"), lambda: boto3_client(site))
        rclone_scenarios(r, site, work, make_file(os.path.join(work, "rclone-300mib"), args.rclone_mib << 20, 4))
        if not args.ceph_conf:
            # `strata dev --tls` makes sites of its own, on their data disks.
            tls_scenarios(r, os.path.abspath(args.binary), work, files[0][1])
    finally:
        site.stop()
    if r.failed:
        print("server logs:\n" + site.logs())
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"s3-compat: {r.passed} passed, {len(r.failed)} failed")
    sys.exit(1 if r.failed else 0)


if __name__ == "__main__":
    main()
