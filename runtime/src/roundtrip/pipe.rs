//! A pipelined connection: the handle drivers hold.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::BytesMut;

use super::bridge::{Entry, PipeHandler, PipeState};
use super::slots::{Sink, WakerCache};
use super::stats::{PipeCounters, PipeStats, StatCells};
use super::{Batch, Codec, RequestError};
use crate::conn::{CloseCause, Limits, ReadLease, Registered, Stream};
use crate::{oneshot, Error};

/// How many finished single-call batches a connection keeps for reuse, so concurrent `call`s
/// stop allocating once warm.
const SPARE_BATCHES: usize = 64;

/// A spare batch whose buffer grew past this is dropped rather than kept, so one huge request
/// does not pin its memory for the connection's lifetime.
const MAX_SPARE_BYTES: usize = 64 * 1024;

/// A pipelined connection on the current worker: requests from any number of tasks, replies
/// in request order. Cheap to clone (all clones are one connection); `!Send`.
pub struct Pipe<C: Codec> {
    pub(crate) conn: Registered<PipeHandler<C>>,
    pub(crate) state: Rc<RefCell<PipeState<C>>>,
    spare: Rc<RefCell<Vec<Batch<C>>>>,
    pub(crate) stats: Rc<StatCells>,
    pub(crate) wakers: Rc<WakerCache>,
}

impl<C: Codec> Clone for Pipe<C> {
    fn clone(&self) -> Self {
        Pipe {
            conn: self.conn.clone(),
            state: self.state.clone(),
            spare: self.spare.clone(),
            stats: self.stats.clone(),
            wakers: self.wakers.clone(),
        }
    }
}

