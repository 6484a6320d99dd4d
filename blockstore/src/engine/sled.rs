//! The sled engine: one sled database, one sled tree per [`Tree`]. Every transaction
//! spans all trees, as a commit does not name its trees up front. A wide transaction
//! costs more than a narrow one, but not what bounds small PUTs under load (see
//! docs/performance.md, "What bounds small PUTs on one machine").
//!
//! An index shard is a view of the same database: its records are in the shared trees
//! (sled's transactions are serialisable across them), and only its change log and log
//! end are its own, in two more trees under the shard's name.

use super::{prefix_end, Engine, Entry, Scan, ShardId, Tree, TxError, TxResult, Txn};
use crate::error::{Error, Result};
use ::sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use ::sled::Transactional;
use std::cell::RefCell;
use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct SledEngine {
    db: ::sled::Db,
    /// Indexed by `Tree::index`, then the shards' change logs and log ends.
    trees: Vec<::sled::Tree>,
    /// An index shard's name: its log and log end are under it (None: the root).
    shard: Option<Vec<u8>>,
}

/// Where the shards' own trees are in `SledEngine::trees`.
const SHARD_CHANGES: usize = Tree::ALL.len();
const SHARD_META: usize = Tree::ALL.len() + 1;

/// How long an open waits for the database's file lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// sled 0.34 reports a held lock as an `Other` I/O error with this text.
fn is_lock_contention(e: &::sled::Error) -> bool {
    matches!(e, ::sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock"))
}

fn db_error(e: ::sled::Error) -> Error {
    match e {
        ::sled::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => io.into(),
        e => Error::Db(Box::new(e)),
    }
}

impl SledEngine {
    /// Opens (or creates) the database in `dir` with `cache_bytes` of page cache.
    /// sled's own background flusher is off: the store flushes after every commit.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self> {
        Self::open_waiting(dir, cache_bytes, LOCK_WAIT)
    }

    /// sled takes an exclusive file lock without waiting, and a database just closed
    /// (in this process, or by one still exiting) releases it only when sled's I/O
    /// threads have let go of the file, a moment after the close returned. So a
    /// restart waits up to `wait` for the lock, and past that says who holds it.
    fn open_waiting(dir: &Path, cache_bytes: u64, wait: Duration) -> Result<Self> {
        let config = ::sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(None);
        let deadline = Instant::now() + wait;
        let db = loop {
            match config.open() {
                Err(e) if is_lock_contention(&e) => {
                    if Instant::now() >= deadline {
                        return Err(Error::Io(std::io::Error::new(
                            std::io::ErrorKind::WouldBlock,
                            format!(
                                "the metadata database in {} is locked by another process \
                                 (is another strata running on this data directory?)",
                                dir.display()
                            ),
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other.map_err(db_error)?,
            }
        };
        let names = Tree::ALL
            .iter()
            .map(|t| t.name())
            .chain(["shard_changes", "shard_meta"]);
        let trees = names
            .map(|name| db.open_tree(name).map_err(db_error))
            .collect::<Result<_>>()?;
        Ok(SledEngine { db, trees, shard: None })
    }

    /// Where `tree`'s records are: which sled tree, and under which key prefix.
    fn place(&self, tree: Tree) -> (usize, &[u8]) {
        match (&self.shard, tree) {
            (Some(name), Tree::Changes) => (SHARD_CHANGES, name),
            (Some(name), Tree::Meta) => (SHARD_META, name),
            _ => (tree.index(), &[]),
        }
    }

    fn tree(&self, t: Tree) -> (&::sled::Tree, &[u8]) {
        let (i, prefix) = self.place(t);
        (&self.trees[i], prefix)
    }
}

fn prefixed(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    [prefix, key].concat()
}

struct SledTxn<'a> {
    engine: &'a SledEngine,
    views: &'a [TransactionalTree],
}

impl SledTxn<'_> {
    fn view(&self, tree: Tree, key: &[u8]) -> (&TransactionalTree, Vec<u8>) {
        let (i, prefix) = self.engine.place(tree);
        (&self.views[i], prefixed(prefix, key))
    }
}

fn tx_error(e: UnabortableTransactionError) -> TxError {
    match e {
        UnabortableTransactionError::Conflict => TxError::Conflict,
        UnabortableTransactionError::Storage(e) => TxError::Abort(db_error(e)),
    }
}

impl Txn for SledTxn<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let (view, key) = self.view(tree, key);
        let v = view.get(key).map_err(tx_error)?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> TxResult<()> {
        let (view, key) = self.view(tree, key);
        view.insert(key, value).map_err(tx_error)?;
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> TxResult<()> {
        let (view, key) = self.view(tree, key);
        view.remove(key).map_err(tx_error)?;
        Ok(())
    }
}

impl Engine for SledEngine {
    fn transact(&self, f: &mut dyn FnMut(&dyn Txn) -> TxResult<()>) -> Result<()> {
        // sled wants `Fn` (it may rerun the closure); ours is `FnMut`, run one at a time.
        let f = RefCell::new(f);
        let r = self.trees.as_slice().transaction(|views: &Vec<TransactionalTree>| {
            let txn = SledTxn { engine: self, views };
            (f.borrow_mut())(&txn).map_err(|e| match e {
                TxError::Abort(e) => ConflictableTransactionError::Abort(e),
                TxError::Conflict => ConflictableTransactionError::Conflict,
            })
        });
        r.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => db_error(e),
        })
    }

    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (t, prefix) = self.tree(tree);
        Ok(t.get(prefixed(prefix, key)).map_err(db_error)?.map(|v| v.to_vec()))
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        let (t, prefix) = self.tree(tree);
        t.insert(prefixed(prefix, key), value).map_err(db_error)?;
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<()> {
        let (t, prefix) = self.tree(tree);
        t.remove(prefixed(prefix, key)).map_err(db_error)?;
        Ok(())
    }

    fn range(&self, tree: Tree, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'static> {
        let (t, prefix) = self.tree(tree);
        let from = match from {
            Bound::Unbounded => Bound::Included(prefix.to_vec()),
            b => b.map(|k| prefixed(prefix, k)),
        };
        let to = match to {
            Bound::Unbounded => prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded),
            b => b.map(|k| prefixed(prefix, k)),
        };
        let skip = prefix.len();
        let iter = t.range::<Vec<u8>, _>((from, to));
        Box::new(iter.map(move |r| r.map(|(k, v)| (k[skip..].to_vec(), v.to_vec())).map_err(db_error)))
    }

    fn last(&self, tree: Tree) -> Result<Option<Entry>> {
        let (t, prefix) = self.tree(tree);
        let last = match prefix {
            [] => t.last(),
            p => t.scan_prefix(p).next_back().transpose(),
        };
        Ok(last
            .map_err(db_error)?
            .map(|(k, v)| (k[prefix.len()..].to_vec(), v.to_vec())))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(db_error)?;
        Ok(())
    }

    fn shard(&self, id: &ShardId) -> Result<Box<dyn Engine>> {
        Ok(Box::new(SledEngine {
            db: self.db.clone(),
            trees: self.trees.clone(),
            shard: Some(id.name()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_waits_for_a_lock_being_released_and_names_one_that_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let held = SledEngine::open(dir.path(), 1 << 20).unwrap();
        let err = SledEngine::open_waiting(dir.path(), 1 << 20, Duration::from_millis(100))
            .err()
            .expect("a held database must not open twice");
        assert!(err.to_string().contains("locked by another process"), "{err}");
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        let reopened = SledEngine::open(dir.path(), 1 << 20).unwrap();
        release.join().unwrap();
        reopened.flush().unwrap();
    }
}
