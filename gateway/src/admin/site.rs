//! The site's own state, beside replication: its data disk, whether it takes new data,
//! whether it is fenced, whether its store stopped.

use crate::admin::reply::store_error;
use crate::admin::state::AdminState;
use crate::purge::PurgeStatus;
use crate::scrub::{ScrubFigures, ScrubStatus};
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// The site's own state: its data disk and whether it takes new data.
#[derive(Debug, Serialize, Deserialize)]
pub struct SiteStatus {
    pub site: String,
    pub site_id: String,
    /// Where the site's data is: "disk" (the data directory), or "rados" (a Ceph
    /// cluster, whose raw space the `disk_` figures then are).
    #[serde(default)]
    pub store: String,
    pub disk_free_bytes: u64,
    pub disk_total_bytes: u64,
    pub reserve_bytes: u64,
    /// The ballast file held for metadata (0 once released on a full disk).
    pub ballast_bytes: u64,
    /// False once free space is below the reserve: new data answers 507.
    pub accepting_new_data: bool,
    /// Set when a metadata flush failed and the site stopped taking changes.
    pub failure: Option<String>,
    /// The site refuses client writes (`strata admin read-only on`).
    #[serde(default)]
    pub read_only: bool,
    /// TLS handshakes refused on the S3 and replication ports since start, and why the
    /// last one was.
    #[serde(default)]
    pub tls_refused: u64,
    #[serde(default)]
    pub tls_last_refusal: Option<String>,
    /// How far this site's clock (its newest timestamp) is ahead of the wall clock:
    /// about 0 unless timestamps from a peer with a clock ahead were applied.
    #[serde(default)]
    pub clock_ahead_ms: u64,
    /// The scrub in progress and the last one's result.
    #[serde(default)]
    pub scrub: ScrubStatus,
    /// Deletes kept as graves, and their purge.
    #[serde(default)]
    pub purge: PurgeStatus,
    /// The lifecycle worker's last pass.
    #[serde(default)]
    pub lifecycle: crate::lifecycle::LifecycleStatus,
}

impl SiteStatus {
    /// The running scrub's figures, else the last one's.
    fn scrub_figures(&self) -> ScrubFigures {
        match (&self.scrub.running, &self.scrub.last) {
            (Some(r), _) => r.figures,
            (None, Some(l)) => l.figures,
            (None, None) => ScrubFigures::default(),
        }
    }

    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let scrub = self.scrub_figures();
        for (name, help, v) in [
            (
                "strata_disk_free_bytes",
                "Free bytes on the data disk.",
                self.disk_free_bytes,
            ),
            (
                "strata_disk_total_bytes",
                "Size of the data disk.",
                self.disk_total_bytes,
            ),
            (
                "strata_disk_reserve_bytes",
                "Free space kept for metadata; below it new data is refused.",
                self.reserve_bytes,
            ),
            (
                "strata_disk_ballast_bytes",
                "Ballast held for metadata, released when the disk fills.",
                self.ballast_bytes,
            ),
            (
                "strata_accepting_new_data",
                "1 while new data fits above the reserve.",
                u64::from(self.accepting_new_data),
            ),
            (
                "strata_store_failed",
                "1 once a metadata flush failed (the site must restart).",
                u64::from(self.failure.is_some()),
            ),
            (
                "strata_read_only",
                "1 while the site refuses client writes.",
                u64::from(self.read_only),
            ),
            (
                "strata_tls_handshakes_refused",
                "TLS handshakes refused on the S3 and replication ports since start.",
                self.tls_refused,
            ),
            (
                "strata_clock_ahead_ms",
                "How far the site's newest timestamp is ahead of its wall clock.",
                self.clock_ahead_ms,
            ),
            (
                "strata_scrub_running",
                "1 while a scrub runs.",
                u64::from(self.scrub.running.is_some()),
            ),
            (
                "strata_scrub_blocks_checked",
                "Blocks the running scrub (else the last one) read and checked.",
                scrub.blocks_checked,
            ),
            (
                "strata_scrub_bad_found",
                "Bad blocks (missing or corrupt) the running or last scrub found.",
                scrub.bad_found,
            ),
            (
                "strata_scrub_repaired",
                "Bad blocks replaced with a peer's good copy by the running or last scrub.",
                scrub.repaired,
            ),
            (
                "strata_scrub_unrepairable",
                "Bad blocks no peer could replace, found by the running or last scrub.",
                scrub.unrepairable,
            ),
            (
                "strata_graves",
                "Deletes kept as graves until every sink has carried them and the retention passed.",
                self.purge.graves,
            ),
            (
                "strata_graves_purged",
                "Graves purged since the site started.",
                self.purge.purged_total,
            ),
            (
                "strata_lifecycle_last_run_ms",
                "When the lifecycle worker's last pass ended (Unix ms; 0: never).",
                self.lifecycle.last_run_ms.unwrap_or(0),
            ),
            (
                "strata_lifecycle_expired_total",
                "Current versions lifecycle expired, since the site was made.",
                self.lifecycle.total.expired,
            ),
            (
                "strata_lifecycle_removed_total",
                "Noncurrent versions and delete markers lifecycle removed, since the site was made.",
                self.lifecycle.total.noncurrent_removed + self.lifecycle.total.markers_removed,
            ),
            (
                "strata_lifecycle_uploads_aborted_total",
                "Multipart uploads lifecycle aborted, since the site was made.",
                self.lifecycle.total.uploads_aborted,
            ),
            (
                "strata_lifecycle_locked_kept",
                "Versions due for removal that Object Lock kept, in the last pass.",
                self.lifecycle.last.locked_kept,
            ),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"));
        }
        out
    }
}

pub async fn site_status(s: &AdminState) -> Result<SiteStatus, Response> {
    let space = s.store.run(|st| st.space()).await.map_err(store_error)?;
    Ok(SiteStatus {
        site: s.site_name.clone(),
        site_id: s.store.site_id().to_string(),
        store: if s.store.shared() { "rados" } else { "disk" }.into(),
        disk_free_bytes: space.free,
        disk_total_bytes: space.total,
        reserve_bytes: space.reserve,
        ballast_bytes: space.ballast,
        accepting_new_data: space.admit(0).is_ok(),
        failure: s.store.failure(),
        read_only: s.store.read_only(),
        tls_refused: s.tls_refusals.count.load(std::sync::atomic::Ordering::Relaxed),
        tls_last_refusal: s.tls_refusals.last.read().unwrap_or_else(|e| e.into_inner()).clone(),
        clock_ahead_ms: s
            .store
            .clock_high()
            .millis()
            .saturating_sub(strata_blockstore::now_millis()),
        scrub: s.scrub.status(),
        purge: s.purge.status(),
        lifecycle: s.lifecycle.status(),
    })
}
