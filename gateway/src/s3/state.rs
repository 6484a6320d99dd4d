//! What every S3 handler shares: the store and the site's S3 settings.

use crate::metrics::Metrics;
use crate::s3::error::S3Result;
use std::sync::Arc;
use strata_blockstore::{ObjectOwnership, Store};

#[derive(Clone)]
pub struct S3State {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub region: String,
    pub root_domain: Option<String>,
    /// Object ownership of new buckets that do not ask for one.
    pub default_ownership: ObjectOwnership,
    /// The S3 port speaks TLS (a policy's `aws:SecureTransport`).
    pub tls: bool,
    /// Replication, when configured: proxy-get fetches blocks this site lacks.
    pub repl: Option<Arc<strata_repl::Replication>>,
    /// Request bodies being received, and their limits.
    pub uploads: Arc<crate::s3::uploads::Uploads>,
    /// A lifecycle day, in milliseconds (`lifecycle_day_secs`).
    pub lifecycle_day_ms: u64,
}

impl S3State {
    /// Runs a store call on a blocking thread (`Store::run`): store calls do disk I/O
    /// and fsync.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> strata_blockstore::Result<T> + Send + 'static,
    ) -> S3Result<T> {
        Ok(self.store.run(f).await?)
    }
}
