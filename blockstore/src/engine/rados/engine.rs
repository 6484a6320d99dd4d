//! The metadata engine over RADOS, shared by every gateway of a site.
//!
//! Every tree lives in the omap of one index object, so that a transaction over any
//! trees is one RADOS write operation. A transaction is optimistic: its reads note the
//! object's version (each read after the first asserts the same version), its writes
//! are buffered, and the commit applies them guarded by that version. A commit that
//! finds the version moved on (another gateway committed in between) applies nothing,
//! and the transaction runs again: serialisable, with no lock and no consensus of
//! Strata's own, as RGW's bucket index commits.
//!
//! The root shard (users, buckets, settings, the site's change log) is the object
//! `strata.meta`; each index shard of a bucket is an object of its own,
//! `strata.index.<bucket>.<n>`, holding its objects, uploads, parts, block references,
//! hash-tree entries and change log. A shard's commits serialise on its object only
//! (docs/architecture.md, "A site over RADOS").
//!
//! A gateway keeps what it read and wrote in a cache valid at one version of the
//! object. A transaction's first read always goes to RADOS and learns the version
//! now; if it is the cache's, nothing has changed since, and the transaction's other
//! reads come from the cache. A gateway alone on its site so pays two round trips per
//! commit (that read and the write) instead of one per record read; a gateway whose
//! peers committed meanwhile finds a newer version and reads afresh.
//!
//! An omap key is the tree's name, `/`, the key in lowercase hex and a `.`: hex keeps
//! byte order and keeps keys printable (librados takes the start of a listing as a C
//! string), and the closing `.` sorts a key before every key it is a prefix of, so a
//! listing can start at a key or just past it.

use super::{moved_on, Committed, OmapWrite, Pool};
use crate::engine::{Engine, Entry, Scan, ShardId, Tree, TxError, TxResult, Txn};
use crate::error::{Error, Result};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The root shard's object.
const ROOT: &str = "strata.meta";
/// What the engine writes in every shard object it makes: a store of another layout
/// (one object for everything, an earlier build's) is refused, not misread.
const LAYOUT: &[u8] = b"strata 2";
/// Entries a listing reads per round trip.
const PAGE: u64 = 1024;

pub struct RadosEngine {
    pool: Arc<Pool>,
    /// The shard's object.
    object: String,
    cache: Mutex<Cache>,
}

/// Records as they are at one version of the object (None: absent).
#[derive(Default)]
struct Cache {
    version: Option<u64>,
    entries: HashMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
}

/// What the cache may hold before it starts over.
const CACHE_BYTES: usize = 64 << 20;

impl Cache {
    /// Starts over, valid at `version`.
    fn reset(&mut self, version: Option<u64>) {
        self.version = version;
        self.entries.clear();
        self.bytes = 0;
    }

    fn insert(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.bytes += key.len() + value.as_ref().map_or(0, Vec::len);
        if self.bytes > CACHE_BYTES {
            let version = self.version;
            self.reset(version);
            self.bytes = key.len() + value.as_ref().map_or(0, Vec::len);
        }
        self.entries.insert(key, value);
    }
}

impl RadosEngine {
    /// The engine over `pool` (its root shard), creating the root's object when the
    /// pool is new.
    pub fn open(pool: Pool) -> Result<Self> {
        Self::open_object(Arc::new(pool), ROOT.to_owned())
    }

    fn open_object(pool: Arc<Pool>, object: String) -> Result<Self> {
        // Commits are guarded by the object's version, which a missing object has not:
        // it is made here, with the layout it holds (an existing one is kept).
        let page = pool.omap_get(&object, &[b"engine"], None)?;
        match page.as_ref().and_then(|p| p.entries.first()) {
            Some((_, layout)) if layout.as_slice() == LAYOUT => {}
            Some((_, layout)) => {
                return Err(Error::InvalidArgument(format!(
                    "the site's metadata object {object} holds layout {:?}; this build reads {:?} (a site made by an earlier build: start it afresh)",
                    String::from_utf8_lossy(layout),
                    String::from_utf8_lossy(LAYOUT)
                )))
            }
            None => {
                let marker = OmapWrite {
                    set: vec![(b"engine".to_vec(), LAYOUT.to_vec())],
                    ..OmapWrite::default()
                };
                pool.commit(&object, &marker)?;
            }
        }
        Ok(RadosEngine {
            pool,
            object,
            cache: Mutex::default(),
        })
    }

