//! The state a session shares between its consumer (any thread) and its connection task (one
//! worker): the bounded inbox, the wanted set, the queue of requests, the status.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use super::{Op, Spec, Status, Waiter, Wanted};
use crate::inbox::Inbox;
use crate::{CloseCause, Handler, ReadLease, Registered, WorkerLoop};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while holding it; every section here leaves the
    // state consistent at each step, so carry on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type OpOf<S> = Op<<<S as Spec>::Wanted as Wanted>::Request, <S as Spec>::Error>;

struct Control<S: Spec> {
    /// What is subscribed (or will be, on the next connection).
    wanted: S::Wanted,
    ops: VecDeque<OpOf<S>>,
    /// The connection task is gone: nobody would ever take a queued request.
    ended: bool,
}

/// See the module docs. Made once per session, held in an `Arc` by the consumer, the
/// connection task and its handler.
pub struct Shared<S: Spec> {
    inbox: Arc<Inbox<S::Message>>,
    /// The consumer was dropped: close and stop reconnecting.
    closed: AtomicBool,
    status: Status<S::Error>,
    control: Mutex<Control<S>>,
}

impl<S: Spec> std::fmt::Debug for Shared<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("closed", &self.is_closed())
            .field("connected", &self.status.is_connected())
            .finish_non_exhaustive()
    }
}

impl<S: Spec> Shared<S> {
    /// A session whose connection task runs on `worker`, with an inbox of `capacity`
    /// messages.
    pub fn new(worker: WorkerLoop, capacity: usize) -> Self {
        Shared {
            inbox: Arc::new(Inbox::new(worker, capacity)),
            closed: AtomicBool::new(false),
            status: Status::default(),
            control: Mutex::new(Control {
                wanted: S::Wanted::default(),
                ops: VecDeque::new(),
                ended: false,
            }),
        }
    }

    // ---- lifetime and status

    /// True once the consumer closed the session.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The consumer is gone: the connection task closes its connection and ends.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.inbox.wake_task();
    }

    /// Connected, connection count, id, last error.
    pub fn status(&self) -> &Status<S::Error> {
        &self.status
    }

    // ---- requests (any thread → connection task)

    /// Makes `request` now: records it in the wanted set, queues it for the connection task
    /// and wakes the task. The returned future resolves once the server confirmed it, or with
    /// the reason it failed (the request stands whether or not the future is polled).
    pub fn request(
        &self,
        request: <S::Wanted as Wanted>::Request,
    ) -> impl Future<Output = Result<(), S::Error>> + Send + 'static {
        let (waiter, rx) = Waiter::new(S::Wanted::subscribes(&request));
        self.enqueue(request, waiter);
        async move {
            rx.await
                .unwrap_or_else(|_| Err(S::closed_error(CloseCause::Unregistered)))
        }
    }

    /// [`request`](Self::request) with the caller's own waiter, which this resolves on the
    /// spot when the request cannot be made or has nothing to send.
    pub fn enqueue(&self, request: <S::Wanted as Wanted>::Request, waiter: Waiter<S::Error>) {
        if self.is_closed() {
            return waiter.fail(S::closed_error(CloseCause::Unregistered));
        }
        {
            let mut control = lock(&self.control);
            if control.ended {
                drop(control);
                return waiter.fail(S::ended_error());
            }
            match control.wanted.apply(request) {
                Some(request) => control.ops.push_back(Op { request, waiter }),
                None => {
                    drop(control);
                    return waiter.succeed();
                }
            }
        }
        self.inbox.wake_task();
    }

    /// The queued requests, in order.
    pub fn take_ops(&self) -> VecDeque<OpOf<S>> {
        std::mem::take(&mut lock(&self.control).ops)
    }

    /// For a new connection: what is wanted, plus the queued requests (which the wanted set
    /// already accounts for, so a resubscribe covers them).
    pub fn resubscribe_plan(&self) -> (S::Wanted, VecDeque<OpOf<S>>) {
        let mut control = lock(&self.control);
        let wanted = control.wanted.clone();
        (wanted, std::mem::take(&mut control.ops))
    }

    /// Reads or changes the wanted set under the lock (e.g. a refused subscribe is no longer
    /// wanted). `f` must be quick and must not call into the session.
    pub fn with_wanted<R>(&self, f: impl FnOnce(&mut S::Wanted) -> R) -> R {
        f(&mut lock(&self.control).wanted)
    }

    /// The connection task ended: queued requests fail, the stream ends once the inbox is
    /// drained.
    pub fn end(&self) {
        let orphans = {
            let mut control = lock(&self.control);
            control.ended = true;
            std::mem::take(&mut control.ops)
        };
        for op in orphans {
            op.waiter.fail(S::ended_error());
        }
        self.inbox.end();
    }

    // ---- the inbox and the connection task's waker

    /// The inbox (the handler delivers into it; see [`Inbox`]).
    pub fn inbox(&self) -> &Inbox<S::Message> {
        &self.inbox
    }

    /// For the handler, when the inbox has no room for the next message: delivers `batch`,
    /// and returns the room then, or `None` when the inbox is still full — reading is then
    /// paused (the connection task stops the reads until the consumer has drained half the
    /// inbox), and the handler leaves the rest of its input in the buffer.
    pub fn make_room(&self, batch: &mut Vec<S::Message>) -> Option<usize> {
        let room = self.inbox.deliver(batch);
        if room > 0 {
            return Some(room);
        }
        if self.inbox.pause_if_full() {
            self.inbox.wake_task_local();
            return None;
        }
        // The consumer made room meanwhile.
        Some(self.inbox.room())
    }

    /// Remembers the connection task's waker (call from its polls).
    pub fn set_task_waker(&self, cx: &Context<'_>) {
        self.inbox.set_task_waker(cx);
    }

    /// Wakes the connection task; call on its worker (from the handler).
    pub fn wake_task_local(&self) {
        self.inbox.wake_task_local();
    }

    /// Applies the inbox's flow control to the connection (see [`Inbox::hold_reading`]).
    pub fn hold_reading<H: Handler>(&self, conn: &Registered<H>, lease: &mut Option<ReadLease<H>>) {
        self.inbox.hold_reading(conn, lease);
    }

    /// The consumer's side of the stream: the next message, `None` once the connection task
    /// ended and the inbox is drained.
    pub fn poll_next(&self, cx: &Context<'_>) -> Poll<Option<S::Message>> {
        self.inbox.poll_next(cx)
    }
}

/// Ends the stream when the connection task finishes — or is dropped unrun, or torn down
/// with its worker: made before the task is submitted, moved into it.
#[derive(Debug)]
pub struct EndGuard<S: Spec>(Arc<Shared<S>>);

impl<S: Spec> EndGuard<S> {
    /// A guard over `shared`.
    pub fn new(shared: Arc<Shared<S>>) -> Self {
        EndGuard(shared)
    }
}

impl<S: Spec> Drop for EndGuard<S> {
    fn drop(&mut self) {
        self.0.status.set_connected(None);
        self.0.end();
    }
}
