//! The state a subscriber shares between its consumer (any thread) and its connection task
//! (one worker): the bounded inbox, the wanted subscriptions, the queue of requests, status.
//!
//! Everything here is behind short `std::sync::Mutex` sections (no lock is held across an
//! await or a callback). Wakes that cross threads go through the target worker's mailbox:
//! glommio notices a foreign wake of an ordinary task only at its next timer tick (~100 ms),
//! its mailbox at once.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use corelane_runtime::inbox::Inbox;
use corelane_runtime::{oneshot, WorkerLoop};

use super::message::{Action, Message, SubKind};
use crate::Error;

/// Completes a caller waiting for its (un)subscribe to take effect.
pub(crate) type Done = oneshot::Sender<Result<(), Error>>;

/// Someone waiting for an (un)subscribe.
pub(crate) struct Waiter {
    pub(crate) subscribe: bool,
    pub(crate) done: Done,
}

impl Waiter {
    /// The request took effect.
    pub(crate) fn succeed(self) {
        let _ = self.done.send(Ok(()));
    }

    /// The request could not be applied on a connection. An unsubscribe still succeeds: with
    /// no connection there is no subscription, and the name is no longer resubscribed. A
    /// subscribe fails, but its name stays wanted and is subscribed on the next connection.
    pub(crate) fn connection_failed(self, error: &Error) {
        let result = if self.subscribe {
            Err(error.clone())
        } else {
            Ok(())
        };
        let _ = self.done.send(result);
    }
}

/// One (un)subscribe request, queued for the connection task.
pub(crate) struct Op {
    pub(crate) action: Action,
    pub(crate) names: Vec<Bytes>,
    pub(crate) waiter: Waiter,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while holding it; every section here leaves the
    // state consistent at each step, so carry on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Control {
    /// What is subscribed (or will be on the next connection), per [`SubKind::index`].
    wanted: [BTreeSet<Bytes>; 3],
    ops: VecDeque<Op>,
    /// The connection task is gone: nobody would ever take a queued request.
    ended: bool,
}

pub(crate) struct Shared {
    inbox: Arc<Inbox<Message>>,
    /// The [`Subscriber`](super::Subscriber) was dropped: close and stop reconnecting.
    closed: AtomicBool,
    connected: AtomicBool,
    connects: AtomicU64,
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
            last_error: Mutex::new(None),
            control: Mutex::new(Control::default()),
        }
    }

    // ---- lifetime and status

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The subscriber was dropped: the connection task closes its connection and ends.
    pub(crate) fn close(self: &Arc<Self>) {
        self.closed.store(true, Ordering::Release);
        self.wake_task();
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        if connected {
            self.connects.fetch_add(1, Ordering::Relaxed);
        }
        self.connected.store(connected, Ordering::Release);
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
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

    /// Records the request in the wanted set and queues it for the connection. `names` empty
    /// on an unsubscribe means every name of that kind. Gives the waiter back with `None`
    /// when there is nothing to send (it is done at once), or with the reason the request
    /// cannot be made.
    pub(crate) fn request(
        self: &Arc<Self>,
        action: Action,
        names: Vec<Bytes>,
        waiter: Waiter,
    ) -> Result<(), (Waiter, Option<Error>)> {
        if self.is_closed() {
            return Err((waiter, Some(subscriber_closed())));
        }
        {
            let mut control = lock(&self.control);
            if control.ended {
                return Err((waiter, Some(Error::worker_closed())));
            }
            let Some(wanted) = control.wanted.get_mut(action.kind.index()) else {
                return Err((waiter, Some(Error::runtime("bad subscription kind"))));
            };
            let names = if action.subscribe {
                wanted.extend(names.iter().cloned());
                names
            } else if names.is_empty() {
                std::mem::take(wanted).into_iter().collect()
            } else {
                for name in &names {
                    wanted.remove(name);
                }
                names
            };
            if names.is_empty() {
                return Err((waiter, None));
            }
            control.ops.push_back(Op {
                action,
                names,
                waiter,
            });
        }
        self.wake_task();
        Ok(())
    }

    /// The queued requests, in order.
    pub(crate) fn take_ops(&self) -> VecDeque<Op> {
        std::mem::take(&mut lock(&self.control).ops)
    }

    /// For a new connection: everything wanted, plus the queued requests (which the wanted
    /// sets already account for, so they are covered by the resubscribe).
    pub(crate) fn resubscribe_plan(&self) -> ([Vec<Bytes>; 3], VecDeque<Op>) {
        let mut control = lock(&self.control);
        let plan = control
            .wanted
            .clone()
            .map(|set| set.into_iter().collect::<Vec<_>>());
        (plan, std::mem::take(&mut control.ops))
    }

    /// The server refused a subscribe: stop asking for those names.
    pub(crate) fn unwant(&self, kind: SubKind, names: &[Bytes]) {
        let mut control = lock(&self.control);
        if let Some(wanted) = control.wanted.get_mut(kind.index()) {
            for name in names {
                wanted.remove(name);
            }
        }
    }

    /// The subscribed names of `kind` (or to be subscribed on the next connection).
    pub(crate) fn wanted(&self, kind: SubKind) -> Vec<Bytes> {
        lock(&self.control)
            .wanted
            .get(kind.index())
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
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
    pub(crate) fn deliver(&self, batch: &mut Vec<Message>) -> usize {
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

    /// The connection task ended: queued requests fail, the stream ends once the inbox is
    /// drained.
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
    pub(crate) fn poll_next(self: &Arc<Self>, cx: &Context<'_>) -> Poll<Option<Message>> {
        self.inbox.poll_next(cx)
    }
}

pub(crate) fn subscriber_closed() -> Error {
    Error::from(corelane_runtime::roundtrip::RequestError::Closed(
        corelane_runtime::CloseCause::Unregistered,
    ))
}

/// Marks the stream ended when the connection task finishes — or is dropped unrun, or torn
/// down with its worker.
pub(crate) struct EndGuard(pub(crate) Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.set_connected(false);
        self.0.end();
    }
}
