//! The realtime sender for one sink: reads the change log after the sink's cursor,
//! sends the blocks the sink lacks, then the changes, and moves the cursor only when
//! the sink acknowledges that it applied them durably. On any failure it backs off and
//! resumes from the cursor, so a cut link or a restart of either side resends at most
//! the unacknowledged batch, which the sink applies idempotently.

use crate::compress;
use crate::error::{ReplError, Result};
use crate::link::{Link, Payload};
use crate::locks::lock;
use crate::peer::{Cursor, LinkState, Peer};
use crate::protocol::{self, parse_hash, Ack, Batch, BlockList, SiteInfo};
use crate::site::Site;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_blockstore::{Change, LogEntry, SiteId};
use tokio::sync::{watch, Notify, Semaphore, SemaphorePermit};

/// Changes per batch (realtime and fullsync alike).
pub(crate) const MAX_ENTRIES: usize = 512;
/// Metadata bytes per batch (manifests with inline data included).
const MAX_BATCH_BYTES: u64 = 4 << 20;
/// Object data per batch: bounds how long one batch takes to send, hence the lag
/// behind large objects; large enough that the two round trips each batch costs (the
/// blocks the sink lacks, the changes' ack) are small beside its transfer over a WAN
/// (docs/performance.md: 16 MiB batches and 4 blocks in flight replicated 38 MiB/s at
/// 50 ms RTT, these 93-103).
pub(crate) const MAX_BATCH_DATA: u64 = 128 << 20;
/// Block requests in flight to one sink (each on its own connection), whatever the
/// number of batches crossing. A request's time is the round trip plus the sink's
/// write and fsync, so the window must cover more than the link's bandwidth-delay
/// product: a 1 MiB backlog at 50 ms RTT replicated 349-372 MiB/s with 48 requests
/// and 48 MiB and two batches ahead, 422-444 with these (loopback: 417-503; at 200 ms
/// 161 and 274), bench/repl-lag.sh.
const REQUESTS_IN_FLIGHT: usize = 96;
/// Block bytes read and in flight to one sink at once, whatever the block size: what
/// the window costs in memory.
const WINDOW_BYTES: u32 = 96 << 20;
/// Batches whose blocks may be crossing at once: the next batches' blocks (and the
/// round trip each takes to ask which the sink lacks) start while the last blocks of
/// the one before are still in flight. Each batch's requests go in its own order, so
/// fewer batches left the window part empty at a batch's start and end.
const BATCHES_AHEAD: usize = 4;
/// Requests' worth of batches whose blocks have crossed, waiting for their changes
/// to go (each up to `MAX_MERGED_BYTES` of log, or one batch if larger).
const READY_BATCHES: usize = 2;
/// Log bytes of batches merged into one request: well within the sink's request limit
/// (a batch that is one huge manifest goes alone).
const MAX_MERGED_BYTES: u64 = 16 << 20;
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub async fn run(repl: Arc<Site>, peer: Arc<Peer>, mut stop: watch::Receiver<bool>) {
    let mut commits = repl.commits.subscribe();
    let mut backoff = MIN_BACKOFF;
    let mut greeted = false;
    let mut broken = false;
    peer.set_state(LinkState::Connecting);
    while !*stop.borrow() {
        let link = peer.link();
        let step = async {
            if !greeted {
                hello(&link, &repl, &peer).await?;
                greeted = true;
            }
            stream(&repl, &peer, &link, &mut broken).await
        };
        // Stopping does not wait for a call in flight (up to the link's timeout): an
        // abandoned batch was not acknowledged, so the cursor has not moved past it.
        let outcome = tokio::select! {
            r = step => r,
            _ = stop.changed() => break,
        };
        match outcome {
            Ok(true) => backoff = MIN_BACKOFF,
            Ok(false) => {
                // Back after a break with nothing to send (an overflow trimmed it all).
                if std::mem::take(&mut broken) {
                    wake_fullsync(&peer);
                }
                peer.set_state(LinkState::Synced);
                peer.set_error(None);
                tokio::select! {
                    _ = commits.changed() => {}
                    _ = stop.changed() => {}
                    // Also wakes for a sink's changes trimmed or skipped by the keeper.
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Err(e) => {
                greeted = false;
                broken = true;
                tracing::warn!(sink = %peer.name, error = %e, "realtime stream interrupted; will resume from the cursor");
                peer.set_state(LinkState::Connecting);
                peer.set_error(Some(e.to_string()));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    peer.set_state(LinkState::Stopped);
}

fn wake_fullsync(peer: &Peer) {
    if peer.sink_settings().is_some_and(|s| s.fullsync) {
        peer.fullsync_wake.notify_one();
    }
}

/// The handshake: tells the sink who we are; checks it is still the site we connected.
pub async fn hello(link: &Link, site: &Site, peer: &Peer) -> Result<()> {
    let info = say_hello(link, site).await?;
    let expected = peer.record().info.id;
    if info.id != expected {
        return Err(ReplError::Protocol(format!(
            "{} is now site {} ({}), not {} ({expected}); reconnect it deliberately",
            link.addr(),
            info.name,
            info.id,
            peer.name
        )));
    }
    Ok(())
}

/// Says hello with this site's authority claim; takes the peer's if it is newer.
pub async fn say_hello(link: &Link, site: &Site) -> Result<SiteInfo> {
    let body = serde_json::to_vec(&site.hello_info()).expect("site info serializes");
    let answer = link.call("POST", protocol::HELLO, body.into()).await?;
    let info = serde_json::from_slice(&answer).map_err(|e| ReplError::Protocol(format!("bad hello answer: {e}")))?;
    site.observe_authority(info)
}

/// A batch read from the log for one sink: its changes, the paths they came by, and
/// where the cursor goes once the sink has applied them.
struct Outgoing {
    changes: Vec<Change>,
    via: Vec<Vec<SiteId>>,
    last: Cursor,
    /// Bytes of its blocks sent on the wire and before compression.
    block_bytes: (u64, u64),
    /// Bytes its entries take in the log (an upper bound of its changes' size).
    log_bytes: u64,
    /// Batches read from the log that it holds (more than one once merged).
    merged: usize,
}

impl Outgoing {
    /// Appends the batch that follows this one in the log.
    fn absorb(&mut self, next: Outgoing) {
        self.changes.extend(next.changes);
        self.via.extend(next.via);
        self.last = next.last;
        self.log_bytes += next.log_bytes;
        self.merged += next.merged;
        self.block_bytes.0 += next.block_bytes.0;
        self.block_bytes.1 += next.block_bytes.1;
    }
}

/// Sends every batch after the cursor, until the log has no more. Ok(false) when
/// there was nothing to send. The first batch acknowledged after a break (`broken`)
/// wakes fullsync: what realtime could not carry meanwhile (an overflow, a restart) is
/// its to find, and keys the sink skips in that batch are dirty before its run begins.
///
/// Batches move through two stages that overlap, so the link never idles through a
/// round trip: their blocks (up to `BATCHES_AHEAD` batches at once, sharing one window
/// of `REQUESTS_IN_FLIGHT` requests and `WINDOW_BYTES`), then their changes, which the
/// sink applies durably before it answers. Changes still go one batch at a time in log
/// order, each after its own blocks, and the cursor moves only past acknowledged
/// batches: a failure anywhere resends from the cursor, and the sink finds what it
/// already has.
async fn stream(repl: &Arc<Site>, peer: &Arc<Peer>, link: &Arc<Link>, broken: &mut bool) -> Result<bool> {
    let window = Arc::new(Window::new());
    let blocks = peer.sink_settings().is_some_and(|s| s.blocks);
    // Batches read and not yet acknowledged; the second stage signals each ack.
    let unacked = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Notify::new());
    // The stages' futures own what they use: borrowed, they would tie the sender's
    // spawned task to lifetimes the compiler cannot prove it outlives.
    let start = (peer.cursor(), repl.commits.subscribe());
    let read = stream::try_unfold(start, |(after, mut commits)| {
        let (repl, peer, unacked, acked) = (repl.clone(), peer.clone(), unacked.clone(), acked.clone());
        async move {
            loop {
                commits.borrow_and_update();
                if let Some(b) = read_batch(&repl, &peer, after).await? {
                    unacked.fetch_add(1, Ordering::SeqCst);
                    let next = b.last;
                    return Ok::<_, ReplError>(Some((b, (next, commits))));
                }
                if unacked.load(Ordering::SeqCst) == 0 {
                    return Ok(None);
                }
                // Batches are still crossing: a change committed meanwhile starts its
                // blocks now instead of after they are all acknowledged.
                tokio::select! {
                    changed = commits.changed() => if changed.is_err() { return Ok(None) },
                    _ = acked.notified() => {}
                }
            }
        }
    });
    let blocks_sent = read
        .map_ok(|mut b| {
            let (repl, peer, link, window) = (repl.clone(), peer.clone(), link.clone(), window.clone());
            async move {
                if blocks {
                    b.block_bytes = send_blocks(&repl, &peer, &link, &b.changes, &window).await?;
                }
                Ok(b)
            }
        })
        .try_buffered(BATCHES_AHEAD);
    // Batches whose blocks have crossed wait here for the second stage, merged while
    // they fit in one request: however small they come (a change each, in a steady
    // stream), the changes call that follows a round trip carries all that arrived
    // during it. Both stages run in this one task, so the lock is never contended.
    let waiting: Mutex<VecDeque<Outgoing>> = Mutex::new(VecDeque::new());
    let (arrived, freed, read_all) = (Notify::new(), Notify::new(), AtomicBool::new(false));
    let first_stage = async {
        let mut blocks_sent = std::pin::pin!(blocks_sent);
        while let Some(b) = blocks_sent.try_next().await? {
            let mut b = Some(b);
            while let Some(batch) = b.take() {
                {
                    let mut q = lock(&waiting);
                    let room = q.len() < READY_BATCHES;
                    match q.back_mut() {
                        Some(last) if last.log_bytes + batch.log_bytes <= MAX_MERGED_BYTES => last.absorb(batch),
                        _ if room => q.push_back(batch),
                        _ => b = Some(batch),
                    }
                }
                if b.is_some() {
                    freed.notified().await;
                }
            }
            arrived.notify_one();
        }
        read_all.store(true, Ordering::SeqCst);
        arrived.notify_one();
        Ok::<_, ReplError>(())
    };
    let mut sent = false;
    let second_stage = async {
        loop {
            // The flag before the queue: whatever was queued before it was set is seen.
            let finished = read_all.load(Ordering::SeqCst);
            let Some(b) = lock(&waiting).pop_front() else {
                if finished {
                    break;
                }
                arrived.notified().await;
                continue;
            };
            freed.notify_one();
            let (last, merged) = (b.last, b.merged);
            send_changes(repl, peer, link, b.changes, b.via, b.block_bytes, blocks).await?;
            let p = peer.clone();
            repl.store.run(move |s| p.advance(s, last)).await?;
            unacked.fetch_sub(merged, Ordering::SeqCst);
            acked.notify_one();
            sent = true;
            if std::mem::take(broken) {
                wake_fullsync(peer);
            }
        }
        Ok(())
    };
    tokio::try_join!(first_stage, second_stage)?;
    Ok(sent)
}

/// Reads the batch after `after`. None when the log has nothing after it.
async fn read_batch(repl: &Site, peer: &Peer, after: Cursor) -> Result<Option<Outgoing>> {
    let mut entries = repl
        .store
        .run(move |s| s.changes_after(after.seq, MAX_ENTRIES, MAX_BATCH_BYTES))
        .await?;
    if entries.is_empty() {
        return Ok(None);
    }
    peer.set_state(LinkState::Syncing);
    limit_data(&mut entries);
    let last = Cursor::past(entries.last().expect("limit_data keeps at least one entry"));
    let cascade = repl.cascade.load(Ordering::SeqCst);
    let (changes, via) = for_sink(entries, peer.record().info.id, cascade);
    Ok(Some(Outgoing {
        changes,
        via,
        last,
        block_bytes: (0, 0),
        // Positions count the bytes logged through each entry.
        log_bytes: last.position.saturating_sub(after.position),
        merged: 1,
    }))
}

/// Sends `changes` as one batch: first the blocks the sink lacks (when `blocks`), then
/// the changes (fullsync's batches, which are not pipelined). Returns (object
/// changes, bytes) sent.
pub(crate) async fn deliver(
    site: &Site,
    peer: &Arc<Peer>,
    link: &Link,
    changes: Vec<Change>,
    via: Vec<Vec<SiteId>>,
    blocks: bool,
) -> Result<(u64, u64)> {
    let block_bytes = if blocks {
        send_blocks(site, peer, link, &changes, &Window::new()).await?
    } else {
        (0, 0)
    };
    send_changes(site, peer, link, changes, via, block_bytes, blocks).await
}

/// Sends `changes`, whose blocks (`block_bytes` on the wire and before compression)
/// are already at the sink when `with_blocks`; it applies them durably before it
/// answers. Keys the sink could not apply become dirty keys. Returns (object changes,
/// bytes) sent.
async fn send_changes(
    site: &Site,
    peer: &Arc<Peer>,
    link: &Link,
    changes: Vec<Change>,
    via: Vec<Vec<SiteId>>,
    (block_wire, block_raw): (u64, u64),
    with_blocks: bool,
) -> Result<(u64, u64)> {
    if changes.is_empty() {
        return Ok((0, 0));
    }
    let objects = changes.iter().filter(|c| matches!(c, Change::Object(_))).count() as u64;
    let n = changes.len() as u64;
    let body = bincode::serialize(&Batch {
        from: site.me.id,
        changes,
        via,
        blocks: with_blocks,
    })
    .expect("changes serialize");
    let raw = body.len() as u64;
    let level = site.compression;
    // Compressing a batch of up to MAX_BATCH_BYTES takes milliseconds: off the runtime.
    let payload = if level == 0 {
        Payload::plain(body.into())
    } else {
        tokio::task::spawn_blocking(move || compress::payload(body, level))
            .await
            .map_err(|e| ReplError::Protocol(format!("compression task failed: {e}")))?
    };
    let len = payload.body.len() as u64;
    let answer = link.call_encoded("POST", protocol::CHANGES, payload).await?;
    let ack: Ack = serde_json::from_slice(&answer).map_err(|e| ReplError::Protocol(format!("bad ack: {e}")))?;
    if !ack.skipped_keys.is_empty() {
        // Not lost: remembered, and sent again with their buckets (`repair`).
        tracing::info!(sink = %peer.name, skipped = ack.skipped_keys.len(), "the sink skipped some object changes (no bucket there, or no room for new data); recorded as dirty keys");
        let (p, keys) = (peer.clone(), ack.skipped_keys);
        site.store.run(move |s| s.add_dirty(&p.name, &keys)).await?;
    }
    peer.sent.add_sized(objects, n, len + block_wire, raw + block_raw);
    Ok((objects, len + block_wire))
}

/// The changes of `entries` that go to the sink, with the paths they came by: never
/// back to their origin or a site they passed through; with `cascade` off, only
/// changes made here.
fn for_sink(entries: Vec<LogEntry>, sink: SiteId, cascade: bool) -> (Vec<Change>, Vec<Vec<SiteId>>) {
    entries
        .into_iter()
        .filter(|e| e.goes_to(sink, cascade))
        .map(|e| (e.change, e.via))
        .unzip()
}

/// The block bytes a change brings with it (none for all but objects with blocks).
pub(crate) fn object_data(c: &Change) -> u64 {
    match c {
        Change::Object(m) => m.blocks.iter().map(|b| u64::from(b.len)).sum(),
        _ => 0,
    }
}

/// Keeps at least one entry, then stops before the batch's object data passes
/// `MAX_BATCH_DATA`.
fn limit_data(entries: &mut Vec<LogEntry>) {
    let mut data = 0u64;
    let keep = entries
        .iter()
        .position(|e| {
            data += object_data(&e.change);
            data > MAX_BATCH_DATA
        })
        .unwrap_or(entries.len())
        .max(1);
    entries.truncate(keep);
}

/// Sends the blocks of the batch's live objects that the sink does not have yet.
/// Returns the bytes sent on the wire and before compression.
/// What `window` holds is read and in flight at once.
async fn send_blocks(repl: &Site, peer: &Peer, link: &Link, changes: &[Change], window: &Window) -> Result<(u64, u64)> {
    let mut wanted: BTreeMap<String, u32> = BTreeMap::new();
    for c in changes {
        if let Change::Object(m) = c {
            if m.is_live() {
                wanted.extend(m.blocks.iter().map(|b| (b.hash.to_hex(), b.len)));
            }
        }
    }
    if wanted.is_empty() {
        return Ok((0, 0));
    }
    let body = serde_json::to_vec(&BlockList {
        blocks: wanted.keys().cloned().collect(),
    })
    .expect("serializes");
    let answer = link.call("POST", protocol::MISSING_BLOCKS, body.into()).await?;
    let missing: BlockList =
        serde_json::from_slice(&answer).map_err(|e| ReplError::Protocol(format!("bad block list: {e}")))?;
    let (from, level) = (repl.me.id, repl.compression);
    let sent: Vec<(u64, u64)> = stream::iter(missing.blocks)
        .map(|hex| {
            let store = repl.store.clone();
            let len = wanted.get(&hex).copied().unwrap_or(WINDOW_BYTES);
            async move {
                let _held = window.hold(len).await;
                let hash = parse_hash(&hex)?;
                // Read and (when on) compressed on a blocking thread. Sent as read, the
                // body's SHA-256 is the block's name: signing need not hash it again.
                let read = store.run(move |s| {
                    let data = s.read_block(&hash)?;
                    let raw = data.len() as u64;
                    let mut payload = compress::payload(data, level);
                    if payload.encoding.is_none() {
                        payload.sha256 = Some(hash.to_hex());
                    }
                    Ok::<_, strata_blockstore::Error>((payload, raw))
                });
                let (payload, raw) = match read.await {
                    Ok(d) => d,
                    // Gone since: the object was overwritten or deleted and GC ran. A
                    // later change in the log supersedes this one.
                    Err(strata_blockstore::Error::BlockCorrupt(_)) => {
                        tracing::debug!(block = %hex, sink = %peer.name, "block gone at the source; skipped");
                        return Ok((0, 0));
                    }
                    Err(e) => return Err(e.into()),
                };
                let len = payload.body.len() as u64;
                let path = format!("{}{hex}?from={from}", protocol::BLOCKS);
                match link.call_encoded("PUT", &path, payload).await {
                    // The sink is full: it skips the object's change, which this site
                    // then remembers as a dirty key; the rest of the batch (deletes
                    // above all) still goes.
                    Err(ReplError::Refused { status: 507, .. }) => {
                        tracing::debug!(block = %hex, sink = %peer.name, "the sink has no room for new data");
                        Ok((0, 0))
                    }
                    Err(e) => Err(e),
                    Ok(_) => Ok::<(u64, u64), ReplError>((len, raw)),
                }
            }
        })
        .buffer_unordered(REQUESTS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(sent.iter().fold((0, 0), |(w, r), (sw, sr)| (w + sw, r + sr)))
}

/// The block requests and bytes in flight to one sink, shared by the batches whose
/// blocks are crossing; bytes counted in KiB so any block size fits a semaphore.
struct Window {
    requests: Semaphore,
    kib: Semaphore,
}

impl Window {
    fn new() -> Self {
        Window {
            requests: Semaphore::new(REQUESTS_IN_FLIGHT),
            kib: Semaphore::new((WINDOW_BYTES >> 10) as usize),
        }
    }

    /// Waits for a request's place and until `len` bytes fit (a block larger than the
    /// window takes it whole).
    async fn hold(&self, len: u32) -> (SemaphorePermit<'_>, SemaphorePermit<'_>) {
        let never_closed = "the window is never closed";
        let request = self.requests.acquire().await.expect(never_closed);
        let kib = len.div_ceil(1024).clamp(1, WINDOW_BYTES >> 10);
        (request, self.kib.acquire_many(kib).await.expect(never_closed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_blockstore::{BlockHash, BlockRef, Hlc, Manifest, ObjectHeaders, ObjectState};

    /// A log entry for an object of `blocks` full 1 MiB blocks written at `site`.
    fn object(seq: u64, blocks: usize, site: u64) -> LogEntry {
        let m = Manifest {
            bucket: "b".into(),
            key: format!("k{seq}"),
            version_id: seq.to_string(),
            created: (Hlc(seq), SiteId(site)),
            state: ObjectState::Active,
            size: (blocks as u64) << 20,
            etag: String::new(),
            last_modified_ms: 0,
            headers: ObjectHeaders::default(),
            block_size: 1 << 20,
            blocks: (0..blocks)
                .map(|i| BlockRef {
                    hash: BlockHash([i as u8; 32]),
                    len: 1 << 20,
                })
                .collect(),
            inline: None,
            parts: Vec::new(),
            upload_id: None,
            hlc: Hlc(seq << 16),
            site: SiteId(site),
        };
        LogEntry {
            seq,
            position: seq * 100,
            change: Change::Object(Box::new(m)),
            via: Vec::new(),
        }
    }

    #[test]
    fn a_batch_stops_before_its_object_data_passes_the_limit() {
        // Each a bit over a third of the limit: two fit, the third would pass it.
        let third = (MAX_BATCH_DATA >> 20) as usize / 3 + 1;
        let mut entries: Vec<LogEntry> = (1..=5).map(|i| object(i, third, 1)).collect();
        limit_data(&mut entries);
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);

        // One object larger than the limit still goes, alone: the stream never stalls.
        let mut huge = vec![object(1, 3 * third, 1), object(2, 1, 1)];
        limit_data(&mut huge);
        assert_eq!(huge.len(), 1);

        // Metadata-only changes carry no data: all stay.
        let mut small: Vec<LogEntry> = (1..=300).map(|i| object(i, 0, 1)).collect();
        limit_data(&mut small);
        assert_eq!(small.len(), 300);
    }

    #[test]
    fn changes_are_never_sent_back_to_their_origin_or_their_path() {
        let entries = vec![object(1, 0, 7), object(2, 0, 9), object(3, 0, 7)];
        let (sent, _) = for_sink(entries, SiteId(7), true);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].origin(), SiteId(9));

        // Made at 9, then applied at 5 (this site got it from 5): never back to 5.
        let mut relayed = object(4, 0, 9);
        relayed.via = vec![SiteId(5)];
        let (sent, via) = for_sink(vec![relayed.clone(), object(5, 0, 1)], SiteId(5), true);
        assert_eq!(sent.iter().map(|c| c.origin()).collect::<Vec<_>>(), [SiteId(1)]);
        assert_eq!(via, [Vec::<SiteId>::new()]);
        // To another sink it goes on, carrying its path, unless cascading is off.
        let (sent, via) = for_sink(vec![relayed.clone()], SiteId(6), true);
        assert_eq!((sent.len(), via), (1, vec![vec![SiteId(5)]]));
        let (sent, _) = for_sink(vec![relayed, object(6, 0, 1)], SiteId(6), false);
        assert_eq!(sent.iter().map(|c| c.origin()).collect::<Vec<_>>(), [SiteId(1)]);
    }
}