    /// Reads `keys` in one operation into a fresh cache; the object's version now.
    fn prefetch(&self, keys: &[Vec<u8>]) -> Result<u64> {
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let page = self
            .pool
            .omap_get(&self.object, &refs, None)?
            .ok_or_else(|| missing_object(&self.object))?;
        let found: HashMap<Vec<u8>, Vec<u8>> = page.entries.into_iter().collect();
        let mut cache = self.cache();
        cache.reset(Some(page.version));
        for k in keys {
            cache.insert(k.clone(), found.get(k).cloned());
        }
        Ok(page.version)
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn tree_prefix(tree: Tree) -> Vec<u8> {
    format!("{}/", tree.name()).into_bytes()
}

fn omap_key(tree: Tree, key: &[u8]) -> Vec<u8> {
    let mut k = tree_prefix(tree);
    k.extend_from_slice(hex::encode(key).as_bytes());
    k.push(b'.');
    k
}

/// The key an omap key of `tree` stands for.
fn key_of(prefix_len: usize, omap_key: &[u8]) -> Result<Vec<u8>> {
    let hex_part = omap_key
        .get(prefix_len..omap_key.len().saturating_sub(1))
        .ok_or_else(|| Error::InvalidArgument("a malformed key in the metadata object".into()))?;
    hex::decode(hex_part).map_err(|_| Error::InvalidArgument("a malformed key in the metadata object".into()))
}

/// A failed read inside a transaction: a version that moved on is a conflict (the
/// transaction runs again), anything else ends it.
fn tx_error(e: Error) -> TxError {
    if moved_on(&e) {
        TxError::Conflict
    } else {
        TxError::Abort(e)
    }
}

fn missing_object(object: &str) -> Error {
    Error::Rados {
        op: format!("read {object}: the site's metadata object is gone"),
        errno: libc::ENOENT,
    }
}

struct RadosTxn<'a> {
    engine: &'a RadosEngine,
    /// The object's version when this transaction first read it.
    version: Cell<Option<u64>>,
    /// Buffered writes (None: a removal), applied by the commit.
    writes: RefCell<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    /// The keys it read: a run again after a conflict fetches them in one read.
    read: RefCell<Vec<Vec<u8>>>,
}

impl Txn for RadosTxn<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let k = omap_key(tree, key);
        if let Some(written) = self.writes.borrow().get(&k) {
            return Ok(written.clone());
        }
        self.read.borrow_mut().push(k.clone());
        let version = self.version.get();
        if version.is_some() {
            let cache = self.engine.cache();
            if cache.version == version {
                if let Some(v) = cache.entries.get(&k) {
                    return Ok(v.clone());
                }
            }
        }
        let page = self
            .engine
            .pool
            .omap_get(&self.engine.object, &[&k], version)
            .map_err(tx_error)?
            .ok_or_else(|| missing_object(&self.engine.object))?;
        let value = page.entries.into_iter().next().map(|(_, v)| v);
        self.version.set(Some(page.version));
        let mut cache = self.engine.cache();
        if cache.version != Some(page.version) {
            // Another gateway committed since the cache was filled.
            cache.reset(Some(page.version));
        }
        cache.insert(k, value.clone());
        Ok(value)
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.writes
            .borrow_mut()
            .insert(omap_key(tree, key), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> TxResult<()> {
        self.writes.borrow_mut().insert(omap_key(tree, key), None);
        Ok(())
    }
}

impl RadosEngine {
    /// Applies writes; with `expect_version`, only if the object is still at it.
    fn apply(&self, writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>, expect_version: Option<u64>) -> Result<Committed> {
        if writes.is_empty() {
            return Ok(Committed::Done(expect_version.unwrap_or(0)));
        }
        let mut w = OmapWrite {
            expect_version,
            ..OmapWrite::default()
        };
        for (k, v) in &writes {
            match v {
                Some(v) => w.set.push((k.clone(), v.clone())),
                None => w.remove.push(k.clone()),
            }
        }
        let committed = self.pool.commit(&self.object, &w);
        let mut cache = self.cache();
        match (&committed, expect_version) {
            // Nothing came between the version read and this commit: the cache, if
            // it was at that version, is at the new one with these writes.
            (Ok(Committed::Done(new)), Some(read)) if cache.version == Some(read) => {
                cache.version = Some(*new);
                for (k, v) in writes {
                    cache.insert(k, v);
                }
            }
            // Unguarded, or failed: what came between is unknown.
            _ => cache.reset(None),
        }
        committed
    }
}

impl Engine for RadosEngine {
    fn transact(&self, f: &mut dyn FnMut(&dyn Txn) -> TxResult<()>) -> Result<()> {
        self.transact_since(None, f)
    }

