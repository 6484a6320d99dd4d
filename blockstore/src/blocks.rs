//! The site's blocks, named by their SHA-256: files on the data disk
//! (`blocks/<first byte hex>/<hash hex>`), or objects of the site's RADOS data pool
//! (`<hash hex>`). A block file is written to a temporary file, fsynced, then renamed
//! into place; a RADOS object is written whole in one operation. Either way a visible
//! block is always complete. Blocks being written by requests that have not committed
//! yet are "pending": garbage collection never removes a pending block.

use crate::engine::rados::Pool;
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
    place: Place,
    /// Free space a block write must leave (see `space`).
    reserve: u64,
    pending: Mutex<HashMap<BlockHash, u32>>,
    /// Blocks held until a deadline though nothing references them yet: ones this
    /// site told a source it has, so the source sends only the manifest that needs
    /// them. Locked after `pending`, never before.
    held: Mutex<HashMap<BlockHash, Instant>>,
    /// The Ceph cluster's total and free bytes, and when they were read (RADOS only).
    cluster_space: Mutex<Option<(Instant, u64, u64)>>,
}

/// How long the cluster's space, once read, stands for its space now.
const CLUSTER_SPACE_FOR: Duration = Duration::from_secs(1);

/// Where the blocks are.
enum Place {
    Disk {
        root: PathBuf,
        tmp: PathBuf,
        data_dir: PathBuf,
    },
    Rados(Pool),
}

/// What [`BlockFiles::remove_unused`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unused {
    Removed,
    /// Used within the grace: kept, and asked about again later.
    InUse,
    /// Already removed (by another gateway's GC).
    Gone,
}

/// What a block write did.
#[derive(Debug)]
pub enum Stored {
    /// An identical block was stored already.
    Existed,
    /// This write stored it. On disk: the directory whose new entry still needs an
    /// fsync, so a writer of many blocks syncs each directory once, at the end.
    Created(Option<PathBuf>),
}

