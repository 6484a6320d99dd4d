//! Proxy-get: a sink that holds an object's manifest but not yet all its blocks (realtime
//! or fullsync with `--metadata-only`, or blocks still on their way) fetches the blocks a
//! reader needs from a source, checks each against its SHA-256 name, and keeps it, so the
//! next read is local.
//!
//! A read streams: before its first byte the sources are probed (each says which of the
//! missing blocks it lacks, without sending any), and the read's first block is fetched;
//! so a read that cannot be served answers 503 before any byte, and one that can answers
//! in one block's time whatever the object's size. The rest is fetched a bounded window
//! ahead of the client while it reads. Every fetch of a block is shared: by the readers
//! of it (a reader that goes away cancels nothing: a fetch is its own task) and with a
//! block that replication brings meanwhile, so a block is written once.
//!
//! The source decides (`strata repl proxy-get enable SINK`, as in Riak CS): it answers a
//! sink's probes and fetches only when proxy-get is enabled for that sink.

use crate::error::{ReplError, Result};
use crate::locks::lock;
use crate::peer::Peer;
use crate::protocol;
use crate::site::{SharedFetch, Site};
use bytes::Bytes;
use futures_util::future::FutureExt;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use strata_blockstore::{BlockHash, SiteId, Store};

/// One object read on a sink through proxy-get: the blocks of its range in order, those
/// that were missing fetched `window` ahead of the one being read.
pub struct ProxyRead {
    site: Arc<Site>,
    origin: SiteId,
    /// Missing blocks not yet asked for, in the order the read needs them.
    to_fetch: VecDeque<BlockHash>,
    /// Fetches started and not yet read, at most `window`.
    fetching: VecDeque<Ahead>,
    /// Starts at `FIRST_WINDOW` and doubles each time the reader has to wait for a
    /// fetch, up to the site's `proxy_get_window`: a client slower than the link
    /// keeps a narrow window (little memory), a fast one on a long link gets enough
    /// fetches in flight to fill it.
    window: usize,
}

/// The window a read starts with, and the blocks it may always hold: past these, each
/// block it fetches ahead takes room from the site's `proxy_get_blocks_in_memory`, so
/// many reads together stay bounded too, and every read still moves.
const FIRST_WINDOW: usize = 8;

