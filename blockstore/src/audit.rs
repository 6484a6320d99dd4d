//! What `strata repl verify` compares between two sites: per record of the hash tree,
//! a summary of what it holds (version, size, ETag, block list, and a digest of the
//! whole record, settings and metadata included), computed the same way on both sites.
//! The hash tree's versions alone cannot show two sites holding different bytes under
//! one version; these summaries can.

use crate::engine::Tree;
use crate::error::Result;
use crate::hlc::Hlc;
use crate::meta::encode;
use crate::records::{BlockRef, Bucket, SiteId, User};
use crate::store::Store;
use crate::sync_tree::{digest16, Digest16, GROUP_SIZE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One record as verify sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSummary {
    /// The sync key (`user/<name>`, `bucket/<name>`, `object/<bucket>/<key>`).
    pub key: String,
    pub hlc: Hlc,
    pub site: SiteId,
    /// A live record (not a tombstone, not a grave).
    pub live: bool,
    /// Objects: size and ETag (empty for users and buckets).
    pub size: u64,
    pub etag: String,
    /// Objects: the digest of the block list (and inline bytes).
    pub data: Digest16,
    /// The digest of what the record holds: an object's whole manifest (its version
    /// included), a user's keys and status, a bucket's settings (all but its version:
    /// a user or bucket made alike on two sites is the same user or bucket).
    pub record: Digest16,
    /// Objects: the blocks, for `verify --blocks` (empty unless asked for).
    pub blocks: Vec<BlockRef>,
}

impl Store {
    /// The summary of every record in `partitions`, by key. `with_blocks` adds each
    /// object's block list.
    pub fn record_summaries(&self, partitions: &[u16], with_blocks: bool) -> Result<Vec<RecordSummary>> {
        // Users are stored by access key and named in the tree by name: read them
        // once, only if a partition of users and buckets is asked for.
        let users: BTreeMap<String, User> = if partitions.iter().any(|p| *p < GROUP_SIZE) {
            self.list_users()?.into_iter().map(|u| (u.name.clone(), u)).collect()
        } else {
            BTreeMap::new()
        };
        let mut out = Vec::new();
        for run in runs(partitions) {
            for e in self.sync_entries_in(run)? {
                let mut s = RecordSummary {
                    key: e.key.clone(),
                    hlc: e.hlc,
                    site: e.site,
                    live: false,
                    size: 0,
                    etag: String::new(),
                    data: [0; 16],
                    record: [0; 16],
                    blocks: Vec::new(),
                };
                if !e.gone {
                    let (kind, rest) = e.key.split_once('/').unwrap_or(("", ""));
                    match kind {
                        "user" => {
                            if let Some(u) = users.get(rest) {
                                s.live = true;
                                s.record = digest16(&encode(&(&u.access_key, &u.secret_key, &u.status)));
                            }
                        }
                        "bucket" => {
                            if let Some(mut b) = self.meta.get::<Bucket>(Tree::Buckets, rest.as_bytes())? {
                                s.live = true;
                                (b.hlc, b.site) = (Hlc(0), SiteId(0));
                                s.record = digest16(&encode(&b));
                            }
                        }
                        _ => {
                            let Some((bucket, key, version)) = crate::keys::split_object_sync_key(&e.key) else {
                                continue;
                            };
                            if let Some(m) = self.stored_version(bucket, key, Some(version))? {
                                s.live = m.is_live();
                                s.size = m.size;
                                s.etag = m.etag.clone();
                                s.data = digest16(&encode(&(&m.blocks, &m.inline)));
                                s.record = digest16(&encode(&m));
                                if with_blocks {
                                    s.blocks = m.blocks;
                                }
                            }
                        }
                    }
                }
                out.push(s);
            }
        }
        Ok(out)
    }
}

/// `partitions` as runs of consecutive partitions, each scanned at once.
fn runs(partitions: &[u16]) -> Vec<std::ops::Range<u16>> {
    let mut out: Vec<std::ops::Range<u16>> = Vec::new();
    for &p in partitions {
        match out.last_mut() {
            Some(r) if r.end == p => r.end += 1,
            _ => out.push(p..p + 1),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn partitions_coalesce_into_runs() {
        assert_eq!(super::runs(&[0, 1, 2, 5, 6, 9]), vec![0..3, 5..7, 9..10]);
        assert!(super::runs(&[]).is_empty());
    }
}
