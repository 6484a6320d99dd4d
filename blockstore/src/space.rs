//! Room on the data disk. Blocks and metadata share it; new data is refused once free
//! space would fall below a reserve, so the metadata store always has room for what
//! must keep working on a full site: deletes, replicated deletes, GC bookkeeping, and a
//! restart. Half the reserve is held as a ballast file that Strata releases when
//! another process fills the disk past it (the metadata engine needs room even to
//! open), and takes back once space returns.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The data disk's space as the store sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    pub total: u64,
    /// Free space (the ballast counted as free) below which new data is refused.
    pub reserve: u64,
    /// The ballast file's size now (0 once released).
    pub ballast: u64,
}

fn ballast_path(dir: &Path) -> PathBuf {
    dir.join("ballast")
}

impl Space {
    pub fn of(dir: &Path, reserve: u64) -> Result<Space> {
        Ok(Space {
            free: fs2::available_space(dir)?,
            total: fs2::total_space(dir)?,
            reserve,
            ballast: fs::metadata(ballast_path(dir)).map_or(0, |m| m.len()),
        })
    }

    /// Refuses `incoming` bytes of new data that would leave less than the reserve.
    pub fn admit(&self, incoming: u64) -> Result<()> {
        if (self.free + self.ballast).saturating_sub(incoming) < self.reserve {
            return Err(Error::InsufficientStorage(format!(
                "{} bytes free on the data disk, {} kept in reserve for metadata; new data is refused until space is freed (deletes still work)",
                self.free, self.reserve
            )));
        }
        Ok(())
    }
}

/// Releases the ballast when the disk is nearly full, and takes it back (half the
/// reserve, allocated at once) when there is room again. Called before the metadata
/// engine opens and then every second.
pub(crate) fn tend_ballast(dir: &Path, reserve: u64) -> Result<()> {
    let size = reserve / 2;
    let path = ballast_path(dir);
    let space = Space::of(dir, reserve)?;
    if space.ballast > 0 && space.free < size / 2 {
        fs::remove_file(&path)?;
        tracing::warn!(
            free = space.free,
            released = space.ballast,
            "the data disk is nearly full: released the ballast so that metadata (deletes, a restart) has room; new data is refused"
        );
    } else if space.ballast == 0 && size > 0 && space.free >= reserve + size {
        let made = File::create(&path).and_then(|f| fs2::FileExt::allocate(&f, size).and_then(|_| f.sync_all()));
        if let Err(e) = made {
            let _ = fs::remove_file(&path);
            tracing::warn!(error = %e, "could not allocate the ballast file");
        } else {
            tracing::info!(
                bytes = size,
                "allocated the ballast file (released when the disk fills)"
            );
        }
    }
    Ok(())
}
