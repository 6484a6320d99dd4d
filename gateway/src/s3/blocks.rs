//! An object's blocks made local before any byte of it is sent or copied. On a sink
//! that got the manifest without the blocks (metadata-only replication, or blocks still
//! on their way), the missing ones come from a source by proxy-get; a block that cannot
//! be had answers 503 ServiceUnavailable, before the status line, never a wrong or short
//! body under a 200.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::state::S3State;
use strata_blockstore::{BlockHash, Manifest};

/// The blocks holding bytes `[start, end)` of `m`.
fn blocks_in(m: &Manifest, start: u64, end: u64) -> Vec<BlockHash> {
    let mut offset = 0u64;
    let mut out = Vec::new();
    for b in &m.blocks {
        let (b_start, b_end) = (offset, offset + u64::from(b.len));
        offset = b_end;
        if b_end > start && b_start < end {
            out.push(b.hash);
        }
    }
    out
}

/// Makes bytes `[start, end)` of `m` readable here.
pub async fn ensure_local(state: &S3State, m: &Manifest, start: u64, end: u64) -> S3Result<()> {
    if m.inline.is_some() || start >= end {
        return Ok(());
    }
    let wanted = blocks_in(m, start, end);
    let missing = state
        .run(move |s| Ok(wanted.into_iter().filter(|h| !s.has_block(h)).collect::<Vec<_>>()))
        .await?;
    if missing.is_empty() {
        return Ok(());
    }
    let Some(repl) = &state.repl else {
        return Err(S3Error::ServiceUnavailable(
            "a block of this object is not on this site and it has no replication source".into(),
        ));
    };
    repl.ensure_blocks(missing, m.site).await.map_err(|e| {
        tracing::warn!(bucket = %m.bucket, key = %m.key, error = %e, "proxy-get could not fetch a block");
        S3Error::ServiceUnavailable(e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_blockstore::{BlockRef, Hlc, ObjectHeaders, ObjectState, SiteId};

    #[test]
    fn a_range_needs_only_the_blocks_it_touches() {
        let m = Manifest {
            bucket: "b".into(),
            key: "k".into(),
            version_id: "v".into(),
            state: ObjectState::Active,
            size: 25,
            etag: String::new(),
            last_modified_ms: 0,
            headers: ObjectHeaders::default(),
            block_size: 10,
            blocks: (0..3)
                .map(|i| BlockRef {
                    hash: BlockHash([i; 32]),
                    len: if i < 2 { 10 } else { 5 },
                })
                .collect(),
            inline: None,
            parts: Vec::new(),
            hlc: Hlc(1),
            site: SiteId(1),
        };
        let names = |v: Vec<BlockHash>| v.iter().map(|h| h.0[0]).collect::<Vec<_>>();
        assert_eq!(names(blocks_in(&m, 0, 25)), vec![0, 1, 2]);
        assert_eq!(names(blocks_in(&m, 10, 20)), vec![1]);
        assert_eq!(names(blocks_in(&m, 9, 11)), vec![0, 1]);
        assert_eq!(names(blocks_in(&m, 20, 25)), vec![2]);
    }
}
