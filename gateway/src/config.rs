//! The site's configuration file (TOML). Unknown keys are refused, so a typo stops
//! start-up with a message that names the key instead of being silently ignored.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use strata_blockstore::ObjectOwnership;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site_name: String,
    /// 16 hex digits; chosen at random on first start when absent.
    #[serde(default)]
    pub site_id: Option<String>,
    pub data_dir: PathBuf,
    #[serde(default = "default_block_size")]
    pub block_size: u32,
    /// Free space on the data disk kept for metadata: below it new data is refused
    /// with 507, while deletes, lists, reads and replicated deletes keep working.
    #[serde(default = "default_reserve_bytes")]
    pub reserve_bytes: u64,
    /// Seconds between background scrubs (every referenced block read back and
    /// checked); 0: only on `strata admin scrub`.
    #[serde(default = "default_scrub_interval")]
    pub scrub_interval: u64,
    /// A scrub's reads, in bytes per second (0: no cap).
    #[serde(default = "default_scrub_rate")]
    pub scrub_max_bytes_per_sec: u64,
    /// Seconds a delete is kept (as a grave) at least, once every sink has carried it.
    #[serde(default = "default_tombstone_retention")]
    pub tombstone_retention: u64,
    /// Seconds in a lifecycle "day" (rules count days): 86400 but in tests, as Ceph
    /// RGW's `rgw_lc_debug_interval` does.
    #[serde(default = "default_lifecycle_day_secs")]
    pub lifecycle_day_secs: u64,
    pub s3: S3Config,
    pub admin: AdminConfig,
    #[serde(default)]
    pub gc: GcConfig,
    /// Where metadata and blocks live: the data disk (the default), or a Ceph cluster
    /// shared by the site's gateways.
    #[serde(default)]
    pub store: StoreSection,
    /// Without it the site does not replicate.
    #[serde(default)]
    pub repl: Option<ReplSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplSection {
    pub listen: SocketAddr,
    /// The address peers reach this site's replication port at, if not `listen`.
    #[serde(default)]
    pub advertise: Option<String>,
    /// The replication credential, the same on every site that replicates together.
    pub access_key: String,
    pub secret_key: String,
    #[serde(default = "default_realtime_max_bytes")]
    pub realtime_max_bytes: u64,
    /// Seconds between fullsync runs to each sink that has fullsync enabled (0: off;
    /// runs still happen on enable, after a broken link and on `fullsync start`).
    #[serde(default = "default_fullsync_interval")]
    pub fullsync_interval: u64,
    /// Cap on one fullsync's traffic, bytes per second (0: no cap).
    #[serde(default)]
    pub fullsync_max_bytes_per_sec: u64,
    /// The most blocks one proxy-get read fetches ahead of its client (each held in
    /// memory until the client takes it); a read starts narrower and widens while its
    /// client waits for fetches.
    #[serde(default = "default_proxy_get_window")]
    pub proxy_get_window: usize,
    /// The blocks all proxy-get reads of this site together hold in memory beyond the
    /// first 8 of each read: a bound for many reads at once.
    #[serde(default = "default_proxy_get_blocks_in_memory")]
    pub proxy_get_blocks_in_memory: usize,
    /// The replication port speaks TLS with this certificate and key (PEM).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Links to peers use TLS and trust peers whose certificates chain to these CAs.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Mutual TLS: peers must present a certificate from `tls_ca`, and this site
    /// presents its own (`tls_cert`) to them.
    #[serde(default)]
    pub tls_client_auth: bool,
    /// zstd level for what this site sends its sinks (0: off; 1 to 19).
    #[serde(default)]
    pub compression_level: i32,
    /// Seconds a source's timestamps may run ahead of this site's clock; changes
    /// stamped further ahead are refused until the clocks agree.
    #[serde(default = "default_max_clock_skew")]
    pub max_clock_skew: u64,
    /// The site (by name) that decides user and bucket creation and deletion for the
    /// whole replication group; the others forward those operations to it. Unset:
    /// each site decides its own.
    #[serde(default)]
    pub authority: Option<String>,
    /// Per-peer secrets (peer site name -> the secret this site and that peer share).
    /// When set, links sign as this site with the pair's secret, and only these peers
    /// are heard: the shared access_key / secret_key is no longer accepted.
    #[serde(default)]
    pub peer_secrets: std::collections::BTreeMap<String, String>,
    /// Per source site name, the kinds of change this site takes from it (`users`,
    /// `buckets`, `objects`); a source not named sends any.
    #[serde(default)]
    pub accept: std::collections::BTreeMap<String, Vec<String>>,
}

