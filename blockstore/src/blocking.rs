//! The one way async code calls the store: every store method blocks (disk I/O, fsync,
//! metadata commits), so it runs on tokio's blocking pool, never on a worker thread.

use crate::error::Error;
use crate::store::Store;
use std::future::Future;
use std::sync::Arc;

/// Runs `f` on a blocking thread. The task starts at the call, not when the future is
/// first polled, so a caller may feed it (a channel of body frames) before awaiting it.
/// A task that dies (panics) answers [`Error::TaskFailed`] instead of taking the
/// caller down with it.
pub fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> impl Future<Output = Result<T, E>>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    let task = tokio::task::spawn_blocking(f);
    async move {
        match task.await {
            Ok(r) => r,
            Err(e) => Err(E::from(Error::TaskFailed(e.to_string()))),
        }
    }
}

impl Store {
    /// [`blocking`] with this store: `store.run(|s| s.bucket("b")).await`.
    pub fn run<T, E>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store) -> Result<T, E> + Send + 'static,
    ) -> impl Future<Output = Result<T, E>>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || f(&store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_task_starts_before_it_is_awaited() {
        let (tx, rx) = std::sync::mpsc::channel();
        let task = blocking(move || {
            tx.send(()).unwrap();
            Ok::<_, Error>(7)
        });
        // Not awaited yet: the closure runs anyway.
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(task.await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_panicking_task_is_an_error() {
        let r: Result<(), Error> = blocking(|| panic!("boom")).await;
        assert!(matches!(r, Err(Error::TaskFailed(_))));
    }
}
