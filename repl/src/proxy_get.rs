//! Proxy-get: a sink that holds an object's manifest but not yet all its blocks (realtime
//! or fullsync with `--metadata-only`, or blocks still on their way) fetches the blocks a
//! reader needs from a source, checks each against its SHA-256 name, and keeps it, so the
//! next read is local. Concurrent readers of one missing block share one fetch.
//!
//! The source decides (`strata repl proxy-get enable SINK`, as in Riak CS): it answers a
//! sink's fetch only when proxy-get is enabled for that sink.

use crate::error::{ReplError, Result};
use crate::locks::lock;
use crate::peer::Peer;
use crate::protocol;
use crate::site::Site;
use futures_util::future::FutureExt;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use strata_blockstore::{BlockHash, SiteId, Store};

/// Blocks fetched at once for one read.
const PARALLEL: usize = 4;

/// Makes every listed block local, fetching the missing ones from a source (the site
/// that wrote the object first, `origin`, then any other). Fails if any cannot be had.
pub async fn ensure_blocks(site: &Arc<Site>, hashes: Vec<BlockHash>, origin: SiteId) -> Result<()> {
    let missing = site
        .store
        .run(move |s| Ok::<_, ReplError>(hashes.into_iter().filter(|h| !s.has_block(h)).collect::<Vec<_>>()))
        .await?;
    if missing.is_empty() {
        return Ok(());
    }
    site.proxy_counters.requests.fetch_add(1, Ordering::Relaxed);
    stream::iter(missing)
        .map(|h| fetch_shared(site, h, origin))
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await
        .map_err(|why| ReplError::Invalid(format!("a block of the object cannot be had: {why}")))?;
    Ok(())
}

/// One fetch of `hash` however many readers wait for it.
async fn fetch_shared(site: &Arc<Site>, hash: BlockHash, origin: SiteId) -> std::result::Result<(), String> {
    let shared = {
        let mut fetches = lock(&site.fetches);
        fetches
            .entry(hash)
            .or_insert_with(|| {
                // Its own task: it runs to its end and leaves the map even when every
                // reader waiting for it gave up (another block of theirs failed), so no
                // later reader joins a stale fetch.
                let site = site.clone();
                let task = tokio::spawn(async move {
                    // A reader that found the block missing may come here after the
                    // fetch that brought it ended and left the map: then it is local.
                    let here = site.store.run(move |s| Ok::<_, ReplError>(s.has_block(&hash))).await;
                    let r = match here {
                        Ok(true) => Ok(()),
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
    };
    shared.await
}

/// Asks the sources in turn for the block; keeps the first copy whose bytes hash to its
/// name (durable on return).
async fn fetch(site: &Arc<Site>, hash: BlockHash, origin: SiteId) -> Result<()> {
    let mut sources: Vec<_> = site.peers().into_iter().filter(|p| p.record().source).collect();
    sources.sort_by_key(|p| p.record().info.id != origin);
    if sources.is_empty() {
        return Err(ReplError::Invalid(
            "this site has no source to fetch blocks from".into(),
        ));
    }
    let path = format!("{}{}?from={}", protocol::FETCH_BLOCK, hash.to_hex(), site.me.id);
    // store_block checks the bytes against the block's name.
    let len = first_good_copy(site, sources, &path, hash, Store::store_block).await?;
    site.proxy_counters.blocks.fetch_add(1, Ordering::Relaxed);
    site.proxy_counters.bytes.fetch_add(len, Ordering::Relaxed);
    Ok(())
}

/// Asks `peers` in turn for the block `path` names and keeps the first copy `keep`
/// accepts (it checks the bytes against the block's name, and stores them); returns
/// the copy's length, or every peer's reason. Proxy-get and scrub's repair share it.
pub(crate) async fn first_good_copy(
    site: &Site,
    peers: Vec<Arc<Peer>>,
    path: &str,
    hash: BlockHash,
    keep: fn(&Store, &BlockHash, &[u8]) -> strata_blockstore::Result<()>,
) -> Result<u64> {
    let mut why = Vec::new();
    for p in peers {
        match p.link().call("GET", path, bytes::Bytes::new()).await {
            Ok(data) => {
                let len = data.len() as u64;
                match site.store.run(move |s| keep(s, &hash, &data)).await {
                    Ok(()) => {
                        p.received.add(0, 0, len);
                        return Ok(len);
                    }
                    Err(e) => why.push(format!("{}: {e}", p.name)),
                }
            }
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(ReplError::Invalid(why.join("; ")))
}
