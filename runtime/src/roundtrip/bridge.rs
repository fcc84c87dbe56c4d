//! The bridge queue: the FIFO of requests whose replies the loop's reader task delivers.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::BytesMut;

use super::slots::{Sink, Slots};
use super::{Codec, RequestError};
use crate::conn::{CloseCause, Handler, ReadLease, Registered, WriteBack};

/// One request waiting for its reply.
pub(crate) struct Entry<C: Codec> {
    pub(crate) expect: C::Expect,
    pub(crate) sink: Sink<C::Reply>,
}

/// State shared by a pipelined connection's handle, its batches and its reader.
pub(crate) struct PipeState<C: Codec> {
    pub(crate) codec: C,
    /// Oldest first. Invariant 1: an entry is pushed before its bytes are written, one reply
    /// completes the head, and nothing is removed from the middle.
    pub(crate) queue: VecDeque<Entry<C>>,
    /// The batch that reads its own replies right now (direct index), if any. It lives here,
    /// not in the batch's future, so that whoever needs the connection's reader can take it
    /// over (see [`revoke_direct`](Self::revoke_direct)) even while that future is not polled.
    /// While it is `Some` the queue is empty: every enqueue revokes it first.
    pub(crate) direct: Option<Direct<C>>,
    /// A batch queued behind another since the last direct run began: callers share this
    /// connection now, so the next direct run's bytes wait for the writer (this tick's other
    /// writes join them in one `send`) instead of leaving alone (see `Run::start`).
    pub(crate) shared_lately: bool,
}

/// A direct run in flight: its read lease and the requests it has not had replies for.
pub(crate) struct Direct<C: Codec> {
    /// Keeps the loop's reader task off the socket.
    pub(crate) lease: ReadLease<PipeHandler<C>>,
    /// The batch's requests, moved out of it (a swap of `Vec`s, no allocation) for the run.
    pub(crate) expects: Vec<C::Expect>,
    /// The batch's reply slots; also what identifies the run (`Rc::ptr_eq`).
    pub(crate) slots: Rc<Slots<C::Reply>>,
    /// Replies `..next` are in their slots.
    pub(crate) next: usize,
}

impl<C: Codec> PipeState<C> {
    /// Someone else needs the connection's reader (a request is about to be queued): a direct
    /// run that holds the lease hands off. Its unanswered requests move, in order, to the front
    /// of the queue with sinks pointing at its own slots — the owner finds its replies there
    /// when it is polled again, or they are discarded if it is dropped — and reading passes to
    /// the loop's reader. The owner is woken so it learns it now waits on the bridge queue.
    ///
    /// This is the handoff for an owner that went quiet: a future kept alive but no longer
    /// polled (`select!` took another branch, a `join` polls it later) must not keep everyone
    /// else on the connection waiting for a reader that never runs.
    pub(crate) fn revoke_direct(&mut self, stats: &super::stats::StatCells) {
        let Some(mut direct) = self.direct.take() else {
            return;
        };
        let next = direct.next;
        for (i, expect) in direct.expects.drain(next..).enumerate().rev() {
            self.queue.push_front(Entry {
                expect,
                sink: Sink::Batch(direct.slots.clone(), next + i),
            });
        }
        super::stats::StatCells::bump(&stats.revoked);
        direct.lease.wake_holder();
        // The lease's drop gives reading back to the loop's reader task.
    }

    /// The connection closed under a direct run: its unanswered requests end with `cause`.
    /// Runs once, from whoever sees the close first (the handler's `on_close` or the run).
    pub(crate) fn fail_direct(&mut self, cause: &CloseCause) -> Option<Direct<C>> {
        let mut direct = self.direct.take()?;
        for k in direct.next..direct.expects.len() {
            direct
                .slots
                .put(k, Err(RequestError::Closed(cause.clone())));
        }
        direct.next = direct.expects.len();
        Some(direct)
    }
}

/// The [`Handler`] of a pipelined connection: completes the head of the bridge queue per reply.
pub(crate) struct PipeHandler<C: Codec> {
    pub(crate) state: Rc<RefCell<PipeState<C>>>,
}

impl<C: Codec> Handler for PipeHandler<C> {
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        loop {
            let Some(head) = state.queue.front() else {
                return state.codec.unsolicited(input).map_err(CloseCause::protocol);
            };
            match state.codec.decode(&head.expect, input) {
                Ok(Some(reply)) => {
                    if let Some(entry) = state.queue.pop_front() {
                        entry.sink.deliver(Ok(reply));
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(CloseCause::protocol(e)),
            }
        }
    }

    fn write_back(&mut self, out: &mut WriteBack<'_>) -> Result<(), CloseCause> {
        self.state.borrow_mut().codec.write_back(out)
    }

    fn on_close(&mut self, cause: &CloseCause) {
        match self.state.try_borrow_mut() {
            Ok(mut state) => {
                // Take the entries out first: delivering may wake callers, and none of them may
                // see the queue half-drained.
                let entries = std::mem::take(&mut state.queue);
                let direct = state.fail_direct(cause);
                drop(state);
                // The lease (if any) ends outside the borrow; its holder was woken by the close.
                drop(direct);
                fail_all(entries, cause);
            }
            Err(_) => {
                // The close came from inside a section that holds the state (no such path is
                // known). Fail the entries as soon as it is released, from a task of this worker,
                // rather than panic.
                let state = self.state.clone();
                let cause = cause.clone();
                let _ = crate::task::spawn_detached(async move {
                    let (entries, direct) = {
                        let mut state = state.borrow_mut();
                        let direct = state.fail_direct(&cause);
                        (std::mem::take(&mut state.queue), direct)
                    };
                    drop(direct);
                    fail_all(entries, &cause);
                });
            }
        }
    }
}

/// Lets `codec` write what the bytes it just consumed left owed to the server (see
/// [`Codec::write_back`]): for the read paths other than the loop's reader task, which calls
/// [`Handler::write_back`]. `Err` is the cause to close the connection with — close it once the
/// pipe's state is no longer borrowed (closing runs `on_close`, which borrows it).
pub(crate) fn write_back<C: Codec>(
    codec: &mut C,
    conn: &Registered<PipeHandler<C>>,
) -> Result<(), CloseCause> {
    let core = conn.core();
    match codec.write_back(&mut WriteBack::conn(&**core)) {
        Err(cause) if core.is_failed_write(&cause) => Ok(()),
        other => other,
    }
}

fn fail_all<C: Codec>(entries: VecDeque<Entry<C>>, cause: &CloseCause) {
    for entry in entries {
        entry.sink.deliver(Err(RequestError::Closed(cause.clone())));
    }
}
