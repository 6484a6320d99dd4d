//! Graves: what a delete leaves. A deleted object, user or bucket has no record; its
//! grave (an entry of the sync tree with the delete's version) is what replicates the
//! delete by fullsync and repair, and what makes an older write that arrives later lose.
//! Listings and bucket deletes never read graves.
//!
//! A grave cannot stay forever (the tree would grow with every delete ever made), nor
//! go before every sink has it (a sink still holding the object would keep it, and
//! give it back to a site that replicates from it). So every delete is queued under its
//! log sequence when it is logged, and the purge removes a grave once
//! - every sink has carried the log past that sequence (its realtime cursor, or the
//!   start of its last complete fullsync) and does not hold the key as dirty, and
//! - the delete is older than the retention (by its timestamp, which is the same on
//!   every site, so sites purge a grave at about the same time).
//!
//! A sink that is away holds back the purge of every delete made meanwhile: it gets
//! them when it returns, whatever the retention. The queue is walked in log order and
//! the walk stops at the first grave that must stay for a sink or for the retention:
//! later ones were logged later (or, applied from another site, are purged on a later
//! walk).

use crate::engine::{ShardId, Tree, TxResult};
use crate::error::Result;
use crate::hlc::{now_millis, Hlc};
use crate::meta::{be_u64, decode, encode, grave_queue_key, Meta, Tx};
use crate::records::{Manifest, SiteId};
use crate::replica::dirty_key;
use crate::store::Store;
use crate::sync_tree::{SyncEntry, GROUP_SIZE};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

/// Meta key: how many graves the sync tree holds.
const COUNT: &[u8] = b"graves";
/// Meta key marking stores whose tombstone records were moved to graves.
const MOVED: &str = "tombstones_moved";
/// Queue entries looked at per commit.
const BATCH: usize = 1000;

/// What the purge may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeRule {
    /// Every sink has carried the change log up to this sequence (`u64::MAX` when the
    /// site has no sink).
    pub carried: u64,
    /// Only deletes made (by their timestamp) before this time, in ms.
    pub deleted_before_ms: u64,
    /// The sinks: a grave one of them holds as a dirty key is still to be sent to it.
    pub sinks: Vec<String>,
}

/// What a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub purged: u64,
    /// Graves left.
    pub graves: u64,
}

impl Tx<'_> {
    /// Keeps the count of graves as they come and go (see `sync_tree::set_entry`).
    pub(crate) fn count_graves(&self, delta: i64) -> TxResult<()> {
        let n = self.get_raw(Tree::Meta, COUNT)?.map_or(0, |v| be_u64(&v));
        self.put_raw(Tree::Meta, COUNT, &n.saturating_add_signed(delta).to_be_bytes())
    }
}

/// Graves to forget in one space (None: the root), with the versions judged.
type Forgets = (Option<Arc<Meta>>, Vec<(String, (Hlc, SiteId))>);

/// What the walk decided for one queued grave.
enum Step {
    /// Purge it (if its version still holds at the commit).
    Purge,
    /// Superseded: only the queue entry goes.
    Drop,
    /// Still to be sent to a sink: kept, the walk goes on.
    Held,
    /// Kept, and so is everything after it.
    Stop,
}

impl Store {
    /// How many deletes the site keeps as graves.
    /// Each shard counts its own (see `Tx::count_graves`).
    pub fn grave_count(&self) -> Result<u64> {
        let mut n = self.meta.get_raw(Tree::Meta, COUNT)?.map_or(0, |v| be_u64(&v));
        for shard in self.meta.every_shard()? {
            n += shard.get_raw(Tree::Meta, COUNT)?.map_or(0, |v| be_u64(&v));
        }
        Ok(n)
    }

