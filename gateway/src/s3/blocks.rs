//! An object's blocks made local before any byte of it is sent or copied. On a sink
//! that got the manifest without the blocks (metadata-only replication, or blocks still
//! on their way), the missing ones come from a source by proxy-get; a block that cannot
//! be had answers 503 ServiceUnavailable, before the status line, never a wrong or short
//! body under a 200.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::state::S3State;
use strata_blockstore::{BlockHash, Manifest};

/// Makes bytes `[start, end)` of `m` readable here.
pub async fn ensure_local(state: &S3State, m: &Manifest, start: u64, end: u64) -> S3Result<()> {
    if m.inline.is_some() || start >= end {
        return Ok(());
    }
    let wanted: Vec<BlockHash> = m.blocks_in(start, end).map(|(_, b)| b.hash).collect();
    // With replication, proxy-get checks what is missing (and fetches it); without, the
    // check is here.
    let Some(repl) = &state.repl else {
        if state.run(move |s| Ok(wanted.iter().any(|h| !s.has_block(h)))).await? {
            return Err(S3Error::ServiceUnavailable(
                "a part of this object is not on this site and it has no replication source".into(),
            ));
        }
        return Ok(());
    };
    repl.ensure_blocks(wanted, m.site).await.map_err(|e| {
        tracing::warn!(bucket = %m.bucket, key = %m.key, error = %e, "proxy-get could not fetch a block");
        S3Error::ServiceUnavailable(format!("a part of this object has not reached this site yet ({e})"))
    })
}
