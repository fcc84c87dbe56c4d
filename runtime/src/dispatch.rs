//! Running a driver's work on the right worker, from anywhere, as one `Send` future.
//!
//! On one of the provider's workers the work runs inline in the caller's task (its `!Send`
//! state wrapped in a [`ThreadBound`]); on any other thread it is spawned on a worker through
//! the mailbox and its output comes back through a oneshot.
//!
//! The local path allocates nothing of its own: the work's future is stored inline in the
//! [`Dispatch`] (which is therefore as large as that future). [`Dispatch::boxed`] gives a
//! type that does not name the future, for a driver that stores dispatches in a struct.
//!
//! One misuse aborts the process: a dispatch that started on a worker (polled there at least
//! once) and is then dropped on another thread. Its future lives inside the dispatch, was
//! pinned, and may hold the worker's `!Send` state: it can neither be dropped off its thread
//! (a race with the worker) nor have its memory freed without being dropped (the pin
//! guarantee). Only a task that polls the dispatch on a worker and then moves to another
//! thread can do this; glommio's tasks never move.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{EventLoopProvider, RemoteTask, SubmitError, ThreadBound};

/// A boxed, `!Send` future: the local work of a [`Dispatch::boxed`].
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The future returned by [`dispatch`]: `Fut` is the work's own future, run in place on the
/// caller's worker.
#[must_use = "the work runs only when the future is polled (locally) or submitted (remotely)"]
pub struct Dispatch<T, Fut = LocalBoxFuture<T>> {
    state: State<T, Fut>,
    /// The local future has been polled, so it is pinned in place.
    pinned: bool,
}

enum State<T, Fut> {
    Local(ThreadBound<Fut>),
    Remote(RemoteTask<T>),
    Failed(SubmitError),
    Done,
}

impl<T, Fut> std::fmt::Debug for Dispatch<T, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch").finish_non_exhaustive()
    }
}

/// Runs `make()`'s future on the calling thread's worker when it is one of `workers`, else on
/// worker `fallback % n` through its mailbox.
pub fn dispatch<F, Fut, T>(
    workers: &dyn EventLoopProvider,
    fallback: usize,
    make: F,
) -> Dispatch<T, Fut>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    if workers.current_worker().is_some() {
        return Dispatch {
            state: State::Local(ThreadBound::new(make())),
            pinned: false,
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
    Dispatch {
        state,
        pinned: false,
    }
}

impl<T: 'static, Fut: Future<Output = T> + 'static> Dispatch<T, Fut> {
    /// The same dispatch with its local future boxed: a type that does not name the work's
    /// future (one allocation, on the local path only).
    pub fn boxed(mut self) -> Dispatch<T> {
        // Taken by value, so not pinned (or `Fut: Unpin`): the future may move into a box.
        let state = match std::mem::replace(&mut self.state, State::Done) {
            State::Local(bound) => match bound.into_inner() {
                Some(fut) => State::Local(ThreadBound::new(Box::pin(fut) as LocalBoxFuture<T>)),
                // Moved to another thread before it was polled: it cannot run there.
                None => State::Failed(SubmitError::WorkerClosed),
            },
            State::Remote(task) => State::Remote(task),
            State::Failed(e) => State::Failed(e),
            State::Done => State::Done,
        };
        Dispatch {
            state,
            pinned: false,
        }
    }
}

impl<T, Fut: Future<Output = T>> Future for Dispatch<T, Fut> {
    type Output = Result<T, SubmitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: the local future is never moved out of `state`: it is polled through a pin
        // made below and dropped in place when `state` is overwritten (or, off its thread,
        // never freed: see `Drop`). `RemoteTask` is `Unpin`.
        let this = unsafe { self.get_unchecked_mut() };
        match &mut this.state {
            State::Local(bound) => match bound.get_mut() {
                Some(fut) => {
                    this.pinned = true;
                    // SAFETY: see above; `fut` stays where it is until it is dropped.
                    let fut = unsafe { Pin::new_unchecked(fut) };
                    // A panic in the work (a user closure run inside it) ends this call with a
                    // typed error, as it would off the loop; the caller's task lives on.
                    match crate::catch::catch(|| fut.poll(cx)) {
                        Ok(Poll::Ready(v)) => {
                            this.state = State::Done;
                            Poll::Ready(Ok(v))
                        }
                        Ok(Poll::Pending) => Poll::Pending,
                        Err(panicked) => {
                            this.state = State::Done;
                            Poll::Ready(Err(panicked.into()))
                        }
                    }
                }
                // Moved to another thread after it started: it cannot be polled here.
                None => Poll::Ready(Err(SubmitError::WorkerClosed)),
            },
            State::Remote(task) => Pin::new(task).poll(cx),
            State::Failed(e) => Poll::Ready(Err(e.clone())),
            State::Done => Poll::Ready(Err(SubmitError::WorkerClosed)),
        }
    }
}

impl<T, Fut> Drop for Dispatch<T, Fut> {
    fn drop(&mut self) {
        if let State::Local(bound) = &self.state {
            if self.pinned && !bound.is_owner() {
                // A pinned future off its thread: it may not be dropped here (its `!Send`
                // state belongs to the worker) nor its memory freed undropped (the pin
                // guarantee). See the module docs: no sound way on remains.
                std::process::abort();
            }
        }
    }
}
