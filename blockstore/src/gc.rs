//! Garbage collection of blocks no manifest or part references any more. A block is
//! removed only after it has been unreferenced for the grace period and only if no
//! uncommitted write has it pinned.

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
        if self.blocks.shared() {
            // Pins are per gateway: a block another gateway's write is about to commit
            // looks unreferenced here. Until pins are kept in the cluster, a site over
            // RADOS keeps its unreferenced blocks (it never loses a referenced one).
            return Ok(GcStats::default());
        }
        let cutoff = now_millis().saturating_sub(self.cfg.gc_grace.as_millis() as u64);
        self.record_abandoned()?;
        self.blocks.expire_holds();
        let mut stats = GcStats::default();
        for h in self.meta.gc_candidates(cutoff)? {
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
                self.blocks.remove(&hash)?;
                stats.removed += 1;
            }
            self.meta.gc_forget(&h)?;
            drop(pending);
        }
        if stats.removed > 0 {
            tracing::debug!(?stats, "garbage collection");
        }
        Ok(stats)
    }
}
