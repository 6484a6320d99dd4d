//! The site's block writers: one fixed pool of threads that hash, pin, write and fsync
//! the full blocks of every large write in progress. A write keeps at most
//! `IN_FLIGHT` blocks queued here, so memory per write stays bounded, and the number of
//! threads stays the same however many clients upload at once.

use crate::blocks::{hash_block, BlockFiles, Caching, Stored};
use crate::error::{Error, Result};
use crate::records::BlockHash;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// One full block of one write.
pub(crate) struct Job {
    /// The block's place in its object.
    pub index: usize,
    pub data: Vec<u8>,
    pub reply: Sender<Done>,
}

/// What a writer did with a job. The block is pinned whatever the outcome, so the
/// write that sent it unpins it.
pub(crate) struct Done {
    pub index: usize,
    pub hash: BlockHash,
    pub len: u32,
    pub result: Result<Stored>,
}

pub(crate) struct BlockWriters {
    /// None once dropped: the writers see the queue end.
    jobs: Option<Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BlockWriters {
    /// Starts `threads` writers. They end when the pool is dropped.
    pub fn start(files: Arc<BlockFiles>, threads: usize) -> Result<Self> {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..threads.max(1))
            .map(|_| {
                let (files, queue) = (files.clone(), queue.clone());
                std::thread::Builder::new()
                    .name("strata-blocks".into())
                    .spawn(move || work(&files, &queue))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(BlockWriters {
            jobs: Some(jobs),
            threads,
        })
    }

    pub fn submit(&self, job: Job) -> Result<()> {
        let stopped = || Error::Io(std::io::Error::other("the block writers have stopped"));
        self.jobs.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())
    }
}

/// The writers end with the store, and the store's last handle on its blocks (a Ceph
/// cluster's connection, say) goes with them before the drop returns: librados must
/// be shut down before the process exits, not while it does.
impl Drop for BlockWriters {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn work(files: &BlockFiles, queue: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only to take the next job, not while writing it.
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(job) = next else { return };
        let hash = hash_block(&job.data);
        files.pin(hash);
        // A panic must still answer, or the write waiting for this block never ends.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| files.store(&hash, &job.data, Caching::Keep)))
            .unwrap_or_else(|_| Err(Error::Io(std::io::Error::other("a block writer panicked"))));
        let _ = job.reply.send(Done {
            index: job.index,
            hash,
            len: job.data.len() as u32,
            result,
        });
    }
}
