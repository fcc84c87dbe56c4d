//! Running a driver's work on the right worker, from anywhere, as one `Send` future.
//!
//! On one of the provider's workers the work runs inline in the caller's task (its `!Send`
//! state wrapped in a [`ThreadBound`]); on any other thread it is spawned on a worker through
//! the mailbox and its output comes back through a oneshot. Drivers whose hot path must not
//! allocate write their own future (as corelane-redis does); this one boxes the local future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{EventLoopProvider, RemoteTask, SubmitError, ThreadBound};

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The future returned by [`dispatch`].
#[must_use = "the work runs only when the future is polled (locally) or submitted (remotely)"]
pub struct Dispatch<T> {
    state: State<T>,
}

enum State<T> {
    Local(ThreadBound<LocalFuture<T>>),
    Remote(RemoteTask<T>),
    Failed(SubmitError),
    Done,
}

impl<T> std::fmt::Debug for Dispatch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch").finish_non_exhaustive()
    }
}

/// Runs `make()`'s future on the calling thread's worker when it is one of `workers`, else on
/// worker `fallback % n` through its mailbox.
pub fn dispatch<F, Fut, T>(workers: &dyn EventLoopProvider, fallback: usize, make: F) -> Dispatch<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    if workers.current_worker().is_some() {
        let fut: LocalFuture<T> = Box::pin(make());
        return Dispatch {
            state: State::Local(ThreadBound::new(fut)),
        };
    }
    let n = workers.num_workers().max(1);
    // A worker that died and is being restarted is out of rotation: the next live one runs it.
    let live = (0..n)
        .filter_map(|k| workers.worker(fallback.wrapping_add(k) % n))
        .find(|w| w.is_running());
    let state = match live.or_else(|| workers.worker(fallback % n)).cloned() {
        Some(worker) => State::Remote(worker.spawn(make)),
        None => State::Failed(SubmitError::WorkerClosed),
    };
    Dispatch { state }
}

impl<T> Future for Dispatch<T> {
    type Output = Result<T, SubmitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            State::Local(bound) => match bound.get_mut() {
                // A panic in the work (a user closure run inside it) ends this call with a
                // typed error, as it would off the loop; the caller's task lives on.
                Some(fut) => match crate::catch::catch(|| fut.as_mut().poll(cx)) {
                    Ok(Poll::Ready(v)) => {
                        this.state = State::Done;
                        Poll::Ready(Ok(v))
                    }
                    Ok(Poll::Pending) => Poll::Pending,
                    Err(panicked) => {
                        this.state = State::Done;
                        Poll::Ready(Err(panicked.into()))
                    }
                },
                // Moved to another thread after it started: it cannot be polled here.
                None => Poll::Ready(Err(SubmitError::WorkerClosed)),
            },
            State::Remote(task) => Pin::new(task).poll(cx),
            State::Failed(e) => Poll::Ready(Err(e.clone())),
            State::Done => Poll::Ready(Err(SubmitError::WorkerClosed)),
        }
    }
}
