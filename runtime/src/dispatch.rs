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
//! thread can do this; glommio's tasks never move. A dispatch of an `Unpin` future can be
//! made [`movable`](Dispatch::movable) (a [`boxed`](Dispatch::boxed) one is): then that misuse
//! ends the call with [`SubmitError::WrongThread`], and the future, dropped off its thread, is
//! sent back to its worker's mailbox to be dropped there (moving an `Unpin` future breaks no
//! promise). So is a local future never polled.
//!
//! The worker for the remote path is picked by a [`Fallback`]: an index, or a closure that
//! makes one only when the remote path is taken (a driver's round-robin counter is an atomic
//! shared by every thread; the local path should not touch it).

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
    /// The local future is `Unpin` (see [`Dispatch::movable`]): never counted as pinned.
    movable: bool,
    /// Sends an unpinned local future dropped off its thread back to its worker, to be
    /// dropped there (`worker::send_home`; a function of `Fut`, because `Drop` cannot ask
    /// for `Fut: 'static`).
    send_home: Option<fn(ThreadBound<Fut>)>,
}

/// Which worker runs a [`dispatch`] made off the provider's workers: `index % n`.
///
/// An index (`usize`), or a closure returning one, called only when the remote path is taken.
pub trait Fallback {
    /// The index; called once, only for the remote path.
    fn index(self) -> usize;
}

impl Fallback for usize {
    fn index(self) -> usize {
        self
    }
}

impl<F: FnOnce() -> usize> Fallback for F {
    fn index(self) -> usize {
        self()
    }
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
/// worker `fallback % n` through its mailbox (a worker being restarted is skipped for the next
/// live one).
pub fn dispatch<F, Fut, T>(
    workers: &dyn EventLoopProvider,
    fallback: impl Fallback,
    make: F,
) -> Dispatch<T, Fut>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    if workers.current_worker().is_some() {
        return Dispatch::local(make());
    }
    Dispatch::remote(workers, fallback.index(), make)
}

/// A driver's `Send + Sync` client handle, as [`dispatch_from`] uses it: the workers its
/// connections live on, and the worker for a call made off them.
pub trait ClientHandle: Clone + Send + 'static {
    /// The workers the client's connections live on.
    fn workers(&self) -> &dyn EventLoopProvider;
    /// The index (modulo the number of workers) of the worker that runs the next call made off
    /// the workers; asked only for such calls (typically a round-robin counter).
    fn fallback(&self) -> usize;
}

/// [`dispatch`] for a driver's client handle, cloning it only for the remote path: on one of
/// the handle's workers `make` runs at once with the caller's `&handle` (its future must not
/// borrow it: it takes what it needs, such as the worker's state); elsewhere a clone of the
/// handle goes through the mailbox and `make` runs with it on the worker.
///
/// This is the shape of a driver's call future: the worker-side work is one named, `Unpin`
/// future (a hand-written state machine), run in place on the caller's worker and spawned by
/// value elsewhere, so both paths take the same steps and the local one allocates nothing.
pub fn dispatch_from<H, F, Fut, T>(handle: &H, make: F) -> Dispatch<T, Fut>
where
    H: ClientHandle,
    F: FnOnce(&H) -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let workers = handle.workers();
    if workers.current_worker().is_some() {
        return Dispatch::local(make(handle));
    }
    let owned = handle.clone();
    Dispatch::remote(workers, handle.fallback(), move || make(&owned))
}

impl<T, Fut> Dispatch<T, Fut>
where
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    fn local(fut: Fut) -> Self {
        Dispatch {
            state: State::Local(ThreadBound::new(fut)),
            pinned: false,
            movable: false,
            send_home: Some(crate::worker::send_home::<Fut>),
        }
    }

    fn remote<F>(workers: &dyn EventLoopProvider, fallback: usize, make: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
    {
        let n = workers.num_workers().max(1);
        // A worker that died and is being restarted is out of rotation: the next live one
        // runs it.
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
            movable: false,
            send_home: None,
        }
    }
}

impl<T, Fut: Future<Output = T> + Unpin> Dispatch<T, Fut> {
    /// The same dispatch, for a future that is `Unpin`: moved to another thread after it
    /// started on a worker, it ends with [`SubmitError::WrongThread`] when polled there, and
    /// dropped there it sends its future back to its worker to be dropped, instead of aborting
    /// the process (see the module docs). A driver's hand-written call future is `Unpin`; an
    /// `async` block is not.
    pub fn movable(mut self) -> Self {
        self.movable = true;
        self
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
                None => State::Failed(SubmitError::WrongThread),
            },
            State::Remote(task) => State::Remote(task),
            State::Failed(e) => State::Failed(e),
            State::Done => State::Done,
        };
        Dispatch {
            state,
            pinned: false,
            // A box is `Unpin`: moving it breaks no pin.
            movable: true,
            send_home: Some(crate::worker::send_home::<LocalBoxFuture<T>>),
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
                    this.pinned = !this.movable;
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
                // Moved to another thread: it cannot be polled here.
                None => Poll::Ready(Err(SubmitError::WrongThread)),
            },
            State::Remote(task) => Pin::new(task).poll(cx),
            State::Failed(e) => Poll::Ready(Err(e.clone())),
            State::Done => Poll::Ready(Err(SubmitError::WorkerClosed)),
        }
    }
}

impl<T, Fut> Drop for Dispatch<T, Fut> {
    fn drop(&mut self) {
        let State::Local(bound) = &self.state else {
            return;
        };
        if bound.is_owner() {
            return;
        }
        if self.pinned {
            // A pinned future off its thread: it may not be dropped here (its `!Send`
            // state belongs to the worker) nor its memory freed undropped (the pin
            // guarantee). See the module docs: no sound way on remains.
            std::process::abort();
        }
        // Never polled, or `Unpin`: it may move, so it goes back to its worker to be dropped
        // there (what it holds — a pool checkout, a request in flight — is released).
        if let (Some(send_home), State::Local(bound)) = (
            self.send_home,
            std::mem::replace(&mut self.state, State::Done),
        ) {
            send_home(bound);
        }
    }
}
