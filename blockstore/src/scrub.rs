//! Scrub: every block a record references, read back and checked against its name (its
//! SHA-256), in hash order, a bounded step at a time so a caller can throttle, save its
//! place and resume. A bad block (missing, or bytes that no longer hash to its name) is
//! replaced by a good copy the caller found elsewhere (another site).

use crate::blocks::hash_block;
use crate::engine::Tree;
use crate::error::{Error, Result};
use crate::meta::decode;
use crate::records::{BlockHash, Manifest};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::ops::Bound;

/// What is wrong with a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockFault {
    /// Referenced, but no file.
    Missing,
    /// The file's bytes do not hash to its name.
    Corrupt,
}

/// One step of a scrub.
#[derive(Debug, Default)]
pub struct ScrubStep {
    pub checked: u64,
    pub bytes: u64,
    pub bad: Vec<(BlockHash, BlockFault)>,
    /// Where the next step starts; None once every block has been read.
    pub next: Option<BlockHash>,
}

impl Store {
    /// Reads and checks up to `limit` referenced blocks after `after` (from the first
    /// when None). A block that stopped being referenced while it was read is not bad.
    pub fn scrub_step(&self, after: Option<BlockHash>, limit: usize) -> Result<ScrubStep> {
        let from = after.map(|h| h.0);
        let lower = match &from {
            Some(h) => Bound::Excluded(&h[..]),
            None => Bound::Unbounded,
        };
        let hashes = self.referenced_after(lower).take(limit).collect::<Result<Vec<_>>>()?;
        let mut step = ScrubStep {
            next: (hashes.len() == limit).then(|| hashes[limit - 1]),
            ..ScrubStep::default()
        };
        for h in hashes {
            step.checked += 1;
            let fault = match self.blocks.read(&h) {
                Ok(data) => {
                    step.bytes += data.len() as u64;
                    (hash_block(&data) != h).then_some(BlockFault::Corrupt)
                }
                Err(Error::BlockCorrupt(_)) => Some(BlockFault::Missing),
                Err(e) => return Err(e),
            };
            if let Some(f) = fault {
                if self.meta.is_referenced(&h.0)? {
                    step.bad.push((h, f));
                }
            }
        }
        Ok(step)
    }

    /// Replaces a bad block with a copy found elsewhere, after checking the copy hashes
    /// to the block's name. Durable on return.
    pub fn replace_block(&self, hash: &BlockHash, data: &[u8]) -> Result<()> {
        if hash_block(data) != *hash {
            return Err(Error::BlockCorrupt(hash.to_hex()));
        }
        self.blocks.replace(hash, data)
    }

    /// Whether this site's copy of a block is whole (it exists and hashes to its name):
    /// what a site checks before it gives another site a copy for repair.
    pub fn read_good_block(&self, hash: &BlockHash) -> Result<Option<Vec<u8>>> {
        match self.blocks.read(hash) {
            Ok(data) if hash_block(&data) == *hash => Ok(Some(data)),
            Ok(_) | Err(Error::BlockCorrupt(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The keys (`bucket/key`) of up to `limit` objects whose live version uses a
    /// block. It reads every manifest: for the rare block no site could repair.
    pub fn keys_using_block(&self, hash: &BlockHash, limit: usize) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for r in self
            .meta
            .range_everywhere(Tree::Objects, Bound::Unbounded, Bound::Unbounded)?
        {
            let (_, v) = r?;
            let m: Manifest = decode(&v)?;
            if m.is_live() && m.blocks.iter().any(|b| b.hash == *hash) {
                keys.push(format!("{}/{}", m.bucket, m.key));
                if keys.len() == limit {
                    break;
                }
            }
        }
        Ok(keys)
    }

    /// Referenced blocks, for a scrub's progress (an estimate: counted by a scan).
    pub fn referenced_blocks(&self) -> Result<u64> {
        self.referenced_after(Bound::Unbounded)
            .try_fold(0, |n, h| h.map(|_| n + 1))
    }

    /// Every block some shard references, after `lower`, in hash order, each once.
    /// Shards count their references apart (on RADOS each in its own object), so a
    /// block several hold comes once from each: the merged scan is ascending, so its
    /// repeats are neighbours.
    fn referenced_after(&self, lower: Bound<&[u8]>) -> Box<dyn Iterator<Item = Result<BlockHash>>> {
        let scan = match self.meta.range_everywhere(Tree::Refs, lower, Bound::Unbounded) {
            Ok(scan) => scan,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let mut last = None;
        Box::new(scan.filter_map(move |r| match r {
            Err(e) => Some(Err(e)),
            Ok((k, _)) => {
                let h = BlockHash(<[u8; 32]>::try_from(k.as_slice()).ok()?);
                (last.replace(h) != Some(h)).then_some(Ok(h))
            }
        }))
    }

    /// A small record of the site's own (scrub's progress and last result), kept in the
    /// metadata engine; durable on return.
    pub fn put_site_record(&self, name: &str, value: &[u8]) -> Result<()> {
        self.meta.meta_put(&format!("record/{name}"), value)
    }

    pub fn site_record(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.meta.meta_get(&format!("record/{name}"))
    }
}
