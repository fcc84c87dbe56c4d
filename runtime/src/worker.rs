//! One worker: its identity, the thread-local "which worker am I on", and its mailbox.
//!
//! A [`WorkerLoop`] is the `Send + Sync` face of one glommio executor. Code on another thread
//! reaches the worker by [`WorkerLoop::submit`]: the job goes into a lock-free queue and the
//! worker's mailbox task, which lives in a `Latency::Matters` task queue, is woken. glommio defers
//! foreign wakes of tasks in ordinary queues until its next timer-driven poll (~100 ms); a
//! latency-sensitive queue makes the reactor notice them at once.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crossbeam_queue::SegQueue;

use crate::catch::{catch, count_panics_into, CatchUnwind};
use crate::oneshot;
use crate::ThreadBound;
use crate::{Error, Panicked, SubmitError};

/// A unit of work sent to a worker from any thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// How many jobs the mailbox task runs before it yields to the worker's other tasks.
/// Keeps a flood of submissions from starving connections on the same core.
const JOBS_PER_WAKE: usize = 64;

const RUNNING: u8 = 0;
const CLOSING: u8 = 1;
const CLOSED: u8 = 2;
/// The worker's executor died (a panic no task caught) and a new one is starting on a new
/// thread: jobs are queued for it, but new work is routed to other workers meanwhile.
const RESTARTING: u8 = 3;

pub(crate) struct WorkerShared {
    id: usize,
    cpu: Option<usize>,
    mailbox: SegQueue<Job>,
    waker: Mutex<Option<Waker>>,
    state: AtomicU8,
    /// Panics caught in tasks and jobs of this worker.
    /// Shared with `catch`'s thread-local panic counter while a thread runs this worker.
    panics: Arc<AtomicU64>,
    /// Times the worker's executor died and was started again.
    restarts: AtomicU64,
}

/// One worker of a loop (standalone or a server's): usable from any thread.
#[derive(Clone)]
pub struct WorkerLoop {
    shared: Arc<WorkerShared>,
}

thread_local! {
    static CURRENT: RefCell<Option<WorkerLoop>> = const { RefCell::new(None) };
    /// Closes the worker when its thread exits, however it exits.
    static EXIT_GUARD: RefCell<Option<DetachOnExit>> = const { RefCell::new(None) };
}

/// Marks a worker closed when its thread ends — after a clean shutdown, or because a panic
/// took the executor (and the thread) down and no restart took over. Without it a dead worker
/// would keep accepting jobs nobody runs, and their callers would wait forever. A
/// thread-local's destructor runs on every thread exit, unwinding included.
struct DetachOnExit(Option<WorkerLoop>);

impl Drop for DetachOnExit {
    fn drop(&mut self) {
        if let Some(worker) = self.0.take() {
            forget_home(&worker);
            worker.detach();
        }
    }
}

/// Every worker thread's worker, by the thread's identity (`thread_bound::thread_id`): where a
/// value bound to a worker thread that is dropped elsewhere goes back to be dropped (see
/// [`send_home`]). Touched when a worker attaches or ends, and on that rare drop only.
static HOMES: Mutex<Vec<(u64, WorkerLoop)>> = Mutex::new(Vec::new());

fn register_home(worker: &WorkerLoop) {
    let id = crate::thread_bound::thread_id();
    let mut homes = HOMES.lock().unwrap_or_else(|p| p.into_inner());
    homes.retain(|(_, w)| !Arc::ptr_eq(&w.shared, &worker.shared));
    homes.push((id, worker.clone()));
}

fn forget_home(worker: &WorkerLoop) {
    let mut homes = HOMES.lock().unwrap_or_else(|p| p.into_inner());
    homes.retain(|(_, w)| !Arc::ptr_eq(&w.shared, &worker.shared));
}

/// Drops `bound` on the worker thread that owns it, through that worker's mailbox, when it is
/// dropped on another thread: a worker-bound value (a call's future holding a pool checkout or
/// a connection's request) must be dropped where it lives, or the state it would release stays
/// taken. Leaked, as [`ThreadBound`] does, when its thread is no worker or has ended.
pub(crate) fn send_home<T: 'static>(bound: ThreadBound<T>) {
    if bound.is_owner() {
        drop(bound);
        return;
    }
    let owner = bound.owner_id();
    let home = {
        let homes = HOMES.lock().unwrap_or_else(|p| p.into_inner());
        homes
            .iter()
            .find(|(id, _)| *id == owner)
            .map(|(_, w)| w.clone())
    };
    if let Some(home) = home {
        // Refused when the worker is shutting down: the job (and `bound`) is dropped here,
        // which leaks it.
        let _ = home.submit(move || drop(bound));
    }
}

