//! The metadata store: typed records over the engine's trees, and the commit protocol.
//! Nothing here knows which engine it runs on (see `engine`).
//!
//! Every change goes through [`Meta::commit`]: one mutex orders commits (so the change
//! log's sequence is the commit order), one engine transaction makes the data change
//! and its change-log entry atomic, and a group flush after the lock is released makes
//! it durable, many committers sharing one flush. On an engine other gateways share,
//! a commit is durable once applied, and the commits that arrive together share one
//! engine transaction instead (`batch`).
//!
//! A `Meta` is one shard's commit protocol. The site's root shard (users, buckets,
//! settings, the site's change log) opens the index shards of buckets (`shards`), each
//! a `Meta` of its own with its own lock, batch and change log; what they log reaches
//! the site's log by a merge.

mod batch;
mod shards;

pub(crate) use shards::CLOSED;

use crate::engine::{self, Engine, Scan, Tree, TxError, TxResult, Txn};
use crate::error::{Error, Result};
use crate::hlc::Clock;
use crate::records::{BlockRef, Change, SiteId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::Cell;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) fn abort<T>(e: Error) -> TxResult<T> {
    Err(TxError::Abort(e))
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serialize(v).expect("records always serialize")
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    Ok(bincode::deserialize(b)?)
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: u64,
    /// Bytes logged up to and including this entry.
    pub position: u64,
    pub change: Change,
    /// The sites the change passed through before this one, after its origin (empty
    /// for a change made here): it is never sent to any of them.
    pub via: Vec<SiteId>,
}

impl LogEntry {
    /// Whether this entry goes to `sink`: never back to its origin or to a site it
    /// passed through; with `cascade` off, only changes made here go at all.
    pub fn goes_to(&self, sink: SiteId, cascade: bool) -> bool {
        self.change.origin() != sink && !self.via.contains(&sink) && (cascade || self.via.is_empty())
    }
}

pub(crate) struct Meta {
    engine: Box<dyn Engine>,
    /// Which index shard this is; None: the root, whose log is the site's.
    shard: Option<engine::ShardId>,
    /// Stamps every local change, inside its commit (`Tx::stamp`), so stamps follow
    /// commit order within a shard. Shared by all of a site's shards.
    pub(crate) clock: Arc<Clock>,
    commit_lock: Mutex<()>,
    /// Shared by all shards: one flush covers every shard's commits (sled flushes the
    /// whole database).
    durability: Arc<GroupFlush>,
    last_seq: AtomicU64,
    /// The newest logged change known durable: replication reads no further, so a
    /// change whose flush failed is never sent.
    durable_seq: AtomicU64,
    log_bytes: AtomicU64,
    /// An index shard's: its last entry known merged into the site's log, and the
    /// last its log was trimmed to (see `shards`).
    merged: AtomicU64,
    trimmed: AtomicU64,
    on_commit: std::sync::OnceLock<Box<dyn Fn(u64) + Send + Sync>>,
    /// Set when a flush failed: applied changes may not be durable, so no more are
    /// taken (fail-stop, as databases treat a failed fsync) until a restart recovers
    /// the last durable state. Shared by all shards.
    failed: Arc<std::sync::OnceLock<String>>,
    /// Commits waiting to be made one engine transaction (a shared engine's).
    waiting: batch::Waiting,
    /// The root's index shards (see `shards`); empty in an index shard.
    index: shards::Index,
}

/// Group commit of metadata flushes. Concurrent flushes do not coalesce by themselves
/// (measured on the first engine: 32 committing threads flushed no faster than one), so
/// committers share them: whoever finds no flush running flushes for everyone whose
/// transaction has completed by then; the others wait for a flush that covers theirs.
#[derive(Default)]
struct GroupFlush {
    /// Transactions applied, in commit order (ticket numbers).
    committed: AtomicU64,
    state: Mutex<FlushState>,
    done: std::sync::Condvar,
}

#[derive(Default)]
struct FlushState {
    /// Every ticket up to this one is durable.
    durable: u64,
    flushing: bool,
}

