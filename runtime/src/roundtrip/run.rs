//! Sending a batch and collecting its replies: direct index when the connection is idle,
//! the bridge queue otherwise, and the handoff between the two on every exit path.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::bridge::{Entry, PipeHandler};
use super::pipe::StatCells;
use super::slots::{Sink, Slots};
use super::{Batch, Codec, Pipe, RequestError};
use crate::conn::{CloseCause, ReadLease};

/// How many replies a batch decodes in one poll before yielding, so a 100k-reply batch whose
/// bytes are all buffered does not hold its core for the whole decode.
const REPLIES_PER_POLL: usize = 4096;

/// The future of [`Pipe::run`]. Resolves to `Ok(())` once every request has its reply or its
/// error in the batch's slots, or to `Err` when the batch was not sent at all.
///
/// Dropping it before then is safe at any point: requests not yet answered become placeholders
/// whose replies are read and dropped, so the connection stays in step.
#[must_use = "a batch is sent only when its future is polled"]
pub struct Run<'a, C: Codec> {
    pipe: &'a Pipe<C>,
    batch: &'a mut Batch<C>,
    state: RunState<C>,
}

/// [`Run`] that owns its connection handle and batch: a `'static` future, for drivers that
/// keep an in-flight batch inside their own future types. [`OwnedRun::into_batch`] gives the
/// batch (and its replies) back once the run is complete.
#[must_use = "a batch is sent only when its future is polled"]
pub struct OwnedRun<C: Codec> {
    pipe: Pipe<C>,
    /// `None` only inside [`OwnedRun::into_batch`], which moves it out without putting a
    /// fresh batch (and its slot allocation) in its place.
    batch: Option<Batch<C>>,
    state: RunState<C>,
}

/// A run's borrowed view: the logic shared by [`Run`] and [`OwnedRun`].
struct Progress<'p, C: Codec> {
    pipe: &'p Pipe<C>,
    batch: &'p mut Batch<C>,
    state: &'p mut RunState<C>,
}

enum RunState<C: Codec> {
    Start,
    /// We read the socket ourselves; replies `..next` are in their slots.
    Direct {
        lease: ReadLease<PipeHandler<C>>,
        next: usize,
    },
    /// Our entries are in the bridge queue; the reader task fills the slots.
    Bridge,
    Done,
}

impl<'a, C: Codec> Run<'a, C> {
    pub(crate) fn new(pipe: &'a Pipe<C>, batch: &'a mut Batch<C>) -> Self {
        Run {
            pipe,
            batch,
            state: RunState::Start,
        }
    }

    fn progress(&mut self) -> Progress<'_, C> {
        Progress {
            pipe: self.pipe,
            batch: self.batch,
            state: &mut self.state,
        }
    }
}

impl<C: Codec> OwnedRun<C> {
    pub(crate) fn new(pipe: Pipe<C>, batch: Batch<C>) -> Self {
        OwnedRun {
            pipe,
            batch: Some(batch),
            state: RunState::Start,
        }
    }

    fn progress(&mut self) -> Option<Progress<'_, C>> {
        Some(Progress {
            pipe: &self.pipe,
            batch: self.batch.as_mut()?,
            state: &mut self.state,
        })
    }

    /// The batch with its replies. Call it once the run has completed; taken earlier, the
    /// run is dropped first (unanswered requests become placeholders) and the batch holds
    /// only the replies that had arrived.
    pub fn into_batch(mut self) -> Batch<C> {
        if let Some(mut progress) = self.progress() {
            progress.abandon();
        }
        // Always `Some` here: only this method takes it, and it consumes the run.
        self.batch.take().unwrap_or_default()
    }
}

impl<'p, C: Codec> Progress<'p, C> {
    /// Sends the batch and picks the path. `Ok(true)` when the batch is complete already.
    fn start(&mut self) -> Result<bool, RequestError> {
        let n = self.batch.expects.len();
        if Rc::strong_count(&self.batch.slots) > 1 {
            // An earlier run was abandoned in the bridge queue and its entries still point at
            // these slots; give this run fresh ones.
            self.batch.slots = Slots::new();
        }
        self.batch.slots.reset(n);
        if n == 0 {
            self.batch.bytes.clear();
            return Ok(true);
        }
        let conn = &self.pipe.conn;
        if let Some(cause) = conn.close_cause() {
            return Err(RequestError::Closed(cause));
        }
        let idle = self.pipe.state.borrow().queue.is_empty();
        if idle {
            if let Some(lease) = conn.take_reading() {
                // Nothing in flight and nobody else reading: send now and read our own replies.
                conn.write_now(&self.batch.bytes)?;
                self.batch.bytes.clear();
                *self.state = RunState::Direct { lease, next: 0 };
                StatCells::bump(&self.pipe.stats.direct);
                return Ok(false);
            }
        }
        // Busy: queue the entries first (invariant 1), then the bytes, coalesced with the other
        // writes of this tick. The room check comes before the entries so a refused write leaves
        // no entry behind.
        conn.core().check_room_for(self.batch.bytes.len())?;
        {
            let mut state = self.pipe.state.borrow_mut();
            let slots = &self.batch.slots;
            state.queue.extend(
                self.batch
                    .expects
                    .drain(..)
                    .enumerate()
                    .map(|(k, expect)| Entry {
                        expect,
                        sink: Sink::Batch(slots.clone(), k),
                    }),
            );
        }
        conn.write(&self.batch.bytes)?;
        self.batch.bytes.clear();
        *self.state = RunState::Bridge;
        StatCells::bump(&self.pipe.stats.bridged);
        Ok(false)
    }