/// A block fetched ahead of the reader, with the room it takes in the site's budget.
struct Ahead {
    hash: BlockHash,
    fetch: SharedFetch,
    _room: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl ProxyRead {
    /// Prepares a read of `blocks` (the range's blocks in order). None: every block is
    /// here already. Otherwise the sources were probed and hold every missing block,
    /// and the read's first block is local: the answer may begin. Err: the read cannot
    /// be served (no source, a source unreachable, or no source holds some block).
    pub async fn open(site: &Arc<Site>, blocks: Vec<BlockHash>, origin: SiteId) -> Result<Option<ProxyRead>> {
        let first = blocks.first().copied();
        let mut seen = HashSet::new();
        let unique: Vec<BlockHash> = blocks.into_iter().filter(|h| seen.insert(*h)).collect();
        let missing: VecDeque<BlockHash> = site
            .store
            .run(move |s| Ok::<_, ReplError>(s.absent_blocks(&unique)))
            .await?
            .into();
        if missing.is_empty() {
            return Ok(None);
        }
        site.proxy_counters.requests.fetch_add(1, Ordering::Relaxed);
        // Nothing is fetched before the sources are known to hold it all: a read that
        // cannot be served costs them one small request.
        probe(site, missing.iter().copied().collect(), origin)
            .await
            .inspect_err(|_| {
                site.proxy_counters.failures.fetch_add(1, Ordering::Relaxed);
            })?;
        let mut read = ProxyRead {
            site: site.clone(),
            origin,
            to_fetch: missing,
            fetching: VecDeque::new(),
            window: FIRST_WINDOW.min(site.proxy_window).max(1),
        };
        // The read's first block alone, when it is missing: the first byte waits for
        // one fetch, not for a window's worth sharing the link.
        if first.is_some() && read.to_fetch.front() == first.as_ref() {
            let hash = read.to_fetch.pop_front().expect("the first");
            let fetch = shared_fetch(site, hash, origin);
            fetch.clone().await.map_err(ReplError::Invalid)?;
            read.fetching.push_back(Ahead {
                hash,
                fetch,
                _room: None,
            });
        }
        read.top_up();
        Ok(Some(read))
    }

    /// The bytes of `hash`, the next block of the read: from its fetch when it was
    /// missing, else from this site's disk. An Err here comes after the answer began:
    /// it is counted as a read cut short.
    pub async fn block(&mut self, hash: BlockHash) -> Result<Bytes> {
        let Some(fetch) = self.take_fetch(hash) else {
            let data = self.site.store.run(move |s| s.read_block(&hash)).await?;
            return Ok(Bytes::from(data));
        };
        fetch.await.map_err(|why| {
            self.site.proxy_counters.cut_reads.fetch_add(1, Ordering::Relaxed);
            unobtainable(why)
        })
    }

    /// The fetch of `hash` if this read started one, the window moved past it. The
    /// window is full before this (`open` and every take top it up), so the next block
    /// the reader needs is either in it or was never missing.
    fn take_fetch(&mut self, hash: BlockHash) -> Option<SharedFetch> {
        let at = self.fetching.iter().position(|a| a.hash == hash)?;
        let Ahead { fetch, .. } = self.fetching.remove(at).expect("found");
        if fetch.peek().is_none() {
            self.window = (self.window * 2).min(self.site.proxy_window.max(1));
        }
        self.top_up();
        Some(fetch)
    }

    /// Starts fetches until `window` are ahead of the reader, or the site has no room
    /// for more.
    fn top_up(&mut self) {
        while self.fetching.len() < self.window && !self.to_fetch.is_empty() {
            let room = match self.fetching.len() < FIRST_WINDOW {
                true => None,
                false => match self.site.proxy_room.clone().try_acquire_owned() {
                    Ok(room) => Some(room),
                    Err(_) => break,
                },
            };
            let hash = self.to_fetch.pop_front().expect("not empty");
            let fetch = shared_fetch(&self.site, hash, self.origin);
            self.fetching.push_back(Ahead {
                hash,
                fetch,
                _room: room,
            });
        }
    }
}

/// Makes every listed block local, fetching the missing ones from a source (the site
/// that wrote the object first, `origin`, then any other) a window at a time. Fails if
/// any cannot be had. For copies, which need every block before they commit.
pub async fn ensure_blocks(site: &Arc<Site>, hashes: Vec<BlockHash>, origin: SiteId) -> Result<()> {
    let Some(mut read) = ProxyRead::open(site, hashes, origin).await? else {
        return Ok(());
    };
    while let Some(hash) = read.fetching.front().map(|a| a.hash) {
        let fetch = read.take_fetch(hash).expect("the front");
        fetch.await.map_err(unobtainable)?;
    }
    Ok(())
}

fn unobtainable(why: String) -> ReplError {
    ReplError::Invalid(format!("a block of the object cannot be had: {why}"))
}

/// Asks the sources (the origin first) which of `missing` they lack, until every block
/// has a source. Err names each source's reason when some block has none.
async fn probe(site: &Site, mut missing: Vec<BlockHash>, origin: SiteId) -> Result<()> {
    let sources = sources(site, origin)?;
    let mut why = Vec::new();
    for p in sources {
        match lacking_at(site, &p, &missing).await {
            Ok(lacking) => {
                if lacking.is_empty() {
                    return Ok(());
                }
                why.push(format!("{} lacks {} of the blocks", p.name, lacking.len()));
                missing = lacking;
            }
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(ReplError::Invalid(why.join("; ")))
}

/// Hashes one probe asks about: 512 KiB on the wire. A 4 GiB object's read is one
/// probe; the largest (5 TiB in 1 MiB blocks) is a few hundred, each bounded.
const PROBE_HASHES: usize = 16_384;

/// Which of `missing` the source `p` lacks, asked a bounded message at a time.
async fn lacking_at(site: &Site, p: &Peer, missing: &[BlockHash]) -> Result<Vec<BlockHash>> {
    let path = format!("{}?from={}", protocol::PROBE_BLOCKS, site.me.id);
    let mut lacking = Vec::new();
    for ask in missing.chunks(PROBE_HASHES) {
        let ask = bincode::serialize(ask).expect("serializes");
        lacking.extend(p.link().call_bincode::<Vec<BlockHash>>(&path, ask, &mut 0).await?);
    }
    Ok(lacking)
}

/// The sources of this site, the object's origin first.
fn sources(site: &Site, origin: SiteId) -> Result<Vec<Arc<Peer>>> {
    let mut sources: Vec<_> = site.peers().into_iter().filter(|p| p.record().source).collect();
    sources.sort_by_key(|p| p.record().info.id != origin);
    if sources.is_empty() {
        return Err(ReplError::Invalid(
            "this site has no source to fetch blocks from".into(),
        ));
    }
    Ok(sources)
}

/// The one fetch of `hash`, however many readers wait for it: joined if in flight,
/// else started as a task of its own, which runs to its end (and leaves the map) even
/// when every reader waiting for it went away, so no later reader joins a stale fetch.
fn shared_fetch(site: &Arc<Site>, hash: BlockHash, origin: SiteId) -> SharedFetch {
    let mut fetches = lock(&site.fetches);
    fetches
        .entry(hash)
        .or_insert_with(|| {
            let site = site.clone();
            let task = tokio::spawn(async move {
                // A reader that found the block missing may come here after the fetch
                // that brought it ended and left the map: then it is local.
                let here = site
                    .store
                    .run(move |s| Ok::<_, ReplError>(s.has_block(&hash).then(|| s.read_block(&hash)).transpose()?))
                    .await;
                let r = match here {
                    Ok(Some(data)) => Ok(Bytes::from(data)),
                    _ => fetch(&site, hash, origin).await.map_err(|e| e.to_string()),
                };
                lock(&site.fetches).remove(&hash);
                if r.is_err() {
                    site.proxy_counters.failures.fetch_add(1, Ordering::Relaxed);
                }
                r
            });
            async move { task.await.unwrap_or_else(|e| Err(format!("fetch task failed: {e}"))) }
                .boxed()
                .shared()
        })
        .clone()
}

/// Asks the sources in turn for the block; keeps the first copy whose bytes hash to its
/// name (durable on return) and returns it.
async fn fetch(site: &Arc<Site>, hash: BlockHash, origin: SiteId) -> Result<Bytes> {
    let path = format!("{}{}?from={}", protocol::FETCH_BLOCK, hash.to_hex(), site.me.id);
    // store_block checks the bytes against the block's name.
    let data = first_good_copy(site, sources(site, origin)?, &path, hash, Store::store_block).await?;
    site.proxy_counters.blocks.fetch_add(1, Ordering::Relaxed);
    site.proxy_counters
        .bytes
        .fetch_add(data.len() as u64, Ordering::Relaxed);
    Ok(data)
}

/// Stores a block replication brought (realtime or fullsync), unless a proxy-get fetch
/// of it is in flight: then that fetch stores it, and this waits for it. While this
/// writes, readers that need the block take it from here. One write per block.
pub(crate) async fn store_arrived(site: &Arc<Site>, hash: BlockHash, data: Bytes, verified: bool) -> Result<()> {
    let (done, joined) = {
        let mut fetches = lock(&site.fetches);
        match fetches.get(&hash) {
            Some(f) => (None, Some(f.clone())),
            None => {
                let (tx, rx) = tokio::sync::oneshot::channel::<std::result::Result<Bytes, String>>();
                let arrival = async move {
                    rx.await
                        .unwrap_or_else(|_| Err("the arriving block was dropped".into()))
                };
                fetches.insert(hash, arrival.boxed().shared());
                (Some(tx), None)
            }
        }
    };
    if let Some(fetch) = joined {
        if fetch.await.is_ok() {
            return Ok(());
        }
    }
    let kept = data.clone();
    let written = site
        .store
        .run(move |s| match verified {
            true => s.store_verified_block(&hash, &kept),
            false => s.store_block(&hash, &kept),
        })
        .await;
    if let Some(done) = done {
        lock(&site.fetches).remove(&hash);
        let _ = done.send(written.as_ref().map(|_| data).map_err(|e| e.to_string()));
    }
    Ok(written?)
}

/// Asks `peers` in turn for the block `path` names and keeps the first copy `keep`
/// accepts (it checks the bytes against the block's name, and stores them); returns
/// the copy, or every peer's reason. Proxy-get and scrub's repair share it.
pub(crate) async fn first_good_copy(
    site: &Site,
    peers: Vec<Arc<Peer>>,
    path: &str,
    hash: BlockHash,
    keep: fn(&Store, &BlockHash, &[u8]) -> strata_blockstore::Result<()>,
) -> Result<Bytes> {
    let mut why = Vec::new();
    for p in peers {
        match p.link().call("GET", path, Bytes::new()).await {
            Ok(data) => {
                let kept = data.clone();
                match site.store.run(move |s| keep(s, &hash, &kept)).await {
                    Ok(()) => {
                        p.received.add(0, 0, data.len() as u64);
                        return Ok(data);
                    }
                    Err(e) => why.push(format!("{}: {e}", p.name)),
                }
            }
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(ReplError::Invalid(why.join("; ")))
}
