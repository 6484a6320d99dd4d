//! What the admin handlers share.

use crate::metrics::Metrics;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
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
    /// The replication page's sign-ins.
    pub sessions: Arc<crate::admin::sessions::Sessions>,
    /// Throughput samples for the replication page's charts.
    pub history: Arc<Mutex<VecDeque<Sample>>>,
    /// TLS handshakes this site's ports refused.
    pub tls_refusals: Arc<crate::tls::Refusals>,
    /// The site's scrub (`strata admin scrub`, and its status).
    pub scrub: Arc<crate::scrub::Scrubber>,
    /// The purge of graves (its status).
    pub purge: Arc<crate::purge::Purger>,
    /// The lifecycle worker (its status).
    pub lifecycle: Arc<crate::lifecycle::Lifecycle>,
}

/// One throughput sample: every peer's traffic counters at a moment.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub t_ms: u64,
    pub peers: BTreeMap<String, PeerTraffic>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PeerTraffic {
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sent_changes: u64,
    pub received_changes: u64,
}
