//! The streaming write path: bytes in, durable blocks out. The MD5 (the S3 ETag) is
//! computed as bytes arrive, each full block is named by its SHA-256 and written, and
//! nothing larger than one block is ever held.

use crate::blocks::hash_block;
use crate::error::Result;
use crate::hlc::now_millis;
use crate::records::{BlockHash, BlockRef};
use crate::store::Store;
use md5::{Digest, Md5};
use std::sync::Arc;

pub struct ObjectWriter {
    store: Arc<Store>,
    buf: Vec<u8>,
    block_size: usize,
    md5: Md5,
    size: u64,
    blocks: Vec<BlockRef>,
    pins: Pins,
}

/// Data written but not yet referenced by any committed record. Dropping it without
/// committing releases its blocks to garbage collection.
pub struct WrittenData {
    pub size: u64,
    pub md5: [u8; 16],
    pub blocks: Vec<BlockRef>,
    pub(crate) pins: Pins,
}

/// Blocks this write relies on, pinned against GC until the write commits or is dropped.
pub(crate) struct Pins {
    store: Arc<Store>,
    hashes: Vec<BlockHash>,
    pub committed: bool,
}

impl Drop for Pins {
    fn drop(&mut self) {
        for h in &self.hashes {
            self.store.blocks.unpin(h);
        }
        if !self.committed && !self.hashes.is_empty() {
            let hashes: Vec<[u8; 32]> = self.hashes.iter().map(|h| h.0).collect();
            if let Err(e) = self.store.meta.queue_unreferenced(&hashes, now_millis()) {
                tracing::warn!(error = %e, "could not queue abandoned blocks for GC; the next start-up scan will");
            }
        }
    }
}

impl ObjectWriter {
    pub fn new(store: Arc<Store>) -> Self {
        let block_size = store.block_size() as usize;
        ObjectWriter {
            pins: Pins {
                store: store.clone(),
                hashes: Vec::new(),
                committed: false,
            },
            store,
            buf: Vec::with_capacity(block_size),
            block_size,
            md5: Md5::new(),
            size: 0,
            blocks: Vec::new(),
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
                self.flush_block()?;
            }
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<()> {
        let hash = hash_block(&self.buf);
        self.store.blocks.pin(hash);
        self.pins.hashes.push(hash);
        self.store.blocks.write(&hash, &self.buf)?;
        self.blocks.push(BlockRef {
            hash,
            len: self.buf.len() as u32,
        });
        self.buf.clear();
        Ok(())
    }

    /// Writes the last partial block and returns what was written, durable on disk.
    pub fn finish(mut self) -> Result<WrittenData> {
        if !self.buf.is_empty() {
            self.flush_block()?;
        }
        let md5 = std::mem::take(&mut self.md5).finalize().into();
        let pins = std::mem::replace(
            &mut self.pins,
            Pins {
                store: self.store.clone(),
                hashes: Vec::new(),
                committed: false,
            },
        );
        Ok(WrittenData {
            size: self.size,
            md5,
            blocks: std::mem::take(&mut self.blocks),
            pins,
        })
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

/// Writes bytes `[start, end)` of an existing object (its block list) as new data, one
/// block in memory at a time: UploadPartCopy with a source range.
pub fn copy_range(store: Arc<Store>, src: &[BlockRef], start: u64, end: u64) -> Result<WrittenData> {
    let mut w = ObjectWriter::new(store.clone());
    let mut offset = 0u64;
    for b in src {
        let (b_start, b_end) = (offset, offset + b.len as u64);
        offset = b_end;
        if b_end <= start {
            continue;
        }
        if b_start >= end {
            break;
        }
        let data = store.read_block(&b.hash)?;
        let from = start.saturating_sub(b_start) as usize;
        let to = (end.min(b_end) - b_start) as usize;
        w.write(&data[from..to])?;
    }
    w.finish()
}
