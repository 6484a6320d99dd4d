//! Replication status: the per-peer view that `strata repl status`, the admin API and
//! the Prometheus endpoint show, built from the peers' counters and the change log.

use crate::counters::{Latency, ProxyGetStatus, Traffic};
use crate::error::Result;
use crate::fullsync_record::{FullsyncFigures, FullsyncResult, FullsyncState};
use crate::locks::lock;
use crate::peer::{get_json, verify_key, LinkState, Peer, SinkSettings};
use crate::verify_record::VerifyReport;
use serde::Serialize;
use std::fmt::Write;
use strata_blockstore::{Store, PARTITIONS};

/// This site streaming to a peer.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SinkStatus {
    pub state: String,
    /// Why the stream is stopped, when it is.
    pub reason: Option<String>,
    pub realtime_enabled: bool,
    pub realtime_started: bool,
    pub realtime_blocks: bool,
    /// The sink may fetch blocks from this site by proxy-get.
    pub proxy_get: bool,
    /// Age of the oldest change the sink has not acknowledged.
    pub lag_ms: u64,
    pub pending_entries: u64,
    pub pending_bytes: u64,
    /// Keys the sink did not get by realtime (an overflow of the bounded log, or a
    /// change it skipped): sent again within seconds, and compared by fullsync.
    pub dirty_keys: u64,
    pub sent: Traffic,
    pub last_error: Option<String>,
    pub fullsync: FullsyncStatus,
    /// The last `strata repl verify` of this sink, if any.
    #[serde(default)]
    pub last_verify: Option<VerifyReport>,
    /// The purge watermark: the change-log sequence up to which the sink has carried
    /// every delete (none held back when it carries nothing: u64::MAX).
    #[serde(default)]
    pub carried_seq: u64,
    /// Changes logged since the watermark: deletes among them keep their graves.
    #[serde(default)]
    pub not_carried: u64,
}

/// Fullsync to one sink: the run in progress (if any) and the last one's result.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FullsyncStatus {
    pub enabled: bool,
    pub metadata_only: bool,
    pub state: FullsyncState,
    pub partitions_done: u32,
    pub partitions_total: u32,
    pub percent: f64,
    /// The running run's figures (zero between runs).
    #[serde(flatten)]
    pub figures: FullsyncFigures,
    /// Seconds left at the pace so far.
    pub eta_secs: Option<u64>,
    pub started_ms: Option<u64>,
    /// Where the run in progress resumed after it was cut or stopped.
    pub resumed_at_partition: Option<u32>,
    pub last: Option<FullsyncResult>,
    /// The last runs, newest first.
    #[serde(default)]
    pub history: Vec<FullsyncResult>,
    pub last_error: Option<String>,
}

fn fullsync_status(p: &Peer, settings: SinkSettings, now: u64) -> FullsyncStatus {
    let record = p.fullsync_record();
    let run = record.running.clone().unwrap_or_default();
    let total = u32::from(PARTITIONS);
    let eta_secs = (record.running.is_some() && run.partitions_done > 0).then(|| {
        let elapsed = now.saturating_sub(run.started_ms) as f64 / 1000.0;
        (elapsed * f64::from(total - run.partitions_done) / f64::from(run.partitions_done)) as u64
    });
    FullsyncStatus {
        enabled: settings.fullsync,
        metadata_only: !settings.fullsync_blocks,
        state: *lock(&p.fullsync_state),
        partitions_done: run.partitions_done,
        partitions_total: total,
        percent: f64::from(run.partitions_done) * 100.0 / f64::from(total),
        figures: run.figures,
        eta_secs,
        started_ms: record.running.as_ref().map(|r| r.started_ms),
        resumed_at_partition: run.resumed_at_partition,
        last: record.last,
        history: record.history,
        last_error: lock(&p.fullsync_error).clone(),
    }
}

/// A peer streaming to this site.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SourceStatus {
    pub received: Traffic,
    /// Why this source's changes are refused (its clock is too far ahead), if they are.
    #[serde(default)]
    pub held_back: Option<String>,
    /// Changes of kinds this site does not take from this source (`[repl] accept`),
    /// dropped since start.
    #[serde(default)]
    pub refused_changes: u64,
    /// Commit-to-apply delay of recent changes.
    pub latency: Option<Latency>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PeerStatus {
    pub site: String,
    pub site_id: String,
    pub address: String,
    /// What the peer is to this site: `sink`, `source` or `both`.
    pub role: String,
    /// Present when the peer is this site's sink.
    pub sink: Option<SinkStatus>,
    /// Present when the peer is a source for this site.
    pub source: Option<SourceStatus>,
}

pub fn state_and_reason(settings: SinkSettings, state: LinkState) -> (String, Option<String>) {
    let stopped = |why: &str| ("stopped".to_owned(), Some(why.to_owned()));
    if !settings.enabled {
        return stopped("realtime is not enabled");
    }
    if !settings.started {
        return stopped("realtime was stopped by the operator");
    }
    let s = serde_json::to_value(state).ok();
    (s.and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(), None)
}

