//! Garbage collection of blocks no manifest or part references any more. A block is
//! removed only after it has been unreferenced for the grace period and only if no
//! uncommitted write has it pinned.
//!
//! Blocks in RADOS are shared by the site's gateways, and a write in flight on one
//! pins nothing another can see. There every write touches each block it uses (writes
//! it, or marks an existing one used), a gateway holding a block for a manifest on its
//! way touches it too, and GC removes a block only if nobody touched it within the
//! grace, with a removal guarded by the version it read: a touch after that read
//! makes the removal fail, and a write after the removal writes the block again. A
//! write that lasts longer than half the grace touches its blocks again just before
//! its commit (`writer`). Blocks a gateway wrote and never committed (it was killed)
//! are found by listing the pool, now and then.

use crate::blocks::Unused;
use crate::error::Result;
use crate::hlc::now_millis;
use crate::records::BlockHash;
use crate::store::Store;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcStats {
    pub removed: usize,
    /// Candidates that were referenced again (content addressing dedupes) and kept.
    pub revived: usize,
    /// Candidates pinned by a write in flight, or held for a manifest on its way from
    /// another site, left for the next run.
    pub pinned: usize,
}

impl Store {
    pub fn collect_garbage(&self) -> Result<GcStats> {
        let grace = self.cfg.gc_grace;
        let cutoff = now_millis().saturating_sub(grace.as_millis() as u64);
        self.record_abandoned()?;
        self.blocks.expire_holds();
        if self.blocks.shared() && self.orphan_scan_due() {
            let orphans = self.queue_orphan_blocks()?;
            if orphans > 0 {
                tracing::info!(
                    orphans,
                    "queued blocks no write committed (a gateway stopped mid-write) for GC"
                );
            }
        }
        let mut stats = GcStats::default();
        for (h, queue) in self.meta.gc_candidates(cutoff)? {
            let hash = BlockHash(h);
            // Holding the pending lock across check and removal means a writer either
            // pinned the block before (we skip it) or finds it gone and writes it again.
            let pending = self.blocks.pending_lock();
            if pending.contains_key(&hash) || self.blocks.is_held(&hash) {
                stats.pinned += 1;
                continue;
            }
            if self.meta.is_referenced(&h)? {
                stats.revived += 1;
            } else {
                match self.blocks.remove_unused(&hash, grace)? {
                    Unused::Removed => stats.removed += 1,
                    Unused::Gone => {}
                    Unused::InUse => {
                        // Another gateway's write used it: asked about again later.
                        stats.pinned += 1;
                        continue;
                    }
                }
            }
            self.meta.gc_forget(&h, queue.as_ref())?;
            drop(pending);
        }
        if stats.removed > 0 {
            tracing::debug!(?stats, "garbage collection");
        }
        Ok(stats)
    }
}
