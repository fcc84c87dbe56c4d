//! The registered connection: its reader task, its writer task and the state they share.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};

use super::append::append_whole;
use super::registry::{self, Closeable};
use super::write_back::Outbound;
use super::{CloseCause, Stream, WriteBack, WriteError};
use crate::Error;

/// What a registered connection tells its owner.
pub trait Handler: 'static {
    /// Bytes arrived. Consume the complete messages at the front of `input` (split or advance
    /// it) and leave any partial one: it stays buffered and more bytes are appended.
    ///
    /// (A `BytesMut` rather than `&[u8] -> consumed`, so decoders can split payloads off as
    /// zero-copy `Bytes`.) Returning `Err` closes the connection with that cause.
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause>;

    /// Called right after every [`on_recv`](Self::on_recv) that returned `Ok`, before the
    /// reader reads again: write what the protocol makes the client send by itself (a `PONG`
    /// owed for a `PING` that `on_recv` consumed). Remember what is owed in `on_recv`; write it
    /// here. `out` appends after everything already queued, under the connection's limits (see
    /// [`WriteBack`]).
    ///
    /// Returning `Err` closes the connection with that cause: `out.write(..)?` turns a refused
    /// write into [`CloseCause::OutboundFull`] (the peer is not reading). A refusal because the
    /// connection's writes already failed is ignored: it still reads until end of stream.
    ///
    /// Only the loop's reader task calls it: a [`ReadLease`](super::ReadLease) holder that
    /// reads the socket itself answers through [`Registered::write`] (the round-trip toolkit's
    /// batches do, through [`Codec::write_back`](crate::roundtrip::Codec::write_back)).
    ///
    /// The default writes nothing.
    fn write_back(&mut self, out: &mut WriteBack<'_>) -> Result<(), CloseCause> {
        let _ = out;
        Ok(())
    }

    /// The connection closed. Called exactly once, after which no `on_recv` follows.
    fn on_close(&mut self, cause: &CloseCause);
}

/// Buffer limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Unsent bytes allowed in the outbound buffer before writes fail with `QueueFull`.
    /// A single write larger than this is accepted when nothing is queued, so any one message
    /// can always be sent.
    pub max_outbound: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_outbound: 4 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Limits with `max_outbound` set.
    pub fn with_max_outbound(max_outbound: usize) -> Self {
        Limits { max_outbound }
    }
}

/// How big one `recv` may be. Reads go into one per-worker scratch buffer of this size and
/// only the bytes received are copied into the connection's input buffer, so an idle
/// connection costs no read buffer at all.
pub const READ_BUFFER_SIZE: usize = 64 * 1024;

/// How many reads the reader task — or a batch reading its own replies — does before yielding
/// to the worker's other tasks. A connection with a fast peer (or one huge reply) must not
/// starve the others on its core: at most this many reads of [`READ_BUFFER_SIZE`] per wake.
pub(crate) const READS_PER_WAKE: usize = 8;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; READ_BUFFER_SIZE].into_boxed_slice());
}

pub(crate) struct ConnCore<H> {
    stream: RefCell<Stream>,
    input: RefCell<BytesMut>,
    output: RefCell<BytesMut>,
    limits: Limits,
    handler: RefCell<H>,
    cause: RefCell<Option<CloseCause>>,
    /// A write failed (typically `EPIPE`: the peer closed). Reading goes on until end of
    /// stream so replies already on their way are still delivered; then this is the cause.
    write_failed: RefCell<Option<CloseCause>>,
    closed: Cell<bool>,
    close_notified: Cell<bool>,
    /// A [`ReadLease`](super::ReadLease) holder reads the socket; the reader task waits.
    leased: Cell<bool>,
    /// The input holds bytes the handler has not been shown yet.
    input_unseen: Cell<bool>,
    writer_scheduled: Cell<bool>,
    /// The writer task waits for the socket to accept more bytes.
    write_blocked: Cell<bool>,
    reader_waker: Cell<Option<Waker>>,
    writer_waker: Cell<Option<Waker>>,
    lease_waker: Cell<Option<Waker>>,
}