/// The same figures as Prometheus text exposition.
pub fn prometheus(peers: &[PeerStatus], proxy: &ProxyGetStatus) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, values: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in values {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let sinks: Vec<(&PeerStatus, &SinkStatus)> = peers.iter().filter_map(|p| Some((p, p.sink.as_ref()?))).collect();
    let sources: Vec<(&PeerStatus, &SourceStatus)> =
        peers.iter().filter_map(|p| Some((p, p.source.as_ref()?))).collect();
    let label = |p: &PeerStatus| format!("peer=\"{}\"", p.site.replace(['"', '\\'], "_"));
    let per_sink = |f: &dyn Fn(&SinkStatus) -> u64| sinks.iter().map(|(p, s)| (label(p), f(s))).collect();
    let per_source = |f: &dyn Fn(&SourceStatus) -> u64| sources.iter().map(|(p, s)| (label(p), f(s))).collect();
    type SinkFigure = (&'static str, &'static str, fn(&SinkStatus) -> u64);
    let sink_figures: [SinkFigure; 14] = [
        (
            "sink_up",
            "1 when the realtime stream to the sink is synced or syncing",
            |s| u64::from(s.state == "synced" || s.state == "syncing"),
        ),
        ("lag_milliseconds", "Age of the oldest unacknowledged change", |s| {
            s.lag_ms
        }),
        ("pending_entries", "Change-log entries not yet acknowledged", |s| {
            s.pending_entries
        }),
        ("pending_bytes", "Change-log bytes not yet acknowledged", |s| {
            s.pending_bytes
        }),
        (
            "dirty_keys",
            "Keys dropped by realtime overflow, awaiting fullsync",
            |s| s.dirty_keys,
        ),
        (
            "not_carried_entries",
            "Changes logged since the sink's purge watermark (their deletes keep graves)",
            |s| s.not_carried,
        ),
        ("sent_objects", "Object changes sent", |s| s.sent.objects),
        ("sent_bytes", "Bytes sent (changes and blocks)", |s| s.sent.bytes),
        (
            "sent_raw_bytes",
            "Bytes sent, before compression (equal to sent_bytes when off)",
            |s| s.sent.raw_bytes,
        ),
        ("fullsync_running", "1 while a fullsync to the sink runs", |s| {
            u64::from(s.fullsync.state == FullsyncState::Running)
        }),
        (
            "fullsync_partitions_done",
            "Partitions the running fullsync has compared",
            |s| u64::from(s.fullsync.partitions_done),
        ),
        (
            "fullsync_differences",
            "Keys the running (else the last) fullsync found different",
            |s| {
                if s.fullsync.started_ms.is_some() {
                    s.fullsync.figures.differences
                } else {
                    s.fullsync.last.as_ref().map_or(0, |l| l.figures.differences)
                }
            },
        ),
        (
            "fullsync_last_duration_milliseconds",
            "How long the last complete fullsync took",
            |s| s.fullsync.last.as_ref().map_or(0, |l| l.duration_ms),
        ),
        (
            "fullsync_last_end_milliseconds",
            "When the last fullsync ended (Unix ms)",
            |s| s.fullsync.last.as_ref().map_or(0, |l| l.ended_ms),
        ),
    ];
    type SourceFigure = (&'static str, &'static str, fn(&SourceStatus) -> u64);
    let source_figures: [SourceFigure; 4] = [
        ("received_objects", "Object changes received", |s| s.received.objects),
        (
            "locked_refusals",
            "Replicated deletes of versions Object Lock keeps here, refused",
            |s| s.received.locked_refusals,
        ),
        ("received_bytes", "Bytes received (changes and blocks)", |s| {
            s.received.bytes
        }),
        (
            "apply_latency_p99_milliseconds",
            "Commit-to-apply delay of recent changes, 99th percentile",
            |s| s.latency.map_or(0, |l| l.p99_ms),
        ),
    ];
    for (name, help, f) in sink_figures {
        metric(&format!("strata_repl_{name}"), help, per_sink(&f));
    }
    for (name, help, f) in source_figures {
        metric(&format!("strata_repl_{name}"), help, per_source(&f));
    }
    for (name, help, v) in [
        (
            "requests",
            "Object reads that needed blocks from a source",
            proxy.requests,
        ),
        ("blocks", "Blocks fetched from sources by proxy-get", proxy.blocks),
        ("bytes", "Bytes fetched from sources by proxy-get", proxy.bytes),
        ("failures", "Blocks proxy-get could not fetch", proxy.failures),
        (
            "cut_reads",
            "Reads that had begun answering and were cut short because a block could not be had",
            proxy.cut_reads,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP strata_repl_proxy_get_{name} {help}\n# TYPE strata_repl_proxy_get_{name} counter"
        );
        let _ = writeln!(out, "strata_repl_proxy_get_{name} {v}");
    }
    out
}

/// Where streaming to one sink stands. Blocking: reads the change log.
pub(crate) fn sink_status(store: &Store, p: &Peer, settings: SinkSettings, now: u64) -> Result<SinkStatus> {
    let (state, reason) = state_and_reason(settings, *lock(&p.state));
    let cursor = p.cursor();
    let carried = p.carried();
    let (mut pending_entries, mut pending_bytes, mut lag_ms) = (0, 0, 0);
    if settings.enabled {
        pending_entries = store.last_seq().saturating_sub(cursor.seq);
        pending_bytes = store.log_bytes().saturating_sub(cursor.position);
        if let Some(oldest) = store.changes_after(cursor.seq, 1, 0)?.pop() {
            lag_ms = now.saturating_sub(oldest.change.version().0.millis());
        }
    }
    Ok(SinkStatus {
        state,
        reason,
        realtime_enabled: settings.enabled,
        realtime_started: settings.started,
        realtime_blocks: settings.blocks,
        proxy_get: settings.proxy_get,
        lag_ms,
        pending_entries,
        pending_bytes,
        dirty_keys: store.dirty_count(&p.name)?,
        sent: p.sent.view(),
        last_error: lock(&p.last_error).clone(),
        fullsync: fullsync_status(p, settings, now),
        last_verify: get_json(store, &verify_key(&p.name))?,
        carried_seq: carried,
        not_carried: store.last_seq().saturating_sub(carried),
    })
}
