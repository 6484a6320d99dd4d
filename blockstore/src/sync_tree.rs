//! The hash tree fullsync compares. Every replicated record has one entry, named by its
//! sync key (`user/<name>`, `bucket/<name>`, `object/<bucket>/<key>`): users, buckets,
//! live object versions, and the graves of deleted users, buckets and objects (their
//! records are removed, so the grave is what carries the delete). An entry holds the
//! record's version (HLC, site): every change of a replicated record takes a new version,
//! so the version alone tells whether two sites hold the same state of a key, and the
//! record's bytes need not be hashed on every commit.
//!
//! Entries fall into `PARTITIONS` partitions by a hash of the sync key (users and
//! buckets in group 0, objects in the rest). Each partition
//! keeps the XOR of its entries' digests and their count, changed in the same
//! transaction as the record, so the tree is always current and never rebuilt by a scan.
//! Partitions roll up into `GROUPS` groups of `GROUP_SIZE`: two sites that agree have
//! equal group digests, and comparing them is one small exchange whatever the size.

use crate::engine::{Tree, TxResult};
use crate::error::Result;
use crate::hlc::Hlc;
use crate::keys::{bucket_key, user_key};
use crate::meta::{encode, Tx};
use crate::records::{Bucket, Change, Manifest, SiteId, User};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ops::Bound;

pub const PARTITIONS: u16 = 4096;
pub const GROUP_SIZE: u16 = 64;
pub const GROUPS: u16 = PARTITIONS / GROUP_SIZE;

/// Where a walk of the tree stands: a partition, and the last key read in it.
pub type SyncPosition = (u16, String);

/// 128 bits: collisions between the digests of two different entries are not a concern.
pub type Digest16 = [u8; 16];

/// One record's place in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEntry {
    pub key: String,
    pub hlc: Hlc,
    pub site: SiteId,
    /// A grave: the user, bucket or object was deleted at (hlc, site). Its record is
    /// gone; the grave carries the delete until the purge (see `graves`).
    pub gone: bool,
}

impl SyncEntry {
    pub fn version(&self) -> (Hlc, SiteId) {
        (self.hlc, self.site)
    }

    fn record(key: String, hlc: Hlc, site: SiteId) -> Self {
        SyncEntry {
            key,
            hlc,
            site,
            gone: false,
        }
    }

    fn grave(key: String, hlc: Hlc, site: SiteId) -> Self {
        SyncEntry {
            key,
            hlc,
            site,
            gone: true,
        }
    }
}

/// A partition's digest (XOR of its entries' digests) and how many entries it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDigest {
    pub digest: Digest16,
    pub count: u64,
}

impl PartitionDigest {
    fn toggle(&mut self, d: &Digest16) {
        for (a, b) in self.digest.iter_mut().zip(d) {
            *a ^= b;
        }
    }
}

pub(crate) fn digest16(bytes: &[u8]) -> Digest16 {
    let h = Sha256::digest(bytes);
    let mut d = [0u8; 16];
    d.copy_from_slice(&h[..16]);
    d
}

/// Users and buckets fill group 0 and objects the other groups, so a fullsync that
/// walks the groups in order sends every bucket before the objects that need it.
pub fn partition_of(key: &str) -> u16 {
    let h = Sha256::digest(key.as_bytes());
    let n = u16::from_be_bytes([h[0], h[1]]);
    if key.starts_with("object/") {
        GROUP_SIZE + n % (PARTITIONS - GROUP_SIZE)
    } else {
        n % GROUP_SIZE
    }
}

fn index_key(key: &str) -> Vec<u8> {
    let mut k = partition_of(key).to_be_bytes().to_vec();
    k.extend_from_slice(key.as_bytes());
    k
}

