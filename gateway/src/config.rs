//! The site's configuration file (TOML). Unknown keys are refused, so a typo stops
//! start-up with a message that names the key instead of being silently ignored.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site_name: String,
    pub data_dir: PathBuf,
    #[serde(default = "default_block_size")]
    pub block_size: u32,
    pub s3: S3Config,
    pub admin: AdminConfig,
    #[serde(default)]
    pub gc: GcConfig,
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
        if cfg.site_name.is_empty() {
            return Err(ConfigError::Invalid(path.into(), "site_name must not be empty".into()));
        }
        // A relative data_dir is relative to the config file, not to wherever strata runs.
        if cfg.data_dir.is_relative() {
            cfg.data_dir = path.parent().unwrap_or(Path::new(".")).join(&cfg.data_dir);
        }
        Ok(cfg)
    }
}

/// `strata config example`: every field, with what it means.
pub const EXAMPLE: &str = r#"# Strata site configuration. Every field is described in docs/configuration.md.

# Name of this site, shown to operators and (later) to peer sites.
site_name = "site-a"
# Where blocks and metadata live. A relative path is relative to this file.
data_dir = "data/site-a"
# Largest block objects are split into, in bytes (4 KiB to 64 MiB). Default 1 MiB.
block_size = 1048576

[s3]
# Address the S3 API listens on.
listen = "127.0.0.1:9000"
# Region reported by GetBucketLocation. Default us-east-1.
region = "us-east-1"
# Enables virtual-host addressing: Host "<bucket>.<root_domain>" names the bucket.
# Without it only path-style addressing is used.
root_domain = "localhost"

[admin]
# Address of the admin API that `strata admin` talks to. Keep it on loopback.
listen = "127.0.0.1:9001"
# Bearer token for the admin API (16 characters or more).
token = "change-me-to-a-long-random-token"

[gc]
# How long a block no object references is kept before it is deleted.
grace_secs = 3600
# How often garbage collection runs.
interval_secs = 300
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, EXAMPLE).unwrap();
        let cfg = Config::load(&p).unwrap();
        assert_eq!(cfg.block_size, 1 << 20);
        assert_eq!(cfg.data_dir, dir.path().join("data/site-a"));
        std::fs::write(&p, EXAMPLE.replace("block_size", "blok_size")).unwrap();
        let err = Config::load(&p).unwrap_err().to_string();
        assert!(err.contains("blok_size"), "{err}");
    }
}
