//! Sending a batch and collecting its replies: direct index when the connection is idle,
//! the bridge queue otherwise, and the handoff between the two on every exit path.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::bridge::{Direct, Entry};
use super::slots::{Sink, Slots};
use super::stats::StatCells;
use super::{Batch, Codec, Pipe, RequestError};
use crate::conn::{CloseCause, READS_PER_WAKE};

/// How many replies a batch decodes in one poll before yielding, so a 100k-reply batch whose
/// bytes are all buffered does not hold its core for the whole decode.
const REPLIES_PER_POLL: usize = 4096;

// Starting a run is the run's business: `pipe.rs` does not name the futures.
impl<C: Codec> Pipe<C> {
    /// Sends `batch` and fills its reply slots. On an idle connection the batch reads its own
    /// replies (direct index); otherwise it joins the bridge queue behind the requests in
    /// flight. See [`Run`] for cancellation.
    pub fn run<'a>(&'a self, batch: &'a mut Batch<C>) -> Run<'a, C> {
        Run::new(self, batch)
    }

    /// Like [`run`](Self::run), but the future owns a handle to this connection and the batch:
    /// it is `'static`, for drivers that keep a batch in flight inside their own future types.
    pub fn run_owned(&self, batch: Batch<C>) -> OwnedRun<C> {
        OwnedRun::new(self.clone(), batch)
    }
}

/// The future of [`Pipe::run`]. Resolves to `Ok(())` once every request has its reply or its
/// error in the batch's slots, or to `Err` when the batch was not sent at all.
///
/// Dropping it before then is safe at any point: requests not yet answered become placeholders
/// whose replies are read and dropped, so the connection stays in step.
#[must_use = "a batch is sent only when its future is polled"]
pub struct Run<'a, C: Codec> {
    pipe: &'a Pipe<C>,
    batch: &'a mut Batch<C>,
    state: RunState,
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
    state: RunState,
}

/// A run's borrowed view: the logic shared by [`Run`] and [`OwnedRun`].
struct Progress<'p, C: Codec> {
    pipe: &'p Pipe<C>,
    batch: &'p mut Batch<C>,
    state: &'p mut RunState,
}

enum RunState {
    Start,
    /// We read the socket ourselves. Our lease, our requests and how far we got live in the
    /// pipe's shared state (`PipeState::direct`), where another request that needs the
    /// reader can take them over (the lease is revocable); we then continue as `Bridge`.
    Direct,
    /// Our entries are in the bridge queue; the reader task fills the slots.
    Bridge,
    Done,
}