impl BlockFiles {
    /// Blocks in the site's RADOS data pool.
    pub fn open_rados(pool: Pool, reserve: u64) -> Self {
        BlockFiles {
            place: Place::Rados(pool),
            reserve,
            pending: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            cluster_space: Mutex::new(None),
        }
    }

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
            place: Place::Disk {
                root,
                tmp,
                data_dir: data_dir.to_path_buf(),
            },
            reserve,
            pending: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            cluster_space: Mutex::new(None),
        })
    }

    fn path(root: &Path, hash: &BlockHash) -> PathBuf {
        let hex = hash.to_hex();
        root.join(&hex[..2]).join(hex)
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
            // A shared block is touched, so other gateways' GC keeps it too.
            let present = match &self.place {
                Place::Rados(pool) => pool.touch(&h.to_hex()).unwrap_or(false),
                Place::Disk { .. } => self.exists(h),
            };
            if present {
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
    /// this call created it. The caller has pinned `hash`.
    pub fn write(&self, hash: &BlockHash, data: &[u8], caching: Caching) -> Result<bool> {
        match self.store(hash, data, caching)? {
            Stored::Created(dir) => {
                if let Some(dir) = dir {
                    sync_dir(&dir)?;
                }
                Ok(true)
            }
            Stored::Existed => Ok(false),
        }
    }

    /// Writes a block (a file: data fsynced, then renamed into place; its directory
    /// entry is left for the caller to sync) unless it is stored already.
    pub fn store(&self, hash: &BlockHash, data: &[u8], caching: Caching) -> Result<Stored> {
        match &self.place {
            Place::Disk { root, tmp, data_dir } => {
                let path = Self::path(root, hash);
                if path.exists() {
                    return Ok(Stored::Existed);
                }
                Space::of(data_dir, self.reserve)?.admit(data.len() as u64)?;
                put_file(tmp, hash, &path, data, caching)?;
                Ok(Stored::Created(path.parent().map(Path::to_path_buf)))
            }
            Place::Rados(pool) => {
                let oid = hash.to_hex();
                // Touched, a stored block is kept by every gateway's GC for its grace
                // (see `gc`); one removed meanwhile is written again.
                if pool.touch(&oid)? {
                    return Ok(Stored::Existed);
                }
                pool.write_full(&oid, data)?;
                Ok(Stored::Created(None))
            }
        }
    }

    /// Writes a block over a damaged copy: a reader sees one or the other, never
    /// neither (a file is renamed over the old one; an object is replaced whole).
    /// Durable on return.
    pub fn replace(&self, hash: &BlockHash, data: &[u8]) -> Result<()> {
        match &self.place {
            Place::Disk { root, tmp, .. } => {
                let path = Self::path(root, hash);
                put_file(tmp, hash, &path, data, Caching::Drop)?;
                sync_dir(path.parent().unwrap_or(root))
            }
            Place::Rados(pool) => pool.write_full(&hash.to_hex(), data),
        }
    }

    pub fn exists(&self, hash: &BlockHash) -> bool {
        match &self.place {
            Place::Disk { root, .. } => Self::path(root, hash).exists(),
            // An unreachable cluster answers "not here": the caller fetches or fails.
            Place::Rados(pool) => pool.stat(&hash.to_hex()).is_ok_and(|s| s.is_some()),
        }
    }

    pub fn read(&self, hash: &BlockHash) -> Result<Vec<u8>> {
        match &self.place {
            Place::Disk { root, .. } => {
                let mut f = File::open(Self::path(root, hash)).map_err(|e| match e.kind() {
                    ErrorKind::NotFound => Error::BlockCorrupt(hash.to_hex()),
                    _ => Error::Io(e),
                })?;
                let mut buf = Vec::with_capacity(f.metadata().map(|m| m.len() as usize).unwrap_or(0));
                f.read_to_end(&mut buf)?;
                Ok(buf)
            }
            Place::Rados(pool) => pool
                .read(&hash.to_hex())?
                .ok_or_else(|| Error::BlockCorrupt(hash.to_hex())),
        }
    }

    /// Removes a block; a block already gone is not an error.
    pub(crate) fn remove(&self, hash: &BlockHash) -> Result<()> {
        match &self.place {
            Place::Disk { root, .. } => match fs::remove_file(Self::path(root, hash)) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            Place::Rados(pool) => pool.remove(&hash.to_hex()).map(drop),
        }
    }

    /// Touches shared blocks a write is about to commit (see `writer`); fails if one
    /// is gone.
    pub(crate) fn touch_all(&self, blocks: &[crate::records::BlockRef]) -> Result<()> {
        let Place::Rados(pool) = &self.place else { return Ok(()) };
        for b in blocks {
            if !pool.touch(&b.hash.to_hex())? {
                return Err(Error::BlockCorrupt(b.hash.to_hex()));
            }
        }
        Ok(())
    }

    /// Removes a block GC found unreferenced, unless it was used within `grace`: a
    /// shared block is removed only if no gateway touched it since (the removal is
    /// guarded by the version GC read), so a write that found it stored keeps it.
    pub(crate) fn remove_unused(&self, hash: &BlockHash, grace: Duration) -> Result<Unused> {
        let Place::Rados(pool) = &self.place else {
            self.remove(hash)?;
            return Ok(Unused::Removed);
        };
        let oid = hash.to_hex();
        let Some((_, mtime, version)) = pool.stat_version(&oid)? else {
            return Ok(Unused::Gone);
        };
        // The time is in whole seconds: the use may have come up to a second later.
        let used_ms = (mtime.max(0) as u64 + 1) * 1000;
        if used_ms + grace.as_millis() as u64 > crate::hlc::now_millis() || !pool.remove_at(&oid, version)? {
            return Ok(Unused::InUse);
        }
        Ok(Unused::Removed)
    }

    /// The room for blocks: the data disk's, or the Ceph cluster's.
    pub(crate) fn space(&self) -> Result<Space> {
        match &self.place {
            Place::Disk { data_dir, .. } => Space::of(data_dir, self.reserve),
            Place::Rados(pool) => {
                // Asked on every write (admission), answered by a monitor: read at
                // most once a second.
                let mut known = self.cluster_space.lock().unwrap_or_else(|e| e.into_inner());
                let (total, free) = match *known {
                    Some((at, total, free)) if at.elapsed() < CLUSTER_SPACE_FOR => (total, free),
                    _ => {
                        let (total, free) = pool.capacity()?;
                        if total > 0 {
                            *known = Some((Instant::now(), total, free));
                        }
                        (total, free)
                    }
                };
                // A cluster whose OSDs have not yet reported their statistics (the first
                // seconds after it starts) answers 0 of 0: its room is not known, and
                // refusing writes on it would refuse them on a cluster with room. Its
                // OSDs still refuse writes themselves when full.
                let reserve = if total == 0 { 0 } else { self.reserve };
                Ok(Space {
                    free,
                    total,
                    reserve,
                    ballast: 0,
                })
            }
        }
    }

    /// Whether other gateways write and read these blocks too: then what this process
    /// pins says nothing of theirs, and GC must not remove a block on its word.
    pub(crate) fn shared(&self) -> bool {
        matches!(self.place, Place::Rados(_))
    }

    /// Every block stored, for the start-up scan.
    pub(crate) fn all(&self) -> Result<Vec<BlockHash>> {
        let names = match &self.place {
            Place::Disk { root, .. } => {
                let mut names = Vec::new();
                for dir in fs::read_dir(root)? {
                    for entry in fs::read_dir(dir?.path())? {
                        names.push(entry?.file_name().to_string_lossy().into_owned());
                    }
                }
                names
            }
            Place::Rados(pool) => pool.list()?,
        };
        Ok(names
            .iter()
            .filter_map(|name| {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(name.as_bytes(), &mut bytes)
                    .ok()
                    .map(|()| BlockHash(bytes))
            })
            .collect())
    }
}

/// Writes `data` to a temporary file in `tmp`, fsyncs it and renames it to `path`.
fn put_file(tmp: &Path, hash: &BlockHash, path: &Path, data: &[u8], caching: Caching) -> Result<()> {
    let tmp_path = tmp.join(format!("{}.{}", hash.to_hex(), uuid::Uuid::new_v4()));
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
