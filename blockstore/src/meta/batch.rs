//! Group commit for an engine other gateways share. Each commit to RADOS is a round
//! trip, and a gateway commits one transaction at a time (its commit lock), so alone
//! it would take at most one commit per round trip. Instead, commits that arrive while
//! one is in flight wait in a queue, and one of the waiting threads, the leader, runs
//! them all, in arrival order, as one engine transaction: one write operation for many
//! commits. A leader whose own commit is done hands the lead to the next waiting
//! commit's thread, so no caller waits on others' commits for long, and nobody polls.
//!
//! Each commit keeps its own outcome. It runs inside a savepoint: its writes join the
//! batch only if its closure succeeds, and a commit that refuses (a precondition, a
//! missing bucket) leaves the others untouched. A conflict (another gateway committed
//! in between) runs the whole batch again, as the engine reruns any transaction.
//!
//! A commit's closure borrows its caller's stack and may run on another thread (the
//! batch's leader). That is sound because the caller does not return until the leader
//! has marked its commit done, after its last call of the closure; a panic while a
//! batch runs marks every commit of the batch failed before it goes on.

use super::{Meta, Tx};
use crate::engine::{Tree, TxError, TxResult, Txn};
use crate::error::{Error, Result};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The most commits in one batch: bounds the write operation's size.
const MAX_BATCH: usize = 64;

/// Commits waiting for the leader, and whether there is one.
#[derive(Default)]
pub(super) struct Waiting(Mutex<Queue>);

#[derive(Default)]
struct Queue {
    members: VecDeque<Arc<Member>>,
    leading: bool,
}

enum State {
    Waiting,
    /// This commit's thread leads now.
    Lead,
    Done(Result<()>),
}

/// A commit's closure, as the batch calls it.
type Run<'a> = dyn Fn(&Tx) -> TxResult<()> + Sync + 'a;

struct Member {
    /// The caller's closure with its lifetime erased (see the module's comment).
    run: *const Run<'static>,
    now_ms: u64,
    state: Mutex<State>,
    changed: Condvar,
}

// SAFETY: `run` points to a `Sync` closure that outlives every use (module comment).
unsafe impl Send for Member {}
unsafe impl Sync for Member {}

impl Member {
    fn set(&self, s: State) {
        *lock(&self.state) = s;
        self.changed.notify_all();
    }

    fn is_done(&self) -> bool {
        matches!(*lock(&self.state), State::Done(_))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A savepoint's writes: (tree index, key) -> (tree, value; None: a removal).
type Writes = BTreeMap<(usize, Vec<u8>), (Tree, Option<Vec<u8>>)>;

/// Buffers one commit's writes over the batch's transaction.
struct Savepoint<'a> {
    outer: &'a dyn Txn,
    writes: RefCell<Writes>,
}

impl Txn for Savepoint<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        match self.writes.borrow().get(&(tree as usize, key.to_vec())) {
            Some((_, v)) => Ok(v.clone()),
            None => self.outer.get(tree, key),
        }
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> TxResult<()> {
        let entry = (tree, Some(value.to_vec()));
        self.writes.borrow_mut().insert((tree as usize, key.to_vec()), entry);
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> TxResult<()> {
        self.writes
            .borrow_mut()
            .insert((tree as usize, key.to_vec()), (tree, None));
        Ok(())
    }
}

impl Savepoint<'_> {
    fn apply(self) -> TxResult<()> {
        for ((_, key), (tree, value)) in self.writes.into_inner() {
            match value {
                Some(v) => self.outer.put(tree, &key, &v)?,
                None => self.outer.remove(tree, &key)?,
            }
        }
        Ok(())
    }
}

/// The same error for each commit of a failed batch.
fn for_each(e: &Error) -> Error {
    match e {
        Error::Rados { op, errno } => Error::Rados {
            op: op.clone(),
            errno: *errno,
        },
        Error::InsufficientStorage(m) => Error::InsufficientStorage(m.clone()),
        Error::Failed(m) => Error::Failed(m.clone()),
        other => Error::TaskFailed(other.to_string()),
    }
}

