//! Index shards: a bucket's objects, uploads, parts, block references and hash-tree
//! entries are spread over `index_shards` shards by a hash of the key; users, buckets,
//! settings and the site's change log are the root's. A commit is atomic within one
//! shard (record, log entry, hash-tree update), and commits to different shards do
//! not wait for each other: on sled each shard has its own commit lock, on RADOS its
//! own object.
//!
//! **The site's log is merged from the shards' logs.** A shard commit appends to the
//! shard's own log; the merge then moves the shard's new entries to the site's log in
//! one root commit that also records how far it merged (`merged/<shard>`), so every
//! entry is merged once, in the shard's order, whoever merges (a gateway merges what it
//! committed before it answers; `merge_all` sweeps up what a killed gateway left).
//! Replication reads the site's log alone, with one cursor, as before. Entries of one
//! key keep their order (one key, one shard); entries of different shards are ordered
//! as the merges ran, which keeps what replication needs: a bucket is logged (in the
//! root) before any object put into it is merged, and a bucket delete merges every
//! shard of the bucket before it logs the delete.
//!
//! **What spans shards is a sequence of commits, each safe to stop after:**
//! - *Bucket delete* (`Store::delete_bucket`): (1) the root records `closing/<bucket>`;
//!   (2) each shard is closed (`closed` in the shard, committed only if the shard holds
//!   no object); a closed shard takes no new object or upload; (3) every shard is
//!   merged, and the root removes the bucket if its `closing` mark is still the one
//!   step 1 wrote. A refusal reopens the shards; a crash leaves a mark that goes stale
//!   (`CLOSING_STALE_MS`), and the next write to a closed shard of a bucket that still
//!   exists reopens it.
//! - *Block references* are counted per shard; a block is unreferenced when no space
//!   holds a count for it, and GC reads every space (see `gc`).
//! - *The hash tree's partition digests* are XORs, kept per shard and combined when
//!   read, so fullsync compares one digest per partition as before.

use super::{be_u64, Meta, Tx};
use crate::engine::{Scan, ShardId, Tree, TxResult};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

/// A shard's key (in its own `Tree::Meta`) saying it takes no new object or upload:
/// its bucket is being deleted, or was.
pub(crate) const CLOSED: &[u8] = b"closed";

/// Root `Tree::Meta` keys.
const INDEX_SHARDS: &str = "index_shards";
/// `+ bucket`: a bucket whose shards exist (they keep its graves after a delete).
const BUCKET_SHARDS: &[u8] = b"shards/";
/// `+ shard name`: the shard's last log entry moved to the site's log.
const MERGED: &[u8] = b"merged/";
/// `+ bucket`: a delete of the bucket in progress (a token and when it began).
const CLOSING: &[u8] = b"closing/";

/// A `closing` mark older than this was left by a delete that never finished.
pub(crate) const CLOSING_STALE_MS: u64 = 60_000;
/// Entries moved to the site's log per root commit.
const MERGE_BATCH: usize = 512;
/// A shard's log is trimmed once this many merged entries are kept.
const TRIM_EVERY: u64 = 256;

/// The root's open index shards.
#[derive(Default)]
pub(super) struct Index {
    count: OnceLock<u16>,
    open: Mutex<HashMap<ShardId, Arc<Meta>>>,
    /// Shards with entries committed here and not yet merged (see `merge_soon`).
    pending: Mutex<HashMap<ShardId, Arc<Meta>>>,
    /// Held by the one thread merging `pending`.
    merging: Mutex<()>,
}