impl Tx<'_> {
    /// Makes `entry` the tree's entry for its key, or takes `key` out of the tree. An
    /// entry's digest is the hash of its stored bytes: each is encoded once, and the old
    /// one is hashed as stored, never decoded.
    fn set_entry(&self, key: &str, entry: Option<&SyncEntry>) -> TxResult<()> {
        let ik = index_key(key);
        let pk = partition_of(key).to_be_bytes();
        let old = self.get_raw(Tree::SyncIndex, &ik)?;
        let new = entry.map(encode);
        if old == new {
            return Ok(());
        }
        let mut p: PartitionDigest = self.get(Tree::SyncDigests, &pk)?.unwrap_or_default();
        if let Some(o) = &old {
            p.toggle(&digest16(o));
            p.count -= 1;
        }
        match &new {
            Some(bytes) => {
                p.toggle(&digest16(bytes));
                p.count += 1;
                self.put_raw(Tree::SyncIndex, &ik, bytes)?;
            }
            None if old.is_some() => self.remove(Tree::SyncIndex, &ik)?,
            None => {}
        }
        let graves = |e: &Option<Vec<u8>>| u64::from(e.as_deref().is_some_and(is_grave));
        if graves(&old) != graves(&new) {
            self.count_graves(graves(&new) as i64 - graves(&old) as i64)?;
        }
        if p.count == 0 {
            self.remove(Tree::SyncDigests, &pk)
        } else {
            self.put(Tree::SyncDigests, &pk, &p)
        }
    }

    /// The version the tree holds for a key: of its record, tombstone or grave.
    pub(crate) fn synced_version(&self, key: &str) -> TxResult<Option<(Hlc, SiteId)>> {
        Ok(self
            .get::<SyncEntry>(Tree::SyncIndex, &index_key(key))?
            .map(|e| e.version()))
    }

    /// The timestamp of a local change to `key`, taken inside its commit: after the
    /// clock and after the version the key holds now (record, tombstone or grave, which
    /// may be a newer one from another site), so the change is the key's newest here.
    pub(crate) fn stamp(&self, key: &str) -> TxResult<Hlc> {
        Ok(self.clock.now_after(self.synced_version(key)?.map(|v| v.0)))
    }

    /// Makes `e` the tree's entry for its key.
    fn put_entry(&self, e: SyncEntry) -> TxResult<()> {
        self.set_entry(&e.key, Some(&e))
    }

    pub(crate) fn index_user(&self, u: &User) -> TxResult<()> {
        self.put_entry(SyncEntry::record(user_key(&u.name), u.hlc, u.site))
    }

    pub(crate) fn index_bucket(&self, b: &Bucket) -> TxResult<()> {
        self.put_entry(SyncEntry::record(bucket_key(&b.name), b.hlc, b.site))
    }

    /// A version's entry (a delete marker's too), or a tombstone's grave.
    pub(crate) fn index_object(&self, m: &Manifest) -> TxResult<()> {
        let key = m.sync_key();
        match m.is_gone() {
            false => self.put_entry(SyncEntry::record(key, m.hlc, m.site)),
            true => self.put_entry(SyncEntry::grave(key, m.hlc, m.site)),
        }
    }

    /// Takes a version out of the tree (its bucket is deleted).
    pub(crate) fn unindex_object(&self, m: &Manifest) -> TxResult<()> {
        self.set_entry(&m.sync_key(), None)
    }

    /// The version of `key`'s grave, if the key holds one.
    pub(crate) fn grave_version(&self, key: &str) -> TxResult<Option<(Hlc, SiteId)>> {
        Ok(self
            .get::<SyncEntry>(Tree::SyncIndex, &index_key(key))?
            .filter(|e| e.gone)
            .map(|e| e.version()))
    }

    /// Takes `key` out of the tree (a purged grave).
    pub(crate) fn forget(&self, key: &str) -> TxResult<()> {
        self.set_entry(key, None)
    }

    /// Records the delete of a user, bucket or object (`key` a sync key).
    pub(crate) fn index_grave(&self, key: String, hlc: Hlc, site: SiteId) -> TxResult<()> {
        self.put_entry(SyncEntry::grave(key, hlc, site))
    }
}

/// Whether an encoded entry is a grave: bincode writes `gone`, the last field, as the
/// last byte (checked in the tests), so the hot commit path decodes nothing.
fn is_grave(raw: &[u8]) -> bool {
    raw.last() == Some(&1)
}

/// The digest of each group (XOR of its partitions' digests) from partition digests.
pub fn group_digests(partitions: &[(u16, PartitionDigest)]) -> Vec<Digest16> {
    let mut groups = vec![[0u8; 16]; GROUPS as usize];
    for (p, d) in partitions {
        for (a, b) in groups[(p / GROUP_SIZE) as usize].iter_mut().zip(&d.digest) {
            *a ^= b;
        }
    }
    groups
}

/// Meta key marking that the tree was built for every record (stores made before it
/// existed are indexed once, at open).
const BUILT: &str = "sync_tree_built";

