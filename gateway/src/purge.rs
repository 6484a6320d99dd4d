//! The purge of graves (see the block store's `graves`): a delete is kept as a grave
//! until every sink has carried it and `tombstone_retention` has passed, then removed,
//! so the sync tree holds what the site has, not every delete ever made. It runs in the
//! background, a few times per retention period (at least once a minute).

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_blockstore::{now_millis, PurgeRule, Store};
use strata_repl::Replication;

/// The purge as status shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeStatus {
    pub retention_secs: u64,
    /// Deletes kept as graves now.
    pub graves: u64,
    /// Graves purged since the site started.
    pub purged_total: u64,
    /// When the last purge ran, and what it removed.
    pub last_run_ms: Option<u64>,
    pub last_purged: u64,
    /// The sink whose purge watermark is furthest behind, when one holds graves back.
    pub held_by: Option<String>,
}

pub struct Purger {
    store: Arc<Store>,
    repl: Option<Arc<Replication>>,
    retention: Duration,
    status: Mutex<PurgeStatus>,
}

impl Purger {
    pub fn new(store: Arc<Store>, repl: Option<Arc<Replication>>, retention: Duration) -> Arc<Purger> {
        Arc::new(Purger {
            store,
            repl,
            status: Mutex::new(PurgeStatus {
                retention_secs: retention.as_secs(),
                ..PurgeStatus::default()
            }),
            retention,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PurgeStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> PurgeStatus {
        let mut s = self.lock().clone();
        s.graves = self.store.grave_count().unwrap_or(s.graves);
        s
    }

    /// A quarter of the retention between runs, at least a quarter second and at most a
    /// minute: a grave outlives its retention by little.
    fn period(&self) -> Duration {
        (self.retention / 4).clamp(Duration::from_millis(250), Duration::from_secs(60))
    }

    pub fn spawn(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(me.period()).await;
                if let Err(e) = me.run().await {
                    tracing::warn!(error = %e, "purging graves failed; will retry");
                }
            }
        });
    }

    /// One purge with the rule replication gives now.
    pub async fn run(&self) -> strata_blockstore::Result<()> {
        let (rule, held_by) = match &self.repl {
            Some(r) => (r.purge_rule(self.retention), r.furthest_behind()),
            None => (
                PurgeRule {
                    carried: u64::MAX,
                    deleted_before_ms: now_millis().saturating_sub(self.retention.as_millis() as u64),
                    sinks: Vec::new(),
                },
                None,
            ),
        };
        let report = self.store.run(move |s| s.purge_graves(&rule)).await?;
        if report.purged > 0 {
            tracing::info!(purged = report.purged, left = report.graves, "purged graves");
        }
        let mut s = self.lock();
        s.graves = report.graves;
        s.purged_total += report.purged;
        s.last_run_ms = Some(now_millis());
        s.last_purged = report.purged;
        s.held_by = held_by.filter(|_| report.graves > 0);
        Ok(())
    }
}