    fn poll_direct(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let RunState::Direct { lease, next } = &mut *self.state else {
            return Poll::Ready(());
        };
        let n = self.batch.expects.len();
        let slots = &self.batch.slots;
        let mut decoded = 0;
        loop {
            // Direct index: reply k goes straight into slot k. No queue, no waker, no allocation.
            let mut violation = None;
            {
                let mut state = self.pipe.state.borrow_mut();
                let mut input = lease.input();
                while *next < n && decoded < REPLIES_PER_POLL {
                    let Some(expect) = self.batch.expects.get(*next) else {
                        break;
                    };
                    match state.codec.decode(expect, &mut input) {
                        Ok(Some(reply)) => {
                            slots.put(*next, Ok(reply));
                            *next += 1;
                            decoded += 1;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            violation = Some(CloseCause::protocol(e));
                            break;
                        }
                    }
                }
            }
            if let Some(cause) = violation {
                // Closing runs on_close, which fails the bridge queue: no borrow may be held.
                lease.close(cause.clone());
                self.fail_rest(cause);
                return Poll::Ready(());
            }
            if *next == n {
                // Bytes left over with no request queued behind us answer nobody: let the
                // codec consume what the protocol allows unsolicited, now — before the next
                // batch could take them for its own reply.
                let leftover = {
                    let mut state = self.pipe.state.borrow_mut();
                    let mut input = lease.input();
                    if state.queue.is_empty() && !input.is_empty() {
                        state
                            .codec
                            .unsolicited(&mut input)
                            .err()
                            .map(CloseCause::protocol)
                    } else {
                        None
                    }
                };
                if let Some(cause) = leftover {
                    lease.close(cause);
                }
                self.finish_direct();
                return Poll::Ready(());
            }
            if decoded >= REPLIES_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match lease.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(cause)) => {
                    self.fail_rest(cause);
                    return Poll::Ready(());
                }
            }
        }
    }

    /// Every request from `next` on ends with the connection's close cause.
    fn fail_rest(&mut self, cause: CloseCause) {
        if let RunState::Direct { next, .. } = &*self.state {
            for k in *next..self.batch.expects.len() {
                self.batch
                    .slots
                    .put(k, Err(RequestError::Closed(cause.clone())));
            }
        }
        self.finish_direct();
    }

    /// All replies are in: give reading back to the loop (the lease's drop does it).
    fn finish_direct(&mut self) {
        *self.state = RunState::Done;
        self.batch.expects.clear();
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RequestError>> {
        loop {
            match &*self.state {
                RunState::Start => match self.start() {
                    Ok(true) => {
                        *self.state = RunState::Done;
                        return Poll::Ready(Ok(()));
                    }
                    Ok(false) => {}
                    Err(e) => {
                        *self.state = RunState::Done;
                        self.batch.expects.clear();
                        self.batch.bytes.clear();
                        self.batch.slots.reset(0);
                        return Poll::Ready(Err(e));
                    }
                },
                RunState::Direct { .. } => return self.poll_direct(cx).map(Ok),
                RunState::Bridge => {
                    if self.batch.slots.remaining() == 0 {
                        *self.state = RunState::Done;
                        return Poll::Ready(Ok(()));
                    }
                    self.batch.slots.register(cx, &self.pipe.wakers);
                    return Poll::Pending;
                }
                RunState::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Every exit path that is not completion: the handoff.
    fn abandon(&mut self) {
        match std::mem::replace(self.state, RunState::Done) {
            RunState::Direct { lease, next } => {
                // The handoff: unanswered requests move, in order, to the FRONT of the bridge
                // queue as placeholders (their replies come before those of anything queued
                // meanwhile), then the lease's drop hands reading back to the loop.
                if lease.closed_cause().is_none() && next < self.batch.expects.len() {
                    StatCells::bump(&self.pipe.stats.handoffs);
                    match self.pipe.state.try_borrow_mut() {
                        Ok(mut state) => {
                            for expect in self.batch.expects.drain(next..).rev() {
                                state.queue.push_front(Entry {
                                    expect,
                                    sink: Sink::Discard,
                                });
                            }
                        }
                        Err(_) => {
                            // Cannot happen (no borrow outlives a poll); if it did, the
                            // connection could not stay in step, so it must not stay open.
                            lease.close(CloseCause::protocol(
                                "batch dropped while the connection state was in use",
                            ));
                        }
                    }
                }
                self.batch.expects.clear();
                drop(lease);
            }
            RunState::Bridge => {
                if self.batch.slots.remaining() > 0 {
                    self.batch.slots.abandon();
                }
            }
            RunState::Start | RunState::Done => {}
        }
    }
}

impl<C: Codec> Future for Run<'_, C> {
    type Output = Result<(), RequestError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().progress().poll(cx)
    }
}

impl<C: Codec> Drop for Run<'_, C> {
    fn drop(&mut self) {
        self.progress().abandon();
    }
}

// Nothing in a run is structurally pinned: it is polled through `&mut`.
impl<C: Codec> Unpin for OwnedRun<C> {}

impl<C: Codec> Future for OwnedRun<C> {
    type Output = Result<(), RequestError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut().progress() {
            Some(mut progress) => progress.poll(cx),
            // Unreachable: the batch is only taken by `into_batch`, which consumes the run.
            None => Poll::Ready(Err(RequestError::WorkerClosed)),
        }
    }
}

impl<C: Codec> Drop for OwnedRun<C> {
    fn drop(&mut self) {
        if let Some(mut progress) = self.progress() {
            progress.abandon();
        }
    }
}