impl GroupFlush {
    /// Returns once `ticket`'s transaction is durable.
    fn wait(&self, ticket: u64, flush: impl Fn() -> Result<()>) -> Result<()> {
        let lock = || self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = lock();
        while st.durable < ticket {
            if st.flushing {
                st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            st.flushing = true;
            // A flush persists every write made before it starts: all of these.
            let covers = self.committed.load(Ordering::SeqCst);
            drop(st);
            let r = flush();
            st = lock();
            st.flushing = false;
            if r.is_ok() {
                st.durable = st.durable.max(covers);
            }
            self.done.notify_all();
            r?;
        }
        Ok(())
    }
}

/// A transaction over every tree, with typed helpers.
pub(crate) struct Tx<'a> {
    txn: &'a dyn Txn,
    pub(crate) clock: &'a Clock,
    seq: Cell<u64>,
    bytes: Cell<u64>,
    /// The newest HLC logged in this transaction.
    hlc_high: Cell<u64>,
    now_ms: u64,
    /// The path of the remote change being applied (see `LogEntry::via`), logged with it.
    via: std::cell::RefCell<Vec<SiteId>>,
    /// Whether this commit appends to the site's log (the root's), not a shard's.
    site_log: bool,
}

/// Holding this, no other change of this process commits: reads made now stay true
/// until the commit. (Scans happen here, before the transaction: transactions offer
/// point reads only.) Other processes sharing the engine may still commit; a guard
/// taken to scan ([`Meta::scan_then_commit`]) carries the engine's mark, and the
/// commit is refused with [`Error::ReadAgain`] if anything was committed since.
pub(crate) struct CommitGuard<'a> {
    _held: std::sync::MutexGuard<'a, ()>,
    mark: Option<u64>,
}

impl Tx<'_> {
    pub fn get<T: DeserializeOwned>(&self, tree: Tree, key: &[u8]) -> TxResult<Option<T>> {
        match self.txn.get(tree, key)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    pub fn get_raw(&self, tree: Tree, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        self.txn.get(tree, key)
    }

    pub fn contains(&self, tree: Tree, key: &[u8]) -> TxResult<bool> {
        Ok(self.txn.get(tree, key)?.is_some())
    }

    pub fn put<T: Serialize>(&self, tree: Tree, key: &[u8], v: &T) -> TxResult<()> {
        self.txn.put(tree, key, &encode(v))
    }

    pub fn put_raw(&self, tree: Tree, key: &[u8], v: &[u8]) -> TxResult<()> {
        self.txn.put(tree, key, v)
    }

    pub fn remove(&self, tree: Tree, key: &[u8]) -> TxResult<()> {
        self.txn.remove(tree, key)
    }

    /// The path of the remote change applied next: logged with it.
    pub fn set_via(&self, via: &[SiteId]) {
        let mut v = self.via.borrow_mut();
        v.clear();
        v.extend_from_slice(via);
    }

    /// Appends to the change log, in the same transaction as the change, with the path
    /// it came by (`set_via`; empty for a change made here).
    pub fn log(&self, change: &Change) -> TxResult<()> {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        self.hlc_high.set(self.hlc_high.get().max(change.version().0 .0));
        let body = encode(&(change, &*self.via.borrow()));
        let position = self.bytes.get() + body.len() as u64;
        self.bytes.set(position);
        let mut v = Vec::with_capacity(8 + body.len());
        v.extend_from_slice(&position.to_be_bytes());
        v.extend_from_slice(&body);
        self.txn.put(Tree::Changes, &seq.to_be_bytes(), &v)?;
        if change.is_delete() && self.site_log {
            // Queued for the purge under the entry's sequence: it may go once every
            // sink's cursor has passed it (see `graves`).
            self.txn.put(
                Tree::Graves,
                &grave_queue_key(seq, &change.key()),
                &encode(&change.version()),
            )?;
        }
        Ok(())
    }

    fn refcount(&self, b: &BlockRef) -> TxResult<u64> {
        Ok(self.txn.get(Tree::Refs, &b.hash.0)?.map(|v| be_u64(&v)).unwrap_or(0))
    }

    pub fn add_refs(&self, blocks: &[BlockRef]) -> TxResult<()> {
        for b in blocks {
            let n = self.refcount(b)?;
            self.txn.put(Tree::Refs, &b.hash.0, &(n + 1).to_be_bytes())?;
        }
        Ok(())
    }

    /// Drops one reference per listed block; a block left with none becomes a GC candidate.
    pub fn release_refs(&self, blocks: &[BlockRef]) -> TxResult<()> {
        for b in blocks {
            let n = self.refcount(b)?;
            if n <= 1 {
                self.txn.remove(Tree::Refs, &b.hash.0)?;
                self.txn.put(Tree::Gc, &b.hash.0, &self.now_ms.to_be_bytes())?;
            } else {
                self.txn.put(Tree::Refs, &b.hash.0, &(n - 1).to_be_bytes())?;
            }
        }
        Ok(())
    }
}