impl Meta {
    /// [`Meta::commit`] on a shared engine: queued, and run in a batch (see the module).
    pub(super) fn commit_batched<T: Send>(&self, now_ms: u64, f: impl Fn(&Tx) -> TxResult<T> + Sync) -> Result<T> {
        if let Some(why) = self.failed.get() {
            return Err(Error::Failed(why.clone()));
        }
        let out: Mutex<Option<T>> = Mutex::new(None);
        let run = |tx: &Tx| -> TxResult<()> {
            let v = f(tx)?;
            *lock(&out) = Some(v);
            Ok(())
        };
        let run: *const Run<'_> = &run;
        // SAFETY: only the lifetime changes; this function returns only once the
        // member is done, and the batch never calls `run` after that.
        let run = unsafe { std::mem::transmute::<*const Run<'_>, *const Run<'static>>(run) };
        let member = Arc::new(Member {
            run,
            now_ms,
            state: Mutex::new(State::Waiting),
            changed: Condvar::new(),
        });
        let mut lead = {
            let mut q = lock(&self.waiting.0);
            q.members.push_back(member.clone());
            !std::mem::replace(&mut q.leading, true)
        };
        loop {
            if lead {
                self.lead(&member);
            }
            let mut state = lock(&member.state);
            loop {
                match std::mem::replace(&mut *state, State::Waiting) {
                    State::Waiting => state = member.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                    State::Lead => break,
                    State::Done(r) => {
                        return r.map(|()| lock(&out).take().expect("a committed closure left its result"))
                    }
                }
            }
            lead = true;
        }
    }

    /// Runs the waiting commits, a batch at a time, until `me` is done; then hands the
    /// lead to the next waiting commit, if any.
    fn lead(&self, me: &Member) {
        while !me.is_done() {
            let batch: Vec<Arc<Member>> = {
                let mut q = lock(&self.waiting.0);
                let n = q.members.len().min(MAX_BATCH);
                q.members.drain(..n).collect()
            };
            let guard = self.lock();
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_batch(&batch)));
            drop(guard);
            if let Err(panic) = ran {
                for m in &batch {
                    m.set(State::Done(Err(Error::TaskFailed("a commit panicked".into()))));
                }
                self.hand_over();
                std::panic::resume_unwind(panic);
            }
        }
        self.hand_over();
    }

    fn hand_over(&self) {
        let mut q = lock(&self.waiting.0);
        match q.members.front() {
            Some(next) => next.set(State::Lead),
            None => q.leading = false,
        }
    }

    /// One engine transaction for `batch`; finishes every member.
    fn run_batch(&self, batch: &[Arc<Member>]) {
        let refused: RefCell<Vec<Option<Error>>> = RefCell::new(Vec::new());
        let mut logged = (0, 0, 0);
        let applied = self.engine.transact(&mut |txn| {
            let mut refusals = refused.borrow_mut();
            refusals.clear();
            let (start, start_bytes) = self.log_end(txn)?;
            let (seq, bytes, hlc_high) = (Cell::new(start), Cell::new(start_bytes), Cell::new(0));
            for m in batch {
                let savepoint = Savepoint {
                    outer: txn,
                    writes: RefCell::default(),
                };
                let tx = Tx {
                    txn: &savepoint,
                    clock: &self.clock,
                    seq: Cell::new(seq.get()),
                    bytes: Cell::new(bytes.get()),
                    hlc_high: Cell::new(hlc_high.get()),
                    now_ms: m.now_ms,
                    via: Default::default(),
                    site_log: self.shard.is_none(),
                };
                // SAFETY: the member is not done, so its caller still waits (module).
                let run = unsafe { &*m.run };
                match run(&tx) {
                    Ok(()) => {
                        seq.set(tx.seq.get());
                        bytes.set(tx.bytes.get());
                        hlc_high.set(tx.hlc_high.get());
                        drop(tx);
                        savepoint.apply()?;
                        refusals.push(None);
                    }
                    Err(TxError::Abort(e)) => refusals.push(Some(e)),
                    Err(TxError::Conflict) => return Err(TxError::Conflict),
                }
            }
            if seq.get() != start {
                Self::note_log_end(txn, seq.get(), bytes.get(), hlc_high.get())?;
            }
            logged = (start, seq.get(), bytes.get());
            Ok(())
        });
        match applied {
            Ok(()) => {
                // Applied is durable: a shared engine's commit is on its replicas.
                self.applied(logged.1, logged.2);
                self.logged(logged.0, logged.1);
                for (m, refusal) in batch.iter().zip(refused.into_inner()) {
                    m.set(State::Done(refusal.map_or(Ok(()), Err)));
                }
            }
            Err(e) => {
                for m in batch {
                    m.set(State::Done(Err(for_each(&e))));
                }
            }
        }
    }
}