    fn mark(&self) -> Result<Option<u64>> {
        let page = self.pool.omap_get(&self.object, &[], None)?;
        Ok(Some(page.ok_or_else(|| missing_object(&self.object))?.version))
    }

    fn transact_since(&self, mark: Option<u64>, f: &mut dyn FnMut(&dyn Txn) -> TxResult<()>) -> Result<()> {
        let mut read_before: Vec<Vec<u8>> = Vec::new();
        for attempt in 0u32.. {
            if attempt > 2 {
                // Gateways that keep colliding take turns instead of retrying in step.
                std::thread::sleep(Duration::from_micros(200 * u64::from(attempt.min(20))));
            }
            // Run again, a transaction reads what it read before: fetched in one read
            // (a batch of many commits would otherwise read key by key).
            let version = match mark {
                None if !read_before.is_empty() => Some(self.prefetch(&read_before)?),
                _ => mark,
            };
            let txn = RadosTxn {
                engine: self,
                version: Cell::new(version),
                writes: RefCell::new(BTreeMap::new()),
                read: RefCell::default(),
            };
            // From a mark, running again reads nothing newer: the caller reads again.
            let conflict = || if mark.is_some() { Err(Error::ReadAgain) } else { Ok(()) };
            match f(&txn) {
                Ok(()) => {}
                Err(TxError::Conflict) => {
                    conflict()?;
                    read_before = txn.read.into_inner();
                    continue;
                }
                Err(TxError::Abort(e)) => return Err(e),
            }
            let version = txn.version.get();
            match self.apply(txn.writes.into_inner(), version)? {
                Committed::Done(_) => return Ok(()),
                Committed::Conflict => conflict()?,
            }
            read_before = txn.read.into_inner();
        }
        unreachable!("the retry loop ends only by returning")
    }

    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let k = omap_key(tree, key);
        let page = self.pool.omap_get(&self.object, &[&k], None)?;
        let page = page.ok_or_else(|| missing_object(&self.object))?;
        Ok(page.entries.into_iter().next().map(|(_, v)| v))
    }