fn store_waker(slot: &Cell<Option<Waker>>, cx: &Context<'_>) {
    let current = slot.take();
    match current {
        Some(w) if w.will_wake(cx.waker()) => slot.set(Some(w)),
        _ => slot.set(Some(cx.waker().clone())),
    }
}

fn wake(slot: &Cell<Option<Waker>>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

impl<H: Handler> ConnCore<H> {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    pub(crate) fn cause(&self) -> Option<CloseCause> {
        self.cause.borrow().clone()
    }

    fn closed_cause(&self) -> CloseCause {
        self.cause().unwrap_or(CloseCause::Unregistered)
    }

    /// Closes the connection once; later calls do nothing.
    pub(crate) fn close(&self, cause: CloseCause) {
        if self.closed.replace(true) {
            return;
        }
        *self.cause.borrow_mut() = Some(cause);
        if let Ok(mut stream) = self.stream.try_borrow_mut() {
            stream.shutdown();
        }
        if let Ok(mut out) = self.output.try_borrow_mut() {
            *out = BytesMut::new();
        }
        wake(&self.reader_waker);
        wake(&self.writer_waker);
        wake(&self.lease_waker);
        self.notify_close();
    }

    /// Closes with a cause a write-back returned, unless it is the cause of a write that failed
    /// already (the write-back was refused with it): the connection then goes on reading until
    /// end of stream, so replies already on their way are still delivered.
    pub(crate) fn close_for_write_back(&self, cause: CloseCause) {
        if !self.is_failed_write(&cause) {
            self.close(cause);
        }
    }

    /// True when `cause` is that of a write that failed: the connection reads on until end of
    /// stream and closes with it then.
    pub(crate) fn is_failed_write(&self, cause: &CloseCause) -> bool {
        self.write_failed.borrow().as_ref() == Some(cause)
    }

    /// The read side reached end of stream.
    pub(crate) fn close_at_eof(&self) {
        let cause = self
            .write_failed
            .borrow_mut()
            .take()
            .unwrap_or(CloseCause::PeerClosed);
        self.close(cause);
    }

    /// A write failed: drop what is unsent, refuse new writes, keep reading until end of stream.
    fn fail_writes(&self, cause: CloseCause) {
        if self.closed.get() || self.write_failed.borrow().is_some() {
            return;
        }
        *self.write_failed.borrow_mut() = Some(cause);
        if let Ok(mut out) = self.output.try_borrow_mut() {
            *out = BytesMut::new();
        }
        if let Ok(mut stream) = self.stream.try_borrow_mut() {
            stream.shutdown_write();
        }
    }

    /// Calls `on_close` unless it ran already. When the handler is busy (the close came from
    /// inside one of its callbacks) the reader task calls it as soon as the handler returns.
    fn notify_close(&self) {
        if self.close_notified.get() {
            return;
        }
        if let Ok(mut handler) = self.handler.try_borrow_mut() {
            self.close_notified.set(true);
            let cause = self.closed_cause();
            handler.on_close(&cause);
        }
    }

    /// Reads once into the input buffer.
    pub(crate) fn poll_fill(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let polled = self.stream.borrow_mut().poll_read_into(
                cx,
                &mut self.input.borrow_mut(),
                &mut scratch[..],
            );
            // Reading TLS can produce records to send (a key update's answer).
            if polled.is_ready() && self.stream.borrow().wants_flush() {
                self.schedule_writer();
            }
            polled
        })
    }

    pub(crate) fn input(&self) -> std::cell::RefMut<'_, BytesMut> {
        self.input.borrow_mut()
    }

    fn poll_reader(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut reads = 0;
        loop {
            if self.closed.get() {
                self.notify_close();
                return Poll::Ready(());
            }
            if self.leased.get() {
                store_waker(&self.reader_waker, cx);
                return Poll::Pending;
            }
            if self.input_unseen.replace(false) {
                let (received, answered) = {
                    let mut handler = self.handler.borrow_mut();
                    let received = handler.on_recv(&mut self.input.borrow_mut());
                    // The answers go out before the reader reads on (and before the callers
                    // woken by this read can queue anything): the peer gets them in order.
                    let answered = match received {
                        Ok(()) => handler.write_back(&mut WriteBack::conn(self)),
                        Err(_) => Ok(()),
                    };
                    (received, answered)
                };
                if let Err(cause) = received {
                    self.close(cause);
                } else if let Err(cause) = answered {
                    self.close_for_write_back(cause);
                }
                self.shrink_idle_input();
                continue;
            }
            if reads == READS_PER_WAKE {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            store_waker(&self.reader_waker, cx);
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => self.close_at_eof(),
                Poll::Ready(Ok(_)) => {
                    reads += 1;
                    self.input_unseen.set(true);
                }
                Poll::Ready(Err(e)) => self.close(CloseCause::io(&e)),
            }
        }
    }

    /// A burst of big replies should not pin its buffer: once drained, a buffer that grew past
    /// a few reads' worth is released.
    fn shrink_idle_input(&self) {
        let mut input = self.input.borrow_mut();
        if input.is_empty() && input.capacity() > 4 * READ_BUFFER_SIZE {
            *input = BytesMut::new();
        }
    }

    fn poll_writer(&self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.closed.get() {
                return Poll::Ready(());
            }
            let polled = {
                let out = self.output.borrow();
                if out.is_empty() {
                    return self.poll_writer_idle(cx);
                }
                self.stream.borrow_mut().poll_write(cx, &out)
            };
            match polled {
                Poll::Pending => {
                    self.write_blocked.set(true);
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => {
                    self.fail_writes(CloseCause::io(&std::io::ErrorKind::WriteZero.into()));
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(n)) => self.output.borrow_mut().advance(n),
                Poll::Ready(Err(e)) => {
                    self.fail_writes(CloseCause::io(&e));
                    return Poll::Ready(());
                }
            }
        }
    }

    /// Nothing queued: send what the transport still holds (TLS records the socket did not
    /// take), then sleep until the next write.
    fn poll_writer_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self.stream.borrow_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => {
                self.write_blocked.set(true);
                return Poll::Pending;
            }
            Poll::Ready(Err(e)) => {
                self.fail_writes(CloseCause::io(&e));
                return Poll::Ready(());
            }
        }
        self.writer_scheduled.set(false);
        self.write_blocked.set(false);
        store_waker(&self.writer_waker, cx);
        Poll::Pending
    }

    fn check_room(&self, out: &BytesMut, len: usize) -> Result<(), WriteError> {
        if self.closed.get() {
            return Err(WriteError::Closed(self.closed_cause()));
        }
        if let Some(cause) = self.write_failed.borrow().as_ref() {
            return Err(WriteError::Closed(cause.clone()));
        }
        let queued = out.len();
        if queued > 0 && queued.saturating_add(len) > self.limits.max_outbound {
            return Err(WriteError::QueueFull {
                queued,
                limit: self.limits.max_outbound,
            });
        }
        Ok(())
    }

    /// Appends bytes produced by `encode` (about `len` of them) and schedules the writer.
    pub(crate) fn write_with(
        &self,
        len: usize,
        encode: impl FnOnce(&mut BytesMut),
    ) -> Result<(), WriteError> {
        {
            let mut out = self.output.borrow_mut();
            self.check_room(&out, len)?;
            append_whole(&mut out, encode);
        }
        self.schedule_writer();
        Ok(())
    }

    /// Appends `bytes` and tries to send at once from the calling task, leaving the writer task
    /// only what the socket would not take. For a caller alone on the connection: there is no
    /// other write this tick to coalesce with, so waiting for the writer would only add a hop.
    pub(crate) fn write_now(&self, bytes: &[u8]) -> Result<(), WriteError> {
        {
            let mut out = self.output.borrow_mut();
            self.check_room(&out, bytes.len())?;
            out.extend_from_slice(bytes);
        }
        if !self.write_blocked.get() && !self.writer_scheduled.get() {
            self.flush_inline();
        }
        if !self.output.borrow().is_empty() || self.stream.borrow().wants_flush() {
            self.schedule_writer();
        }
        Ok(())
    }

    fn flush_inline(&self) {
        // A no-op waker: if the socket is full, the writer task takes over and registers its
        // own waker on the same readiness source.
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let polled = {
                let out = self.output.borrow();
                if out.is_empty() {
                    return;
                }
                self.stream.borrow_mut().poll_write(&mut cx, &out)
            };
            match polled {
                Poll::Ready(Ok(n)) if n > 0 => self.output.borrow_mut().advance(n),
                Poll::Pending => return,
                Poll::Ready(Ok(_)) => {
                    self.fail_writes(CloseCause::io(&std::io::ErrorKind::WriteZero.into()));
                    return;
                }
                Poll::Ready(Err(e)) => {
                    self.fail_writes(CloseCause::io(&e));
                    return;
                }
            }
        }
    }

    fn schedule_writer(&self) {
        if !self.writer_scheduled.replace(true) {
            wake(&self.writer_waker);
        }
    }

    /// Fails when `len` more bytes would be refused now.
    pub(crate) fn check_room_for(&self, len: usize) -> Result<(), WriteError> {
        self.check_room(&self.output.borrow(), len)
    }

    pub(crate) fn is_leased(&self) -> bool {
        self.leased.get()
    }

    pub(crate) fn outbound_len(&self) -> usize {
        self.output.borrow().len()
    }

    /// Marks the socket as read by a lease holder; false when the connection is closed or
    /// someone already holds the lease.
    pub(crate) fn claim_lease(&self) -> bool {
        !self.closed.get() && !self.leased.replace(true)
    }

    /// The lease ended: the reader task reads again, starting with what the lease left.
    pub(crate) fn end_lease(&self) {
        self.leased.set(false);
        self.lease_waker.take();
        if !self.input.borrow().is_empty() {
            self.input_unseen.set(true);
        }
        wake(&self.reader_waker);
    }

    /// Reads once more into the input buffer for the lease holder (see
    /// [`ReadLease::poll_fill`](super::ReadLease::poll_fill)); the caller must hold the lease.
    pub(crate) fn poll_fill_leased(&self, cx: &mut Context<'_>) -> Poll<Result<usize, CloseCause>> {
        if self.closed.get() {
            return Poll::Ready(Err(self.closed_cause()));
        }
        store_waker(&self.lease_waker, cx);
        match self.poll_fill(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(n)) if n > 0 => Poll::Ready(Ok(n)),
            Poll::Ready(Ok(_)) => {
                self.close_at_eof();
                Poll::Ready(Err(self.closed_cause()))
            }
            Poll::Ready(Err(e)) => {
                self.close(CloseCause::io(&e));
                Poll::Ready(Err(self.closed_cause()))
            }
        }
    }

    /// Takes what the socket holds right now into the input buffer, without waiting and
    /// whatever the reactor has reported yet: `Ok(n)` bytes appended (0: nothing there). End of
    /// stream and I/O errors close the connection and return its cause.
    ///
    /// For the moment a connection goes from nothing outstanding to a request in flight:
    /// bytes that arrived before are nobody's reply, and must not be taken for the new
    /// request's (the reader task may not have seen them yet).
    pub(crate) fn fill_now(&self) -> Result<usize, CloseCause> {
        if self.closed.get() {
            return Err(self.closed_cause());
        }
        let read = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.stream
                .borrow_mut()
                .read_now_into(&mut self.input.borrow_mut(), &mut scratch[..])
        });
        match read {
            None => Ok(0),
            Some(Ok(0)) => {
                self.close_at_eof();
                Err(self.closed_cause())
            }
            Some(Ok(n)) => Ok(n),
            Some(Err(e)) => {
                self.close(CloseCause::io(&e));
                Err(self.closed_cause())
            }
        }
    }

    pub(crate) fn wake_lease_holder(&self) {
        wake(&self.lease_waker);
    }
}

