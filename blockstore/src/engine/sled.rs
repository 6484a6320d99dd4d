//! The sled engine: one sled database, one sled tree per [`Tree`]. Every transaction
//! spans all trees, as a commit does not name its trees up front. A wide transaction
//! costs more than a narrow one, but not what bounds small PUTs under load (see
//! docs/performance.md, "What bounds small PUTs on one machine").

use super::{Engine, Entry, Scan, Tree, TxError, TxResult, Txn};
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
    /// Indexed by `Tree::index`.
    trees: Vec<::sled::Tree>,
}

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
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()).map_err(db_error))
            .collect::<Result<_>>()?;
        Ok(SledEngine { db, trees })
    }

    fn tree(&self, t: Tree) -> &::sled::Tree {
        &self.trees[t.index()]
    }
}

struct SledTxn<'a> {
    views: &'a [TransactionalTree],
}

fn tx_error(e: UnabortableTransactionError) -> TxError {
    match e {
        UnabortableTransactionError::Conflict => TxError::Conflict,
        UnabortableTransactionError::Storage(e) => TxError::Abort(db_error(e)),
    }
}

impl Txn for SledTxn<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let v = self.views[tree.index()].get(key).map_err(tx_error)?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.views[tree.index()].insert(key, value).map_err(tx_error)?;
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> TxResult<()> {
        self.views[tree.index()].remove(key).map_err(tx_error)?;
        Ok(())
    }
}

impl Engine for SledEngine {
    fn transact(&self, f: &mut dyn FnMut(&dyn Txn) -> TxResult<()>) -> Result<()> {
        // sled wants `Fn` (it may rerun the closure); ours is `FnMut`, run one at a time.
        let f = RefCell::new(f);
        let r = self.trees.as_slice().transaction(|views: &Vec<TransactionalTree>| {
            let txn = SledTxn { views };
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
        Ok(self.tree(tree).get(key).map_err(db_error)?.map(|v| v.to_vec()))
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        self.tree(tree).insert(key, value).map_err(db_error)?;
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<()> {
        self.tree(tree).remove(key).map_err(db_error)?;
        Ok(())
    }

    fn range<'a>(&'a self, tree: Tree, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a> {
        let owned = |b: Bound<&[u8]>| b.map(|k| k.to_vec());
        let iter = self.tree(tree).range::<Vec<u8>, _>((owned(from), owned(to)));
        Box::new(iter.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(db_error)))
    }

    fn last(&self, tree: Tree) -> Result<Option<Entry>> {
        Ok(self
            .tree(tree)
            .last()
            .map_err(db_error)?
            .map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(db_error)?;
        Ok(())
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
