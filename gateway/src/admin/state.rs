//! What the admin handlers share.

use crate::metrics::Metrics;
use std::sync::Arc;
use strata_blockstore::Store;
use strata_repl::Replication;

#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub token: String,
    pub site_name: String,
    /// Present when the site's config has a `[repl]` section.
    pub repl: Option<Arc<Replication>>,
}
