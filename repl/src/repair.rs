//! Dirty keys repaired within seconds. A key a sink did not get by realtime (it skipped
//! the change for want of the object's bucket or of room, or the log overflowed while
//! the sink was away) is in the sink's dirty set; this loop sends each such key's
//! current record again, with what it needs first (an object's bucket, a bucket's
//! owner), whether or not fullsync is enabled. A key the sink skips again (still no
//! room) is marked again and tried again a few seconds later; the others leave the set.

use crate::error::{ReplError, Result};
use crate::peer::Peer;
use crate::sender::deliver;
use crate::site::Site;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use strata_blockstore::{bucket_key, user_key, Change, Store};
use tokio::sync::watch;

/// Dirty keys taken per round (with their parents, one delivery).
const KEYS_PER_ROUND: usize = 512;
/// How often the set is looked at while it is empty, and the first retry's wait.
const TICK: Duration = Duration::from_secs(1);
/// The longest wait between rounds that repair nothing (a sink still full): room that
/// returns is used within this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs beside the realtime sender of `peer`, until `stop`.
pub async fn run(site: Arc<Site>, peer: Arc<Peer>, mut stop: watch::Receiver<bool>) {
    let mut wait = TICK;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        wait = match round(&site, &peer).await {
            // Something left the set: go on at once with the rest.
            Ok(Some(true)) => Duration::ZERO,
            Ok(None) => TICK,
            Ok(Some(false)) => (wait * 2).clamp(TICK, MAX_BACKOFF),
            Err(e) => {
                tracing::debug!(sink = %peer.name, error = %e, "dirty-key repair failed; will retry");
                (wait * 2).clamp(TICK, MAX_BACKOFF)
            }
        };
    }
}

/// One round: None if the set was empty, else whether any key left it.
async fn round(site: &Arc<Site>, peer: &Arc<Peer>) -> Result<Option<bool>> {
    let name = peer.name.clone();
    let marks = site.store.run(move |s| s.dirty_marks(&name, KEYS_PER_ROUND)).await?;
    if marks.is_empty() {
        return Ok(None);
    }
    let keys: Vec<String> = marks.iter().map(|(k, _)| k.clone()).collect();
    let (cascade, me) = (site.cascade.load(std::sync::atomic::Ordering::SeqCst), site.me.id);
    let changes = site
        .store
        .run(move |s| {
            Ok::<_, ReplError>(
                changes_for(s, &keys)?
                    .into_iter()
                    .filter(|c| cascade || c.origin() == me)
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    let blocks = peer.sink_settings().is_some_and(|s| s.blocks);
    // Keys the sink skips again are marked again by the delivery, so they stay.
    deliver(site, peer, &peer.link(), changes, Vec::new(), blocks).await?;
    let (name, taken) = (peer.name.clone(), marks.len());
    let forgot = site.store.run(move |s| s.clear_dirty_marks(&name, &marks)).await?;
    if forgot > 0 {
        tracing::info!(sink = %peer.name, taken, repaired = forgot, "dirty keys sent again and applied");
    } else {
        tracing::debug!(sink = %peer.name, taken, "dirty keys sent again, all skipped by the sink");
    }
    Ok(Some(forgot > 0))
}

/// The current record (or delete) of each key, after those of its parents: every
/// user first, then every bucket, then the rest, so the sink never lacks a parent.
fn changes_for(store: &Store, keys: &[String]) -> Result<Vec<Change>> {
    let mut wanted: BTreeSet<String> = keys.iter().cloned().collect();
    for k in keys {
        if let Some(rest) = k.strip_prefix("object/") {
            let bucket = rest.split_once('/').map_or(rest, |(b, _)| b);
            wanted.insert(bucket_key(bucket));
        }
    }
    let mut changes: Vec<Change> = Vec::new();
    for k in &wanted {
        changes.extend(store.current_change(k)?);
    }
    // A bucket's owner may predate realtime too.
    let owners: BTreeSet<String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Bucket(b) => Some(user_key(&b.owner)),
            _ => None,
        })
        .filter(|k| !wanted.contains(k))
        .collect();
    for k in &owners {
        changes.extend(store.current_change(k)?);
    }
    changes.sort_by_key(|c| match c {
        Change::User(_) | Change::UserDeleted { .. } | Change::UserKeyRetired { .. } => 0,
        Change::Bucket(_) => 1,
        _ => 2,
    });
    Ok(changes)
}