impl Store {
    /// Indexes every record of a store that predates the tree. Runs once.
    pub(crate) fn build_sync_tree(&self) -> Result<()> {
        if self.meta.meta_get(BUILT)?.is_some() {
            return Ok(());
        }
        let users = self.meta.scan::<User>(Tree::Users, b"")?;
        let buckets = self.meta.scan::<Bucket>(Tree::Buckets, b"")?;
        self.meta.commit(crate::hlc::now_millis(), |tx| {
            for (_, u) in &users {
                tx.index_user(u)?;
            }
            for (_, b) in &buckets {
                tx.index_bucket(b)?;
            }
            Ok(())
        })?;
        let mut after: Vec<u8> = Vec::new();
        loop {
            let from = Bound::Excluded(after.as_slice());
            let batch = self
                .meta
                .range(Tree::Objects, from, Bound::Unbounded)
                .take(1000)
                .map(|r| r.and_then(|(k, v)| Ok((k, crate::meta::decode::<Manifest>(&v)?))))
                .collect::<Result<Vec<_>>>()?;
            let Some((last, _)) = batch.last() else { break };
            after = last.clone();
            self.meta.commit(crate::hlc::now_millis(), |tx| {
                for (_, m) in &batch {
                    tx.index_object(m)?;
                }
                Ok(())
            })?;
        }
        self.meta.meta_put(BUILT, b"1")
    }

    /// Every partition's digest, in partition order (a partition with no entry is absent).
    pub fn sync_digests(&self) -> Result<Vec<(u16, PartitionDigest)>> {
        self.digests_between(Bound::Unbounded, Bound::Unbounded)
    }

    /// The digest of every group, in group order (all zero for an empty group).
    pub fn sync_groups(&self) -> Result<Vec<Digest16>> {
        Ok(group_digests(&self.sync_digests()?))
    }

    /// The digests of one group's partitions, in partition order.
    pub fn sync_partitions(&self, group: u16) -> Result<Vec<(u16, PartitionDigest)>> {
        let from = (group * GROUP_SIZE).to_be_bytes();
        let to = ((group + 1) * GROUP_SIZE).to_be_bytes();
        self.digests_between(Bound::Included(&from), Bound::Excluded(&to))
    }

    /// A partition's digest is the XOR of its entries' digests: each shard keeps the
    /// XOR of its own, and they combine here.
    fn digests_between(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Vec<(u16, PartitionDigest)>> {
        let mut out: Vec<(u16, PartitionDigest)> = Vec::new();
        for r in self.meta.range_everywhere(Tree::SyncDigests, from, to)? {
            let (k, v) = r?;
            let p = u16::from_be_bytes([k[0], k[1]]);
            let d: PartitionDigest = crate::meta::decode(&v)?;
            match out.last_mut() {
                Some((last, sum)) if *last == p => {
                    sum.toggle(&d.digest);
                    sum.count += d.count;
                }
                _ => out.push((p, d)),
            }
        }
        Ok(out)
    }

    /// Every entry of one partition, by key.
    pub fn sync_entries(&self, partition: u16) -> Result<Vec<SyncEntry>> {
        self.sync_entries_in(partition..partition + 1)
    }

    /// Every entry of a run of partitions, by partition then key: one scan of each
    /// space for the whole run (over RADOS a scan costs a round trip per index shard,
    /// so a partition at a time would cost a walk of the tree 4 096 of them per shard).
    pub fn sync_entries_in(&self, partitions: std::ops::Range<u16>) -> Result<Vec<SyncEntry>> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let from = partitions.start.to_be_bytes();
        let end = crate::engine::prefix_end(&(partitions.end - 1).to_be_bytes());
        let to = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.meta
            .range_everywhere(Tree::SyncIndex, Bound::Included(&from), to)?
            .map(|r| crate::meta::decode::<SyncEntry>(&r?.1))
            .collect()
    }

    /// The space holding a sync key's entry and record: an object's index shard, or
    /// the root (None) for users and buckets.
    pub(crate) fn sync_space(&self, key: &str) -> Result<Option<std::sync::Arc<crate::meta::Meta>>> {
        match crate::keys::split_object_sync_key(key) {
            Some((bucket, k, _)) => Ok(Some(self.meta.shard_of(bucket, k)?)),
            None => Ok(None),
        }
    }

