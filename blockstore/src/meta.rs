//! The metadata store: sled trees behind a small typed API. Only this module touches
//! sled, so the metadata engine can be swapped in one place.
//!
//! Every change goes through [`Meta::commit`]: one mutex orders commits (so the change
//! log's sequence is the commit order), one sled transaction makes the data change and
//! its change-log entry atomic, and a flush after the lock is released makes it durable.
//! Concurrent flushes coalesce inside sled, which is how many small writes share a sync.

use crate::error::{Error, Result};
use crate::records::{BlockRef, Change};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub(crate) type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

pub(crate) fn abort<T>(e: Error) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serialize(v).expect("records always serialize")
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    Ok(bincode::deserialize(b)?)
}

/// The trees, one per record kind.
pub(crate) struct Trees {
    pub users: sled::Tree,
    pub buckets: sled::Tree,
    /// `bucket/key` -> Manifest (live versions and tombstones).
    pub objects: sled::Tree,
    /// `bucket/key\0upload_id` -> Upload.
    pub uploads: sled::Tree,
    /// `upload_id` + part number (u32 BE) -> Part.
    pub parts: sled::Tree,
    /// block hash -> reference count (u64 BE).
    pub refs: sled::Tree,
    /// block hash -> ms when it became unreferenced: GC candidates.
    pub gc: sled::Tree,
    /// sequence (u64 BE) -> log position (u64 BE) + Change: the ordered change log.
    /// The position is the log's size in bytes up to and including the entry, so the
    /// bytes between two entries are one subtraction.
    pub changes: sled::Tree,
    pub meta: sled::Tree,
    /// Replication settings and cursors, opaque to the engine.
    pub repl: sled::Tree,
    /// Per sink: keys whose changes overflowed its bounded log (`sink\0key`).
    pub dirty: sled::Tree,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: u64,
    /// Bytes logged up to and including this entry.
    pub position: u64,
    pub change: Change,
}

pub(crate) struct Meta {
    db: sled::Db,
    pub t: Trees,
    commit_lock: Mutex<()>,
    durability: GroupFlush,
    last_seq: AtomicU64,
    log_bytes: AtomicU64,
    on_commit: std::sync::OnceLock<Box<dyn Fn(u64) + Send + Sync>>,
}

/// Group commit of metadata flushes. sled does not coalesce concurrent `flush()` calls
/// (measured: 32 committing threads flushed no faster than one), so committers share
/// them: whoever finds no flush running flushes for everyone whose transaction has
/// completed by then; the others wait for a flush that covers theirs.
#[derive(Default)]
struct GroupFlush {
    /// Transactions applied to sled, in commit order (ticket numbers).
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
    fn wait(&self, ticket: u64, flush: impl Fn() -> sled::Result<()>) -> Result<()> {
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
    pub users: &'a TransactionalTree,
    pub buckets: &'a TransactionalTree,
    pub objects: &'a TransactionalTree,
    pub uploads: &'a TransactionalTree,
    pub parts: &'a TransactionalTree,
    refs: &'a TransactionalTree,
    gc: &'a TransactionalTree,
    changes: &'a TransactionalTree,
    seq: Cell<u64>,
    bytes: Cell<u64>,
    /// The newest HLC logged in this transaction.
    hlc_high: Cell<u64>,
    now_ms: u64,
}

/// Holding this, no other change commits: reads made now stay true until the commit.
/// (Scans must happen here, before the transaction: sled blocks iteration of a tree
/// inside a transaction over it.)
pub(crate) struct CommitGuard<'a> {
    _held: std::sync::MutexGuard<'a, ()>,
}

