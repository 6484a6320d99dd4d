//! The streaming write path: bytes in, durable blocks out. The MD5 (the S3 ETag) is
//! computed as bytes arrive on the caller's thread; full blocks go to the site's block
//! writers (one fixed pool, `block_writers`) that name each by its SHA-256, write it
//! and fsync it, so hashing and disk work overlap. An object of one block never uses
//! them. Memory per write is the block being filled and `IN_FLIGHT` blocks out.

use crate::block_writers::{Done, Job};
use crate::blocks::{hash_block, sync_dir, Caching, Stored};
use crate::error::{Error, Result};
use crate::records::{BlockHash, BlockRef, Manifest};
use crate::store::Store;
use md5::{Digest, Md5};
use std::collections::BTreeSet;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// Full blocks one write may have at the block writers at once.
const IN_FLIGHT: usize = 4;
/// Objects up to this size live in their manifest, not in a block file.
pub const INLINE_MAX: usize = 16 * 1024;

pub struct ObjectWriter {
    store: Arc<Store>,
    buf: Vec<u8>,
    block_size: usize,
    md5: Md5,
    size: u64,
    /// The first full block, held back until a second one shows the object needs the
    /// block writers.
    first: Option<Vec<u8>>,
    pipeline: Option<Pipeline>,
    /// Blocks written on the caller's thread (objects of at most one full block).
    direct: Vec<BlockRef>,
    /// The largest object kept in its manifest; 0 for multipart parts, whose blocks are
    /// concatenated when the upload completes.
    inline_max: usize,
    pins: Pins,
}

/// Data written but not yet referenced by any committed record. Dropping it without
/// committing releases its blocks to garbage collection.
pub struct WrittenData {
    pub size: u64,
    pub md5: [u8; 16],
    pub blocks: Vec<BlockRef>,
    /// The bytes of a small object, which has no blocks.
    pub inline: Option<Vec<u8>>,
    pub(crate) pins: Pins,
}

/// Blocks this write relies on, pinned against GC until the write commits or is dropped.
pub(crate) struct Pins {
    store: Arc<Store>,
    hashes: Vec<BlockHash>,
    /// The blocks whose files this write created (not ones it found stored).
    created: Vec<BlockHash>,
    pub committed: bool,
    /// When the write began: on blocks other gateways share, a block stays pinned
    /// for GC's grace after this write last touched it (see `gc`).
    since: std::time::Instant,
}

impl Pins {
    fn new(store: Arc<Store>) -> Self {
        Pins {
            store,
            hashes: Vec::new(),
            created: Vec::new(),
            committed: false,
            since: std::time::Instant::now(),
        }
    }

    /// Before the commit of a write that lasted half GC's grace or longer, touches
    /// its shared blocks again, so that none goes before the commit references it;
    /// fails if one went already.
    fn keep_until_commit(&self, blocks: &[BlockRef]) -> Result<()> {
        if !self.store.blocks.shared() || self.since.elapsed() < self.store.cfg.gc_grace / 2 {
            return Ok(());
        }
        self.store.blocks.touch_all(blocks)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for h in &self.hashes {
            self.store.blocks.unpin(h);
        }
        if !self.committed && !self.hashes.is_empty() {
            // Memory only: a drop may happen on an async thread. GC records them.
            self.store.abandon(&self.hashes);
            if !self.created.is_empty() {
                self.store.remove_created(std::mem::take(&mut self.created));
            }
        }
    }
}

/// The blocks a write handed to the block writers, and the first error they met.
struct BlockWrites {
    refs: Vec<(usize, BlockRef)>,
    /// The blocks whose files the writers created.
    created: Vec<BlockHash>,
    error: Option<Error>,
}

/// One write's use of the site's block writers: at most `IN_FLIGHT` blocks out at once.
struct Pipeline {
    reply: Sender<Done>,
    replies: Receiver<Done>,
    sent: usize,
    outstanding: usize,
    done: Vec<Done>,
}

