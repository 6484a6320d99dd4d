//! Fullsync: makes a sink hold everything this site holds, sending only what differs.
//!
//! Both sites keep a hash tree over every replicated record (see the engine's
//! `sync_tree`), current at every commit. A run asks the sink for its group digests
//! and walks the groups in order (users and buckets first): an equal group costs
//! nothing more; in a group that differs, the partitions' digests are compared, and
//! only for partitions that differ are the entries fetched. An entry the sink lacks or
//! holds older (by HLC, then site) is sent: the record, an object tombstone, or the
//! delete of a user or bucket. The sink applies it by last-writer-wins like a realtime
//! change, so a newer write at the sink is never undone, and a key only the sink holds
//! stays. Progress is saved after every group: a run cut by a crash of either site, or
//! stopped by the operator, resumes at the group it had reached.

use crate::error::{ReplError, Result};
use crate::fullsync_record::{FullsyncFigures, FullsyncRecord, FullsyncResult, FullsyncRun, FullsyncState};
use crate::link::Link;
use crate::locks::lock;
use crate::peer::Peer;
use crate::protocol::{self, EntriesAsk, EntriesPage};
use crate::sender::{deliver, hello, object_data, MAX_BATCH_DATA, MAX_ENTRIES};
use crate::site::Site;
use crate::throttle::Throttle;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strata_blockstore::{
    group_digests, now_millis, Change, Digest16, PartitionDigest, SyncEntry, SyncPosition, GROUPS, GROUP_SIZE,
};
use tokio::sync::watch;