/// FNV-1a: a stable hash (the same on every gateway and every build) placing keys.
fn place(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn key_of(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    [prefix, rest].concat()
}

/// The entries of several ascending scans, ascending (a key in more than one is
/// yielded once per scan holding it).
fn merged(scans: Vec<Scan<'static>>) -> Scan<'static> {
    let mut heads: Vec<(Option<crate::engine::Entry>, Scan<'static>)> = Vec::with_capacity(scans.len());
    let mut failed = None;
    for mut s in scans {
        match s.next().transpose() {
            Ok(head) => heads.push((head, s)),
            Err(e) => failed = Some(e),
        }
    }
    let mut failed = failed.map(Err);
    Box::new(std::iter::from_fn(move || {
        if let Some(e) = failed.take() {
            return Some(e);
        }
        let (i, _) = heads
            .iter()
            .enumerate()
            .filter_map(|(i, (h, _))| h.as_ref().map(|(k, _)| (i, k)))
            .min_by(|a, b| a.1.cmp(b.1))?;
        let (head, scan) = &mut heads[i];
        let out = head.take();
        match scan.next().transpose() {
            Ok(next) => *head = next,
            Err(e) => failed = Some(Err(e)),
        }
        out.map(Ok)
    }))
}

impl Tx<'_> {
    /// Refuses a new object or upload in a closed shard (its bucket being deleted).
    pub(crate) fn require_open(&self) -> TxResult<()> {
        match self.txn.get(Tree::Meta, CLOSED)? {
            Some(_) => super::abort(Error::ShardClosed),
            None => Ok(()),
        }
    }

    /// Whether this commit's shard is closed.
    pub(crate) fn is_closed(&self) -> TxResult<bool> {
        Ok(self.txn.get(Tree::Meta, CLOSED)?.is_some())
    }

    /// Notes that a bucket's shards exist (in the root, with the bucket's record).
    pub(crate) fn register_bucket(&self, name: &str) -> TxResult<()> {
        self.txn.put(Tree::Meta, &key_of(BUCKET_SHARDS, name.as_bytes()), b"")
    }
}

impl Meta {
    /// Settles the site's shard count: the first gateway's setting stays (records
    /// are placed by it); a different one configured later is reported and ignored.
    pub fn init_index_shards(&self, configured: u16) -> Result<u16> {
        let configured = configured.max(1);
        let stored = self.meta_init(INDEX_SHARDS, &configured.to_be_bytes())?;
        let n = u16::from_be_bytes([stored[0], stored[1]]);
        if n != configured {
            tracing::warn!(
                configured,
                site = n,
                "index_shards differs from the site's, which stays (records are placed by it)"
            );
        }
        let _ = self.index.count.set(n);
        Ok(n)
    }

    /// How many index shards each bucket has.
    pub fn index_shards(&self) -> u16 {
        *self.index.count.get().unwrap_or(&1)
    }

    pub(super) fn open_index_shard(&self, id: ShardId) -> Result<Arc<Meta>> {
        let mut open = self.index.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = open.get(&id) {
            return Ok(m.clone());
        }
        // Registered before anything is committed in it (a sink may get an object's
        // delete before its bucket): every shard with records is found by a sweep.
        let registered = key_of(BUCKET_SHARDS, id.bucket.as_bytes());
        if !self.contains(Tree::Meta, &registered)? {
            self.commit(crate::hlc::now_millis(), |tx| tx.register_bucket(&id.bucket))?;
        }
        let engine = self.engine.shard(&id)?;
        let shard = Meta::open_shard(
            engine,
            Some(id.clone()),
            self.clock.clone(),
            self.durability.clone(),
            self.failed.clone(),
        )?;
        let shard = Arc::new(shard);
        open.insert(id, shard.clone());
        Ok(shard)
    }

    /// Which of its bucket's index shards holds `key`.
    pub fn shard_index(&self, key: &str) -> u16 {
        (place(key) % u64::from(self.index_shards())) as u16
    }

    /// The index shard holding `bucket/key`.
    pub fn shard_of(&self, bucket: &str, key: &str) -> Result<Arc<Meta>> {
        self.open_index_shard(ShardId {
            bucket: bucket.to_owned(),
            index: self.shard_index(key),
        })
    }

    /// Which index shard this is (None: the root).
    pub fn shard_id(&self) -> Option<&ShardId> {
        self.shard.as_ref()
    }

    /// See [`crate::engine::Engine::partitioned`].
    pub fn partitioned(&self) -> bool {
        self.engine.partitioned()
    }

    /// Every index shard of `bucket`.
    pub fn shards_of(&self, bucket: &str) -> Result<Vec<Arc<Meta>>> {
        (0..self.index_shards())
            .map(|index| {
                self.open_index_shard(ShardId {
                    bucket: bucket.to_owned(),
                    index,
                })
            })
            .collect()
    }

    /// The index shards of every bucket ever made here (their graves outlive them).
    pub fn every_shard(&self) -> Result<Vec<Arc<Meta>>> {
        let mut all = Vec::new();
        for r in self.scan_raw(Tree::Meta, BUCKET_SHARDS) {
            let (k, _) = r?;
            let bucket = String::from_utf8_lossy(&k[BUCKET_SHARDS.len()..]).into_owned();
            all.extend(self.shards_of(&bucket)?);
        }
        Ok(all)
    }

    /// The index shards whose records are apart from the root's: every shard on an
    /// engine that partitions them, none on one whose shards share the root's trees.
    pub fn index_spaces(&self) -> Result<Vec<Arc<Meta>>> {
        if self.engine.partitioned() {
            self.every_shard()
        } else {
            Ok(Vec::new())
        }
    }

    /// Entries of `tree` between the bounds in every space (the root, then the index
    /// shards apart from it), ascending.
    pub fn range_everywhere(&self, tree: Tree, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Scan<'static>> {
        let mut scans = vec![self.range(tree, from, to)];
        for s in self.index_spaces()? {
            scans.push(s.range(tree, from, to));
        }
        Ok(merged(scans))
    }

    /// Entries of `tree` between the bounds in `bucket`'s shards, ascending.
    pub fn bucket_range(
        &self,
        bucket: &str,
        tree: Tree,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Result<Scan<'static>> {
        if !self.engine.partitioned() {
            return Ok(self.range(tree, from, to));
        }
        let scans = self
            .shards_of(bucket)?
            .iter()
            .map(|s| s.range(tree, from, to))
            .collect();
        Ok(merged(scans))
    }

    /// Entries of `tree` under `prefix` in `bucket`'s shards, ascending.
    pub fn bucket_scan(&self, bucket: &str, tree: Tree, prefix: &[u8]) -> Result<Scan<'static>> {
        let end = crate::engine::prefix_end(prefix);
        let to = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.bucket_range(bucket, tree, Bound::Included(prefix), to)
    }

    /// Runs `body` on the index shard of `bucket/key`, then moves what it logged to
    /// the site's log. A closed shard refuses: OperationAborted while its bucket is
    /// being deleted, NoSuchBucket once it is gone; a shard a crashed delete left
    /// closed is reopened and `body` runs again.
    pub fn in_shard<T>(&self, bucket: &str, key: &str, mut body: impl FnMut(&Meta) -> Result<T>) -> Result<T> {
        let shard = self.shard_of(bucket, key)?;
        for attempt in 0.. {
            let out = body(&shard);
            let Err(Error::ShardClosed) = out else {
                // What the body committed (before an error too) is in the shard's log,
                // durably: the write is answered, and its merge may be another's.
                if let Err(e) = self.merge_soon(&shard) {
                    tracing::warn!(error = %e, "merging a shard's log into the site's failed; it is retried");
                }
                return out;
            };
            self.merge(&shard)?;
            match self.closing_state(bucket)? {
                Closing::Gone => return Err(Error::NoSuchBucket),
                Closing::InProgress => return Err(Error::OperationAborted),
                Closing::Stale if attempt == 0 => self.reopen(bucket, std::slice::from_ref(&shard))?,
                Closing::Stale => return Err(Error::OperationAborted),
            }
        }
        unreachable!("the loop returns")
    }

    /// [`Meta::commit`] in the index shard of `bucket/key` (see [`Meta::in_shard`]).
    pub fn commit_in<T: Send>(
        &self,
        bucket: &str,
        key: &str,
        now_ms: u64,
        f: impl Fn(&Tx) -> TxResult<T> + Sync,
    ) -> Result<T> {
        self.in_shard(bucket, key, |shard| shard.commit(now_ms, &f))
    }

    /// Whether this shard committed entries here that are not merged yet.
    fn unmerged(&self) -> bool {
        self.last_seq.load(Ordering::SeqCst) > self.merged.load(Ordering::SeqCst)
    }

    /// Moves the entries `shard` logged since its last merge to the site's log.
    pub fn merge(&self, shard: &Meta) -> Result<()> {
        // Nothing new this gateway knows of (what others committed, `merge_all` finds).
        if !shard.unmerged() {
            return Ok(());
        }
        self.merge_now(&[shard])
    }

    /// After a commit to `shard`: its entries are merged by this thread, or, while
    /// another merges, by that one (so concurrent writes share root commits instead
    /// of queueing for one each). A writer merges its own shard and at most one more
    /// round of others', so its answer never waits on a stream of writes; what it
    /// leaves, the next writer takes, or a reader of the log (replication wakes at
    /// every merge, and the store settles every second), and after a crash
    /// `merge_all`.
    pub fn merge_soon(&self, shard: &Arc<Meta>) -> Result<()> {
        if !shard.unmerged() {
            return Ok(());
        }
        let id = shard.shard.clone().expect("only an index shard is merged");
        lock(&self.index.pending).insert(id, shard.clone());
        self.merge_pending(false)
    }

    /// Merges every shard this process committed to and had not merged when it was
    /// called: what a reader of the site's log calls first, so it sees every write
    /// answered here before it read.
    pub fn settle(&self) -> Result<()> {
        if self.shard.is_some() || lock(&self.index.pending).is_empty() {
            return Ok(());
        }
        self.merge_pending(true)
    }

    /// Merges `pending`: once waiting for the merging thread (`wait`), or up to twice
    /// if no other thread is merging. A shard added while another thread merged is
    /// never stranded for long: it was added before its writer tried the lock, so
    /// before the merger's second look, and otherwise a reader's settle finds it.
    fn merge_pending(&self, wait: bool) -> Result<()> {
        // A store that stopped takes no root commit; its shards' unmerged entries
        // wait for the restart's sweep, as after a crash.
        if self.failure().is_some() {
            return Ok(());
        }
        for _ in 0..if wait { 1 } else { 2 } {
            let merging = match (wait, self.index.merging.try_lock()) {
                (_, Ok(g)) => g,
                (false, Err(_)) => return Ok(()),
                (true, Err(_)) => lock(&self.index.merging),
            };
            let batch: Vec<(ShardId, Arc<Meta>)> = lock(&self.index.pending).drain().collect();
            if batch.is_empty() {
                return Ok(());
            }
            let shards: Vec<&Meta> = batch.iter().map(|(_, s)| &**s).collect();
            if let Err(e) = self.merge_now(&shards) {
                lock(&self.index.pending).extend(batch);
                return Err(e);
            }
            drop(merging);
            if lock(&self.index.pending).is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Moves what `shards` logged since their last merges to the site's log, in root
    /// commits that each take up to `MERGE_BATCH` entries of every shard and record
    /// how far each was merged; a commit that finds a shard merged meanwhile (by
    /// another gateway, or a sweep) reads again.
    fn merge_now(&self, shards: &[&Meta]) -> Result<()> {
        /// One shard's part of a root commit: its entries after `from`, where the
        /// root's cursor for it stood when they were read.
        struct Move<'a> {
            shard: &'a Meta,
            cursor: Vec<u8>,
            from: u64,
            entries: Vec<super::LogEntry>,
        }
        impl Move<'_> {
            fn last(&self) -> u64 {
                self.entries.last().map_or(self.from, |e| e.seq)
            }
        }
        let merged_to = |v: Option<Vec<u8>>| v.map_or(0, |v| be_u64(&v));
        let mut todo: Vec<&Meta> = shards.to_vec();
        while !todo.is_empty() {
            // Read before the commit (an engine may not be read inside one of its
            // transactions); the commit applies only if nobody merged meanwhile.
            let mut work = Vec::with_capacity(todo.len());
            for shard in todo.drain(..) {
                let id = shard.shard.as_ref().expect("only an index shard is merged");
                let cursor = key_of(MERGED, &id.name());
                let from = merged_to(self.get_raw(Tree::Meta, &cursor)?);
                let entries = shard.changes_after(from, MERGE_BATCH, u64::MAX)?;
                if entries.is_empty() {
                    shard.merged.fetch_max(from, Ordering::SeqCst);
                } else {
                    work.push(Move {
                        shard,
                        cursor,
                        from,
                        entries,
                    });
                }
            }
            if work.is_empty() {
                return Ok(());
            }
            let moved = self.commit(crate::hlc::now_millis(), |tx| {
                for m in &work {
                    if merged_to(tx.get_raw(Tree::Meta, &m.cursor)?) != m.from {
                        return Ok(false);
                    }
                }
                for m in &work {
                    for e in &m.entries {
                        tx.set_via(&e.via);
                        tx.log(&e.change)?;
                    }
                    tx.put_raw(Tree::Meta, &m.cursor, &m.last().to_be_bytes())?;
                }
                Ok(true)
            })?;
            if !moved {
                todo = work.iter().map(|m| m.shard).collect();
                continue;
            }
            for m in &work {
                let (shard, last) = (m.shard, m.last());
                shard.merged.fetch_max(last, Ordering::SeqCst);
                if last >= shard.trimmed.load(Ordering::SeqCst) + TRIM_EVERY {
                    shard.trim_changes(last)?;
                    shard.trimmed.fetch_max(last, Ordering::SeqCst);
                }
                if m.entries.len() == MERGE_BATCH {
                    todo.push(shard);
                }
            }
        }
        Ok(())
    }

    /// Merges every shard with entries not yet in the site's log: at start (a crash
    /// between a shard's commit and its merge) and periodically on a site of many
    /// gateways (one killed in between).
    pub fn merge_all(&self) -> Result<()> {
        for shard in self.every_shard()? {
            let id = shard.shard.as_ref().expect("an index shard");
            let done = self.get_raw(Tree::Meta, &key_of(MERGED, &id.name()))?;
            shard.merged.fetch_max(done.map_or(0, |v| be_u64(&v)), Ordering::SeqCst);
            if shard.last_seq() > shard.merged.load(Ordering::SeqCst) {
                self.merge_now(&[&shard])?;
            }
        }
        Ok(())
    }

    /// Registers every bucket's shards (stores made before shards, once).
    pub fn register_buckets(&self) -> Result<()> {
        if self.meta_get("buckets_registered")?.is_some() {
            return Ok(());
        }
        let names: Vec<Vec<u8>> = self
            .scan_raw(Tree::Buckets, b"")
            .map(|r| r.map(|(k, _)| k))
            .collect::<Result<_>>()?;
        for chunk in names.chunks(1000) {
            self.commit(crate::hlc::now_millis(), |tx| {
                for n in chunk {
                    tx.register_bucket(&String::from_utf8_lossy(n))?;
                }
                Ok(())
            })?;
        }
        self.meta_put("buckets_registered", b"1")
    }

    /// Step 1 of a bucket delete: marks it closing; the mark's token. Another delete
    /// of the bucket under way (a replicated one, say) is waited for, a while.
    pub fn begin_closing(&self, bucket: &str) -> Result<Vec<u8>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match self.try_closing(bucket, crate::hlc::now_millis()) {
                Err(Error::OperationAborted) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                done => return done,
            }
        }
    }

    fn try_closing(&self, bucket: &str, now_ms: u64) -> Result<Vec<u8>> {
        let token = uuid::Uuid::new_v4().as_bytes().to_vec();
        let key = key_of(CLOSING, bucket.as_bytes());
        self.commit(now_ms, |tx| {
            if !tx.contains(Tree::Buckets, bucket.as_bytes())? {
                return super::abort(Error::NoSuchBucket);
            }
            if let Some(mark) = tx.get_raw(Tree::Meta, &key)? {
                if now_ms < be_u64(&mark[16..]) + CLOSING_STALE_MS {
                    return super::abort(Error::OperationAborted);
                }
            }
            let mut mark = token.clone();
            mark.extend_from_slice(&now_ms.to_be_bytes());
            tx.put_raw(Tree::Meta, &key, &mark)
        })?;
        Ok(token)
    }

    /// In the commit that ends a bucket delete: whether the `closing` mark is still
    /// `token`'s (nobody judged it stale and reopened the shards); it is removed.
    pub(crate) fn end_closing(&self, tx: &Tx, bucket: &str, token: &[u8]) -> TxResult<bool> {
        let key = key_of(CLOSING, bucket.as_bytes());
        let ours = tx.get_raw(Tree::Meta, &key)?.is_some_and(|m| m.starts_with(token));
        if ours {
            tx.remove(Tree::Meta, &key)?;
        }
        Ok(ours)
    }

    /// Undoes a refused bucket delete: reopens `shards` and removes the mark if it is
    /// still `token`'s.
    pub fn abandon_closing(&self, bucket: &str, token: &[u8], shards: &[Arc<Meta>]) -> Result<()> {
        let now = crate::hlc::now_millis();
        for s in shards {
            if s.get_raw(Tree::Meta, CLOSED)?.is_some() {
                s.commit(now, |tx| tx.remove(Tree::Meta, CLOSED))?;
            }
        }
        self.commit(now, |tx| self.end_closing(tx, bucket, token).map(drop))
    }

    fn closing_state(&self, bucket: &str) -> Result<Closing> {
        if !self.contains(Tree::Buckets, bucket.as_bytes())? {
            return Ok(Closing::Gone);
        }
        match self.get_raw(Tree::Meta, &key_of(CLOSING, bucket.as_bytes()))? {
            Some(m) if crate::hlc::now_millis() < be_u64(&m[16..]) + CLOSING_STALE_MS => Ok(Closing::InProgress),
            _ => Ok(Closing::Stale),
        }
    }

    /// Reopens closed shards of a bucket that exists (a new bucket of a deleted one's
    /// name, or one a crash left closed). It holds the bucket's `closing` mark while
    /// it does, as a delete does: a delete under way is waited for, and one that
    /// starts meanwhile waits, so a reopen never undoes a running delete's closing. A
    /// stale mark is taken over, so the delete that left it, should it still run,
    /// finds its mark gone and stops.
    pub fn reopen(&self, bucket: &str, shards: &[Arc<Meta>]) -> Result<()> {
        let token = self.begin_closing(bucket)?;
        self.abandon_closing(bucket, &token, shards)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a delete of a bucket whose shard is closed stands.
enum Closing {
    /// The bucket is gone.
    Gone,
    /// A delete began less than `CLOSING_STALE_MS` ago.
    InProgress,
    /// The bucket exists and no delete is under way: the shard was left closed.
    Stale,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SledEngine;
    use crate::hlc::Hlc;
    use crate::records::{Change, Manifest, SiteId};

    fn open(dir: &std::path::Path) -> Meta {
        let meta = Meta::open(Box::new(SledEngine::open(dir, 1 << 20).unwrap())).unwrap();
        meta.init_index_shards(4).unwrap();
        meta
    }

    fn delete_of(key: &str, hlc: u64) -> Change {
        Change::Object(Box::new(Manifest::tombstone("b", key, Hlc(hlc), SiteId(1))))
    }

    fn logged(meta: &Meta) -> Vec<String> {
        let log = meta.changes_after(0, usize::MAX, u64::MAX).unwrap();
        log.into_iter().map(|e| e.change.key()).collect()
    }

    #[test]
    fn what_a_shard_logged_before_a_crash_reaches_the_site_log_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        {
            let meta = open(dir.path());
            // Committed in the shard, the process gone before the merge.
            meta.shard_of("b", "k1")
                .unwrap()
                .commit(1, |tx| tx.log(&delete_of("k1", 1)))
                .unwrap();
            meta.commit_in("b", "k2", 2, |tx| tx.log(&delete_of("k2", 2))).unwrap();
            assert_eq!(logged(&meta), vec!["object/b/k2"]);
        }
        let meta = open(dir.path());
        meta.merge_all().unwrap();
        assert_eq!(logged(&meta), vec!["object/b/k2", "object/b/k1"]);
        // Merged once: another sweep, or a merge of the same shard, adds nothing.
        meta.merge_all().unwrap();
        meta.merge(&meta.shard_of("b", "k1").unwrap()).unwrap();
        assert_eq!(logged(&meta).len(), 2);
        let seqs: Vec<u64> = meta
            .changes_after(0, 10, u64::MAX)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, vec![1, 2]);
    }

    #[test]
    fn a_closed_shard_refuses_while_a_delete_runs_and_reopens_once_its_mark_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let meta = open(dir.path());
        meta.commit(1, |tx| tx.put_raw(Tree::Buckets, b"b", b"")).unwrap();
        let write = || meta.commit_in("b", "k", 2, |tx| tx.require_open());
        let token = meta.begin_closing("b").unwrap();
        let shard = meta.shard_of("b", "k").unwrap();
        shard.commit(3, |tx| tx.put_raw(Tree::Meta, CLOSED, b"")).unwrap();
        assert!(matches!(write(), Err(Error::OperationAborted)));
        // A second delete waits for the first.
        assert!(matches!(
            meta.try_closing("b", crate::hlc::now_millis()),
            Err(Error::OperationAborted)
        ));
        // The delete's process died: once its mark is stale, a write reopens the shard.
        let old = crate::hlc::now_millis() - CLOSING_STALE_MS - 1;
        let mark = [&token[..], &old.to_be_bytes()].concat();
        meta.commit(4, |tx| tx.put_raw(Tree::Meta, &key_of(CLOSING, b"b"), &mark))
            .unwrap();
        write().unwrap();
        // The delete that left the mark, were it still running, can no longer finish.
        let finished = meta.commit(5, |tx| meta.end_closing(tx, "b", &token)).unwrap();
        assert!(!finished);
        // A bucket that is gone answers NoSuchBucket.
        meta.commit(6, |tx| tx.remove(Tree::Buckets, b"b")).unwrap();
        shard.commit(7, |tx| tx.put_raw(Tree::Meta, CLOSED, b"")).unwrap();
        assert!(matches!(write(), Err(Error::NoSuchBucket)));
    }

    #[test]
    fn merged_scans_yield_every_entry_in_order() {
        let scan = |keys: &[&str]| -> Scan<'static> {
            let v: Vec<Result<crate::engine::Entry>> =
                keys.iter().map(|k| Ok((k.as_bytes().to_vec(), Vec::new()))).collect();
            Box::new(v.into_iter())
        };
        let all: Vec<Vec<u8>> = merged(vec![scan(&["a", "d", "e"]), scan(&[]), scan(&["b", "c", "f"])])
            .map(|r| r.unwrap().0)
            .collect();
        let want: Vec<Vec<u8>> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        assert_eq!(all, want);
    }

    #[test]
    fn keys_place_the_same_way_on_every_build() {
        // Records are found by this placement: it must never change.
        assert_eq!(place(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(place("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
