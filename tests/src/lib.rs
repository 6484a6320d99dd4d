//! Test harness: starts real `strata` processes on loopback ports and hands out clients.
//! A `Site` is killed when dropped; its data directory lives as long as it does.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::Client;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "STRATATESTKEY0000001";
pub const SECRET_KEY: &str = "strata-test-secret-0000000000000000000001";

/// The `strata` binary cargo built next to this test (target/<profile>/strata).
pub fn strata_bin() -> PathBuf {
    if let Ok(p) = std::env::var("STRATA_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let bin = dir.join("strata");
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build -p strata-gateway` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Ports handed to test sites come from below the kernel's ephemeral range, so no
/// client socket and no `bind(:0)` can take one between the moment it is chosen and the
/// moment the site binds it (or binds it again after a restart). Test processes share
/// the range by a lock file per port, held until the process exits (a crash drops it).
const PORTS: std::ops::Range<u16> = 20_000..32_000;

static RESERVED: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());

fn free_port() -> u16 {
    reserve_ports(&[0])
}

/// Reserves the ports `base + offset` for every offset (all free, none held by another
/// test process) and returns `base`. They stay reserved until this process exits.
pub fn reserve_ports(offsets: &[u16]) -> u16 {
    let dir = std::env::temp_dir().join("strata-test-ports");
    std::fs::create_dir_all(&dir).unwrap();
    let reach = offsets.iter().copied().max().unwrap_or(0);
    let span = (PORTS.end - PORTS.start - reach) as u32;
    let start = rand::random::<u32>() % span;
    'base: for i in 0..span {
        let base = PORTS.start + ((start + i) % span) as u16;
        let mut locks = Vec::new();
        for o in offsets {
            let port = base + o;
            let Ok(lock) = std::fs::File::create(dir.join(port.to_string())) else {
                continue 'base;
            };
            // Held by another test process, or something outside the tests listens.
            if lock.try_lock().is_err() || TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue 'base;
            }
            locks.push(lock);
        }
        RESERVED.lock().unwrap_or_else(|e| e.into_inner()).extend(locks);
        return base;
    }
    panic!("no free ports left in {PORTS:?}");
}

/// A one-host Ceph cluster of its own (scripts/ceph-cluster.sh: memstore, no auth) in
/// a temporary directory, stopped when dropped.
pub struct Ceph {
    dir: tempfile::TempDir,
    /// Its ceph.conf.
    pub conf: PathBuf,
}

const CEPH_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/ceph-cluster.sh");

impl Ceph {
    pub fn start() -> Ceph {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(CEPH_SCRIPT).arg("start").arg(dir.path()).output().unwrap();
        assert!(
            out.status.success(),
            "the test cluster did not start (is Ceph installed? scripts/install-ceph.sh): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ceph { dir, conf }
    }

    /// The `[store]` section of a gateway over this cluster, keeping its data in the
    /// pools `<prefix>-data` and `<prefix>-meta`: gateways with one prefix are one site.
    pub fn store_section(&self, prefix: &str) -> String {
        rados_store_section(&self.conf.to_string_lossy(), prefix, None)
    }

    /// The names of the objects in `pool` (`rados ls`), sorted.
    pub fn objects(&self, pool: &str) -> Vec<String> {
        let out = rados(&self.conf.to_string_lossy(), pool, None, &["ls"]);
        assert!(
            out.status.success(),
            "rados ls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }
}

/// The `[store]` section of a site over the cluster `conf` (its ceph.conf), with its
/// data in the pools `<pools>-data` and `<pools>-meta`, in `namespace` if given.
fn rados_store_section(conf: &str, pools: &str, namespace: Option<&str>) -> String {
    let namespace = namespace.map_or(String::new(), |ns| format!("namespace = \"{ns}\"\n"));
    format!(
        "[store]\nengine = \"rados\"\nceph_conf = \"{conf}\"\ndata_pool = \"{pools}-data\"\nmeta_pool = \"{pools}-meta\"\n{namespace}"
    )
}

/// `rados ARGS` on `pool` (in `namespace`, if given) of the cluster `conf`.
fn rados(conf: &str, pool: &str, namespace: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("rados");
    cmd.args(["-c", conf, "-p", pool]);
    if let Some(ns) = namespace {
        cmd.args(["-N", ns]);
    }
    cmd.args(args).output().unwrap()
}

impl Drop for Ceph {
    fn drop(&mut self) {
        let _ = Command::new(CEPH_SCRIPT).arg("stop").arg(self.dir.path()).status();
    }
}

pub struct Site {
    pub dir: tempfile::TempDir,
    pub s3: SocketAddr,
    pub admin: SocketAddr,
    /// The replication port, when the site replicates.
    pub repl: Option<SocketAddr>,
    pub name: String,
    pub config: PathBuf,
    data: PathBuf,
    child: Option<Child>,
    /// Environment the process starts with (a clock that runs ahead, say).
    env: Vec<(String, String)>,
}

/// The replication credential every test site shares.
pub const REPL_ACCESS_KEY: &str = "strata-test-repl";
pub const REPL_SECRET_KEY: &str = "strata-test-repl-secret-000000001";

/// Knobs a test may turn in the site's config.
#[derive(Clone)]
pub struct SiteOptions {
    pub block_size: u32,
    pub gc_grace_secs: u64,
    pub gc_interval_secs: u64,
    pub name: String,
    /// Adds a `[repl]` section with this secret (and [`REPL_ACCESS_KEY`]).
    pub repl_secret: Option<String>,
    pub realtime_max_bytes: u64,
    pub fullsync_interval: u64,
    pub fullsync_max_bytes_per_sec: u64,
    /// `reserve_bytes`: free space kept for metadata (small by default, so that tests
    /// run on a nearly full disk too).
    pub reserve_bytes: u64,
    /// Where the data directory is, if not inside the site's temporary directory (a
    /// small filesystem, for the full-disk tests).
    pub data_dir: Option<PathBuf>,
    /// Lines added at the top level (before any section), and to the `[s3]` and
    /// `[repl]` sections (TLS settings).
    pub top_extra: String,
    pub s3_extra: String,
    pub repl_extra: String,
    /// Environment variables the site's process starts with.
    pub env: Vec<(String, String)>,
    /// `lifecycle_day_secs`: a lifecycle day, shortened for lifecycle tests.
    pub lifecycle_day_secs: u64,
}

impl SiteOptions {
    /// A site that replicates, named `name`, with the shared test credential.
    pub fn replicating(name: &str) -> SiteOptions {
        SiteOptions {
            name: name.into(),
            repl_secret: Some(REPL_SECRET_KEY.into()),
            ..SiteOptions::default()
        }
    }
}

/// With `STRATA_TEST_CEPH_CONF` set (a running cluster's ceph.conf), a `[store]`
/// section putting the site on that cluster, in a RADOS namespace of its own: so the
/// same tests run against a site over RADOS (scripts/test.sh does, for the S3 suite).
fn rados_from_env() -> String {
    let Ok(conf) = std::env::var("STRATA_TEST_CEPH_CONF") else {
        return String::new();
    };
    let namespace = format!("site-{:016x}", rand::random::<u64>());
    rados_store_section(&conf, "strata-test", Some(&namespace))
}

impl Default for SiteOptions {
    fn default() -> Self {
        // Small blocks so that modest objects span many blocks.
        SiteOptions {
            block_size: 64 * 1024,
            gc_grace_secs: 3600,
            gc_interval_secs: 3600,
            name: "test".into(),
            repl_secret: None,
            realtime_max_bytes: 256 << 20,
            fullsync_interval: 21600,
            fullsync_max_bytes_per_sec: 0,
            reserve_bytes: 1 << 20,
            data_dir: None,
            top_extra: rados_from_env(),
            s3_extra: String::new(),
            repl_extra: String::new(),
            env: Vec::new(),
            lifecycle_day_secs: 86_400,
        }
    }
}

impl Site {
    /// Starts a site with a user whose keys are [`ACCESS_KEY`] / [`SECRET_KEY`].
    pub fn start() -> Site {
        Self::start_with(SiteOptions::default())
    }

    pub fn start_with(o: SiteOptions) -> Site {
        let site = Self::start_bare(o);
        let out = site.admin_cmd(&[
            "user",
            "create",
            "tester",
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        ]);
        assert!(out.contains(ACCESS_KEY), "user create printed: {out}");
        site
    }

    /// Starts a site's process and creates nothing in it: another gateway of a site
    /// over Ceph, whose users are the cluster's.
    pub fn start_bare(o: SiteOptions) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let (s3, admin) = (free_port(), free_port());
        let config = dir.path().join("strata.toml");
        let data_dir = o.data_dir.clone().unwrap_or_else(|| "data".into());
        let mut text = format!(
            "site_name = \"{}\"\ndata_dir = \"{}\"\nblock_size = {}\nreserve_bytes = {}\nlifecycle_day_secs = {}\n{}[s3]\nlisten = \"127.0.0.1:{s3}\"\nroot_domain = \"localhost\"\n{}[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = \"test-admin-token-0123456789\"\n[gc]\ngrace_secs = {}\ninterval_secs = {}\n",
            o.name,
            data_dir.display(),
            o.block_size,
            o.reserve_bytes,
            o.lifecycle_day_secs,
            o.top_extra,
            o.s3_extra,
            o.gc_grace_secs,
            o.gc_interval_secs
        );
        let repl = o.repl_secret.as_ref().map(|secret| {
            let port = free_port();
            text.push_str(&format!(
                "[repl]\nlisten = \"127.0.0.1:{port}\"\naccess_key = \"{REPL_ACCESS_KEY}\"\nsecret_key = \"{secret}\"\nrealtime_max_bytes = {}\nfullsync_interval = {}\nfullsync_max_bytes_per_sec = {}\n{}",
                o.realtime_max_bytes, o.fullsync_interval, o.fullsync_max_bytes_per_sec, o.repl_extra
            ));
            format!("127.0.0.1:{port}").parse().unwrap()
        });
        std::fs::write(&config, text).unwrap();
        let data_path = o.data_dir.clone().unwrap_or_else(|| dir.path().join("data"));
        let mut site = Site {
            dir,
            s3: format!("127.0.0.1:{s3}").parse().unwrap(),
            admin: format!("127.0.0.1:{admin}").parse().unwrap(),
            repl,
            name: o.name.clone(),
            data: data_path,
            config,
            child: None,
            env: o.env.clone(),
        };
        site.launch();
        site
    }

    /// A started site with one bucket, and a client for it.
    pub async fn start_with_bucket(bucket: &str) -> (Site, Client) {
        let site = Site::start();
        let c = site.client();
        c.create_bucket().bucket(bucket).send().await.unwrap();
        (site, c)
    }

    /// Starts the process and waits until both listeners answer.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("strata.log"))
            .unwrap();
        let child = Command::new(strata_bin())
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("STRATA_LOG", "info")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn strata");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let up = |a: Option<SocketAddr>| a.is_none_or(|a| TcpStream::connect(a).is_ok());
        while !up(Some(self.s3)) || !up(Some(self.admin)) || !up(self.repl) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("strata exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "strata did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("strata.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    /// Number of block files on disk.
    /// For a site over Ceph, `rados` run on its data pool (and namespace) with `args`,
    /// which must succeed; None for a site on its data disk.
    fn rados(&self, args: &[&str]) -> Option<Vec<u8>> {
        let out = self.try_rados(args)?;
        assert!(
            out.status.success(),
            "rados {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(out.stdout)
    }

    fn try_rados(&self, args: &[&str]) -> Option<std::process::Output> {
        let config = std::fs::read_to_string(&self.config).unwrap();
        let value = |key: &str| {
            config.lines().find_map(|l| {
                l.strip_prefix(key)?
                    .trim_start()
                    .strip_prefix('=')
                    .map(|v| v.trim().trim_matches('"').to_owned())
            })
        };
        if value("engine").as_deref() != Some("rados") {
            return None;
        }
        let (conf, pool) = (
            value("ceph_conf").unwrap(),
            value("data_pool").unwrap_or("strata-data".into()),
        );
        Some(rados(&conf, &pool, value("namespace").as_deref(), args))
    }

    /// A block as the site stores it now, if it does.
    pub fn stored_block(&self, block: &[u8]) -> Option<Vec<u8>> {
        let hex = sha256_hex(block);
        let copy = self.dir.path().join(format!("stored-{hex}"));
        match self.try_rados(&["get", &hex, &copy.to_string_lossy()]) {
            Some(out) => out.status.success().then(|| std::fs::read(&copy).unwrap()),
            None => std::fs::read(self.block_file(block)).ok(),
        }
    }

    /// Removes a stored block behind the site's back (a lost disk sector, an operator's
    /// mistake): its file, or its RADOS object.
    pub fn lose_block(&self, block: &[u8]) {
        if self.rados(&["rm", &sha256_hex(block)]).is_none() {
            std::fs::remove_file(self.block_file(block)).unwrap();
        }
    }

    /// Flips a bit of a stored block behind the site's back, at `offset`.
    pub fn damage_block(&self, block: &[u8], offset: usize) {
        let mut bytes = block.to_vec();
        bytes[offset] ^= 1;
        let hex = sha256_hex(block);
        let copy = self.dir.path().join(format!("damaged-{hex}"));
        std::fs::write(&copy, &bytes).unwrap();
        if self.rados(&["put", &hex, &copy.to_string_lossy()]).is_none() {
            std::fs::write(self.block_file(block), &bytes).unwrap();
        }
    }

    /// How many blocks the site stores: files on its data disk, or objects in its RADOS
    /// data pool (and namespace) for a site over Ceph.
    pub fn block_files(&self) -> usize {
        if let Some(out) = self.rados(&["ls"]) {
            return String::from_utf8_lossy(&out).lines().count();
        }
        let mut n = 0;
        for d in std::fs::read_dir(self.data_dir().join("blocks")).unwrap() {
            n += std::fs::read_dir(d.unwrap().path()).unwrap().count();
        }
        n
    }

    /// `strata admin user create NAME` with the given keys.
    pub fn create_user(&self, name: &str, access_key: &str, secret_key: &str) {
        let out = self.admin_cmd(&[
            "user",
            "create",
            name,
            "--access-key",
            access_key,
            "--secret-key",
            secret_key,
        ]);
        assert!(out.contains(access_key), "user create printed: {out}");
    }

    /// Runs `strata admin --config <site> <args>` and returns its stdout; panics on failure.
    pub fn admin_cmd(&self, args: &[&str]) -> String {
        let out = Command::new(strata_bin())
            .arg("admin")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "strata admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `strata admin scrub`: its exit code and what it printed (stdout, then stderr).
    pub fn scrub(&self) -> (i32, String) {
        let out = Command::new(strata_bin())
            .arg("admin")
            .arg("--config")
            .arg(&self.config)
            .arg("scrub")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code().unwrap_or(-1),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// Runs `strata repl --config <site> <args>`: (success, stdout, stderr).
    pub fn try_repl_cmd(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(strata_bin())
            .arg("repl")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs `strata repl --config <site> <args>`; panics on failure.
    pub fn repl_cmd(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.try_repl_cmd(args);
        assert!(ok, "strata repl {args:?} failed: {err}");
        out
    }

    /// `strata repl verify SINK FLAGS`: its exit code (0 equal, 1 different) and what
    /// it printed. Panics if it could not run.
    pub fn verify(&self, sink: &str, flags: &[&str]) -> (i32, String) {
        let out = Command::new(strata_bin())
            .args(["repl", "--config"])
            .arg(&self.config)
            .args(["verify", sink])
            .args(flags)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "verify failed to run ({code}): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (code, text)
    }

    /// The file of the block holding `block`'s bytes in this site's data directory.
    pub fn block_file(&self, block: &[u8]) -> PathBuf {
        let hex = sha256_hex(block);
        self.data_dir().join("blocks").join(&hex[..2]).join(&hex)
    }

    /// `strata repl status --json`.
    pub fn repl_status(&self) -> serde_json::Value {
        serde_json::from_str(&self.repl_cmd(&["status", "--json"])).unwrap()
    }

    /// Runs `strata repl fullsync OP SINK` (`enable` the first time, `start` after) and
    /// waits for that run to complete.
    pub fn fullsync_to(&self, sink: &str, op: &str) {
        let last = |s: &Site| s.peer_status(sink, "sink")["fullsync"]["last"].clone();
        let before = last(self)["ended_ms"].as_u64();
        self.repl_cmd(&["fullsync", op, sink]);
        wait_for(30, "the fullsync completes", || {
            last(self)["ended_ms"].as_u64() != before
        });
        assert_eq!(last(self)["result"], "complete");
    }

    /// The site's own status (`strata admin status --json`).
    pub fn site_status(&self) -> serde_json::Value {
        serde_json::from_str(&self.admin_cmd(&["status", "--json"])).unwrap()
    }

    /// This site's status of one peer, as sink or source.
    pub fn peer_status(&self, peer: &str, role: &str) -> serde_json::Value {
        let s = self.repl_status();
        s["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["site"] == peer)
            .map(|p| p[role].clone())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Makes `sink` (reached at `via`, or its own replication address) a started
    /// realtime sink of this site, with the operator's commands.
    pub fn replicate_to(&self, sink: &Site, via: Option<SocketAddr>) {
        let addr = via.or(sink.repl).expect("the sink replicates").to_string();
        self.repl_cmd(&["connect", &addr]);
        self.repl_cmd(&["realtime", "enable", &sink.name]);
        self.repl_cmd(&["realtime", "start", &sink.name]);
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.s3)
    }

    pub fn client(&self) -> Client {
        client_for(&self.endpoint(), ACCESS_KEY, SECRET_KEY, true)
    }

    pub fn client_as(&self, access_key: &str, secret_key: &str) -> Client {
        client_for(&self.endpoint(), access_key, secret_key, true)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An aws-sdk-s3 client with its default behaviour (checksums, chunked uploads), over
/// plain HTTP, without retries.
pub fn client_for(endpoint: &str, access_key: &str, secret_key: &str, path_style: bool) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    client_over(http, endpoint, access_key, secret_key, path_style)
}

fn client_over(
    http: aws_sdk_s3::config::SharedHttpClient,
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    path_style: bool,
) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .force_path_style(path_style)
        // A retry would hide a server error from the test; a test wants to see it.
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

/// The environment that makes a process's wall clock run `offset` (libfaketime's
/// syntax: "+1h") from the real one; its monotonic clock, which timers use, stays
/// true. libfaketime comes from Debian (scripts/install-test-tools.sh).
pub fn clock_offset(offset: &str) -> Vec<(String, String)> {
    let lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
    assert!(
        Path::new(lib).exists(),
        "{lib} is missing: run scripts/install-test-tools.sh (scripts/test.sh does)"
    );
    vec![
        ("LD_PRELOAD".into(), lib.into()),
        ("FAKETIME".into(), offset.into()),
        ("DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// Two replicating sites, `site-a` streaming to `site-b` (connected, realtime enabled
/// and started, with the operator's commands).
pub fn pair() -> (Site, Site) {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    a.replicate_to(&b, None);
    (a, b)
}

/// Starts `strata dev` with `args` in `dir`; returns the process, the access and secret
/// keys its banner prints, and the banner's lines up to them. Its log goes to
/// `dir/dev.log` (see [`dev_log_tail`]).
pub fn start_dev(dir: &Path, args: &[&str]) -> (Child, String, String, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(strata_bin())
        .arg("dev")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("STRATA_LOG", "info,strata_repl=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("dev.log")).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let mut field = |name: &str| loop {
        let line = lines.next().expect("strata dev printed its banner").unwrap();
        banner.push(line.clone());
        if let Some(v) = line.trim().strip_prefix(name) {
            return v.trim().to_owned();
        }
    };
    let (ak, sk) = (field("access key:"), field("secret key:"));
    (child, ak, sk, banner)
}

/// The last lines of the log of a `strata dev` started in `dir`, for a failure's message.
pub fn dev_log_tail(dir: &Path, lines: usize) -> String {
    let log = std::fs::read_to_string(dir.join("dev.log")).unwrap_or_default();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an S3 error body.
    pub fn code(&self) -> String {
        let t = self.text();
        t.split_once("<Code>")
            .and_then(|(_, r)| r.split_once("</Code>"))
            .map(|(c, _)| c.to_owned())
            .unwrap_or_default()
    }
}

/// Sends bytes as they are and reads the response until the server closes. With
/// `half_close`, the write side is shut after sending, as a client that gives up does.
pub fn raw(addr: SocketAddr, request: &[u8], half_close: bool) -> RawResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(request);
    if half_close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> RawResponse {
    let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return RawResponse {
            status: 0,
            headers: vec![],
            body: buf.to_vec(),
        };
    };
    let head = String::from_utf8_lossy(&buf[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let mut body = buf[split + 4..].to_vec();
    if let Some(n) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    RawResponse { status, headers, body }
}

/// Deterministic pseudo-random bytes, so a failure can be reproduced.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn md5_hex(b: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(b))
}

/// Builds the head of a SigV4-signed request by hand, for tests that must send what no
/// SDK would (bodies that stop early, odd keys, skewed clocks). `path` and `query` are
/// sent as given and must already be percent-encoded the way SigV4 canonicalises them;
/// `extra` headers are signed too. The SDK-driven tests check signatures independently.
pub fn signed_head(
    site: &Site,
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, &str)],
    payload: &str,
    amz_date: &str,
) -> String {
    signed_head_and_key(site, method, path, query, extra, payload, amz_date).0
}

/// [`signed_head`], plus the signature and signing key, to sign aws-chunked chunks with.
pub fn signed_head_and_key(
    site: &Site,
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, &str)],
    payload: &str,
    amz_date: &str,
) -> (String, String, Vec<u8>) {
    signed_head_as(
        site,
        (ACCESS_KEY, SECRET_KEY),
        method,
        path,
        query,
        extra,
        payload,
        amz_date,
    )
}

/// [`signed_head_and_key`] for the user with these keys.
#[allow(clippy::too_many_arguments)]
pub fn signed_head_as(
    site: &Site,
    (access_key, secret_key): (&str, &str),
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, &str)],
    payload: &str,
    amz_date: &str,
) -> (String, String, Vec<u8>) {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let hmac = |k: &[u8], d: &str| {
        let mut m = Hmac::<Sha256>::new_from_slice(k).unwrap();
        m.update(d.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    let host = site.s3.to_string();
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host.clone()),
        ("x-amz-content-sha256".into(), payload.into()),
        ("x-amz-date".into(), amz_date.into()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())));
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canon_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let mut q: Vec<&str> = query.split('&').filter(|s| !s.is_empty()).collect();
    q.sort();
    let canon_query = q
        .iter()
        .map(|p| {
            if p.contains('=') {
                p.to_string()
            } else {
                format!("{p}=")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let canonical = format!("{method}\n{path}\n{canon_query}\n{canon_headers}\n{signed}\n{payload}");
    let date = &amz_date[..8];
    let scope = format!("{date}/us-east-1/s3/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret_key}").as_bytes(), date);
    let k = hmac(&hmac(&hmac(&k, "us-east-1"), "s3"), "aws4_request");
    let sig = hex::encode(hmac(&k, &sts));
    let target = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "authorization: AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={sig}\r\nconnection: close\r\n"
    ));
    (head, sig, k)
}

/// The signature of one aws-chunked chunk, chained from the previous one.
pub fn chunk_signature(key: &[u8], amz_date: &str, previous: &str, data: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let scope = format!("{}/us-east-1/s3/aws4_request", &amz_date[..8]);
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{}",
        hex::encode(Sha256::digest(data))
    );
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(sts.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Now, as SigV4's `YYYYMMDDTHHMMSSZ`, shifted by `offset_secs`.
pub fn amz_now(offset_secs: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + offset_secs;
    let days = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Waits up to `secs` for `f` to hold, polling; panics with `what` otherwise.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// [`wait_for`] for a check that is itself async (an S3 call, say).
pub async fn wait_until<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy for cutting a link: while cut, it drops every connection and refuses
/// new ones (its port is closed).
pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    /// Bumped on every cut, so an accept loop from before the cut stops.
    generation: std::sync::atomic::AtomicU64,
    open: std::sync::Mutex<Vec<TcpStream>>,
}

impl Proxy {
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = Proxy {
            addr: listener.local_addr().unwrap(),
            target,
            state: Default::default(),
        };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        use std::sync::atomic::Ordering::SeqCst;
        listener.set_nonblocking(true).unwrap();
        let (state, target) = (self.state.clone(), self.target);
        let generation = state.generation.load(SeqCst);
        std::thread::spawn(move || loop {
            if state.generation.load(SeqCst) != generation {
                return; // dropping the listener closes the port
            }
            let Ok((client, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            client.set_nonblocking(false).unwrap();
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let mut open = state.open.lock().unwrap();
            open.push(client.try_clone().unwrap());
            open.push(server.try_clone().unwrap());
            drop(open);
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        });
    }

    /// Drops every connection and closes the port.
    pub fn cut(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.state.generation.fetch_add(1, SeqCst);
        for s in self.state.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        // Let the accept loop notice and drop its listener.
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Opens the port again.
    pub fn restore(&self) {
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        self.serve(listener);
    }
}

/// A WAN on loopback: `strata wan-proxy` in front of `target`, adding `rtt_ms` of
/// round-trip time (half each way); stopped when dropped.
pub struct WanProxy {
    pub addr: SocketAddr,
    child: Child,
}

impl WanProxy {
    pub fn start(target: SocketAddr, rtt_ms: u64) -> WanProxy {
        let port = free_port();
        let child = Command::new(strata_bin())
            .args(["wan-proxy", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--to", &target.to_string(), "--rtt-ms", &rtt_ms.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start strata wan-proxy");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_for(10, "the WAN proxy's port", || TcpStream::connect(addr).is_ok());
        WanProxy { addr, child }
    }
}

impl Drop for WanProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hex SHA-256, as `x-amz-content-sha256` carries it.
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(b))
}

/// A whole multipart upload of `parts` (in order) to `bucket/key`; the error of the
/// first step that failed.
pub async fn multipart_upload(c: &Client, bucket: &str, key: &str, parts: &[Vec<u8>]) -> Result<(), String> {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let up = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(p.clone().into())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// An object's bytes, read whole.
pub async fn get_bytes(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let o = c.get_object().bucket(bucket).key(key).send().await.unwrap();
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The S3 error code of an error.
pub fn code<E: ProvideErrorMetadata>(e: E) -> String {
    e.code().unwrap_or("<none>").to_owned()
}

/// The S3 error code of a call that must fail.
pub fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    code(r.unwrap_err())
}

/// The HTTP status of a call that must fail (HEAD and 304 answers have no body).
pub fn status<T: std::fmt::Debug, E: std::fmt::Debug>(
    r: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> u16 {
    r.unwrap_err().raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// One entry of ListObjectVersions: key, version id, is latest, is a delete marker,
/// ETag (empty for a marker).
pub type ListedVersion = (String, String, bool, bool, String);

/// Every version and delete marker of a bucket, walked `page` at a time with the
/// markers ListObjectVersions returns; None if a page fails (a site down). The SDK
/// hands a page's versions and markers apart: each page is put back in the listing's
/// order, by key, then newest first (the ids of one site's versions grow with time,
/// and `null` sorts above them).
pub async fn list_versions(c: &Client, bucket: &str, page: i32) -> Option<Vec<ListedVersion>> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let r = c
            .list_object_versions()
            .bucket(bucket)
            .max_keys(page)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .ok()?;
        let mut here = Vec::new();
        for v in r.versions() {
            let etag = v.e_tag().unwrap_or_default().to_owned();
            here.push((
                v.key()?.to_owned(),
                v.version_id()?.to_owned(),
                v.is_latest()?,
                false,
                etag,
            ));
        }
        for m in r.delete_markers() {
            here.push((
                m.key()?.to_owned(),
                m.version_id()?.to_owned(),
                m.is_latest()?,
                true,
                String::new(),
            ));
        }
        here.sort_by(|a: &ListedVersion, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        out.extend(here);
        if !r.is_truncated().unwrap_or(false) {
            return Some(out);
        }
        key_marker = r.next_key_marker().map(str::to_owned);
        version_marker = r.next_version_id_marker().map(str::to_owned);
    }
}

/// Puts an object; the error as text.
pub async fn put(c: &Client, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// Every (key, ETag, size) in a bucket, or None when the listing fails (site down).
pub async fn listing(c: &Client, bucket: &str) -> Option<Vec<(String, String, i64)>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .ok()?;
        for o in page.contents() {
            out.push((
                o.key().unwrap().to_owned(),
                o.e_tag().unwrap().to_owned(),
                o.size().unwrap(),
            ));
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Some(out);
        }
    }
}

/// Waits until the sink lists exactly what the source lists, then reads every object
/// from the sink and compares its bytes with the source's.
pub async fn assert_converges(a: &Client, b: &Client, bucket: &str, secs: u64) -> usize {
    assert_converges_or(a, b, bucket, secs, String::new).await
}

/// [`assert_converges`], adding `diagnose()` to the failure message.
pub async fn assert_converges_or(
    a: &Client,
    b: &Client,
    bucket: &str,
    secs: u64,
    diagnose: impl Fn() -> String,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(secs);
    // Both listings are read afresh each time: with replication both ways, the first
    // site changes too while they converge.
    let want = loop {
        let want = listing(a, bucket).await.expect("the first site lists");
        let got = listing(b, bucket).await;
        if got.as_ref() == Some(&want) {
            break want;
        }
        if Instant::now() > deadline {
            let got = got.unwrap_or_default();
            let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).take(5).collect();
            let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).take(5).collect();
            panic!(
                "sink did not converge in {secs} s: {} vs {} objects; missing e.g. {missing:?}; extra e.g. {extra:?}\n{}",
                got.len(),
                want.len(),
                tokio::task::block_in_place(&diagnose)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for (key, _, _) in &want {
        let (x, y) = (get_bytes(a, bucket, key).await, get_bytes(b, bucket, key).await);
        assert!(x == y, "{key}: the sink's bytes differ from the source's");
    }
    want.len()
}

/// Test certificates: a CA, and certificates it signs (or another CA signs) for the
/// sites' TLS ports, written as PEM files.
pub mod certs {
    use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, SanType};
    use std::path::{Path, PathBuf};

    pub struct Ca {
        cert: Certificate,
        key: KeyPair,
        pub pem: String,
    }

    impl Ca {
        pub fn new(name: &str) -> Ca {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, name);
            let cert = p.self_signed(&key).unwrap();
            Ca {
                pem: cert.pem(),
                cert,
                key,
            }
        }

        /// Writes the CA's certificate to `path`.
        pub fn write(&self, path: &Path) -> PathBuf {
            std::fs::write(path, &self.pem).unwrap();
            path.to_owned()
        }

        /// A certificate for `host` (a name or an IP address) into `dir/<file>.pem`
        /// and `dir/<file>-key.pem`; `expired` makes one that is no longer valid.
        pub fn issue(&self, dir: &Path, file: &str, host: &str, expired: bool) -> (PathBuf, PathBuf) {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.subject_alt_names.push(match host.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(host.try_into().unwrap()),
            });
            p.distinguished_name.push(DnType::CommonName, host);
            if expired {
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
            let (c, k) = (dir.join(format!("{file}.pem")), dir.join(format!("{file}-key.pem")));
            std::fs::write(&c, cert.pem()).unwrap();
            std::fs::write(&k, key.serialize_pem()).unwrap();
            (c, k)
        }
    }
}

/// An aws-sdk-s3 client over TLS that trusts the CA in `ca_pem` (and nothing else).
pub fn tls_client_for(endpoint: &str, ca_pem: &str, access_key: &str, secret_key: &str) -> Client {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::empty().with_pem_certificate(ca_pem.as_bytes().to_vec()))
                .build()
                .unwrap(),
        )
        .build_https();
    client_over(http, endpoint, access_key, secret_key, true)
}