fn default_proxy_get_blocks_in_memory() -> usize {
    256
}

fn default_proxy_get_window() -> usize {
    64
}

fn default_max_clock_skew() -> u64 {
    300
}

fn default_fullsync_interval() -> u64 {
    6 * 3600
}

fn default_realtime_max_bytes() -> u64 {
    256 << 20
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub listen: SocketAddr,
    #[serde(default = "default_region")]
    pub region: String,
    /// Requests whose Host is `<bucket>.<root_domain>` use virtual-host addressing.
    #[serde(default)]
    pub root_domain: Option<String>,
    /// Object ownership of new buckets that do not ask for one: `ObjectWriter` (ACLs
    /// work), `BucketOwnerPreferred` or `BucketOwnerEnforced` (ACLs off, AWS's default).
    #[serde(default = "default_object_ownership")]
    pub default_object_ownership: ObjectOwnership,
    /// The S3 port speaks TLS with this certificate and key (PEM), reloaded when the
    /// files change or on SIGHUP.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Request bodies one user (or all anonymous writers together) may send at once;
    /// more answer 503 SlowDown.
    #[serde(default = "default_max_uploads_per_key")]
    pub max_uploads_per_key: usize,
    /// A request body that sends nothing for this long is cut (400 RequestTimeout).
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_secs: u64,
    /// A connection whose request headers are not all in within this long is closed.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
}

fn default_header_read_timeout() -> u64 {
    20
}

fn default_max_uploads_per_key() -> usize {
    512
}

fn default_body_read_timeout() -> u64 {
    30
}

fn default_object_ownership() -> ObjectOwnership {
    ObjectOwnership::ObjectWriter
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    #[serde(default)]
    pub engine: EngineKind,
    /// For `rados`: the ceph.conf naming the cluster's monitors.
    #[serde(default)]
    pub ceph_conf: Option<PathBuf>,
    #[serde(default = "default_ceph_user")]
    pub ceph_user: String,
    #[serde(default = "default_data_pool")]
    pub data_pool: String,
    #[serde(default = "default_meta_pool")]
    pub meta_pool: String,
    /// A RADOS namespace for the site's objects in both pools (sites sharing pools).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Index shards per bucket, fixed when the site is made (1 to 1024).
    #[serde(default = "default_index_shards")]
    pub index_shards: u16,
}

fn default_index_shards() -> u16 {
    strata_blockstore::DEFAULT_INDEX_SHARDS
}

/// A config without `[store]` gets what an empty `[store]` section gets.
impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            engine: EngineKind::default(),
            ceph_conf: None,
            ceph_user: default_ceph_user(),
            data_pool: default_data_pool(),
            meta_pool: default_meta_pool(),
            namespace: None,
            index_shards: default_index_shards(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// sled and block files in `data_dir`: a site on one machine.
    #[default]
    Sled,
    /// Ceph RADOS: a site of any number of gateways over one cluster.
    Rados,
}

fn default_ceph_user() -> String {
    "admin".into()
}

fn default_data_pool() -> String {
    "strata-data".into()
}

fn default_meta_pool() -> String {
    "strata-meta".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcConfig {
    #[serde(default = "default_grace")]
    pub grace_secs: u64,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace_secs: default_grace(),
            interval_secs: default_interval(),
        }
    }
}