impl Tx<'_> {
    pub fn get<T: DeserializeOwned>(&self, tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<T>> {
        match tree.get(key)? {
            Some(v) => decode(&v).map(Some).or_else(abort),
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize>(&self, tree: &TransactionalTree, key: &[u8], v: &T) -> TxResult<()> {
        tree.insert(key, encode(v))?;
        Ok(())
    }

    pub fn remove(&self, tree: &TransactionalTree, key: &[u8]) -> TxResult<()> {
        tree.remove(key)?;
        Ok(())
    }

    /// Appends to the change log, in the same transaction as the change.
    pub fn log(&self, change: &Change) -> TxResult<()> {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        self.hlc_high.set(self.hlc_high.get().max(change.version().0 .0));
        let body = encode(change);
        let position = self.bytes.get() + body.len() as u64;
        self.bytes.set(position);
        let mut v = Vec::with_capacity(8 + body.len());
        v.extend_from_slice(&position.to_be_bytes());
        v.extend_from_slice(&body);
        self.changes.insert(&seq.to_be_bytes(), v)?;
        Ok(())
    }

    pub fn add_refs(&self, blocks: &[BlockRef]) -> TxResult<()> {
        for b in blocks {
            let n = self.refs.get(b.hash.0)?.map(|v| be_u64(&v)).unwrap_or(0);
            self.refs.insert(&b.hash.0, &(n + 1).to_be_bytes())?;
        }
        Ok(())
    }

    /// Drops one reference per listed block; a block left with none becomes a GC candidate.
    pub fn release_refs(&self, blocks: &[BlockRef]) -> TxResult<()> {
        for b in blocks {
            let n = self.refs.get(b.hash.0)?.map(|v| be_u64(&v)).unwrap_or(0);
            if n <= 1 {
                self.refs.remove(&b.hash.0)?;
                self.gc.insert(&b.hash.0, &self.now_ms.to_be_bytes())?;
            } else {
                self.refs.insert(&b.hash.0, &(n - 1).to_be_bytes())?;
            }
        }
        Ok(())
    }
}

pub(crate) fn be_u64(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(b)
}

impl Meta {
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(None)
            .open()?;
        let t = Trees {
            users: db.open_tree("users")?,
            buckets: db.open_tree("buckets")?,
            objects: db.open_tree("objects")?,
            uploads: db.open_tree("uploads")?,
            parts: db.open_tree("parts")?,
            refs: db.open_tree("refs")?,
            gc: db.open_tree("gc")?,
            changes: db.open_tree("changes")?,
            meta: db.open_tree("meta")?,
            repl: db.open_tree("repl")?,
            dirty: db.open_tree("dirty")?,
        };
        let (logged, logged_bytes) = t
            .changes
            .last()?
            .map(|(k, v)| (be_u64(&k), be_u64(&v)))
            .unwrap_or((0, 0));
        let recorded = t.meta.get("last_seq")?.map(|v| be_u64(&v)).unwrap_or(0);
        let recorded_bytes = t.meta.get("log_bytes")?.map(|v| be_u64(&v)).unwrap_or(0);
        Ok(Meta {
            db,
            t,
            commit_lock: Mutex::new(()),
            durability: GroupFlush::default(),
            last_seq: AtomicU64::new(logged.max(recorded)),
            log_bytes: AtomicU64::new(logged_bytes.max(recorded_bytes)),
            on_commit: std::sync::OnceLock::new(),
        })
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    /// Bytes logged so far: the position of the newest entry.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes.load(Ordering::SeqCst)
    }

    /// Calls `f` with the newest sequence number after every durable commit that logged
    /// a change. Set once (replication uses it to wake its senders).
    pub fn set_commit_listener(&self, f: Box<dyn Fn(u64) + Send + Sync>) {
        let _ = self.on_commit.set(f);
    }

    pub fn lock(&self) -> CommitGuard<'_> {
        CommitGuard {
            _held: self.commit_lock.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Runs `f` as one atomic transaction, in commit order, and returns once it is durable.
    pub fn commit<T>(&self, now_ms: u64, f: impl Fn(&Tx) -> TxResult<T>) -> Result<T> {
        self.commit_locked(self.lock(), now_ms, f)
    }

    /// [`Meta::commit`] for a caller that took the lock first to scan.
    pub fn commit_locked<T>(&self, guard: CommitGuard, now_ms: u64, f: impl Fn(&Tx) -> TxResult<T>) -> Result<T> {
        let start = self.last_seq.load(Ordering::SeqCst);
        let start_bytes = self.log_bytes.load(Ordering::SeqCst);
        let t = &self.t;
        let (out, seq, bytes) = (
            &t.users, &t.buckets, &t.objects, &t.uploads, &t.parts, &t.refs, &t.gc, &t.changes, &t.meta,
        )
            .transaction(|(users, buckets, objects, uploads, parts, refs, gc, changes, meta)| {
                let tx = Tx {
                    users,
                    buckets,
                    objects,
                    uploads,
                    parts,
                    refs,
                    gc,
                    changes,
                    seq: Cell::new(start),
                    bytes: Cell::new(start_bytes),
                    hlc_high: Cell::new(0),
                    now_ms,
                };
                let out = f(&tx)?;
                let seq = tx.seq.get();
                if seq != start {
                    // Kept beside the log so trimming it whole forgets neither.
                    meta.insert("last_seq", &seq.to_be_bytes())?;
                    meta.insert("log_bytes", &tx.bytes.get().to_be_bytes())?;
                    // The clock resumes past it after a restart, even once the log
                    // holding these entries is trimmed.
                    let high = be_u64(&meta.get("hlc_high")?.unwrap_or_default()).max(tx.hlc_high.get());
                    meta.insert("hlc_high", &high.to_be_bytes())?;
                }
                Ok((out, seq, tx.bytes.get()))
            })?;
        self.last_seq.store(seq, Ordering::SeqCst);
        self.log_bytes.store(bytes, Ordering::SeqCst);
        let ticket = self.durability.committed.fetch_add(1, Ordering::SeqCst) + 1;
        drop(guard);
        self.durability.wait(ticket, || self.db.flush().map(|_| ()))?;
        if seq != start {
            if let Some(f) = self.on_commit.get() {
                f(seq);
            }
        }
        Ok(out)
    }

    pub fn get<T: DeserializeOwned>(&self, tree: &sled::Tree, key: &[u8]) -> Result<Option<T>> {
        tree.get(key)?.map(|v| decode(&v)).transpose()
    }

    /// Every record under a key prefix, decoded, with its key.
    pub fn scan<T: DeserializeOwned>(&self, tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<(sled::IVec, T)>> {
        tree.scan_prefix(prefix)
            .map(|r| {
                let (k, v) = r?;
                Ok((k, decode(&v)?))
            })
            .collect()
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.t.meta.get(key)?.map(|v| v.to_vec()))
    }

    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.t.meta.insert(key, value)?;
        self.db.flush()?;
        Ok(())
    }

    /// Log entries after `after`, in order, at most `limit` entries and (past the
    /// first) `max_bytes` bytes.
    pub fn changes_after(&self, after: u64, limit: usize, max_bytes: u64) -> Result<Vec<LogEntry>> {
        let mut out: Vec<LogEntry> = Vec::new();
        let mut first_position = None;
        for r in self.t.changes.range((after + 1).to_be_bytes()..).take(limit) {
            let (k, v) = r?;
            let position = be_u64(&v);
            let start = *first_position.get_or_insert(position - (v.len() as u64 - 8));
            if !out.is_empty() && position - start > max_bytes {
                break;
            }
            out.push(LogEntry {
                seq: be_u64(&k),
                position,
                change: decode(&v[8..])?,
            });
        }
        Ok(out)
    }

    /// The log position (bytes logged through it) of entry `seq`, if still kept.
    pub fn log_position(&self, seq: u64) -> Result<Option<u64>> {
        Ok(self.t.changes.get(seq.to_be_bytes())?.map(|v| be_u64(&v)))
    }

    /// The oldest entry still kept.
    pub fn first_change(&self) -> Result<Option<LogEntry>> {
        Ok(self.changes_after(0, 1, 0)?.pop())
    }

    /// Forgets log entries up to and including `upto`; returns how many.
    pub fn trim_changes(&self, upto: u64) -> Result<usize> {
        let mut n = 0;
        loop {
            let mut batch = sled::Batch::default();
            let mut in_batch = 0;
            for r in self.t.changes.range(..=upto.to_be_bytes()).keys().take(4096) {
                batch.remove(r?);
                in_batch += 1;
            }
            if in_batch == 0 {
                return Ok(n);
            }
            self.t.changes.apply_batch(batch)?;
            n += in_batch;
        }
    }

    pub fn is_referenced(&self, hash: &[u8; 32]) -> Result<bool> {
        Ok(self.t.refs.contains_key(hash)?)
    }

    /// Queues blocks nobody references for GC (outside any commit: losing this on a
    /// crash is harmless, the start-up scan finds such blocks again).
    pub fn queue_unreferenced(&self, hashes: &[[u8; 32]], now_ms: u64) -> Result<()> {
        for h in hashes {
            if !self.t.refs.contains_key(h)? {
                self.t.gc.insert(h, &now_ms.to_be_bytes())?;
            }
        }
        Ok(())
    }

    pub fn gc_candidates(&self, older_than_ms: u64) -> Result<Vec<[u8; 32]>> {
        let mut out = Vec::new();
        for r in self.t.gc.iter() {
            let (k, v) = r?;
            if be_u64(&v) <= older_than_ms && k.len() == 32 {
                let mut h = [0u8; 32];
                h.copy_from_slice(&k);
                out.push(h);
            }
        }
        Ok(out)
    }

    pub fn gc_forget(&self, hash: &[u8; 32]) -> Result<()> {
        self.t.gc.remove(hash)?;
        Ok(())
    }

    pub fn is_gc_candidate(&self, hash: &[u8; 32]) -> Result<bool> {
        Ok(self.t.gc.contains_key(hash)?)
    }

    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
