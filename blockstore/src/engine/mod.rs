//! The metadata engine boundary. Everything the store keeps besides block files lives
//! in named trees of ordered byte keys; this trait is all the rest of the crate may ask
//! of the engine, so a second engine (one that spans machines, for gateways sharing a
//! site's metadata) is added here and nowhere else. sled is the engine of a
//! site on one machine; `rados::RadosEngine` is shared by the gateways of a site over Ceph.
//!
//! What an engine promises:
//! - **Atomicity.** [`Engine::transact`] applies every write of its closure, across all
//!   trees, or none. The closure may run more than once (an engine that detects a
//!   conflict retries it), so it must have no effect outside the transaction.
//! - **Isolation.** Reads inside a transaction see the transaction's own writes; a
//!   transaction is serialisable against every other transaction.
//! - **Durability on flush.** A write (in a transaction or not) is durable once a later
//!   [`Engine::flush`] has returned; before that a crash may lose it, never tear it.
//! - **Scan order.** [`Engine::range`] yields keys in ascending byte order.
//! - **Many processes.** A [`Engine::shared`] engine is committed to by several
//!   processes at once; its transactions are serialisable against all of them.
//! - **Shards.** [`Engine::shard`] opens one index shard: an engine whose transactions
//!   cover that shard alone, independent of every other shard's. A shard has a change
//!   log and log end (`Tree::Changes`, `Tree::Meta`) of its own. Whether its other
//!   trees are its own too is [`Engine::partitioned`]: on RADOS each shard is one
//!   object and holds only its records; on sled every shard reads and writes the one
//!   key space of the database (its transactions span it), so a shard there is a
//!   commit lock and a log.
//!
//! The change log, commit ordering and group flushing are built on these in `meta`, so
//! they come with any engine.

pub mod rados;
mod sled;

use crate::error::{Error, Result};
use std::ops::Bound;

pub use self::sled::SledEngine;

/// The trees, one per kind of record. Keys and values are opaque bytes here; `meta`
/// and the modules above it give them types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tree {
    /// access key -> User.
    Users,
    /// name -> Bucket.
    Buckets,
    /// `bucket/key` -> Manifest: live objects only (a delete leaves a grave in the
    /// sync tree instead, so listings and bucket deletes never read deletes).
    Objects,
    /// `bucket/key\0` + (MAX - hlc, MAX - site) -> Manifest: every version of a key
    /// that has versions (see `versions`), delete markers included, newest first.
    Versions,
    /// `bucket/key` -> VersionList: which versions such a key has, newest first.
    VersionLists,
    /// `bucket/key\0upload_id` -> Upload.
    Uploads,
    /// upload id + part number (u32 BE) -> Part.
    Parts,
    /// block hash -> reference count (u64 BE).
    Refs,
    /// block hash -> ms when it became unreferenced: GC candidates.
    Gc,
    /// sequence (u64 BE) -> log position (u64 BE) + Change: the ordered change log.
    Changes,
    /// Site id, last sequence, log bytes, the newest HLC logged.
    Meta,
    /// Replication settings and cursors, opaque to the store.
    Repl,
    /// Per sink: keys whose changes overflowed its bounded log.
    Dirty,
    /// partition (u16 BE) + sync key -> SyncEntry: fullsync's hash tree, its leaves.
    SyncIndex,
    /// partition (u16 BE) -> PartitionDigest: XOR of the partition's entry digests.
    SyncDigests,
    /// log sequence (u64 BE) + sync key -> (Hlc, SiteId): the deletes (graves) in the
    /// order they were logged, for the purge to walk up to what every sink has carried.
    Graves,
    /// access key -> RetiredKey: rotated keys still accepted for a grace period.
    RetiredKeys,
}

impl Tree {
    pub const ALL: [Tree; 17] = [
        Tree::Users,
        Tree::Buckets,
        Tree::Objects,
        Tree::Versions,
        Tree::VersionLists,
        Tree::Uploads,
        Tree::Parts,
        Tree::Refs,
        Tree::Gc,
        Tree::Changes,
        Tree::Meta,
        Tree::Repl,
        Tree::Dirty,
        Tree::SyncIndex,
        Tree::SyncDigests,
        Tree::Graves,
        Tree::RetiredKeys,
    ];

    /// The tree's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Users => "users",
            Tree::Buckets => "buckets",
            Tree::Objects => "objects",
            Tree::Versions => "versions",
            Tree::VersionLists => "version_lists",
            Tree::Uploads => "uploads",
            Tree::Parts => "parts",
            Tree::Refs => "refs",
            Tree::Gc => "gc",
            Tree::Changes => "changes",
            Tree::Meta => "meta",
            Tree::Repl => "repl",
            Tree::Dirty => "dirty",
            Tree::SyncIndex => "sync_index",
            Tree::SyncDigests => "sync_digests",
            Tree::Graves => "graves",
            Tree::RetiredKeys => "retired_keys",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One index shard of a bucket: the bucket's objects whose key hashes to `index`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId {
    pub bucket: String,
    pub index: u16,
}

