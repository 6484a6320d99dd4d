//! Block files on disk: `blocks/<first byte hex>/<hash hex>`. A block is written to a
//! temporary file, fsynced, then renamed into place, so a visible block file is always
//! complete. Blocks being written by requests that have not committed yet are "pending":
//! garbage collection never removes a pending block.

use crate::error::{Error, Result};
use crate::records::BlockHash;
use crate::space::Space;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct BlockFiles {
    root: PathBuf,
    tmp: PathBuf,
    data_dir: PathBuf,
    /// Free space a block write must leave (see `space`).
    reserve: u64,
    pending: Mutex<HashMap<BlockHash, u32>>,
    /// Blocks held until a deadline though nothing references them yet: ones this
    /// site told a source it has, so the source sends only the manifest that needs
    /// them. Locked after `pending`, never before.
    held: Mutex<HashMap<BlockHash, Instant>>,
}

impl BlockFiles {
    pub fn open(data_dir: &Path, reserve: u64) -> Result<Self> {
        let root = data_dir.join("blocks");
        let tmp = data_dir.join("tmp");
        for i in 0..=255u8 {
            fs::create_dir_all(root.join(format!("{i:02x}")))?;
        }
        // Whatever is in tmp/ belongs to writes a crash interrupted.
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        Ok(BlockFiles {
            root,
            tmp,
            data_dir: data_dir.to_path_buf(),
            reserve,
            pending: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
        })
    }

    fn path(&self, hash: &BlockHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    /// Marks a block as in use by an uncommitted write. Must happen before the write
    /// relies on the file existing, so that GC cannot remove it in between.
    pub fn pin(&self, hash: BlockHash) {
        *self.pending_lock().entry(hash).or_insert(0) += 1;
    }

    pub fn unpin(&self, hash: &BlockHash) {
        let mut p = self.pending_lock();
        if let Some(n) = p.get_mut(hash) {
            *n -= 1;
            if *n == 0 {
                p.remove(hash);
            }
        }
    }

    pub(crate) fn pending_lock(&self) -> MutexGuard<'_, HashMap<BlockHash, u32>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn held_lock(&self) -> MutexGuard<'_, HashMap<BlockHash, Instant>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Which of `hashes` are not stored; every stored one is held for `ttl` (GC keeps
    /// it even unreferenced). Checked under the lock GC removes blocks under, so a
    /// block reported present cannot go before the change that needs it arrives.
    pub fn hold_present(&self, hashes: &[BlockHash], ttl: Duration) -> Vec<BlockHash> {
        let _gc = self.pending_lock();
        let mut held = self.held_lock();
        let until = Instant::now() + ttl;
        let mut missing = Vec::new();
        for h in hashes {
            if self.exists(h) {
                held.insert(*h, until);
            } else {
                missing.push(*h);
            }
        }
        missing
    }

    /// Whether a block is held (see [`BlockFiles::hold_present`]). Call holding the
    /// pending lock, as GC does.
    pub(crate) fn is_held(&self, hash: &BlockHash) -> bool {
        self.held_lock().get(hash).is_some_and(|t| *t > Instant::now())
    }

    /// Forgets holds that have expired.
    pub(crate) fn expire_holds(&self) {
        let now = Instant::now();
        self.held_lock().retain(|_, t| *t > now);
    }

    /// Writes a block durably unless an identical one is already stored; true when
    /// this call created the file. The caller has pinned `hash`.
    pub fn write(&self, hash: &BlockHash, data: &[u8], caching: Caching) -> Result<bool> {
        match self.write_file(hash, data, caching)? {
            Some(dir) => {
                sync_dir(&dir)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Writes a block file (data fsynced, then renamed into place) and returns the
    /// directory whose entry still needs an fsync, so a writer of many blocks can sync
    /// each directory once at the end. `None` when the block was already stored.
    pub fn write_file(&self, hash: &BlockHash, data: &[u8], caching: Caching) -> Result<Option<PathBuf>> {
        let path = self.path(hash);
        if path.exists() {
            return Ok(None);
        }
        Space::of(&self.data_dir, self.reserve)?.admit(data.len() as u64)?;
        self.put_file(hash, &path, data, caching)?;
        Ok(path.parent().map(Path::to_path_buf))
    }

    /// Writes a block over a damaged copy: the new file is renamed over the old one,
    /// so a reader sees one or the other, never neither. Durable on return.
    pub fn replace(&self, hash: &BlockHash, data: &[u8]) -> Result<()> {
        let path = self.path(hash);
        self.put_file(hash, &path, data, Caching::Drop)?;
        sync_dir(path.parent().unwrap_or(&self.root))
    }

    /// Writes `data` to a temporary file, fsyncs it and renames it to `path`.
    fn put_file(&self, hash: &BlockHash, path: &Path, data: &[u8], caching: Caching) -> Result<()> {
        let tmp_path = self.tmp.join(format!("{}.{}", hash.to_hex(), uuid::Uuid::new_v4()));
        let written = (|| -> Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp_path)?;
            f.write_all(data)?;
            f.sync_all()?;
            if let Caching::Drop = caching {
                drop_cached(&f);
            }
            drop(f);
            fs::rename(&tmp_path, path)?;
            Ok(())
        })();
        if written.is_err() {
            // A failed write (a full disk, an I/O error) leaves nothing behind.
            let _ = fs::remove_file(&tmp_path);
        }
        written
    }

    pub fn exists(&self, hash: &BlockHash) -> bool {
        self.path(hash).exists()
    }

    pub fn read(&self, hash: &BlockHash) -> Result<Vec<u8>> {
        let mut f = File::open(self.path(hash)).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::BlockCorrupt(hash.to_hex()),
            _ => Error::Io(e),
        })?;
        let mut buf = Vec::with_capacity(f.metadata().map(|m| m.len() as usize).unwrap_or(0));
        f.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Removes a block file; a block already gone is not an error.
    pub(crate) fn remove(&self, hash: &BlockHash) -> Result<()> {
        match fs::remove_file(self.path(hash)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Every block file on disk, for the start-up scan.
    pub(crate) fn all(&self) -> Result<Vec<BlockHash>> {
        let mut out = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            for entry in fs::read_dir(dir?.path())? {
                let name = entry?.file_name();
                let mut bytes = [0u8; 32];
                if hex::decode_to_slice(name.to_string_lossy().as_bytes(), &mut bytes).is_ok() {
                    out.push(BlockHash(bytes));
                }
            }
        }
        Ok(out)
    }
}

/// A rename is durable only once the directory entry is.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

pub fn hash_block(data: &[u8]) -> BlockHash {
    BlockHash(Sha256::digest(data).into())
}

/// Whether a block's pages stay in the page cache once it is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// A client's write: replication reads the block next, and clients often read
    /// what they just wrote.
    Keep,
    /// A replica's block, seldom read soon. Cached, its pages would push out what
    /// reads do use, and each write would take fresh pages, which on a VM whose free
    /// memory went back to the host fault in one by one: the sink's copy into them
    /// was a third of all CPU time while it replicated 1 MiB objects (docs/performance.md).
    Drop,
}

/// Lets the kernel drop a file's pages from the page cache (they are clean: fsynced).
fn drop_cached(f: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fadvise only reads the descriptor, which `f` keeps open.
    unsafe {
        libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}