fn default_scrub_interval() -> u64 {
    7 * 24 * 3600
}

fn default_lifecycle_day_secs() -> u64 {
    86_400
}

fn default_tombstone_retention() -> u64 {
    7 * 24 * 3600
}

fn default_scrub_rate() -> u64 {
    32 << 20
}

fn default_reserve_bytes() -> u64 {
    512 << 20
}

fn default_block_size() -> u32 {
    1 << 20
}
fn default_region() -> String {
    "us-east-1".into()
}
fn default_grace() -> u64 {
    3600
}
fn default_interval() -> u64 {
    300
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid configuration in {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("invalid configuration in {0}: {1}")]
    Invalid(PathBuf, String),
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse(path.into(), e))?;
        if !(4096..=(64 << 20)).contains(&cfg.block_size) {
            return Err(ConfigError::Invalid(
                path.into(),
                "block_size must be between 4096 and 67108864".into(),
            ));
        }
        if cfg.admin.token.len() < 16 {
            return Err(ConfigError::Invalid(
                path.into(),
                "admin.token must be at least 16 characters".into(),
            ));
        }
        let name_ok = |n: &str| {
            !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !name_ok(&cfg.site_name) {
            return Err(ConfigError::Invalid(
                path.into(),
                "site_name must be 1 to 64 of A-Z a-z 0-9 - _ .".into(),
            ));
        }
        if cfg.site_id.as_deref().is_some_and(|id| parse_site_id(id).is_none()) {
            return Err(ConfigError::Invalid(
                path.into(),
                "site_id must be 16 hex digits, not all zero".into(),
            ));
        }
        // The example's placeholders are public: a site that kept one would take
        // anyone's admin calls or replication pushes.
        let placeholder = |v: &str| v.starts_with(PLACEHOLDER);
        if placeholder(&cfg.admin.token) || cfg.repl.as_ref().is_some_and(|r| placeholder(&r.secret_key)) {
            return Err(ConfigError::Invalid(
                path.into(),
                "admin.token and repl.secret_key still hold the example's placeholder: set long random values (e.g. `openssl rand -hex 24`)".into(),
            ));
        }
        if let Some(r) = &cfg.repl {
            if let Some((peer, _)) = r.peer_secrets.iter().find(|(_, s)| s.len() < 16 || placeholder(s)) {
                return Err(ConfigError::Invalid(
                    path.into(),
                    format!("repl.peer_secrets.{peer} needs 16+ characters of a real secret"),
                ));
            }
            let kinds = ["users", "buckets", "objects"];
            if let Some((peer, k)) = r
                .accept
                .iter()
                .find_map(|(p, ks)| ks.iter().find(|k| !kinds.contains(&k.as_str())).map(|k| (p, k)))
            {
                return Err(ConfigError::Invalid(
                    path.into(),
                    format!("repl.accept.{peer}: {k:?} is not users, buckets or objects"),
                ));
            }
            if r.access_key.len() < 3 || r.secret_key.len() < 16 {
                return Err(ConfigError::Invalid(
                    path.into(),
                    "repl.access_key needs 3+ characters and repl.secret_key 16+".into(),
                ));
            }
        }
        // Relative paths are relative to the config file, not to wherever strata runs.
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        rebase(&mut cfg.data_dir);
        if let Some(p) = &mut cfg.store.ceph_conf {
            rebase(p);
        }
        if cfg.store.engine == EngineKind::Rados && cfg.store.ceph_conf.is_none() {
            return Err(ConfigError::Invalid(
                path.into(),
                "store.engine = \"rados\" needs store.ceph_conf (the cluster's ceph.conf)".into(),
            ));
        }
        if !(1..=1024).contains(&cfg.store.index_shards) {
            return Err(ConfigError::Invalid(
                path.into(),
                format!("store.index_shards must be 1 to 1024, not {}", cfg.store.index_shards),
            ));
        }
        for p in [&mut cfg.s3.tls_cert, &mut cfg.s3.tls_key].into_iter().flatten() {
            rebase(p);
        }
        if let Some(r) = &mut cfg.repl {
            for p in [&mut r.tls_cert, &mut r.tls_key, &mut r.tls_ca].into_iter().flatten() {
                rebase(p);
            }
        }
        let pair = |what: &str, cert: &Option<PathBuf>, key: &Option<PathBuf>| match (cert, key) {
            (Some(_), None) | (None, Some(_)) => Err(ConfigError::Invalid(
                path.into(),
                format!("{what}.tls_cert and {what}.tls_key go together"),
            )),
            _ => Ok(()),
        };
        pair("s3", &cfg.s3.tls_cert, &cfg.s3.tls_key)?;
        if let Some(r) = &cfg.repl {
            pair("repl", &r.tls_cert, &r.tls_key)?;
            if !(0..=19).contains(&r.compression_level) {
                return Err(ConfigError::Invalid(
                    path.into(),
                    "repl.compression_level is 0 (off) to 19".into(),
                ));
            }
            if r.tls_client_auth && (r.tls_ca.is_none() || r.tls_cert.is_none()) {
                return Err(ConfigError::Invalid(
                    path.into(),
                    "repl.tls_client_auth needs repl.tls_ca and repl.tls_cert".into(),
                ));
            }
        }
        Ok(cfg)
    }
}