impl ShardId {
    /// The shard's name as bytes: no shard's name is a prefix of another's (bucket
    /// names hold no NUL), so key spaces prefixed by it never overlap.
    pub fn name(&self) -> Vec<u8> {
        let mut n = self.bucket.as_bytes().to_vec();
        n.push(0);
        n.extend_from_slice(&self.index.to_be_bytes());
        n
    }
}

/// Why a transaction's closure stopped.
#[derive(Debug)]
pub enum TxError {
    /// The caller gave up (or the engine failed): nothing is applied, the error returns.
    Abort(Error),
    /// The engine saw a conflicting transaction: the closure runs again.
    Conflict,
}

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        TxError::Abort(e)
    }
}

pub type TxResult<T> = std::result::Result<T, TxError>;

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Entries of one tree in ascending key order.
pub type Scan<'a> = Box<dyn Iterator<Item = Result<Entry>> + 'a>;

/// Reads and writes inside one transaction.
pub trait Txn {
    fn get(&self, tree: Tree, key: &[u8]) -> TxResult<Option<Vec<u8>>>;
    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> TxResult<()>;
    fn remove(&self, tree: Tree, key: &[u8]) -> TxResult<()>;
}

/// A metadata engine: ordered trees of byte keys, transactions over all of them, flush.
pub trait Engine: Send + Sync {
    /// Runs `f` as one atomic transaction over every tree (see the module's promises).
    fn transact(&self, f: &mut dyn FnMut(&dyn Txn) -> TxResult<()>) -> Result<()>;

    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// The entries among `keys` that exist (in one round trip where the engine can).
    fn get_many(&self, tree: Tree, keys: &[&[u8]]) -> Result<Vec<Entry>> {
        let mut found = Vec::new();
        for k in keys {
            if let Some(v) = self.get(tree, k)? {
                found.push((k.to_vec(), v));
            }
        }
        Ok(found)
    }

    /// A single write outside any transaction, durable with the next flush.
    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()>;

    /// A single removal outside any transaction, durable with the next flush.
    fn remove(&self, tree: Tree, key: &[u8]) -> Result<()>;

    /// Entries with keys between the bounds, ascending. The scan is not a snapshot:
    /// writes made while it runs may or may not be seen.
    fn range(&self, tree: Tree, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'static>;

    /// The entry with the greatest key.
    fn last(&self, tree: Tree) -> Result<Option<Entry>>;

    /// Makes every write made so far durable.
    fn flush(&self) -> Result<()>;

    /// A mark of the data as it is now, for [`Engine::transact_since`]; None from an
    /// engine only one process commits to (under `Meta`'s lock nothing moves).
    fn mark(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// [`Engine::transact`], applied only if nothing was committed since `mark`;
    /// otherwise nothing is applied and the answer is [`Error::ReadAgain`]: what was
    /// read before the transaction (a scan) is stale.
    fn transact_since(&self, mark: Option<u64>, f: &mut dyn FnMut(&dyn Txn) -> TxResult<()>) -> Result<()> {
        let _ = mark;
        self.transact(f)
    }

    /// Takes or renews the lease `name` for `holder` for `secs` seconds: true while
    /// `holder` has it. A site-wide job (feeding the sinks) runs where the lease is;
    /// an engine only one process uses gives it to whoever asks.
    fn lease(&self, name: &str, holder: &str, secs: u32) -> Result<bool> {
        let _ = (name, holder, secs);
        Ok(true)
    }

    /// The engine of one index shard (see the module's promises). Opening one twice
    /// gives two handles on the same shard.
    fn shard(&self, id: &ShardId) -> Result<Box<dyn Engine>>;

    /// Whether each shard holds its records apart from the others' (a read of every
    /// record then reads every shard); false: all shards share one key space.
    fn partitioned(&self) -> bool {
        false
    }

    /// Whether other processes (the other gateways of a site) commit to this engine's
    /// data too. Then nothing a process keeps in memory about the data (the log's last
    /// sequence, above all) is the truth: it is read from the engine.
    fn shared(&self) -> bool {
        false
    }
}

/// The smallest key greater than every key starting with `prefix` (None: no bound).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Every entry whose key starts with `prefix`, ascending.
pub fn scan_prefix(engine: &dyn Engine, tree: Tree, prefix: &[u8]) -> Scan<'static> {
    let end = prefix_end(prefix);
    let to = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    engine.range(tree, Bound::Included(prefix), to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_past_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