    /// Removes the graves `rule` allows, in bounded batches: for each batch of the
    /// queue, one commit per shard forgets its graves (if their version still holds),
    /// then one root commit drops their queue entries. Stopped between the two, the
    /// next walk finds those entries superseded and drops them.
    pub fn purge_graves(&self, rule: &PurgeRule) -> Result<PurgeReport> {
        let mut purged = 0;
        let mut after: Vec<u8> = Vec::new();
        loop {
            // Excluding the empty key excludes nothing: no queue entry is empty.
            let from = Bound::Excluded(after.as_slice());
            let batch = self
                .meta
                .range(Tree::Graves, from, Bound::Unbounded)
                .take(BATCH)
                .map(|r| r.and_then(|(k, v)| Ok((k, decode::<(Hlc, SiteId)>(&v)?))))
                .collect::<Result<Vec<_>>>()?;
            let Some((last, _)) = batch.last() else { break };
            after = last.clone();
            let mut done = Vec::new();
            let mut forget: BTreeMap<Option<ShardId>, Forgets> = BTreeMap::new();
            let mut stopped = false;
            for (k, version) in &batch {
                let key = String::from_utf8_lossy(&k[8..]).into_owned();
                match self.judge(k, &key, *version, rule)? {
                    Step::Stop => {
                        stopped = true;
                        break;
                    }
                    Step::Held => {}
                    Step::Drop => done.push(k.clone()),
                    Step::Purge => {
                        let space = self.sync_space(&key)?;
                        let id = space.as_ref().and_then(|s| s.shard_id().cloned());
                        forget
                            .entry(id)
                            .or_insert_with(|| (space, Vec::new()))
                            .1
                            .push((key, *version));
                        done.push(k.clone());
                    }
                }
            }
            for (space, graves) in forget.values() {
                let space = space.as_deref().unwrap_or(&self.meta);
                purged += space.commit(now_millis(), |tx| {
                    let mut n = 0;
                    for (key, version) in graves {
                        if tx.grave_version(key)? == Some(*version) {
                            tx.forget(key)?;
                            n += 1;
                        }
                    }
                    Ok(n)
                })?;
            }
            self.meta.commit(now_millis(), |tx| {
                for k in &done {
                    tx.remove(Tree::Graves, k)?;
                }
                Ok(())
            })?;
            if stopped || batch.len() < BATCH {
                break;
            }
        }
        Ok(PurgeReport {
            purged,
            graves: self.grave_count()?,
        })
    }

    /// One queued grave (`queue_key`, of the sync key `key`), judged by `rule`.
    fn judge(&self, queue_key: &[u8], key: &str, version: (Hlc, SiteId), rule: &PurgeRule) -> Result<Step> {
        if be_u64(&queue_key[..8]) > rule.carried {
            return Ok(Step::Stop);
        }
        let current = self.sync_entry(key)?.filter(|e| e.gone).map(|e| e.version());
        if current != Some(version) {
            // Written again (or deleted again, queued again later) since: not this
            // queue entry's to purge.
            return Ok(Step::Drop);
        }
        if version.0.millis() >= rule.deleted_before_ms {
            return Ok(Step::Stop);
        }
        for sink in &rule.sinks {
            if self.meta.contains(Tree::Dirty, &dirty_key(sink, key))? {
                return Ok(Step::Held);
            }
        }
        Ok(Step::Purge)
    }

    /// Stores made before graves kept object tombstones as records: they become
    /// graves, and every grave (users' and buckets' too) joins the purge queue at the
    /// log's current end, so it waits for every sink as a new delete would. Runs once.
    pub(crate) fn move_tombstones(&self) -> Result<()> {
        if self.meta.meta_get(MOVED)?.is_some() {
            return Ok(());
        }
        let at = self.meta.last_seq();
        let mut after: Vec<u8> = Vec::new();
        loop {
            // Excluding the empty key excludes nothing: no object key is empty.
            let from = Bound::Excluded(after.as_slice());
            let mut scanned = 0;
            let mut tombs = Vec::new();
            for r in self.meta.range(Tree::Objects, from, Bound::Unbounded).take(BATCH) {
                let (k, v) = r?;
                scanned += 1;
                let m: Manifest = decode(&v)?;
                after = k.clone();
                if !m.is_live() {
                    tombs.push((k, m));
                }
            }
            self.meta.commit(now_millis(), |tx| {
                for (k, m) in &tombs {
                    tx.remove(Tree::Objects, k)?;
                    tx.index_object(m)?;
                    let key = crate::keys::object_sync_key(&m.bucket, &m.key);
                    tx.put_raw(Tree::Graves, &grave_queue_key(at, &key), &encode(&(m.hlc, m.site)))?;
                }
                Ok(())
            })?;
            if scanned < BATCH {
                break;
            }
        }
        // Users and buckets already had graves: count them and queue them.
        let parents: Vec<SyncEntry> = self
            .sync_entries_in(0..GROUP_SIZE)?
            .into_iter()
            .filter(|e| e.gone)
            .collect();
        self.meta.commit(now_millis(), |tx| {
            for SyncEntry { key, hlc, site, .. } in &parents {
                tx.put_raw(Tree::Graves, &grave_queue_key(at, key), &encode(&(*hlc, *site)))?;
            }
            tx.count_graves(parents.len() as i64)
        })?;
        self.meta.meta_put(MOVED, b"1")
    }
}