/// What a direct run found in one pass over its input.
enum Step {
    /// Its lease was taken over: its requests wait in the bridge queue now.
    Revoked,
    /// Every reply is in.
    Complete,
    /// A reply did not decode: the connection closes.
    Violation(CloseCause),
    /// Enough decoded for one poll.
    Yield,
    /// More bytes needed.
    Fill,
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
        let conn = &self.pipe.conn;
        if n == 0 {
            // Nothing to wait for: only requests without a reply (or nothing at all). Their
            // bytes join this tick's writes, after every request already written, and no
            // queue entry or read lease is involved (a direct run reading now keeps reading).
            if !self.batch.bytes.is_empty() {
                conn.write(&self.batch.bytes)?;
            }
            self.batch.bytes.clear();
            return Ok(true);
        }
        if let Some(cause) = conn.close_cause() {
            return Err(RequestError::Closed(cause));
        }
        let idle = {
            let state = self.pipe.state.borrow();
            state.queue.is_empty() && state.direct.is_none()
        };
        if idle {
            // Nothing outstanding: bytes already here would be taken for our replies.
            self.pipe.check_quiet().map_err(RequestError::Closed)?;
            if let Some(lease) = conn.take_reading() {
                // Nothing in flight and nobody else reading: we read our own replies. A caller
                // alone on the connection sends at once; when callers have been sharing it,
                // the others of this tick are likely about to write too, so the writer sends
                // all of it in one `send` (alone, ours would go first in a packet of its own,
                // and the server would answer it alone: measured 12 % fewer GETs/s with 64
                // callers on two workers).
                if std::mem::take(&mut self.pipe.state.borrow_mut().shared_lately) {
                    conn.write(&self.batch.bytes)?;
                } else {
                    conn.write_now(&self.batch.bytes)?;
                }
                self.batch.bytes.clear();
                // The requests move to the shared state (a swap of `Vec`s: no allocation) so a
                // later request can take the reader over if we stop being polled.
                self.pipe.state.borrow_mut().direct = Some(Direct {
                    lease,
                    expects: std::mem::take(&mut self.batch.expects),
                    slots: self.batch.slots.clone(),
                    next: 0,
                });
                *self.state = RunState::Direct;
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
            // A direct run holding the reader hands it over: its requests were written before
            // ours, so they go in front.
            state.revoke_direct(&self.pipe.stats);
            state.shared_lately = true;
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

    /// One pass over the input: decode what is there into our slots (direct index: reply `k`
    /// straight into slot `k`; no queue, no waker, no allocation).
    fn decode_direct(&mut self, decoded: &mut usize) -> Step {
        let mut guard = self.pipe.state.borrow_mut();
        let state = &mut *guard;
        let direct = match state.direct.as_mut() {
            Some(d) if Rc::ptr_eq(&d.slots, &self.batch.slots) => d,
            _ => return Step::Revoked,
        };
        let mut input = self.pipe.conn.core().input();
        while direct.next < direct.expects.len() && *decoded < REPLIES_PER_POLL {
            let Some(expect) = direct.expects.get(direct.next) else {
                break;
            };
            match state.codec.decode(expect, &mut input) {
                Ok(Some(reply)) => {
                    direct.slots.put(direct.next, Ok(reply));
                    direct.next += 1;
                    *decoded += 1;
                }
                Ok(None) => break,
                Err(e) => return Step::Violation(CloseCause::protocol(e)),
            }
        }
        drop(input);
        // Frames among our replies may have left answers owed (a PONG for a PING): they go
        // out now, before we read on and before our caller sees its replies. They take no
        // slot, so reply `k` still goes to slot `k`.
        if let Err(cause) = super::bridge::write_back(&mut state.codec, &self.pipe.conn) {
            return Step::Violation(cause);
        }
        if direct.next == direct.expects.len() {
            Step::Complete
        } else if *decoded >= REPLIES_PER_POLL {
            Step::Yield
        } else {
            Step::Fill
        }
    }

    /// Reads our own replies. `None` when the lease was taken over: continue as `Bridge`.
    fn poll_direct(&mut self, cx: &mut Context<'_>) -> Option<Poll<()>> {
        let mut decoded = 0;
        let mut reads = 0;
        loop {
            match self.decode_direct(&mut decoded) {
                Step::Revoked => {
                    *self.state = RunState::Bridge;
                    return None;
                }
                Step::Complete => {
                    self.end_direct(None);
                    // Bytes left over with nobody queued behind us answer nobody: let the codec
                    // consume what the protocol allows unsolicited, now — before the next batch
                    // could take them for its own reply.
                    let leftover = {
                        let mut state = self.pipe.state.borrow_mut();
                        let mut input = self.pipe.conn.core().input();
                        if state.queue.is_empty() && !input.is_empty() {
                            let seen = state.codec.unsolicited(&mut input);
                            drop(input);
                            match seen {
                                Ok(()) => {
                                    super::bridge::write_back(&mut state.codec, &self.pipe.conn)
                                        .err()
                                }
                                Err(e) => Some(CloseCause::protocol(e)),
                            }
                        } else {
                            None
                        }
                    };
                    if let Some(cause) = leftover {
                        self.pipe.conn.close(cause);
                    }
                    return Some(Poll::Ready(()));
                }
                Step::Violation(cause) => {
                    // Closing runs on_close, which fails our unanswered requests and the bridge
                    // queue: no borrow may be held.
                    self.pipe.conn.close(cause.clone());
                    self.end_direct(Some(cause));
                    return Some(Poll::Ready(()));
                }
                Step::Yield => {
                    cx.waker().wake_by_ref();
                    return Some(Poll::Pending);
                }
                Step::Fill => {}
            }
            if reads == READS_PER_WAKE {
                // The loop's reader's budget: one huge reply must not hold the core until the
                // socket drains; the worker's other tasks run before we read on.
                cx.waker().wake_by_ref();
                return Some(Poll::Pending);
            }
            // We hold the lease (checked just above, nothing ran since).
            match self.pipe.conn.core().poll_fill_leased(cx) {
                Poll::Pending => return Some(Poll::Pending),
                Poll::Ready(Ok(_)) => reads += 1,
                Poll::Ready(Err(cause)) => {
                    self.end_direct(Some(cause));
                    return Some(Poll::Ready(()));
                }
            }
        }
    }

    /// Ends our direct run: takes it out of the shared state (unless a close already did),
    /// fails the unanswered requests with `cause` if given, gives the batch its request
    /// buffer back and drops the lease (reading passes back to the loop).
    fn end_direct(&mut self, cause: Option<CloseCause>) {
        *self.state = RunState::Done;
        let direct = {
            let mut state = self.pipe.state.borrow_mut();
            match &state.direct {
                Some(d) if Rc::ptr_eq(&d.slots, &self.batch.slots) => match &cause {
                    Some(cause) => state.fail_direct(cause),
                    None => state.direct.take(),
                },
                _ => None,
            }
        };
        if let Some(mut direct) = direct {
            direct.expects.clear();
            std::mem::swap(&mut self.batch.expects, &mut direct.expects);
        }
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
                RunState::Direct => {
                    if let Some(polled) = self.poll_direct(cx) {
                        return polled.map(Ok);
                    }
                }
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
            RunState::Direct => {
                let closed = self.pipe.conn.is_closed();
                let mine = {
                    let Ok(mut state) = self.pipe.state.try_borrow_mut() else {
                        // Cannot happen (no borrow outlives a poll); if it did, the connection
                        // could not stay in step, so it must not stay open (on_close then ends
                        // our run as soon as the state is free).
                        self.pipe.conn.close(CloseCause::protocol(
                            "batch dropped while the connection state was in use",
                        ));
                        return;
                    };
                    let state = &mut *state;
                    match state.direct.take() {
                        Some(mut direct) if Rc::ptr_eq(&direct.slots, &self.batch.slots) => {
                            // The handoff: unanswered requests move, in order, to the FRONT of
                            // the bridge queue as placeholders (the queue is empty while a
                            // direct run reads), then the lease's drop hands reading back to
                            // the loop.
                            if !closed && direct.next < direct.expects.len() {
                                StatCells::bump(&self.pipe.stats.handoffs);
                                let next = direct.next;
                                for expect in direct.expects.drain(next..).rev() {
                                    state.queue.push_front(Entry {
                                        expect,
                                        sink: Sink::Discard,
                                    });
                                }
                            }
                            Some(direct)
                        }
                        other => {
                            // Not ours: our lease was taken over, our requests are queued.
                            state.direct = other;
                            None
                        }
                    }
                };
                match mine {
                    Some(mut direct) => {
                        direct.expects.clear();
                        std::mem::swap(&mut self.batch.expects, &mut direct.expects);
                        drop(direct);
                    }
                    None => {
                        if self.batch.slots.remaining() > 0 {
                            self.batch.slots.abandon();
                        }
                    }
                }
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