    fn get_many(&self, tree: Tree, keys: &[&[u8]]) -> Result<Vec<Entry>> {
        let omap_keys: Vec<Vec<u8>> = keys.iter().map(|k| omap_key(tree, k)).collect();
        let refs: Vec<&[u8]> = omap_keys.iter().map(Vec::as_slice).collect();
        let page = self.pool.omap_get(&self.object, &refs, None)?;
        let page = page.ok_or_else(|| missing_object(&self.object))?;
        let prefix = tree_prefix(tree).len();
        page.entries
            .into_iter()
            .map(|(k, v)| Ok((key_of(prefix, &k)?, v)))
            .collect()
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        self.apply([(omap_key(tree, key), Some(value.to_vec()))].into(), None)
            .map(drop)
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<()> {
        self.apply([(omap_key(tree, key), None)].into(), None).map(drop)
    }

    fn range(&self, tree: Tree, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'static> {
        let prefix = tree_prefix(tree);
        let after = match from {
            // Just before the key's own `.`-closed omap key.
            Bound::Included(k) => [&prefix[..], hex::encode(k).as_bytes()].concat(),
            Bound::Excluded(k) => omap_key(tree, k),
            Bound::Unbounded => prefix.clone(),
        };
        Box::new(Listing {
            pool: self.pool.clone(),
            object: self.object.clone(),
            prefix,
            after,
            to: to.map(<[u8]>::to_vec),
            page: VecDeque::new(),
            more: true,
        })
    }

    fn last(&self, tree: Tree) -> Result<Option<Entry>> {
        // The omap lists forwards only: this reads the whole tree. Only start-up asks.
        let mut last = None;
        for entry in self.range(tree, Bound::Unbounded, Bound::Unbounded) {
            last = Some(entry?);
        }
        Ok(last)
    }

    fn flush(&self) -> Result<()> {
        // RADOS acknowledges a write operation once every replica has it durably.
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    fn shard(&self, id: &ShardId) -> Result<Box<dyn Engine>> {
        let object = format!("strata.index.{}.{}", id.bucket, id.index);
        Ok(Box::new(Self::open_object(self.pool.clone(), object)?))
    }

    fn partitioned(&self) -> bool {
        true
    }

    fn lease(&self, name: &str, holder: &str, secs: u32) -> Result<bool> {
        let held = self
            .pool
            .lease(&format!("strata.lease.{name}"), "lease", holder, secs)?;
        Ok(held == super::Lease::Held)
    }
}

/// A listing of one tree, read a page at a time.
struct Listing {
    pool: Arc<Pool>,
    object: String,
    prefix: Vec<u8>,
    /// The omap key the next page starts after.
    after: Vec<u8>,
    to: Bound<Vec<u8>>,
    page: VecDeque<Entry>,
    more: bool,
}

impl Listing {
    fn next_page(&mut self) -> Result<()> {
        let page = self
            .pool
            .omap_page(&self.object, &self.after, &self.prefix, PAGE, None)?;
        let page = page.ok_or_else(|| missing_object(&self.object))?;
        self.more = page.more;
        if let Some((k, _)) = page.entries.last() {
            self.after = k.clone();
        } else {
            self.more = false;
        }
        for (k, v) in page.entries {
            self.page.push_back((key_of(self.prefix.len(), &k)?, v));
        }
        Ok(())
    }
}

impl Iterator for Listing {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        if self.page.is_empty() && self.more {
            if let Err(e) = self.next_page() {
                self.more = false;
                return Some(Err(e));
            }
        }
        let (k, v) = self.page.pop_front()?;
        let within = match &self.to {
            Bound::Included(end) => k <= *end,
            Bound::Excluded(end) => k < *end,
            Bound::Unbounded => true,
        };
        if !within {
            self.page.clear();
            self.more = false;
            return None;
        }
        Some(Ok((k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omap_keys_sort_as_the_keys_do() {
        let keys: [&[u8]; 6] = [b"", b"a", b"a\x00", b"ab", b"a\xff", b"b"];
        let encoded: Vec<Vec<u8>> = keys.iter().map(|k| omap_key(Tree::Objects, k)).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
        for (k, e) in keys.iter().zip(&encoded) {
            assert_eq!(key_of(tree_prefix(Tree::Objects).len(), e).unwrap(), *k);
        }
        // A listing from Included(k) starts after this, and so at k itself.
        let start = [&tree_prefix(Tree::Objects)[..], hex::encode(b"a").as_bytes()].concat();
        assert!(start < omap_key(Tree::Objects, b"a") && start > omap_key(Tree::Objects, b""));
    }
}