impl Pipeline {
    fn new() -> Self {
        let (reply, replies) = channel();
        Pipeline {
            reply,
            replies,
            sent: 0,
            outstanding: 0,
            done: Vec::new(),
        }
    }

    fn send(&mut self, store: &Store, block: Vec<u8>) -> Result<()> {
        while self.outstanding >= IN_FLIGHT {
            self.receive_one();
        }
        // A block that failed (a full disk, an I/O error) fails the write now, so the
        // caller stops reading a body that has nowhere to go.
        while let Ok(done) = self.replies.try_recv() {
            self.outstanding -= 1;
            self.done.push(done);
        }
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        store.writers.submit(Job {
            index: self.sent,
            data: block,
            reply: self.reply.clone(),
        })?;
        self.sent += 1;
        self.outstanding += 1;
        Ok(())
    }

    /// The first error a block writer answered, taken out (its block stays in `done`,
    /// so its pin is still released).
    fn take_error(&mut self) -> Option<Error> {
        self.done
            .iter_mut()
            .find_map(|d| match std::mem::replace(&mut d.result, Ok(Stored::Existed)) {
                Err(e) => Some(e),
                ok => {
                    d.result = ok;
                    None
                }
            })
    }

    fn receive_one(&mut self) {
        // Every submitted job answers (the writers catch panics), and we hold a sender.
        let done = self.replies.recv().expect("the pipeline holds a reply sender");
        self.outstanding -= 1;
        self.done.push(done);
    }

    /// Waits for every block sent; the blocks pinned, in object order. Each directory
    /// with new entries becomes durable with one fsync, here, at the end.
    fn finish(mut self) -> BlockWrites {
        while self.outstanding > 0 {
            self.receive_one();
        }
        self.done.sort_by_key(|d| d.index);
        let (mut refs, mut dirs, mut error, mut created) = (Vec::new(), BTreeSet::new(), None, Vec::new());
        for d in self.done {
            refs.push((
                d.index,
                BlockRef {
                    hash: d.hash,
                    len: d.len,
                },
            ));
            match d.result {
                Ok(Stored::Created(dir)) => {
                    created.push(d.hash);
                    dirs.extend(dir);
                }
                Ok(Stored::Existed) => {}
                Err(e) => error = error.or(Some(e)),
            }
        }
        if error.is_none() {
            error = dirs.iter().find_map(|d| sync_dir(d).err());
        }
        BlockWrites { refs, created, error }
    }
}

impl ObjectWriter {
    /// A writer for an object: small ones end up inline in the manifest.
    pub fn new(store: Arc<Store>) -> Self {
        Self::with_inline_max(store, INLINE_MAX)
    }

    /// A writer for a multipart part: always blocks.
    pub fn for_part(store: Arc<Store>) -> Self {
        Self::with_inline_max(store, 0)
    }