    /// The tree's entry for a sync key.
    pub(crate) fn sync_entry(&self, key: &str) -> Result<Option<SyncEntry>> {
        let space = self.sync_space(key)?;
        space
            .as_deref()
            .unwrap_or(&self.meta)
            .get(Tree::SyncIndex, &index_key(key))
    }

    /// Up to `limit` entries of `partitions` (ascending) after `after`, in the tree's
    /// order (partition, then key), each with its partition; and whether more follow.
    /// A walk of any size in pages of bounded memory (fullsync's comparison).
    pub fn sync_entries_page(
        &self,
        partitions: &[u16],
        after: Option<&SyncPosition>,
        limit: usize,
    ) -> Result<(Vec<(u16, SyncEntry)>, bool)> {
        let mut out = Vec::new();
        for &p in partitions {
            let resume = after.filter(|(ap, _)| *ap == p).map(|(_, k)| {
                let mut ik = p.to_be_bytes().to_vec();
                ik.extend_from_slice(k.as_bytes());
                ik
            });
            if after.is_some_and(|(ap, _)| p < *ap) {
                continue;
            }
            let first = p.to_be_bytes();
            // p < PARTITIONS, so p + 1 does not wrap.
            let end = (p + 1).to_be_bytes();
            let from = match &resume {
                Some(ik) => Bound::Excluded(ik.as_slice()),
                None => Bound::Included(&first[..]),
            };
            for r in self
                .meta
                .range_everywhere(Tree::SyncIndex, from, Bound::Excluded(&end[..]))?
            {
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push((p, crate::meta::decode::<SyncEntry>(&r?.1)?));
            }
        }
        Ok((out, false))
    }

    /// The change that brings another site to this site's state of one key (see
    /// [`Store::sync_change`]); None if the tree has no entry for it.
    pub fn current_change(&self, key: &str) -> Result<Option<Change>> {
        match self.sync_entry(key)? {
            Some(entry) => self.sync_change(&entry),
            None => Ok(None),
        }
    }

    /// The keys of every user and bucket the tree holds (graves included): group 0.
    pub fn sync_parent_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .sync_entries_in(0..GROUP_SIZE)?
            .into_iter()
            .map(|e| e.key)
            .collect())
    }

    /// The change that brings another site to this site's state of `entry`'s key: the
    /// record or, for a grave, the delete (an object's as a tombstone). None if the
    /// key changed since the entry was read and no longer matches it.
    pub fn sync_change(&self, entry: &SyncEntry) -> Result<Option<Change>> {
        let (kind, rest) = entry.key.split_once('/').unwrap_or(("", ""));
        let change = match (kind, entry.gone) {
            ("user", true) => Change::UserDeleted {
                name: rest.to_owned(),
                hlc: entry.hlc,
                site: entry.site,
            },
            ("bucket", true) => Change::BucketDeleted {
                name: rest.to_owned(),
                hlc: entry.hlc,
                site: entry.site,
            },
            ("user", false) => match self.list_users()?.into_iter().find(|u| u.name == rest) {
                Some(u) => Change::User(u),
                None => return Ok(None),
            },
            ("bucket", false) => match self.bucket(rest)? {
                Some(b) => Change::Bucket(b),
                None => return Ok(None),
            },
            ("object", false) => {
                let Some((bucket, key, version)) = crate::keys::split_object_sync_key(&entry.key) else {
                    return Ok(None);
                };
                match self.stored_version(bucket, key, Some(version))? {
                    Some(m) => Change::Object(Box::new(m)),
                    None => return Ok(None),
                }
            }
            ("object", true) => {
                let Some((bucket, key, version)) = crate::keys::split_object_sync_key(&entry.key) else {
                    return Ok(None);
                };
                Change::Object(Box::new(Manifest::version_tombstone(
                    bucket, key, version, entry.hlc, entry.site,
                )))
            }
            _ => return Ok(None),
        };
        Ok((change.version() == entry.version()).then_some(change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_entry_ends_with_whether_it_is_a_grave() {
        let key = "object/b/some key".to_owned();
        assert!(is_grave(&encode(&SyncEntry::grave(
            key.clone(),
            Hlc(u64::MAX),
            SiteId(1)
        ))));
        assert!(!is_grave(&encode(&SyncEntry::record(key, Hlc(1), SiteId(u64::MAX)))));
    }
}
