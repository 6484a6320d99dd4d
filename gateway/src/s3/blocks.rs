//! Where an object's bytes come from. On a sink that got the manifest without the
//! blocks (metadata-only replication, or blocks still on their way), the missing ones
//! come from a source by proxy-get. A read that cannot be served answers 503
//! ServiceUnavailable before its status line, never a wrong body under a 200; a source
//! that fails after the read began cuts the body short, as S3 ends a failed stream.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::state::S3State;
use bytes::Bytes;
use std::sync::Arc;
use strata_blockstore::{BlockHash, Manifest, Store};
use strata_repl::ProxyRead;

/// The blocks of one GET: from this site's disk, or through proxy-get for those that
/// were missing when it began.
pub enum BlockReader {
    Local(Arc<Store>),
    Proxied(ProxyRead),
}

impl BlockReader {
    /// The bytes of `hash`, the read's next block.
    pub async fn read(&mut self, hash: BlockHash) -> S3Result<Bytes> {
        match self {
            BlockReader::Local(store) => Ok(Bytes::from(store.run(move |s| s.read_block(&hash)).await?)),
            BlockReader::Proxied(read) => read.block(hash).await.map_err(|e| {
                tracing::warn!(error = %e, "proxy-get could not fetch a block mid-read; cutting the response short");
                not_here(e)
            }),
        }
    }
}

/// Prepares the read of bytes `[start, end)` of `m`: once this returns, every block of
/// the range is here or held by a source, and the first is here.
pub async fn open_read(state: &S3State, m: &Manifest, start: u64, end: u64) -> S3Result<BlockReader> {
    let local = BlockReader::Local(state.store.clone());
    if m.inline.is_some() || start >= end {
        return Ok(local);
    }
    let wanted: Vec<BlockHash> = m.blocks_in(start, end).map(|(_, b)| b.hash).collect();
    let Some(repl) = &state.repl else {
        missing_without_source(state, wanted).await?;
        return Ok(local);
    };
    match repl.open_read(wanted, m.site).await {
        Ok(Some(read)) => Ok(BlockReader::Proxied(read)),
        Ok(None) => Ok(local),
        Err(e) => Err(unavailable(m, e)),
    }
}

/// Makes bytes `[start, end)` of `m` local before a copy reads them.
pub async fn ensure_local(state: &S3State, m: &Manifest, start: u64, end: u64) -> S3Result<()> {
    if m.inline.is_some() || start >= end {
        return Ok(());
    }
    let wanted: Vec<BlockHash> = m.blocks_in(start, end).map(|(_, b)| b.hash).collect();
    let Some(repl) = &state.repl else {
        return missing_without_source(state, wanted).await;
    };
    repl.ensure_blocks(wanted, m.site).await.map_err(|e| unavailable(m, e))
}

/// Without replication there is no one to ask: a missing block is the answer.
async fn missing_without_source(state: &S3State, wanted: Vec<BlockHash>) -> S3Result<()> {
    if state.run(move |s| Ok(wanted.iter().any(|h| !s.has_block(h)))).await? {
        return Err(S3Error::ServiceUnavailable(
            "a part of this object is not on this site and it has no replication source".into(),
        ));
    }
    Ok(())
}

fn unavailable(m: &Manifest, e: strata_repl::ReplError) -> S3Error {
    tracing::warn!(bucket = %m.bucket, key = %m.key, error = %e, "proxy-get could not fetch a block");
    not_here(e)
}

fn not_here(e: strata_repl::ReplError) -> S3Error {
    S3Error::ServiceUnavailable(format!("a part of this object has not reached this site yet ({e})"))
}
