//! What every S3 handler shares: the store and the site's S3 settings.

use crate::metrics::Metrics;
use crate::s3::error::{S3Error, S3Result};
use std::sync::Arc;
use strata_blockstore::Store;

#[derive(Clone)]
pub struct S3State {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub region: String,
    pub root_domain: Option<String>,
}

impl S3State {
    /// Runs a store call on a blocking thread: store calls do disk I/O and fsync.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> strata_blockstore::Result<T> + Send + 'static,
    ) -> S3Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| S3Error::Internal(format!("blocking task: {e}")))?
            .map_err(S3Error::from)
    }
}
