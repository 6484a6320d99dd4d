//! Request bodies being received, bounded so that no client holds the site: at most
//! `max_uploads_per_key` at once per access key (anonymous writers share one count),
//! and a body that sends nothing for `body_read_timeout_secs` is cut with
//! RequestTimeout. A body waiting for its client holds no thread (see `body`).

use crate::s3::error::{S3Error, S3Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Uploads {
    per_key: usize,
    /// The longest a body may go without sending a byte.
    pub idle: Duration,
    open: Mutex<HashMap<String, usize>>,
}

/// One body being received; its place is given back when it is dropped.
pub struct UploadSlot {
    uploads: Arc<Uploads>,
    key: String,
}

impl Uploads {
    pub fn new(per_key: usize, idle: Duration) -> Arc<Uploads> {
        Arc::new(Uploads {
            per_key,
            idle,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more body from `access_key` (None: anonymous), or SlowDown.
    pub fn open(self: &Arc<Self>, access_key: Option<&str>) -> S3Result<UploadSlot> {
        let key = access_key.unwrap_or("").to_owned();
        let mut open = self.lock();
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.per_key {
            tracing::warn!(access_key = %key, open = *n, "upload refused: too many bodies at once for one key");
            return Err(S3Error::SlowDown);
        }
        *n += 1;
        Ok(UploadSlot {
            uploads: self.clone(),
            key,
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut open = self.uploads.lock();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}
