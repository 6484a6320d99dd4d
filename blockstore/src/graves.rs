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

use crate::engine::{Tree, TxResult};
use crate::error::Result;
use crate::hlc::{now_millis, Hlc};
use crate::meta::{be_u64, decode, encode, grave_queue_key, Tx};
use crate::records::{Manifest, SiteId};
use crate::replica::dirty_key;
use crate::store::Store;
use crate::sync_tree::{SyncEntry, GROUP_SIZE};
use serde::Serialize;
use std::ops::Bound;

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

    /// One queued grave: purged if `rule` allows. Returns whether the walk goes on.
    fn purge_one(&self, queue_key: &[u8], version: (Hlc, SiteId), rule: &PurgeRule) -> TxResult<Step> {
        let seq = be_u64(&queue_key[..8]);
        if seq > rule.carried {
            return Ok(Step::Stop);
        }
        let key = String::from_utf8_lossy(&queue_key[8..]);
        if self.grave_version(&key)? != Some(version) {
            // Written again (or deleted again, queued again later) since: not this
            // queue entry's to purge.
            self.remove(Tree::Graves, queue_key)?;
            return Ok(Step::Next);
        }
        if version.0.millis() >= rule.deleted_before_ms {
            return Ok(Step::Stop);
        }
        for sink in &rule.sinks {
            if self.contains(Tree::Dirty, &dirty_key(sink, &key))? {
                return Ok(Step::Held);
            }
        }
        self.forget(&key)?;
        self.remove(Tree::Graves, queue_key)?;
        Ok(Step::Purged)
    }
}

enum Step {
    Purged,
    /// Not purged, the walk goes on (a superseded entry, a key still dirty).
    Next,
    Held,
    Stop,
}

impl Store {
    /// How many deletes the site keeps as graves.
    pub fn grave_count(&self) -> Result<u64> {
        Ok(self.meta.get_raw(Tree::Meta, COUNT)?.map_or(0, |v| be_u64(&v)))
    }

    /// Removes the graves `rule` allows, in bounded commits.
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
            let (n, stopped) = self.meta.commit(now_millis(), |tx| {
                let mut n = 0;
                for (k, version) in &batch {
                    match tx.purge_one(k, *version, rule)? {
                        Step::Purged => n += 1,
                        Step::Next | Step::Held => {}
                        Step::Stop => return Ok((n, true)),
                    }
                }
                Ok((n, false))
            })?;
            purged += n;
            if stopped || batch.len() < BATCH {
                break;
            }
        }
        Ok(PurgeReport {
            purged,
            graves: self.grave_count()?,
        })
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
        let mut parents = Vec::new();
        for p in 0..GROUP_SIZE {
            parents.extend(self.sync_entries(p)?.into_iter().filter(|e| e.gone));
        }
        self.meta.commit(now_millis(), |tx| {
            for SyncEntry { key, hlc, site, .. } in &parents {
                tx.put_raw(Tree::Graves, &grave_queue_key(at, key), &encode(&(*hlc, *site)))?;
            }
            tx.count_graves(parents.len() as i64)
        })?;
        self.meta.meta_put(MOVED, b"1")
    }
}