pub fn parse_site_id(s: &str) -> Option<strata_blockstore::SiteId> {
    if s.len() != 16 {
        return None;
    }
    u64::from_str_radix(s, 16)
        .ok()
        .filter(|&id| id != 0)
        .map(strata_blockstore::SiteId)
}

impl Config {
    pub fn site_id(&self) -> Option<strata_blockstore::SiteId> {
        self.site_id.as_deref().and_then(parse_site_id)
    }
}

/// How the example's secrets begin: refused by `load`.
const PLACEHOLDER: &str = "change-me";

/// `strata config example`: every field, with what it means.
pub const EXAMPLE: &str = r#"# Strata site configuration. Every field is described in docs/configuration.md.

# Name of this site, shown to operators and to peer sites (A-Z a-z 0-9 - _ .).
site_name = "site-a"
# Id of this site: 16 hex digits, unique among the sites that replicate together. It
# breaks ties in last-writer-wins. Optional: chosen at random on first start.
site_id = "00000000000000a1"
# Where blocks and metadata live. A relative path is relative to this file.
data_dir = "data/site-a"
# Largest block objects are split into, in bytes (4 KiB to 64 MiB). Default 1 MiB.
block_size = 1048576
# Free space on the data disk kept for metadata, in bytes: below it new data answers
# 507 InsufficientStorage while deletes, lists and reads go on. Half of it is held as a
# ballast file, released if another process fills the disk. Default 512 MiB.
reserve_bytes = 536870912
# Seconds between background scrubs (every referenced block read back and checked
# against its SHA-256; a bad one replaced from a peer site). 0: only on
# `strata admin scrub`. Default a week.
scrub_interval = 604800
# A scrub's reads, in bytes per second (0: no cap). Default 32 MiB/s.
scrub_max_bytes_per_sec = 33554432
# Seconds a delete is kept (as a grave, which replicates it and makes older writes that
# arrive later lose) once every sink has carried it; then it is purged. A sink that is
# away holds back the purge of deletes it has not carried, however long. Default a week.
tombstone_retention = 604800
# Seconds in a lifecycle "day": lifecycle rules expire objects, noncurrent versions and
# uploads after whole days. Shorten it only to test rules. Default 86400.
lifecycle_day_secs = 86400

