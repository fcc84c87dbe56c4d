//! The state a listener shares between its consumer (any thread) and its connection task
//! (one worker): the bounded inbox, the wanted channels, the queue of requests, status.
//!
//! Everything here is behind short `std::sync::Mutex` sections (no lock is held across an
//! await or a callback). Wakes that cross threads go through the target worker's mailbox:
//! glommio notices a foreign wake of an ordinary task only at its next timer tick (~100 ms),
//! its mailbox at once.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use corelane_runtime::inbox::Inbox;
use corelane_runtime::{oneshot, WorkerLoop};

use super::Notification;
use crate::Error;

/// Completes a caller waiting for its `LISTEN`/`UNLISTEN` to take effect.
pub(crate) type Done = oneshot::Sender<Result<(), Error>>;

/// Someone waiting for a `LISTEN`/`UNLISTEN`.
pub(crate) struct Waiter {
    pub(crate) listen: bool,
    pub(crate) done: Done,
}

impl Waiter {
    /// The request took effect.
    pub(crate) fn succeed(self) {
        let _ = self.done.send(Ok(()));
    }

    /// The request could not be applied on a connection. An `UNLISTEN` still succeeds: with no
    /// connection nothing is listened to, and the channel is no longer listened to again. A
    /// `LISTEN` fails, but its channel stays wanted and is listened to on the next connection.
    pub(crate) fn connection_failed(self, error: &Error) {
        let result = if self.listen {
            Err(error.clone())
        } else {
            Ok(())
        };
        let _ = self.done.send(result);
    }
}

/// What one request asks of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Listen(String),
    Unlisten(String),
    UnlistenAll,
}

/// One request, queued for the connection task.
pub(crate) struct Op {
    pub(crate) action: Action,
    pub(crate) waiter: Waiter,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while holding it; every section here leaves the
    // state consistent at each step, so carry on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Control {
    /// The channels listened to (or to be, on the next connection).
    wanted: BTreeSet<String>,
    ops: VecDeque<Op>,
    /// The connection task is gone: nobody would ever take a queued request.
    ended: bool,
}

pub(crate) struct Shared {
    inbox: Arc<Inbox<Notification>>,
    /// The [`Listener`](super::Listener) was dropped: close and stop reconnecting.
    closed: AtomicBool,
    connected: AtomicBool,
    connects: AtomicU64,
    /// The process id of the current connection's backend (0: none).
    backend_pid: AtomicI32,
    last_error: Mutex<Option<Error>>,
    control: Mutex<Control>,
}

impl Shared {
    pub(crate) fn new(worker: WorkerLoop, capacity: usize) -> Self {
        Shared {
            inbox: Arc::new(Inbox::new(worker, capacity)),
            closed: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            connects: AtomicU64::new(0),
            backend_pid: AtomicI32::new(0),
            last_error: Mutex::new(None),
            control: Mutex::new(Control::default()),
        }
    }

    // ---- lifetime and status

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The listener was dropped: the connection task closes its connection and ends.
    pub(crate) fn close(self: &Arc<Self>) {
        self.closed.store(true, Ordering::Release);
        self.wake_task();
    }

