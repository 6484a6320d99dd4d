//! Locking that survives a panic elsewhere: a poisoned mutex still holds good data
//! here (every critical section leaves its value whole), so it is used, not unwrapped.

use std::sync::{Mutex, MutexGuard};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