impl WorkerLoop {
    pub(crate) fn new(id: usize, cpu: Option<usize>) -> Self {
        WorkerLoop {
            shared: Arc::new(WorkerShared {
                id,
                cpu,
                mailbox: SegQueue::new(),
                waker: Mutex::new(None),
                state: AtomicU8::new(RUNNING),
                panics: Arc::new(AtomicU64::new(0)),
                restarts: AtomicU64::new(0),
            }),
        }
    }

    /// The worker's index in its provider (0-based).
    pub fn id(&self) -> usize {
        self.shared.id
    }

    /// The CPU this worker is pinned to, or `None` when it is unbound.
    pub fn cpu(&self) -> Option<usize> {
        self.shared.cpu
    }

    /// True when the calling thread is this worker's thread.
    pub fn is_current(&self) -> bool {
        CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .is_some_and(|w| Arc::ptr_eq(&w.shared, &self.shared))
        })
    }

    /// The worker the calling thread runs, if it is one.
    pub fn current() -> Option<WorkerLoop> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// True while the worker runs: false once it has begun shutting down, and while its
    /// executor is being restarted after a panic that no task caught.
    pub fn is_running(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) == RUNNING
    }

    /// How many panics of tasks and jobs on this worker were caught (each ended its own task
    /// with [`Panicked`]; the worker lived on).
    pub fn panics(&self) -> u64 {
        self.shared.panics.load(Ordering::Relaxed)
    }

    /// How many times this worker's executor died (a panic outside any task the runtime
    /// spawned, e.g. in a connection handler) and was started again on a new thread. The
    /// connections it owned were lost with it; its pools reconnect on the new thread.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// Runs `job` on this worker's thread, from any thread (the worker's own included: the job
    /// then runs after the current task yields). Jobs submitted from one thread run in order.
    ///
    /// A job that panics is caught and dropped, so the worker lives on; what the job had done
    /// before panicking stays done. (To learn of the panic, use [`spawn`](Self::spawn): its
    /// awaiter gets [`SubmitError::Panicked`].)
    ///
    /// Once the worker has begun shutting down, jobs are refused with
    /// [`SubmitError::WorkerClosed`] (so busy submitters cannot hold a shutdown open). A job
    /// that races with the shutdown is either run or dropped unrun; when `Err` is returned, it
    /// was not run to completion by a live worker.
    pub fn submit<F>(&self, job: F) -> Result<(), SubmitError>
    where
        F: FnOnce() + Send + 'static,
    {
        if !accepts(self.shared.state.load(Ordering::SeqCst)) {
            return Err(SubmitError::WorkerClosed);
        }
        self.shared.mailbox.push(Box::new(job));
        // Pairs with `detach`: it stores CLOSED, then drains. Either it drains after our push,
        // or we see CLOSED here and drain ourselves — no job is left queued for nobody.
        if self.shared.state.load(Ordering::SeqCst) == CLOSED {
            while self.shared.mailbox.pop().is_some() {}
            return Err(SubmitError::WorkerClosed);
        }
        self.wake_mailbox();
        Ok(())
    }

    /// Runs the future made by `make` on this worker and returns a `Send` handle to its output.
    ///
    /// The future itself need not be `Send`: it is created on the worker. Dropping the returned
    /// [`RemoteTask`] before it completes stops the future: it is dropped on the worker by a
    /// mailbox job, in order with the jobs the dropping thread submits after it (so before
    /// any call that thread makes next starts), exactly as if a task on the worker had
    /// dropped it, and its cleanup (a request to cancel, a transaction to roll back) runs as
    /// it would there. A task dropped before its job ran never starts.
    ///
    /// A panic in `make` or in the future is caught on the worker (which lives on) and reported
    /// to the awaiter as [`SubmitError::Panicked`].
    pub fn spawn<F, Fut, T>(&self, make: F) -> RemoteTask<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let submitted = self.submit(move || {
            if tx.is_canceled() {
                return;
            }
            let fut = match catch(make) {
                Ok(fut) => fut,
                Err(panicked) => {
                    let _ = tx.send(Err(panicked));
                    return;
                }
            };
            // The catch is inside the task, so a panic reaches the awaiter as an error.
            let remote = Remote::new(CatchUnwind::new(fut), tx);
            // Jobs run on the worker, so this spawns on its executor.
            glommio::spawn_local(CatchUnwind::new(remote)).detach();
        });
        RemoteTask {
            rx,
            worker: self.clone(),
            refused: submitted.is_err(),
        }
    }

    fn wake_mailbox(&self) {
        let waker = self
            .shared
            .waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Asks the worker to stop: its mailbox drains what was queued, then the worker closes its
    /// connections and its thread ends.
    pub(crate) fn begin_shutdown(&self) {
        for from in [RUNNING, RESTARTING] {
            let _ = self.shared.state.compare_exchange(
                from,
                CLOSING,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
        self.wake_mailbox();
    }

    /// Called on the thread whose executor just died of a panic, before a new thread takes
    /// over: takes the worker out of rotation and leaves the thread's identity and exit guard
    /// behind, so the old thread's teardown does not close the worker. False when the worker
    /// is shutting down (then there is nothing to restart).
    pub(crate) fn begin_restart(&self) -> bool {
        if self
            .shared
            .state
            .compare_exchange(RUNNING, RESTARTING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        self.shared.restarts.fetch_add(1, Ordering::Relaxed);
        let _ = CURRENT.try_with(|c| {
            if let Ok(mut current) = c.try_borrow_mut() {
                *current = None;
            }
        });
        count_panics_into(None);
        let _ = EXIT_GUARD.try_with(|g| {
            if let Ok(mut guard) = g.try_borrow_mut() {
                if let Some(mut guard) = guard.take() {
                    guard.0 = None;
                }
            }
        });
        // The old mailbox task's waker belongs to the dead executor.
        drop(
            self.shared
                .waker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        true
    }

    /// Attaches this worker to the calling glommio executor thread: sets the thread-local
    /// identity and starts the mailbox task. Returns the mailbox task, which ends after
    /// [`WorkerLoop::begin_shutdown`].
    pub(crate) fn attach(&self) -> Result<glommio::Task<()>, Error> {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        count_panics_into(Some(self.shared.panics.clone()));
        EXIT_GUARD.with(|g| *g.borrow_mut() = Some(DetachOnExit(Some(self.clone()))));
        register_home(self);
        let queue = glommio::executor().create_task_queue(
            glommio::Shares::default(),
            glommio::Latency::Matters(Duration::from_millis(1)),
            "corelane-mailbox",
        );
        let mailbox = Mailbox {
            shared: self.shared.clone(),
        };
        // A restarted worker is back in rotation: its new mailbox drains the jobs queued
        // meanwhile. (Before the mailbox starts, which ends at once unless RUNNING; a shutdown
        // that came meanwhile stays a shutdown.)
        let _ = self.shared.state.compare_exchange(
            RESTARTING,
            RUNNING,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        glommio::spawn_local_into(mailbox, queue).map_err(|e| Error::WorkerStart {
            worker: self.id(),
            reason: e.to_string(),
        })
    }

    /// Clears the thread-local identity after the worker's loop ended.
    pub(crate) fn detach(&self) {
        self.shared.state.store(CLOSED, Ordering::SeqCst);
        // `try_`: this also runs while the thread unwinds or tears down its thread-locals.
        let _ = CURRENT.try_with(|c| {
            if let Ok(mut current) = c.try_borrow_mut() {
                *current = None;
            }
        });
        count_panics_into(None);
        // Jobs that raced with the shutdown are dropped here, which drops their result senders,
        // so their callers see `Canceled` instead of waiting forever.
        while self.shared.mailbox.pop().is_some() {}
    }
}

impl std::fmt::Debug for WorkerLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerLoop")
            .field("id", &self.shared.id)
            .field("cpu", &self.shared.cpu)
            .finish_non_exhaustive()
    }
}

/// Whether a worker in `state` takes jobs: a restarting one does (its new thread runs them).
fn accepts(state: u8) -> bool {
    state == RUNNING || state == RESTARTING
}

/// The task that runs submitted jobs on the worker.
struct Mailbox {
    shared: Arc<WorkerShared>,
}

impl Future for Mailbox {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = &self.shared;
        loop {
            let mut ran = 0;
            while let Some(job) = shared.mailbox.pop() {
                // A panicking job must not take the executor (and every connection on this
                // core) down with it.
                let _ = catch(job);
                ran += 1;
                if ran == JOBS_PER_WAKE {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            if shared.state.load(Ordering::Acquire) != RUNNING {
                return Poll::Ready(());
            }
            {
                let mut slot = shared.waker.lock().unwrap_or_else(|p| p.into_inner());
                *slot = Some(cx.waker().clone());
            }
            // Re-check after publishing the waker: a job pushed before it was stored would
            // otherwise sleep in the queue.
            if shared.mailbox.is_empty() && shared.state.load(Ordering::Acquire) == RUNNING {
                return Poll::Pending;
            }
        }
    }
}

/// The future of a [`WorkerLoop::spawn`], shared with the cancel work registered on its
/// channel (which drops the future when the caller gives up).
///
/// The task's own waker is not kept here: that would be a cycle keeping a task nothing else
/// can wake alive forever (the executor frees such a task, and with it the channel's sender,
/// so its caller learns the worker will never answer). After a cancel the task is left
/// without wakers too, and freed the same way; a stale wake finds the slot empty and ends it.
struct Slot<Fut> {
    fut: Option<Pin<Box<Fut>>>,
}

/// The worker-side task of a [`WorkerLoop::spawn`]: polls the future and sends its output.
struct Remote<Fut: Future> {
    slot: Rc<RefCell<Slot<Fut>>>,
    tx: Option<oneshot::Sender<Fut::Output>>,
}

impl<Fut: Future + 'static> Remote<Fut> {
    fn new(fut: Fut, tx: oneshot::Sender<Fut::Output>) -> Self {
        let slot = Rc::new(RefCell::new(Slot {
            fut: Some(Box::pin(fut)),
        }));
        // Run on the worker (the caller's `RemoteTask` sends it through the mailbox); off it
        // `get_mut` is `None` and it does nothing.
        let mut weak = ThreadBound::new(Rc::downgrade(&slot));
        let cancel = move || {
            let Some(slot) = weak.get_mut().and_then(|w| w.upgrade()) else {
                return;
            };
            // Borrowed only while the task polls the future: that poll checks the channel
            // itself, so the future is dropped there.
            let Ok(mut slot) = slot.try_borrow_mut() else {
                return;
            };
            let fut = slot.fut.take();
            drop(slot);
            drop(fut);
        };
        // Refused only when the caller is already gone: the first poll sees that.
        let _ = tx.on_cancel(Box::new(cancel));
        Remote { slot, tx: Some(tx) }
    }
}

impl<Fut: Future> Future for Remote<Fut> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let Some(tx) = &this.tx else {
            return Poll::Ready(());
        };
        let Ok(mut slot) = this.slot.try_borrow_mut() else {
            // Cannot happen (only this poll and the cancel work borrow it, never together);
            // were it to, try again.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        let output = match slot.fut.as_mut() {
            // Dropped by the cancel work.
            None => None,
            Some(_) if tx.is_canceled() => None,
            Some(fut) => match fut.as_mut().poll(cx) {
                Poll::Ready(output) => Some(output),
                Poll::Pending => return Poll::Pending,
            },
        };
        let fut = slot.fut.take();
        drop(slot);
        drop(fut);
        if let (Some(output), Some(tx)) = (output, this.tx.take()) {
            let _ = tx.send(output);
        }
        Poll::Ready(())
    }
}

/// The output of a future spawned on a worker with [`WorkerLoop::spawn`], awaitable anywhere.
/// Dropping it unfinished stops the future (see [`WorkerLoop::spawn`]).
pub struct RemoteTask<T> {
    rx: oneshot::Receiver<Result<T, Panicked>>,
    worker: WorkerLoop,
    refused: bool,
}

impl<T> Drop for RemoteTask<T> {
    fn drop(&mut self) {
        let Some(cancel) = self.rx.close() else {
            // Finished, or its job has not started it: nothing to stop.
            return;
        };
        if self.worker.is_current() {
            cancel();
            return;
        }
        // A refused job means the worker shut down, and its tasks with it.
        let _ = self.worker.submit(cancel);
    }
}

impl<T> Future for RemoteTask<T> {
    type Output = Result<T, SubmitError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.refused {
            return Poll::Ready(Err(SubmitError::WorkerClosed));
        }
        Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(panicked)) => Err(SubmitError::Panicked(panicked)),
            Err(_) => Err(SubmitError::WorkerClosed),
        })
    }
}

impl<T> std::fmt::Debug for RemoteTask<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTask").finish_non_exhaustive()
    }
}
