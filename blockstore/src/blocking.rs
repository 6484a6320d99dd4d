//! The one way async code calls the store: every store method blocks (disk I/O, fsync,
//! metadata commits), so it runs on tokio's blocking pool, never on a worker thread.

use crate::error::Error;
use crate::store::Store;
use std::sync::Arc;

/// Runs `f` on a blocking thread. A task that dies (panics) answers
/// [`Error::TaskFailed`] instead of taking the caller down with it.
pub async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(E::from(Error::TaskFailed(e.to_string()))),
    }
}

impl Store {
    /// [`blocking`] with this store: `store.run(|s| s.bucket("b")).await`.
    pub async fn run<T, E>(self: &Arc<Self>, f: impl FnOnce(&Store) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || f(&store)).await
    }
}