/// The purge queue's key for a grave logged at `seq`: in log order.
pub(crate) fn grave_queue_key(seq: u64, key: &str) -> Vec<u8> {
    let mut k = seq.to_be_bytes().to_vec();
    k.extend_from_slice(key.as_bytes());
    k
}

pub(crate) fn be_u64(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(b)
}

impl Meta {
    /// The root shard over `engine`.
    pub fn open(engine: Box<dyn Engine>) -> Result<Self> {
        Self::open_shard(engine, None, Default::default(), Default::default(), Default::default())
    }

    fn open_shard(
        engine: Box<dyn Engine>,
        shard: Option<engine::ShardId>,
        clock: Arc<Clock>,
        durability: Arc<GroupFlush>,
        failed: Arc<std::sync::OnceLock<String>>,
    ) -> Result<Self> {
        let recorded = engine.get(Tree::Meta, b"last_seq")?.map(|v| be_u64(&v));
        let recorded_bytes = engine.get(Tree::Meta, b"log_bytes")?.map(|v| be_u64(&v)).unwrap_or(0);
        // Stores older than `last_seq` know their log's end only from the log.
        let (logged, logged_bytes) = match recorded {
            Some(_) => (0, 0),
            None => engine
                .last(Tree::Changes)?
                .map(|(k, v)| (be_u64(&k), be_u64(&v)))
                .unwrap_or((0, 0)),
        };
        let recorded = recorded.unwrap_or(0);
        Ok(Meta {
            engine,
            shard,
            clock,
            commit_lock: Mutex::new(()),
            durability,
            last_seq: AtomicU64::new(logged.max(recorded)),
            durable_seq: AtomicU64::new(logged.max(recorded)),
            log_bytes: AtomicU64::new(logged_bytes.max(recorded_bytes)),
            merged: AtomicU64::new(0),
            trimmed: AtomicU64::new(0),
            on_commit: std::sync::OnceLock::new(),
            failed,
            waiting: batch::Waiting::default(),
            index: shards::Index::default(),
        })
    }

    /// The newest logged sequence: the site's, when other gateways commit too.
    pub fn last_seq(&self) -> u64 {
        if self.engine.shared() {
            match self.engine.get(Tree::Meta, b"last_seq") {
                Ok(v) => {
                    let seq = v.map(|v| be_u64(&v)).unwrap_or(0);
                    self.last_seq.fetch_max(seq, Ordering::SeqCst);
                }
                Err(e) => tracing::warn!(error = %e, "could not read the log's last sequence"),
            }
        }
        self.last_seq.load(Ordering::SeqCst)
    }