impl<H: Handler> Outbound for ConnCore<H> {
    fn append(&self, len: usize, encode: &mut dyn FnMut(&mut BytesMut)) -> Result<(), WriteError> {
        self.write_with(len, encode)
    }
}

impl<H: Handler> Closeable for ConnCore<H> {
    fn close_with(&self, cause: CloseCause) {
        self.close(cause);
    }
    fn is_closed(&self) -> bool {
        self.closed.get()
    }
}

/// A connection registered on the current worker. Cloning gives another handle; when the last
/// handle is dropped the connection closes (`on_close(Unregistered)`). `!Send`: it lives and
/// dies on its worker.
pub struct Registered<H: Handler> {
    handle: Rc<Handle<H>>,
}

struct Handle<H: Handler> {
    core: Rc<ConnCore<H>>,
}

impl<H: Handler> Drop for Handle<H> {
    fn drop(&mut self) {
        self.core.close(CloseCause::Unregistered);
    }
}

impl<H: Handler> Clone for Registered<H> {
    fn clone(&self) -> Self {
        Registered {
            handle: self.handle.clone(),
        }
    }
}

impl<H: Handler> std::fmt::Debug for Registered<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("closed", &self.core().is_closed())
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Registered<H> {
    /// Registers `stream` on the current worker: starts its reader and writer tasks.
    /// Fails with [`Error::NotOnWorker`] off a worker thread.
    pub fn register(stream: Stream, handler: H, limits: Limits) -> Result<Self, Error> {
        match crate::WorkerLoop::current() {
            Some(worker) if worker.is_running() => {}
            Some(_) => return Err(Error::WorkerClosing),
            None => return Err(Error::NotOnWorker),
        }
        let core = Rc::new(ConnCore {
            stream: RefCell::new(stream),
            input: RefCell::new(BytesMut::new()),
            output: RefCell::new(BytesMut::new()),
            limits,
            handler: RefCell::new(handler),
            cause: RefCell::new(None),
            write_failed: RefCell::new(None),
            closed: Cell::new(false),
            close_notified: Cell::new(false),
            leased: Cell::new(false),
            input_unseen: Cell::new(false),
            writer_scheduled: Cell::new(false),
            write_blocked: Cell::new(false),
            reader_waker: Cell::new(None),
            writer_waker: Cell::new(None),
            lease_waker: Cell::new(None),
        });
        let weak: std::rc::Weak<dyn Closeable> = Rc::downgrade(&core) as _;
        registry::add(weak);
        let reader = core.clone();
        glommio::spawn_local(futures_lite::future::poll_fn(move |cx| {
            reader.poll_reader(cx)
        }))
        .detach();
        let writer = core.clone();
        glommio::spawn_local(futures_lite::future::poll_fn(move |cx| {
            writer.poll_writer(cx)
        }))
        .detach();
        Ok(Registered {
            handle: Rc::new(Handle { core }),
        })
    }

    pub(crate) fn core(&self) -> &Rc<ConnCore<H>> {
        &self.handle.core
    }

    /// Queues `bytes`; all writes queued in one scheduler tick leave in one `send`.
    pub fn write(&self, bytes: &[u8]) -> Result<(), WriteError> {
        self.core()
            .write_with(bytes.len(), |out| out.extend_from_slice(bytes))
    }

    /// Queues what `encode` appends to the outbound buffer (about `len` bytes, for the limit
    /// check), without an intermediate buffer.
    pub fn write_with(
        &self,
        len: usize,
        encode: impl FnOnce(&mut BytesMut),
    ) -> Result<(), WriteError> {
        self.core().write_with(len, encode)
    }

    /// Queues `bytes` and sends them from the calling task at once (see the module docs).
    pub fn write_now(&self, bytes: &[u8]) -> Result<(), WriteError> {
        self.core().write_now(bytes)
    }

    /// Bytes queued and not yet sent.
    pub fn outbound_len(&self) -> usize {
        self.core().outbound_len()
    }

    /// Closes the connection: `on_close(Unregistered)` runs now (or right after the current
    /// handler callback returns) and the socket is shut down.
    pub fn unregister(&self) {
        self.core().close(CloseCause::Unregistered);
    }

    /// Closes the connection with a cause of the caller's choosing.
    pub fn close(&self, cause: CloseCause) {
        self.core().close(cause);
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.core().is_closed()
    }

    /// Why the connection closed, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        self.core().cause()
    }
}