impl<C: Codec> std::fmt::Debug for Pipe<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipe")
            .field("in_flight", &self.in_flight())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<C: Codec> Pipe<C> {
    /// Registers `stream` on the current worker with `codec` decoding its replies.
    pub fn new(stream: Stream, codec: C, limits: Limits) -> Result<Self, Error> {
        let state = Rc::new(RefCell::new(PipeState {
            codec,
            queue: VecDeque::new(),
            direct: None,
            shared_lately: false,
        }));
        let handler = PipeHandler {
            state: state.clone(),
        };
        let conn = Registered::register(stream, handler, limits)?;
        Ok(Pipe {
            conn,
            state,
            spare: Rc::new(RefCell::new(Vec::new())),
            stats: Rc::default(),
            wakers: Rc::default(),
        })
    }

    /// An empty batch from this connection's spares (or a new one): with
    /// [`recycle_batch`](Self::recycle_batch), lets hot paths run without allocating.
    pub fn take_batch(&self) -> Batch<C> {
        self.spare.borrow_mut().pop().unwrap_or_default()
    }

    /// Clears `batch` and keeps it for a later [`take_batch`](Self::take_batch).
    pub fn recycle_batch(&self, mut batch: Batch<C>) {
        if batch.bytes.capacity() > MAX_SPARE_BYTES {
            return;
        }
        batch.clear();
        let mut spare = self.spare.borrow_mut();
        if spare.len() < SPARE_BATCHES {
            spare.push(batch);
        }
    }

    /// Sends one request and waits for its reply. Concurrent calls from many tasks share the
    /// connection: their bytes leave in one write per tick and their replies come back in order.
    pub async fn call(
        &self,
        expect: C::Expect,
        encode: impl FnOnce(&mut BytesMut),
    ) -> Result<C::Reply, RequestError> {
        let mut batch = self.take_batch();
        batch.push(expect, encode);
        let outcome = self.run(&mut batch).await;
        let reply = match outcome {
            Ok(()) => batch.take(0).unwrap_or(Err(RequestError::WorkerClosed)),
            Err(e) => Err(e),
        };
        self.recycle_batch(batch);
        reply
    }

    /// Sends one request the server sends no reply to (memcached's `noreply`, a
    /// fire-and-forget message): its bytes join this tick's writes, after every request
    /// already written or queued, with no bridge-queue entry — so nobody waits for a reply
    /// that never comes, and the replies of the requests before and after it stay matched to
    /// their own requests. Returns once the bytes are queued; `Err` when they were refused
    /// (connection closed, outbound buffer full) and nothing was queued.
    ///
    /// Usable from any task of the worker and from a job submitted to it (the off-worker
    /// path); it neither waits nor takes the read lease, so a batch reading its own replies
    /// keeps reading. See [`Batch::push_no_reply`] for a caveat.
    pub fn send_no_reply(&self, encode: impl FnOnce(&mut BytesMut)) -> Result<(), RequestError> {
        self.conn.write_with(0, encode).map_err(RequestError::from)
    }

    /// Sends one request whose reply goes to a caller on another thread through `reply_to`
    /// (the off-worker path: call this from a job submitted to the worker). Always uses the
    /// bridge queue; no task is spawned. Failures are delivered through `reply_to` too.
    pub fn send_remote(
        &self,
        expect: C::Expect,
        encode: impl FnOnce(&mut BytesMut),
        reply_to: oneshot::Sender<Result<C::Reply, RequestError>>,
    ) where
        C::Reply: Send,
    {
        if let Some(cause) = self.conn.close_cause() {
            let _ = reply_to.send(Err(RequestError::Closed(cause)));
            return;
        }
        if let Err(e) = self.conn.core().check_room_for(0) {
            let _ = reply_to.send(Err(e.into()));
            return;
        }
        if let Err(cause) = self.check_quiet() {
            let _ = reply_to.send(Err(RequestError::Closed(cause)));
            return;
        }
        // Encode first, then queue the entry: both happen before the writer task can run (it
        // only runs after this job returns), so "entry before bytes" holds on the wire, and an
        // encoder that panics leaves neither an entry nor bytes behind.
        match self.conn.write_with(0, encode) {
            Ok(()) => {
                let mut state = self.state.borrow_mut();
                // A direct run holding the reader hands it over first: its requests were
                // written before this one, so their entries go in front.
                state.revoke_direct(&self.stats);
                state.queue.push_back(Entry {
                    expect,
                    sink: Sink::Remote(reply_to),
                });
            }
            Err(e) => {
                let _ = reply_to.send(Err(e.into()));
            }
        }
    }

    /// Before the first request goes out on a connection with nothing outstanding: any byte
    /// that arrived meanwhile answers nobody. The codec consumes what the protocol allows
    /// unsolicited (pushes, notifications); anything else closes the connection — it would
    /// otherwise be taken for the new request's reply. Looks at the input buffer and at the
    /// socket itself (one non-blocking `recv`): the reader task may not have run since those
    /// bytes arrived. Does nothing while requests are outstanding.
    pub(crate) fn check_quiet(&self) -> Result<(), CloseCause> {
        {
            let state = self.state.borrow();
            if !state.queue.is_empty() || state.direct.is_some() {
                return Ok(());
            }
        }
        let core = self.conn.core();
        if !core.input().is_empty() {
            self.show_unsolicited()?;
            if !core.input().is_empty() {
                // The codec keeps bytes it allows (the start of a push, COPY data): they are
                // the protocol's, and reading more now would only grow the buffer.
                return Ok(());
            }
        }
        // No borrow is held: a close here runs `on_close`.
        if core.fill_now()? > 0 {
            self.show_unsolicited()?;
        }
        Ok(())
    }

    /// Shows the input to the codec's `unsolicited`, then lets it write back what that left
    /// owed; an error closes the connection.
    fn show_unsolicited(&self) -> Result<(), CloseCause> {
        let result = {
            let mut state = self.state.borrow_mut();
            let seen = state.codec.unsolicited(&mut self.conn.core().input());
            // What it consumed may leave answers owed (a PONG for a PING that came while
            // idle): they go out before the request that is about to be written.
            seen.map_err(CloseCause::protocol)
                .and_then(|()| super::bridge::write_back(&mut state.codec, &self.conn))
        };
        result.map_err(|cause| {
            self.conn.close(cause.clone());
            self.conn.close_cause().unwrap_or(cause)
        })
    }

    /// Requests sent (or queued) whose replies the loop's reader has not delivered yet.
    /// A batch reading its own replies is not counted.
    pub fn in_flight(&self) -> usize {
        self.state.borrow().queue.len()
    }

    /// True when nothing is in flight and nobody reads: the next batch takes the direct path.
    pub fn is_idle(&self) -> bool {
        let state = self.state.borrow();
        state.queue.is_empty() && state.direct.is_none() && !self.conn.core().is_leased()
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Why the connection closed, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        self.conn.close_cause()
    }

    /// Looks, without waiting, for a close the loop's reader has not seen yet: on a connection
    /// with nothing outstanding, reads what the socket has now (one non-blocking `recv`), as
    /// the next batch would before it is sent. `Err` with the cause when the connection is
    /// closed, or is found closed (the peer hung up while it was idle, or sent bytes nobody
    /// asked for). A driver calls it before it hands an idle pooled connection to work that
    /// cannot be sent again elsewhere once it fails.
    pub fn probe_idle(&self) -> Result<(), CloseCause> {
        if let Some(cause) = self.conn.close_cause() {
            return Err(cause);
        }
        self.check_quiet()
    }

    /// Closes the connection; every request in flight ends with `Closed(Unregistered)`.
    pub fn close(&self) {
        self.conn.unregister();
    }

    /// How batches on this connection travelled so far.
    pub fn stats(&self) -> PipeStats {
        self.stats.snapshot()
    }

    /// Makes this handle (and the clones made from it from now on) count round trips into
    /// `counters`, shared with other connections, instead of this connection's own: call it
    /// once the connection is ready (a driver's handshake is then not counted), before
    /// handing out clones. [`stats`](Self::stats) then reports the shared counts.
    pub fn count_into(&mut self, counters: &PipeCounters) {
        self.stats = counters.0.clone();
    }

    /// Bytes queued and not yet written.
    pub fn outbound_len(&self) -> usize {
        self.conn.outbound_len()
    }

    /// Stops the loop's reader from reading this connection until the returned hold is dropped:
    /// flow control for a driver whose consumer is behind (e.g. a COPY OUT). The server's
    /// further output then waits in the kernel and, once that is full, on the server (TCP).
    ///
    /// `None` when the connection is busy (something in flight or someone else reading) or
    /// closed. A batch can run only after the hold is dropped; dropping it and starting the
    /// batch in the same poll leaves the loop's reader no chance to read in between.
    pub fn hold_reading(&self) -> Option<ReadHold<C>> {
        if self.in_flight() > 0 {
            return None;
        }
        self.conn
            .take_reading()
            .map(|lease| ReadHold { _lease: lease })
    }
}

/// Reading held back: see [`Pipe::hold_reading`]. Dropping it lets the loop's reader read
/// again, starting with any bytes already buffered.
#[must_use = "reading resumes as soon as the hold is dropped"]
pub struct ReadHold<C: Codec> {
    _lease: ReadLease<PipeHandler<C>>,
}

impl<C: Codec> std::fmt::Debug for ReadHold<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadHold").finish_non_exhaustive()
    }
}