const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Partitions whose entries are asked for (and compared) together: 1/1024 of the keys.
const PARTITIONS_PER_ASK: usize = 4;
/// Entries per page of that comparison, on each side (about 100 bytes each).
const ENTRIES_PAGE: usize = 4096;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The runner for one sink: waits for a trigger, runs, and retries a failed run (a link
/// that is down) until it completes, so a run also happens once the link comes back.
pub async fn run(site: Arc<Site>, peer: Arc<Peer>, mut shutdown: watch::Receiver<bool>) {
    // A run cut by a crash resumes at once; one the operator stopped waits for a trigger.
    let mut due = peer.fullsync_record().running.is_some_and(|r| !r.stopped);
    let since = now_millis();
    loop {
        if !due {
            // A run the operator stopped stays shown as stopped until the next trigger.
            if *lock(&peer.fullsync_state) != FullsyncState::Stopped {
                peer.set_fullsync_state(FullsyncState::Idle);
            }
            tokio::select! {
                _ = peer.fullsync_wake.notified() => {}
                _ = tokio::time::sleep(until_interval(&site, &peer, since)) => {}
                _ = shutdown.changed() => return,
            }
        }
        due = false;
        let mut backoff = MIN_BACKOFF;
        loop {
            peer.set_fullsync_state(FullsyncState::Running);
            let outcome = tokio::select! {
                r = run_once(&site, &peer) => r,
                _ = peer.fullsync_cancel.notified() => {
                    mark_stopped(&site, &peer).await;
                    break;
                }
                _ = shutdown.changed() => return,
            };
            match outcome {
                Ok(()) => {
                    *lock(&peer.fullsync_error) = None;
                    break;
                }
                Err(e) => {
                    tracing::warn!(sink = %peer.name, error = %e, "fullsync interrupted; will resume");
                    peer.set_fullsync_state(FullsyncState::Retrying);
                    *lock(&peer.fullsync_error) = Some(e.to_string());
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = peer.fullsync_wake.notified() => {}
                        _ = peer.fullsync_cancel.notified() => {
                            mark_stopped(&site, &peer).await;
                            break;
                        }
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// How long until the periodic run is due: an interval after the last run ended, or
/// after `since` (the runner's start) if none has (a long time when the interval is off).
fn until_interval(site: &Site, peer: &Peer, since: u64) -> Duration {
    if site.fullsync_interval.is_zero() {
        return Duration::from_secs(365 * 24 * 3600);
    }
    let last_end = peer.fullsync_record().last.map_or(since, |l| l.ended_ms);
    let due = last_end + site.fullsync_interval.as_millis() as u64;
    Duration::from_millis(due.saturating_sub(now_millis()))
}

async fn mark_stopped(site: &Site, peer: &Arc<Peer>) {
    peer.set_fullsync_state(FullsyncState::Stopped);
    let mut record = peer.fullsync_record();
    if let Some(r) = &mut record.running {
        r.stopped = true;
    }
    let p = peer.clone();
    if let Err(e) = site.store.run(move |s| p.save_fullsync(s, record)).await {
        tracing::warn!(sink = %peer.name, error = %e, "could not save the stopped fullsync");
    }
    tracing::info!(sink = %peer.name, "fullsync stopped by the operator; it resumes at the next start");
}

/// One run, from where the last one stopped (or from the start).
async fn run_once(site: &Arc<Site>, peer: &Arc<Peer>) -> Result<()> {
    let link = peer.link();
    hello(&link, site, peer).await?;
    let blocks = peer.sink_settings().is_some_and(|s| s.fullsync_blocks);
    let mut run = match peer.fullsync_record().running {
        Some(mut r) => {
            if r.next_group > 0 {
                r.resumed_at_partition = Some(r.partitions_done);
            }
            r.stopped = false;
            tracing::info!(sink = %peer.name, partition = r.partitions_done, "fullsync resumes");
            r
        }
        None => {
            tracing::info!(sink = %peer.name, "fullsync starts");
            FullsyncRun {
                started_ms: now_millis(),
                start_seq: site.store.last_seq(),
                ..FullsyncRun::default()
            }
        }
    };
    save(site, peer, Some(run.clone()), None).await?;
    let theirs: Vec<Digest16> = link
        .call_bincode(protocol::SYNC_GROUPS, Vec::new(), &mut run.figures.bytes_exchanged)
        .await?;
    // This site's digests, read once: its group digests come from them, as the sink's do.
    let my_digests = site.store.run(|s| s.sync_digests()).await?;
    let mine = group_digests(&my_digests);
    let my_parts: BTreeMap<u16, PartitionDigest> = my_digests.into_iter().collect();
    if theirs.len() != GROUPS as usize {
        return Err(ReplError::Protocol(format!(
            "the sink's hash tree has {} groups, this site's {GROUPS}",
            theirs.len()
        )));
    }
    let mut throttle = Throttle::new(site.fullsync_max_bytes_per_sec);
    for g in run.next_group..GROUPS {
        let in_group = || my_parts.range(g * GROUP_SIZE..(g + 1) * GROUP_SIZE);
        let figures = &mut run.figures;
        if mine[g as usize] == theirs[g as usize] {
            figures.keys_compared += in_group().map(|(_, p)| p.count).sum::<u64>();
        } else {
            let their_parts: BTreeMap<u16, PartitionDigest> = link
                .call_bincode(
                    protocol::SYNC_PARTITIONS,
                    bincode::serialize(&g).expect("serializes"),
                    &mut figures.bytes_exchanged,
                )
                .await?;
            let differing: Vec<u16> = (g * GROUP_SIZE..(g + 1) * GROUP_SIZE)
                .filter(|p| my_parts.get(p) != their_parts.get(p))
                .collect();
            figures.keys_compared += in_group()
                .filter(|(p, _)| !differing.contains(p))
                .map(|(_, d)| d.count)
                .sum::<u64>();
            for chunk in differing.chunks(PARTITIONS_PER_ASK) {
                compare_partitions(site, peer, &link, chunk, blocks, figures, &mut throttle).await?;
            }
        }
        run.next_group = g + 1;
        run.partitions_done = u32::from(g + 1) * u32::from(GROUP_SIZE);
        save(site, peer, Some(run.clone()), None).await?;
    }
    let ended = now_millis();
    let result = FullsyncResult {
        started_ms: run.started_ms,
        start_seq: run.start_seq,
        ended_ms: ended,
        duration_ms: ended.saturating_sub(run.started_ms),
        result: "complete".into(),
        figures: run.figures,
        resumed_at_partition: run.resumed_at_partition,
    };
    // Every key dirtied before this run began has been compared since.
    let (p, started) = (peer.clone(), run.started_ms);
    site.store.run(move |s| s.clear_dirty_before(&p.name, started)).await?;
    tracing::info!(
        sink = %peer.name,
        differences = result.figures.differences,
        objects = result.figures.objects_sent,
        bytes = result.figures.bytes_sent,
        ms = result.duration_ms,
        "fullsync complete"
    );
    save(site, peer, None, Some(result)).await
}

/// Compares the entries of a few partitions with the sink's, page by page, and sends
/// what the sink lacks or holds older. Each round reads a page of each side's entries
/// (from the same position) and compares them up to the end of the page that stopped
/// first; the next round starts there. So memory is a page per side and one batch of
/// changes, whatever the size of the partitions or of the difference.
async fn compare_partitions(
    site: &Arc<Site>,
    peer: &Arc<Peer>,
    link: &Link,
    partitions: &[u16],
    blocks: bool,
    figures: &mut FullsyncFigures,
    throttle: &mut Throttle,
) -> Result<()> {
    // With cascading off, only what this site wrote goes to its sinks.
    let (cascade, me) = (site.cascade.load(std::sync::atomic::Ordering::SeqCst), site.me.id);
    let mut after: Option<SyncPosition> = None;
    loop {
        let ask = EntriesAsk {
            partitions: partitions.to_vec(),
            after: after.clone(),
            limit: ENTRIES_PAGE as u32,
        };
        let theirs: EntriesPage = link
            .call_bincode(
                protocol::SYNC_ENTRIES,
                bincode::serialize(&ask).expect("serializes"),
                &mut figures.bytes_exchanged,
            )
            .await?;
        let (parts, from) = (partitions.to_vec(), after.clone());
        let (mine, more): (Vec<(u16, SyncEntry)>, bool) = site
            .store
            .run(move |s| s.sync_entries_page(&parts, from.as_ref(), ENTRIES_PAGE))
            .await?;
        let ours = |e: &SyncEntry| cascade || e.version().1 == me;
        let (wanted, compared, end) = compare_page(mine, more, theirs, ours);
        figures.keys_compared += compared;
        send_wanted(site, peer, link, wanted, blocks, figures, throttle).await?;
        match end {
            Some(e) => after = Some(e),
            None => return Ok(()),
        }
    }
}

/// One round of the comparison: this site's page of entries (`more`: it stopped at its
/// limit) against the sink's, both read from the same position. Both are complete up to
/// the last entry of a page that stopped at its limit: entries up to there are compared
/// (the rest are read again next round). Returns the entries the sink lacks or holds
/// older among those `ours` says this site sends, how many of this site's entries were
/// compared, and where the next round starts (None: the partitions are done).
fn compare_page(
    mine: Vec<(u16, SyncEntry)>,
    more: bool,
    theirs: EntriesPage,
    ours: impl Fn(&SyncEntry) -> bool,
) -> (Vec<SyncEntry>, u64, Option<SyncPosition>) {
    let position = |(p, e): &(u16, SyncEntry)| (*p, e.key.clone());
    let end: Option<SyncPosition> = [(theirs.more, theirs.entries.last()), (more, mine.last())]
        .into_iter()
        .filter_map(|(more, last)| last.filter(|_| more).map(position))
        .min();
    let within = |(p, e): &(u16, SyncEntry)| end.as_ref().is_none_or(|(ep, ek)| (*p, &e.key) <= (*ep, ek));
    let known: BTreeMap<&str, _> = theirs
        .entries
        .iter()
        .filter(|x| within(x))
        .map(|(_, e)| (e.key.as_str(), e.version()))
        .collect();
    let (mut wanted, mut compared) = (Vec::new(), 0);
    for (_, e) in mine.iter().filter(|x| within(x)) {
        compared += 1;
        if ours(e) && known.get(e.key.as_str()).is_none_or(|v| *v < e.version()) {
            wanted.push(e.clone());
        }
    }
    (wanted, compared, end)
}

/// Sends the current state of the keys of `wanted`, one batch of changes read at a time.
async fn send_wanted(
    site: &Arc<Site>,
    peer: &Arc<Peer>,
    link: &Link,
    wanted: Vec<SyncEntry>,
    blocks: bool,
    figures: &mut FullsyncFigures,
    throttle: &mut Throttle,
) -> Result<()> {
    for slice in wanted.chunks(MAX_ENTRIES) {
        let slice = slice.to_vec();
        let changes = site
            .store
            .run(move |s| {
                let mut changes = Vec::new();
                for e in &slice {
                    // None: changed since it was read; realtime or the next run
                    // carries the newer state.
                    changes.extend(s.sync_change(e)?);
                }
                Ok::<_, ReplError>(changes)
            })
            .await?;
        figures.differences += changes.len() as u64;
        for batch in batches(changes) {
            let (objects, bytes) = deliver(site, peer, link, batch, Vec::new(), blocks).await?;
            figures.objects_sent += objects;
            figures.bytes_sent += bytes;
            figures.bytes_exchanged += bytes;
            throttle.wait(bytes).await;
        }
    }
    Ok(())
}

async fn save(site: &Site, peer: &Arc<Peer>, running: Option<FullsyncRun>, last: Option<FullsyncResult>) -> Result<()> {
    let mut record: FullsyncRecord = peer.fullsync_record();
    record.running = running;
    if let Some(result) = last {
        record.history.insert(0, result.clone());
        record.history.truncate(crate::fullsync_record::HISTORY);
        record.last = Some(result);
    }
    let p = peer.clone();
    site.store.run(move |s| p.save_fullsync(s, record)).await
}

/// Splits changes into batches within realtime's bounds: at most `MAX_ENTRIES` changes
/// and, past the first object, `MAX_BATCH_DATA` bytes of object data.
fn batches(changes: Vec<Change>) -> Vec<Vec<Change>> {
    let mut out: Vec<Vec<Change>> = Vec::new();
    let (mut current, mut data) = (Vec::new(), 0u64);
    for c in changes {
        let size = object_data(&c);
        if !current.is_empty() && (current.len() == MAX_ENTRIES || data + size > MAX_BATCH_DATA) {
            out.push(std::mem::take(&mut current));
            data = 0;
        }
        data += size;
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_blockstore::{BlockHash, BlockRef, Hlc, Manifest, ObjectHeaders, ObjectState, SiteId};

    fn object(key: &str, size: u64, live: bool) -> Change {
        Change::Object(Box::new(Manifest {
            bucket: "b".into(),
            key: key.into(),
            version_id: "null".into(),
            created: (Hlc(1), SiteId(1)),
            state: if live {
                ObjectState::Active
            } else {
                ObjectState::Deleted
            },
            size,
            etag: String::new(),
            last_modified_ms: 0,
            headers: ObjectHeaders::default(),
            block_size: 1 << 30,
            // A live object's data is its blocks (1 GiB each here, the last shorter).
            blocks: if live {
                (0..size.div_ceil(1 << 30))
                    .map(|i| BlockRef {
                        hash: BlockHash([0; 32]),
                        len: (size - i * (1 << 30)).min(1 << 30) as u32,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            inline: None,
            parts: Vec::new(),
            upload_id: None,
            hlc: Hlc(1),
            site: SiteId(1),
        }))
    }

    /// The paged comparison finds exactly what a comparison of whole partitions
    /// finds, with pages far smaller than the partitions and pages that end at
    /// different places on the two sides.
    #[test]
    fn paged_comparison_finds_exactly_the_difference() {
        use strata_blockstore::{ObjectHeaders, ObjectWriter, Precondition, Store, StoreConfig, PARTITIONS};
        let open = |d: &std::path::Path, id: u64| {
            let mut cfg = StoreConfig::new(d);
            cfg.site_id = Some(SiteId(id));
            Store::open(cfg).unwrap()
        };
        let put = |s: &Arc<Store>, key: &str| {
            let mut w = ObjectWriter::new(s.clone());
            w.write(key.as_bytes()).unwrap();
            let data = w.finish().unwrap();
            s.put_object("b", key, ObjectHeaders::default(), data, &Precondition::None)
                .unwrap();
        };
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (open(da.path(), 1), open(db.path(), 2));
        a.create_bucket("b", "alice").unwrap();
        b.create_bucket("b", "alice").unwrap();
        for i in 0..300 {
            let k = format!("k{i:03}");
            match i % 5 {
                0 => put(&a, &k), // only here
                1 => put(&b, &k), // only there
                2 => {
                    put(&b, &k); // older there
                    put(&a, &k);
                }
                3 => {
                    put(&a, &k); // newer there
                    put(&b, &k);
                }
                _ => {}
            }
        }
        // Whole partitions, as before paging.
        let all: Vec<u16> = (0..PARTITIONS).collect();
        let theirs: BTreeMap<String, _> = all
            .iter()
            .flat_map(|p| b.sync_entries(*p).unwrap())
            .map(|e| (e.key.clone(), e.version()))
            .collect();
        let mut expected: Vec<String> = all
            .iter()
            .flat_map(|p| a.sync_entries(*p).unwrap())
            .filter(|e| theirs.get(&e.key).is_none_or(|v| *v < e.version()))
            .map(|e| e.key)
            .collect();
        expected.sort();
        assert!(expected.len() > 50, "{} differences", expected.len());
        for (mine_page, their_page) in [(3, 3), (2, 7), (11, 1), (1000, 1000)] {
            let (mut found, mut compared, mut after) = (Vec::new(), 0, None::<SyncPosition>);
            loop {
                let (entries, more) = b.sync_entries_page(&all, after.as_ref(), their_page).unwrap();
                let theirs = EntriesPage { entries, more };
                let (mine, more) = a.sync_entries_page(&all, after.as_ref(), mine_page).unwrap();
                let (wanted, n, end) = compare_page(mine, more, theirs, |_| true);
                found.extend(wanted.into_iter().map(|e| e.key));
                compared += n;
                match end {
                    Some(e) => after = Some(e),
                    None => break,
                }
            }
            found.sort();
            assert_eq!(found, expected, "pages of {mine_page} here and {their_page} there");
            assert_eq!(
                compared,
                a.sync_digests().unwrap().iter().map(|(_, d)| d.count).sum::<u64>()
            );
        }
    }

    #[test]
    fn batches_bound_changes_and_data() {
        let small: Vec<Change> = (0..1100).map(|i| object(&i.to_string(), 10, true)).collect();
        let b = batches(small);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![512, 512, 76]);
        // Objects over half the data limit: one per batch; a lone huge one still goes.
        let half = crate::sender::MAX_BATCH_DATA / 2 + 1;
        let big: Vec<Change> = (0..3).map(|i| object(&i.to_string(), half, true)).collect();
        assert_eq!(batches(big).len(), 3);
        let huge = vec![object("h", 1 << 40, true)];
        assert_eq!(batches(huge).len(), 1);
        // Tombstones carry no data.
        let tombs: Vec<Change> = (0..3).map(|i| object(&i.to_string(), half, false)).collect();
        assert_eq!(batches(tombs).len(), 1);
    }
}