    /// Why the store stopped taking changes, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// Bytes logged so far: the position of the newest entry.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes.load(Ordering::SeqCst)
    }

    /// See [`Engine::lease`].
    pub fn lease(&self, name: &str, holder: &str, secs: u32) -> Result<bool> {
        self.engine.lease(name, holder, secs)
    }

    /// Whether other processes commit to this store too (see [`Engine::shared`]).
    pub fn shared(&self) -> bool {
        self.engine.shared()
    }

    /// Calls `f` with the newest sequence number after every durable commit that logged
    /// a change. Set once (replication uses it to wake its senders).
    pub fn set_commit_listener(&self, f: Box<dyn Fn(u64) + Send + Sync>) {
        let _ = self.on_commit.set(f);
    }

    fn lock(&self) -> CommitGuard<'_> {
        CommitGuard {
            _held: self.commit_lock.lock().unwrap_or_else(|e| e.into_inner()),
            mark: None,
        }
    }

    /// Runs `body`, which scans and then commits with [`Meta::commit_locked`], holding
    /// the commit lock. With an engine other processes commit to, `body` runs again
    /// when one of them committed between its scan and its commit.
    pub fn scan_then_commit<T>(&self, mut body: impl FnMut(CommitGuard) -> Result<T>) -> Result<T> {
        loop {
            let mut guard = self.lock();
            guard.mark = self.engine.mark()?;
            match body(guard) {
                Err(Error::ReadAgain) => continue,
                done => return done,
            }
        }
    }

    /// Runs `f` as one atomic transaction, in commit order, and returns once it is durable.
    /// On an engine other gateways share, commits that arrive together are made one
    /// engine transaction (`batch`).
    pub fn commit<T: Send>(&self, now_ms: u64, f: impl Fn(&Tx) -> TxResult<T> + Sync) -> Result<T> {
        if self.engine.shared() {
            return self.commit_batched(now_ms, f);
        }
        self.commit_locked(self.lock(), now_ms, f)
    }

    /// Where the change log ends, read inside a transaction: from the engine when other
    /// gateways append to it too, else from memory.
    fn log_end(&self, txn: &dyn Txn) -> TxResult<(u64, u64)> {
        if self.engine.shared() {
            let read = |k: &[u8]| Ok::<_, TxError>(txn.get(Tree::Meta, k)?.map(|v| be_u64(&v)).unwrap_or(0));
            return Ok((read(b"last_seq")?, read(b"log_bytes")?));
        }
        Ok((
            self.last_seq.load(Ordering::SeqCst),
            self.log_bytes.load(Ordering::SeqCst),
        ))
    }

    /// Records the log's new end beside it, in the transaction that appended to it.
    fn note_log_end(txn: &dyn Txn, seq: u64, bytes: u64, hlc_high: u64) -> TxResult<()> {
        // Kept beside the log so trimming it whole forgets neither.
        txn.put(Tree::Meta, b"last_seq", &seq.to_be_bytes())?;
        txn.put(Tree::Meta, b"log_bytes", &bytes.to_be_bytes())?;
        // The clock resumes past it after a restart, even once the log holding these
        // entries is trimmed.
        let stored = txn.get(Tree::Meta, b"hlc_high")?.unwrap_or_default();
        let high = be_u64(&stored).max(hlc_high);
        txn.put(Tree::Meta, b"hlc_high", &high.to_be_bytes())
    }

    /// After a commit that took the log to `seq`, still under the commit lock: the
    /// next commit numbers its entries from here (on an engine only this process uses).
    fn applied(&self, seq: u64, bytes: u64) {
        self.last_seq.fetch_max(seq, Ordering::SeqCst);
        self.log_bytes.fetch_max(bytes, Ordering::SeqCst);
    }

    /// After a commit that took the log from `start` to `seq` is durable.
    fn logged(&self, start: u64, seq: u64) {
        self.durable_seq.fetch_max(seq, Ordering::SeqCst);
        if seq != start {
            if let Some(f) = self.on_commit.get() {
                f(seq);
            }
        }
    }

    /// [`Meta::commit`] for a caller that took the lock first to scan.
    pub fn commit_locked<T>(&self, guard: CommitGuard, now_ms: u64, f: impl Fn(&Tx) -> TxResult<T>) -> Result<T> {
        if let Some(why) = self.failed.get() {
            return Err(Error::Failed(why.clone()));
        }
        let mut outcome = None;
        self.engine.transact_since(guard.mark, &mut |txn| {
            let (start, start_bytes) = self.log_end(txn)?;
            let tx = Tx {
                txn,
                clock: &self.clock,
                seq: Cell::new(start),
                bytes: Cell::new(start_bytes),
                hlc_high: Cell::new(0),
                now_ms,
                via: Default::default(),
                site_log: self.shard.is_none(),
            };
            let out = f(&tx)?;
            let seq = tx.seq.get();
            if seq != start {
                Self::note_log_end(txn, seq, tx.bytes.get(), tx.hlc_high.get())?;
            }
            outcome = Some((out, start, seq, tx.bytes.get()));
            Ok(())
        })?;
        let (out, start, seq, bytes) = outcome.expect("a committed transaction ran its closure");
        self.applied(seq, bytes);
        let ticket = self.durability.committed.fetch_add(1, Ordering::SeqCst) + 1;
        drop(guard);
        if let Err(e) = self.durability.wait(ticket, || self.engine.flush()) {
            let why = e.to_string();
            if self.failed.set(why.clone()).is_ok() {
                tracing::error!(error = %why, "a metadata flush failed: this store takes no more changes; restart the site to recover its last durable state");
            }
            return Err(match e {
                // The client's answer: the disk is full. The store still stops.
                Error::InsufficientStorage(_) => e,
                _ => Error::Failed(why),
            });
        }
        self.logged(start, seq);
        Ok(out)
    }

    pub fn get<T: DeserializeOwned>(&self, tree: Tree, key: &[u8]) -> Result<Option<T>> {
        self.engine.get(tree, key)?.map(|v| decode(&v)).transpose()
    }

    pub fn get_raw(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.engine.get(tree, key)
    }

    pub fn contains(&self, tree: Tree, key: &[u8]) -> Result<bool> {
        Ok(self.engine.get(tree, key)?.is_some())
    }

    /// Every record under a key prefix, decoded, with its key.
    pub fn scan<T: DeserializeOwned>(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<(Vec<u8>, T)>> {
        self.scan_first(tree, prefix, usize::MAX)
    }

    /// The first `limit` records under a key prefix, decoded, with their keys.
    pub fn scan_first<T: DeserializeOwned>(
        &self,
        tree: Tree,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>> {
        self.scan_raw(tree, prefix)
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                Ok((k, decode(&v)?))
            })
            .collect()
    }

    /// Entries under a key prefix, ascending, undecoded.
    pub fn scan_raw(&self, tree: Tree, prefix: &[u8]) -> Scan<'static> {
        engine::scan_prefix(self.engine.as_ref(), tree, prefix)
    }

    /// Entries between two bounds, ascending, undecoded.
    pub fn range(&self, tree: Tree, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'static> {
        self.engine.range(tree, from, to)
    }

    /// A write outside any commit: durable with the next flush (every commit flushes).
    pub fn put_soon(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        self.engine.put(tree, key, value)
    }

    /// A removal outside any commit: durable with the next flush.
    pub fn remove_soon(&self, tree: Tree, key: &[u8]) -> Result<()> {
        self.engine.remove(tree, key)
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.engine.get(Tree::Meta, key.as_bytes())
    }

    /// Stores `value` under `key` unless a value is there already; the stored one.
    pub fn meta_init(&self, key: &str, value: &[u8]) -> Result<Vec<u8>> {
        let mut stored = Vec::new();
        self.engine.transact(&mut |txn| {
            stored = match txn.get(Tree::Meta, key.as_bytes())? {
                Some(v) => v,
                None => {
                    txn.put(Tree::Meta, key.as_bytes(), value)?;
                    value.to_vec()
                }
            };
            Ok(())
        })?;
        self.engine.flush()?;
        Ok(stored)
    }

    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.engine.put(Tree::Meta, key.as_bytes(), value)?;
        self.engine.flush()
    }

    /// Log entries after `after`, in order, at most `limit` entries and (past the
    /// first) `max_bytes` bytes.
    pub fn changes_after(&self, after: u64, limit: usize, max_bytes: u64) -> Result<Vec<LogEntry>> {
        let mut out: Vec<LogEntry> = Vec::new();
        let mut first_position = None;
        // Every commit to a shared engine is durable once applied, whoever made it. A
        // shard's log is read by the merge, which makes what it merges durable with
        // the site's log (one flush covers both).
        let durable = if self.engine.shared() || self.shard.is_some() {
            self.last_seq()
        } else {
            self.durable_seq.load(Ordering::SeqCst)
        };
        if durable <= after {
            return Ok(out);
        }
        let (from, durable) = ((after + 1).to_be_bytes(), durable.to_be_bytes());
        for r in self
            .range(Tree::Changes, Bound::Included(&from), Bound::Included(&durable))
            .take(limit)
        {
            let (k, v) = r?;
            let position = be_u64(&v);
            let start = *first_position.get_or_insert(position - (v.len() as u64 - 8));
            if !out.is_empty() && position - start > max_bytes {
                break;
            }
            let (change, via) = decode::<(Change, Vec<SiteId>)>(&v[8..])?;
            out.push(LogEntry {
                seq: be_u64(&k),
                position,
                change,
                via,
            });
        }
        Ok(out)
    }

    /// The log position (bytes logged through it) of entry `seq`, if still kept.
    pub fn log_position(&self, seq: u64) -> Result<Option<u64>> {
        Ok(self.engine.get(Tree::Changes, &seq.to_be_bytes())?.map(|v| be_u64(&v)))
    }

    /// The oldest entry still kept.
    pub fn first_change(&self) -> Result<Option<LogEntry>> {
        Ok(self.changes_after(0, 1, 0)?.pop())
    }

    /// Forgets log entries up to and including `upto`, a bounded batch per transaction;
    /// returns how many.
    pub fn trim_changes(&self, upto: u64) -> Result<usize> {
        let mut n = 0;
        let end = upto.to_be_bytes();
        loop {
            let keys = self
                .range(Tree::Changes, Bound::Unbounded, Bound::Included(&end))
                .take(4096)
                .map(|r| r.map(|(k, _)| k))
                .collect::<Result<Vec<_>>>()?;
            if keys.is_empty() {
                return Ok(n);
            }
            self.engine.transact(&mut |txn| {
                for k in &keys {
                    txn.remove(Tree::Changes, k)?;
                }
                Ok(())
            })?;
            n += keys.len();
        }
    }

    /// Runs `f` on every space holding records: the root, then the index shards
    /// apart from it (see `shards`).
    pub fn each_space(&self, mut f: impl FnMut(&Meta) -> Result<()>) -> Result<()> {
        f(self)?;
        for s in self.index_spaces()? {
            f(&s)?;
        }
        Ok(())
    }

    /// Which of `hashes` a manifest or part references, in any shard.
    pub fn referenced(&self, hashes: &[[u8; 32]]) -> Result<std::collections::HashSet<[u8; 32]>> {
        let keys: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
        let mut found = std::collections::HashSet::new();
        self.each_space(|space| {
            for (k, _) in space.engine.get_many(Tree::Refs, &keys)? {
                if let Ok(h) = <[u8; 32]>::try_from(k.as_slice()) {
                    found.insert(h);
                }
            }
            Ok(())
        })?;
        Ok(found)
    }

    pub fn is_referenced(&self, hash: &[u8; 32]) -> Result<bool> {
        Ok(!self.referenced(&[*hash])?.is_empty())
    }

    /// Queues blocks nobody references for GC (outside any commit: losing this on a
    /// crash is harmless, the start-up scan finds such blocks again).
    pub fn queue_unreferenced(&self, hashes: &[[u8; 32]], now_ms: u64) -> Result<()> {
        let referenced = self.referenced(hashes)?;
        for h in hashes.iter().filter(|h| !referenced.contains(*h)) {
            self.engine.put(Tree::Gc, h, &now_ms.to_be_bytes())?;
        }
        Ok(())
    }

    /// Blocks unreferenced since before `older_than_ms`, each with the index shard
    /// whose count dropped to zero (None: the root's queue).
    pub fn gc_candidates(&self, older_than_ms: u64) -> Result<Vec<([u8; 32], Option<engine::ShardId>)>> {
        let mut out = Vec::new();
        self.each_space(|space| {
            for r in space.range(Tree::Gc, Bound::Unbounded, Bound::Unbounded) {
                let (k, v) = r?;
                if let (true, Ok(h)) = (be_u64(&v) <= older_than_ms, <[u8; 32]>::try_from(k.as_slice())) {
                    out.push((h, space.shard.clone()));
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Takes a candidate off the queue it was found in.
    pub fn gc_forget(&self, hash: &[u8; 32], shard: Option<&engine::ShardId>) -> Result<()> {
        match shard {
            Some(id) => self.open_index_shard(id.clone())?.engine.remove(Tree::Gc, hash),
            None => self.engine.remove(Tree::Gc, hash),
        }
    }

    pub fn is_gc_candidate(&self, hash: &[u8; 32]) -> Result<bool> {
        let mut queued = false;
        self.each_space(|space| {
            queued |= space.contains(Tree::Gc, hash)?;
            Ok(())
        })?;
        Ok(queued)
    }

    pub fn flush(&self) -> Result<()> {
        self.engine.flush()
    }
}