[s3]
# Address the S3 API listens on.
listen = "127.0.0.1:9000"
# Region reported by GetBucketLocation. Default us-east-1.
region = "us-east-1"
# Object ownership of new buckets that do not ask for one: ObjectWriter (ACLs work),
# BucketOwnerPreferred or BucketOwnerEnforced (ACLs off). Default ObjectWriter.
default_object_ownership = "ObjectWriter"
# Enables virtual-host addressing: Host "<bucket>.<root_domain>" names the bucket.
# Without it only path-style addressing is used.
root_domain = "localhost"
# Request bodies one user may be sending at once; more answer 503 SlowDown. Default 512.
max_uploads_per_key = 512
# A request body that sends nothing for this many seconds is cut (400 RequestTimeout).
# Default 30.
body_read_timeout_secs = 30
# A connection whose request headers are not all in within this many seconds is closed
# (a client trickling headers cannot hold it). Default 20.
header_read_timeout_secs = 20

[admin]
# Address of the admin API that `strata admin` talks to. Keep it on loopback.
listen = "127.0.0.1:9001"
# Bearer token for the admin API (16 characters or more).
token = "change-me-to-a-long-random-token"

[store]
# "sled": one process over data_dir (the default). "rados": any number of gateways
# sharing one Ceph cluster are one site (docs/operations.md).
engine = "sled"
# For "rados": the cluster's ceph.conf, the Ceph user, the pools (created if missing),
# and optionally a RADOS namespace so that sites can share pools.
# ceph_conf = "/etc/ceph/ceph.conf"
# ceph_user = "admin"
# data_pool = "strata-data"
# meta_pool = "strata-meta"
# namespace = "site-a"
# Index shards per bucket (1 to 1024): a bucket's keys spread over them, and commits
# to different shards run in parallel. Fixed when the site is made. Default 8.
index_shards = 8

[gc]
# How long a block no object references is kept before it is deleted.
grace_secs = 3600
# How often garbage collection runs.
interval_secs = 300

# Replication with other sites. Without this section the site does not replicate.
[repl]
# Address of the replication port other sites connect to.
listen = "127.0.0.1:9002"
# The address peers should use for this site, if not `listen` (e.g. behind NAT).
# advertise = "site-a.example.net:9002"
# The replication credential: the same on every site that replicates together. Every
# replication request is signed with it; a request signed otherwise is refused.
access_key = "strata-repl"
secret_key = "change-me-to-a-long-random-secret"
# Change-log bytes kept for one sink that is behind or down. Past it, the oldest
# changes are recorded as dirty keys (sent again within seconds) instead. Default 256 MiB.
realtime_max_bytes = 268435456
# Seconds between fullsync runs to each sink with fullsync enabled (0: no periodic
# runs; a run still happens on enable, after a broken link and on `fullsync start`).
fullsync_interval = 21600
# Cap on one fullsync's traffic in bytes per second, so realtime and clients keep
# their share of the link (0: no cap).
fullsync_max_bytes_per_sec = 0
# Seconds a source's timestamps may run ahead of this site's clock. A change stamped
# further ahead is refused (the link shows why) until the clocks agree, so one site
# with a wrong clock cannot drag every site's clock into the future.
max_clock_skew = 300
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, EXAMPLE).unwrap();
        // As printed, the example is refused for its placeholder secrets...
        let err = Config::load(&p).unwrap_err().to_string();
        assert!(err.contains("placeholder"), "{err}");
        // ...and taken once they are replaced.
        let mut text = EXAMPLE.replace("change-me-to-a-long-random-token", "0123456789abcdef0123");
        std::fs::write(&p, &text).unwrap();
        assert!(Config::load(&p).unwrap_err().to_string().contains("placeholder"));
        text = text.replace("change-me-to-a-long-random-secret", "fedcba9876543210fedcba");
        std::fs::write(&p, &text).unwrap();
        let cfg = Config::load(&p).unwrap();
        assert_eq!(cfg.block_size, 1 << 20);
        assert_eq!(cfg.data_dir, dir.path().join("data/site-a"));
        std::fs::write(&p, text.replace("block_size", "blok_size")).unwrap();
        let err = Config::load(&p).unwrap_err().to_string();
        assert!(err.contains("blok_size"), "{err}");
    }
}