    fn with_inline_max(store: Arc<Store>, inline_max: usize) -> Self {
        let block_size = store.block_size() as usize;
        ObjectWriter {
            inline_max,
            pins: Pins::new(store.clone()),
            store,
            // Grown on demand: most objects are small, and a block-sized buffer per
            // request would be a 1 MiB allocation (an mmap and its page faults) each.
            buf: Vec::with_capacity(block_size.min(64 << 10)),
            block_size,
            md5: Md5::new(),
            size: 0,
            first: None,
            pipeline: None,
            direct: Vec::new(),
        }
    }

    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.md5.update(data);
        self.size += data.len() as u64;
        while !data.is_empty() {
            let room = self.block_size - self.buf.len();
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == self.block_size {
                let full = std::mem::replace(&mut self.buf, Vec::with_capacity(self.block_size));
                self.full_block(full)?;
            }
        }
        Ok(())
    }

    fn full_block(&mut self, block: Vec<u8>) -> Result<()> {
        if let Some(p) = &mut self.pipeline {
            return p.send(&self.store, block);
        }
        match self.first.take() {
            None => self.first = Some(block),
            Some(first) => {
                let mut p = Pipeline::new();
                p.send(&self.store, first)?;
                p.send(&self.store, block)?;
                self.pipeline = Some(p);
            }
        }
        Ok(())
    }

    /// Writes a block on this thread (small objects).
    fn write_direct(&mut self, block: &[u8]) -> Result<()> {
        let hash = hash_block(block);
        self.store.blocks.pin(hash);
        self.pins.hashes.push(hash);
        if self.store.blocks.write(&hash, block, Caching::Keep)? {
            self.pins.created.push(hash);
        }
        self.direct.push(BlockRef {
            hash,
            len: block.len() as u32,
        });
        Ok(())
    }

    /// Collects what the block-writer thread pinned, so the pins are released whatever
    /// happens next.
    fn join_pipeline(&mut self) -> Result<Vec<BlockRef>> {
        let Some(p) = self.pipeline.take() else {
            return Ok(Vec::new());
        };
        let done = p.finish();
        self.pins.hashes.extend(done.refs.iter().map(|(_, r)| r.hash));
        self.pins.created.extend(done.created);
        match done.error {
            Some(e) => Err(e),
            None => Ok(done.refs.into_iter().map(|(_, r)| r).collect()),
        }
    }

    /// Writes the last partial block and returns what was written, durable on disk.
    pub fn finish(mut self) -> Result<WrittenData> {
        let tail = std::mem::take(&mut self.buf);
        let md5: [u8; 16] = std::mem::take(&mut self.md5).finalize().into();
        if self.pipeline.is_none() && self.first.is_none() && !tail.is_empty() && tail.len() <= self.inline_max {
            let pins = std::mem::replace(&mut self.pins, Pins::new(self.store.clone()));
            return Ok(WrittenData {
                size: self.size,
                md5,
                blocks: Vec::new(),
                inline: Some(tail),
                pins,
            });
        }
        let blocks = if self.pipeline.is_some() {
            if !tail.is_empty() {
                let store = self.store.clone();
                self.pipeline.as_mut().expect("checked").send(&store, tail)?;
            }
            self.join_pipeline()?
        } else {
            if let Some(first) = self.first.take() {
                self.write_direct(&first)?;
            }
            if !tail.is_empty() {
                self.write_direct(&tail)?;
            }
            std::mem::take(&mut self.direct)
        };
        let pins = std::mem::replace(&mut self.pins, Pins::new(self.store.clone()));
        pins.keep_until_commit(&blocks)?;
        Ok(WrittenData {
            size: self.size,
            md5,
            blocks,
            inline: None,
            pins,
        })
    }
}

impl Drop for ObjectWriter {
    /// An abandoned write (a body that broke off, a failed check) still owns what the
    /// block-writer thread pinned: collect it so the pins drop with the writer.
    fn drop(&mut self) {
        let _ = self.join_pipeline();
    }
}

impl WrittenData {
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }

    pub(crate) fn mark_committed(mut self) {
        self.pins.committed = true;
    }
}

/// Writes bytes `[start, end)` of an existing object as new part data, one block in
/// memory at a time: UploadPartCopy with a source range.
pub fn copy_range(store: Arc<Store>, src: &Manifest, start: u64, end: u64) -> Result<WrittenData> {
    let mut w = ObjectWriter::for_part(store.clone());
    if let Some(bytes) = &src.inline {
        w.write(&bytes[start as usize..end as usize])?;
        return w.finish();
    }
    for (b_start, b) in src.blocks_in(start, end) {
        let data = store.read_block(&b.hash)?;
        let from = start.saturating_sub(b_start) as usize;
        let to = (end.min(b_start + u64::from(b.len)) - b_start) as usize;
        w.write(&data[from..to])?;
    }
    w.finish()
}
