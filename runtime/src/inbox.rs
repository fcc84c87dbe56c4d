//! A bounded, cross-thread inbox between a connection task on a worker and a consumer anywhere.
//!
//! The pattern of dedicated connections that push messages (Redis pub/sub, PostgreSQL
//! LISTEN/NOTIFY): the connection task delivers messages into the inbox; the consumer (a tokio
//! task, a plain thread, a task on any worker) takes them as a stream. When the inbox is full
//! the connection stops reading — the server's own buffering then applies — and reading
//! resumes once the consumer has drained half of it: memory stays bounded.
//!
//! Wakes that cross threads go through the target worker's mailbox: glommio notices a foreign
//! wake of an ordinary task only at its next timer tick, its mailbox at once. Every lock here is
//! held for a few instructions, never across an await or a callback.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::{Handler, ReadLease, Registered, WorkerLoop};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while holding it; every section leaves the state
    // consistent at each step, so carry on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct State<M> {
    messages: VecDeque<M>,
    /// The connection stopped reading because the inbox is full.
    paused: bool,
    /// The consumer drained the inbox after a pause: the connection must read again.
    resume: bool,
    /// The connection task is gone; once drained, the stream ends.
    ended: bool,
    consumer: Option<(Waker, Option<WorkerLoop>)>,
}

/// The inbox: see the module docs. Shared through an `Arc` by the connection task (on
/// `worker`) and the consumer.
pub struct Inbox<M> {
    worker: WorkerLoop,
    capacity: usize,
    state: Mutex<State<M>>,
    task: Mutex<Option<Waker>>,
}

impl<M> std::fmt::Debug for Inbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<M> Inbox<M> {
    /// An inbox of `capacity` messages (at least 1) for a connection task on `worker`.
    pub fn new(worker: WorkerLoop, capacity: usize) -> Self {
        Inbox {
            worker,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                messages: VecDeque::new(),
                paused: false,
                resume: false,
                ended: false,
                consumer: None,
            }),
            task: Mutex::new(None),
        }
    }

    /// The worker the connection task runs on.
    pub fn worker(&self) -> &WorkerLoop {
        &self.worker
    }

    // ---- the connection task's side

    /// Messages the inbox can take now.
    pub fn room(&self) -> usize {
        self.capacity
            .saturating_sub(lock(&self.state).messages.len())
    }

    /// Appends `batch` (the caller keeps it within [`room`](Self::room)), wakes the consumer
    /// and returns the room left.
    pub fn deliver(&self, batch: &mut Vec<M>) -> usize {
        let (room, consumer) = {
            let mut state = lock(&self.state);
            if batch.is_empty() {
                return self.capacity.saturating_sub(state.messages.len());
            }
            state.messages.extend(batch.drain(..));
            let room = self.capacity.saturating_sub(state.messages.len());
            (room, state.consumer.take())
        };
        wake_consumer(consumer);
        room
    }

    /// If the inbox is full, marks the connection paused (it stops reading until the consumer
    /// has drained half the inbox) and returns true. The check and the mark are one critical
    /// section: a consumer draining in between would otherwise never see the pause, and never
    /// resume it.
    pub fn pause_if_full(&self) -> bool {
        let mut state = lock(&self.state);
        if state.messages.len() < self.capacity {
            return false;
        }
        state.paused = true;
        state.resume = false;
        true
    }

    /// `(paused, resume)`: whether the connection should hold off reading, and whether it must
    /// re-show its buffered input to its handler (reported once).
    pub fn flow(&self) -> (bool, bool) {
        let mut state = lock(&self.state);
        let resume = std::mem::take(&mut state.resume);
        (state.paused, resume)
    }

    /// Applies [`flow`](Self::flow) to the connection the task serves: while paused it holds
    /// the connection's read lease (so its reader task stops reading); on resume it lets go.
    /// Call from the connection task's poll, after [`set_task_waker`](Self::set_task_waker).
    pub fn hold_reading<H: Handler>(&self, conn: &Registered<H>, lease: &mut Option<ReadLease<H>>) {
        let (paused, resume) = self.flow();
        if paused {
            if lease.is_none() {
                *lease = conn.take_reading();
            }
        } else if lease.take().is_none() && resume {
            // The handler stopped with input left over, but the consumer caught up before we
            // took the lease: a lease taken and dropped at once makes the reader task show the
            // handler that input again, without waiting for more bytes from the server.
            drop(conn.take_reading());
        }
    }

    /// The connection task ended for good: the stream ends once drained.
    pub fn end(&self) {
        let consumer = {
            let mut state = lock(&self.state);
            state.ended = true;
            state.consumer.take()
        };
        wake_consumer(consumer);
    }

    /// Remembers the connection task's waker (call from its poll).
    pub fn set_task_waker(&self, cx: &Context<'_>) {
        let mut slot = lock(&self.task);
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
    }

    /// Wakes the connection task; call on its worker.
    pub fn wake_task_local(&self) {
        let waker = lock(&self.task).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    // ---- the consumer's side

    /// The next message; `None` once the connection task has ended and the inbox is drained.
    pub fn poll_next(self: &Arc<Self>, cx: &Context<'_>) -> Poll<Option<M>>
    where
        M: Send + 'static,
    {
        let mut state = lock(&self.state);
        if let Some(message) = state.messages.pop_front() {
            let resume = state.paused && state.messages.len() <= self.capacity / 2;
            if resume {
                state.paused = false;
                state.resume = true;
            }
            drop(state);
            if resume {
                self.wake_task();
            }
            return Poll::Ready(Some(message));
        }
        if state.ended {
            return Poll::Ready(None);
        }
        match &state.consumer {
            Some((w, _)) if w.will_wake(cx.waker()) => {}
            _ => state.consumer = Some((cx.waker().clone(), WorkerLoop::current())),
        }
        Poll::Pending
    }

    /// Wakes the connection task from any thread (through its worker's mailbox when off it).
    pub fn wake_task(self: &Arc<Self>)
    where
        M: Send + 'static,
    {
        if self.worker.is_current() {
            self.wake_task_local();
            return;
        }
        let inbox = self.clone();
        // A refused job means the worker shut down; its tasks are gone, nothing to wake.
        let _ = self.worker.submit(move || inbox.wake_task_local());
    }
}

/// Wakes the consumer. A consumer that is a task on another worker is woken through that
/// worker's mailbox, so it does not wait for the worker's next timer tick.
fn wake_consumer(consumer: Option<(Waker, Option<WorkerLoop>)>) {
    match consumer {
        Some((waker, Some(worker))) if !worker.is_current() => {
            let spare = waker.clone();
            if worker.submit(move || waker.wake()).is_err() {
                spare.wake();
            }
        }
        Some((waker, _)) => waker.wake(),
        None => {}
    }
}
