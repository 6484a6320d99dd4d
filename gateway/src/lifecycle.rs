//! The lifecycle worker: a pass over every bucket with lifecycle rules (see the block
//! store's `lifecycle`) several times a lifecycle day. A pass decides from what is
//! stored now, so a restart simply runs the next one; its figures are kept in the
//! store so that status shows the last pass after a restart too. On a site of many
//! gateways one of them (holding a lease) runs it.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_blockstore::{now_millis, LifecycleReport, Store};

/// Where the last pass's figures are kept.
const SAVED: &str = "lifecycle/status";

/// The lifecycle worker as status shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleStatus {
    pub day_secs: u64,
    /// When the last pass ended, how long it took, and what it did.
    pub last_run_ms: Option<u64>,
    pub last_duration_ms: u64,
    pub last: LifecycleReport,
    /// Everything passes did since the site was made.
    pub total: LifecycleReport,
    /// Why the last pass failed, if it did.
    pub last_error: Option<String>,
}

pub struct Lifecycle {
    store: Arc<Store>,
    day: Duration,
    holder: String,
    status: Mutex<LifecycleStatus>,
}

impl Lifecycle {
    pub async fn open(store: Arc<Store>, day: Duration) -> Arc<Lifecycle> {
        let saved = store
            .run(|s| s.repl_get(SAVED))
            .await
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<LifecycleStatus>(&b).ok())
            .unwrap_or_default();
        Arc::new(Lifecycle {
            store,
            day,
            holder: uuid::Uuid::new_v4().to_string(),
            status: Mutex::new(LifecycleStatus {
                day_secs: day.as_secs(),
                ..saved
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LifecycleStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> LifecycleStatus {
        self.lock().clone()
    }

    /// Eight passes a day, at least a quarter second and at most a minute apart: an
    /// expiry is applied within an eighth of a day (a minute, with real days).
    fn period(&self) -> Duration {
        (self.day / 8).clamp(Duration::from_millis(250), Duration::from_secs(60))
    }

    pub fn spawn(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(me.period()).await;
                if let Err(e) = me.run().await {
                    tracing::warn!(error = %e, "a lifecycle pass failed; the next one retries");
                    me.lock().last_error = Some(e.to_string());
                }
            }
        });
    }

    /// One pass over every bucket with rules.
    pub async fn run(&self) -> strata_blockstore::Result<()> {
        let (holder, lease_secs) = (self.holder.clone(), (self.period().as_secs() as u32 * 3).max(5));
        if !self
            .store
            .run(move |s| s.lease("lifecycle", &holder, lease_secs))
            .await?
        {
            return Ok(());
        }
        let day_ms = self.day.as_millis() as u64;
        let started = now_millis();
        let report = self
            .store
            .run(move |s| {
                let mut report = LifecycleReport::default();
                for b in s.buckets_with_lifecycle()? {
                    report.add(s.lifecycle_pass(&b.name, now_millis(), day_ms)?);
                }
                Ok::<_, strata_blockstore::Error>(report)
            })
            .await?;
        let did = report.expired + report.noncurrent_removed + report.markers_removed + report.uploads_aborted;
        if did > 0 {
            tracing::info!(?report, "lifecycle pass");
        }
        let saved = {
            let mut s = self.lock();
            s.last_run_ms = Some(now_millis());
            s.last_duration_ms = now_millis() - started;
            s.last = report;
            s.total.add(report);
            s.last_error = None;
            serde_json::to_vec(&*s).unwrap_or_default()
        };
        self.store.run(move |s| s.repl_put(SAVED, &saved)).await
    }
}