    /// A connection is up (`Some(pid)`) or gone (`None`).
    pub(crate) fn set_connected(&self, backend: Option<i32>) {
        if backend.is_some() {
            self.connects.fetch_add(1, Ordering::Relaxed);
        }
        self.backend_pid
            .store(backend.unwrap_or(0), Ordering::Release);
        self.connected.store(backend.is_some(), Ordering::Release);
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn backend_pid(&self) -> Option<i32> {
        match self.backend_pid.load(Ordering::Acquire) {
            0 => None,
            pid => Some(pid),
        }
    }

    pub(crate) fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    pub(crate) fn set_error(&self, error: Error) {
        *lock(&self.last_error) = Some(error);
    }

    pub(crate) fn last_error(&self) -> Option<Error> {
        lock(&self.last_error).clone()
    }

    // ---- requests (any thread → connection task)

    /// Records the request in the wanted set and queues it for the connection, or gives the
    /// reason it cannot be made.
    pub(crate) fn request(self: &Arc<Self>, action: Action, waiter: Waiter) -> Result<(), Error> {
        if self.is_closed() {
            return Err(listener_closed());
        }
        {
            let mut control = lock(&self.control);
            if control.ended {
                return Err(Error::worker_closed());
            }
            match &action {
                Action::Listen(channel) => {
                    control.wanted.insert(channel.clone());
                }
                Action::Unlisten(channel) => {
                    control.wanted.remove(channel);
                }
                Action::UnlistenAll => control.wanted.clear(),
            }
            // Always sent, even when the set did not change: the future then resolves only
            // once the server has confirmed (an earlier identical request may be in flight).
            control.ops.push_back(Op { action, waiter });
        }
        self.wake_task();
        Ok(())
    }

    /// The queued requests, in order.
    pub(crate) fn take_ops(&self) -> VecDeque<Op> {
        std::mem::take(&mut lock(&self.control).ops)
    }

    /// For a new connection: every wanted channel, plus the queued requests (which the wanted
    /// set already accounts for, so a re-`LISTEN` covers them).
    pub(crate) fn relisten_plan(&self) -> (Vec<String>, VecDeque<Op>) {
        let mut control = lock(&self.control);
        let plan = control.wanted.iter().cloned().collect();
        (plan, std::mem::take(&mut control.ops))
    }

    /// The server refused a `LISTEN`: stop asking for that channel.
    pub(crate) fn unwant(&self, channel: &str) {
        lock(&self.control).wanted.remove(channel);
    }

    /// The channels listened to (or to be, on the next connection).
    pub(crate) fn wanted(&self) -> Vec<String> {
        lock(&self.control).wanted.iter().cloned().collect()
    }

    // ---- the connection task's waker and the inbox (shared toolkit: runtime::inbox)

    pub(crate) fn set_task_waker(&self, cx: &Context<'_>) {
        self.inbox.set_task_waker(cx);
    }

    /// Wakes the connection task; call on its worker.
    pub(crate) fn wake_task_local(&self) {
        self.inbox.wake_task_local();
    }

    /// Wakes the connection task from any thread (through the worker's mailbox when off it).
    pub(crate) fn wake_task(self: &Arc<Self>) {
        self.inbox.wake_task();
    }

    /// Messages the inbox can take now.
    pub(crate) fn room(&self) -> usize {
        self.inbox.room()
    }

    /// Appends messages, wakes the consumer and returns the room left.
    pub(crate) fn deliver(&self, batch: &mut Vec<Notification>) -> usize {
        self.inbox.deliver(batch)
    }

    /// If the inbox is full, pauses reading and returns true (see `Inbox::pause_if_full`).
    pub(crate) fn pause_if_full(&self) -> bool {
        self.inbox.pause_if_full()
    }

    /// Applies the inbox's flow control to the connection (see `Inbox::hold_reading`).
    pub(crate) fn hold_reading<H: corelane_runtime::Handler>(
        &self,
        conn: &corelane_runtime::Registered<H>,
        lease: &mut Option<corelane_runtime::ReadLease<H>>,
    ) {
        self.inbox.hold_reading(conn, lease);
    }

    /// The connection task ended: queued requests fail, the stream ends once drained.
    pub(crate) fn end(&self) {
        let orphans = {
            let mut control = lock(&self.control);
            control.ended = true;
            std::mem::take(&mut control.ops)
        };
        for op in orphans {
            let _ = op.waiter.done.send(Err(Error::worker_closed()));
        }
        self.inbox.end();
    }

    /// The consumer side of the stream.
    pub(crate) fn poll_next(self: &Arc<Self>, cx: &Context<'_>) -> Poll<Option<Notification>> {
        self.inbox.poll_next(cx)
    }
}

/// The error of a request made on a dropped listener.
pub(crate) fn listener_closed() -> Error {
    Error::from(corelane_runtime::roundtrip::RequestError::Closed(
        corelane_runtime::CloseCause::Unregistered,
    ))
}

/// Marks the stream ended when the connection task finishes — or is dropped unrun, or torn
/// down with its worker.
pub(crate) struct EndGuard(pub(crate) Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.set_connected(None);
        self.0.end();
    }
}
