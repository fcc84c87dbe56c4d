//! How long a COPY waits on the server, and noticing that its caller stopped waiting.
//!
//! A COPY runs as a task on a worker. Every wait on the server (the reply that starts the copy,
//! room in the outbound buffer for the next `CopyData`, a piece of COPY OUT data, the reply
//! that ends it) is bounded by the copy timeout ([`Config::copy_timeout`]): a server that makes
//! no progress for that long fails the copy with [`Error::is_timeout`], and its connection is
//! closed (the server rolls the copy back).
//!
//! A caller on another thread that drops its future cannot drop the worker's task; it raises
//! [`CallerGone`] instead, which wakes the task wherever it waits (through the worker's mailbox)
//! so it stops at once: it aborts with `CopyFail` when it was waiting for its source, and
//! closes the connection when it was waiting on the server.
//!
//! [`Config::copy_timeout`]: crate::Config::copy_timeout
//! [`Error::is_timeout`]: crate::Error::is_timeout

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use corelane_runtime::WorkerLoop;

use crate::Error;

/// Raised when the caller of a COPY running on another thread stopped waiting for it.
#[derive(Default)]
pub(crate) struct CallerGone {
    gone: AtomicBool,
    /// The copy's task, when it waits: woken on its own worker.
    waiter: Mutex<Option<(Waker, Option<WorkerLoop>)>>,
}

impl CallerGone {
    fn waiter(&self) -> std::sync::MutexGuard<'_, Option<(Waker, Option<WorkerLoop>)>> {
        self.waiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the caller is gone.
    pub(crate) fn is_set(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// The caller is gone: wakes the copy's task if it waits.
    pub(crate) fn set(&self) {
        let waiter = {
            // Under the lock, so a task registering at the same time either sees the flag or
            // is found here.
            let mut waiter = self.waiter();
            self.gone.store(true, Ordering::Release);
            waiter.take()
        };
        let Some((waker, worker)) = waiter else {
            return;
        };
        match worker {
            // A foreign wake of an ordinary task is noticed late; the mailbox at once.
            Some(worker) if !worker.is_current() => {
                if let Err(_refused) = worker.submit(move || waker.wake()) {
                    // The worker is shutting down: its tasks end with it.
                }
            }
            _ => waker.wake(),
        }
    }

    /// Resolves once the caller is gone.
    pub(crate) async fn wait(&self) {
        futures_lite::future::poll_fn(|cx| {
            let mut waiter = self.waiter();
            if self.is_set() {
                return Poll::Ready(());
            }
            match &*waiter {
                Some((w, _)) if w.will_wake(cx.waker()) => {}
                _ => *waiter = Some((cx.waker().clone(), WorkerLoop::current())),
            }
            Poll::Pending
        })
        .await
    }
}

/// Raises [`CallerGone`] when dropped while armed: the caller's side of a remote COPY.
pub(crate) struct RaiseOnDrop(pub(crate) Option<Arc<CallerGone>>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        if let Some(gone) = self.0.take() {
            gone.set();
        }
    }
}

fn caller_gone() -> Error {
    Error::runtime("the COPY was cancelled: its caller stopped waiting")
}

/// Waits for `fut` while the caller waits (when `gone` is given); `None` when the caller went
/// away first (`fut` is dropped).
pub(crate) async fn unless_gone<T>(fut: impl Future<Output = T>, gone: &CallerGone) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        gone.wait().await;
        None
    })
    .await
}

/// Waits for `fut`, a wait on the server, for at most `limit` and, when `gone` is given, only
/// while the caller waits. Either way out is an error; `fut` is dropped (the caller's guard then
/// closes the connection, which cannot be put back in step mid-copy).
pub(crate) async fn on_server<T>(
    fut: impl Future<Output = Result<T, Error>>,
    limit: Option<Duration>,
    gone: Option<&CallerGone>,
) -> Result<T, Error> {
    let raced = async {
        match gone {
            Some(gone) => unless_gone(fut, gone)
                .await
                .unwrap_or_else(|| Err(caller_gone())),
            None => fut.await,
        }
    };
    match limit {
        Some(limit) => corelane_runtime::task::timeout(limit, raced)
            .await
            .unwrap_or_else(|| Err(Error::timeout(limit))),
        None => raced.await,
    }
}
