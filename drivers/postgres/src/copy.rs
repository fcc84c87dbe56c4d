//! COPY FROM STDIN and COPY TO STDOUT, on an exclusive connection.
//!
//! A copy puts the connection in a mode where only copy messages flow, so it cannot share the
//! pipelined connections: like a transaction, it runs on a connection checked out of the
//! worker's exclusive pool, on a worker (this one when called on one, else through the
//! mailbox), and the connection goes back marked for a reset (`DISCARD ALL`).
//!
//! # COPY IN ([`Client::copy_in`])
//!
//! `Query(sql)` → `CopyInResponse`; then the source's bytes go out as `CopyData` messages of
//! up to 64 KiB (message boundaries need not match rows), each a request whose reply is
//! immediate ([`Expect::CopySend`]): the codec takes aside an error the server may have sent
//! early (bad data), and the copy stops reading the source at once. Backpressure: before each
//! `CopyData` the copy waits until the connection's unsent bytes are below
//! [`HIGH_WATER`], so at most that much plus one chunk is buffered, whatever the source's
//! size. At the end, `CopyDone` → `CommandComplete` + `ReadyForQuery` (the row count). A
//! source that yields an error sends `CopyFail` instead: the server rolls the COPY back and
//! answers with an error, and the caller gets [`Error::is_copy_aborted`]; the connection is in
//! step and serves on.
//!
//! # COPY OUT ([`Client::copy_out`])
//!
//! A reply in the runtime is one value per request, so the data comes as a series of requests
//! that send nothing ([`Expect::CopyChunk`]): each reply is the next piece — whole `CopyData`
//! payloads concatenated, up to 64 KiB — or the end. A pump task on the worker forwards the
//! pieces through a bounded channel ([`CAPACITY`](crate::pump_chan::CAPACITY) pieces) to the [`CopyOutStream`],
//! which may be on any thread. Memory stays bounded even with a slow consumer: nothing reads
//! the socket unless a piece is wanted. Between requests the pump holds reading back
//! ([`Pipe::hold_reading`](corelane_runtime::roundtrip::Pipe::hold_reading)), so the loop's
//! reader does not read ahead, and each request reads only until its own piece is complete
//! (a read of at most 64 KiB at a time). The server is held back by TCP. Bound: the channel,
//! plus about two pieces in the connection's input buffer.
//!
//! (A request started while the channel was full used to hold the lease instead; but a
//! started request reads until the socket is drained, so each piece let in all the socket
//! held, and the input buffer grew by the server's whole output with a slow consumer.)
//!
//! # Timeouts and cancellation
//!
//! Every wait on the server is bounded by [`Config::copy_timeout`](crate::Config::copy_timeout)
//! (see [`crate::copy_wait`]): a stalled server fails the copy with
//! [`Error::is_timeout`] and its connection is closed.
//!
//! Dropping a copy's future (on the worker) or a [`CopyOutStream`] before the end closes the
//! connection (the server rolls back a COPY IN); it never goes back to the pool mid-copy. A
//! COPY IN whose caller (on another thread) stops waiting stops at once too, wherever it
//! waits: waiting for its source, it sends `CopyFail` (the connection serves on); waiting on
//! the server, it closes the connection.

use std::fmt::Display;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use corelane_pg_proto::message::frontend;
use corelane_pg_proto::types::{IsNull, Oid, ToSql, Type};
use corelane_runtime::dispatch;
use futures_lite::{Stream, StreamExt};

use crate::client::Client;
use crate::codec::{Expect, Response, COPY_CHUNK};
use crate::connection::Connection;
use crate::copy_wait::{on_server, unless_gone, CallerGone, RaiseOnDrop};
use crate::pump_chan::{self, Receiver, Sender};
use crate::worker_state;
use crate::Error;

/// A COPY IN waits before sending more while this many bytes are queued and unsent.
const HIGH_WATER: usize = 1024 * 1024;

/// Source items a COPY IN takes in one go before it lets the worker's other tasks run. A
/// source that is always ready and a socket that always takes the bytes would otherwise keep
/// the copy inside one poll for the whole copy, stalling every other connection, timer and
/// mailbox job of its core (and a caller's drop or select! could never come in between).
const ITEMS_PER_TURN: u32 = 64;

/// Why a COPY IN was aborted when its caller went away.
const CALLER_GONE: &str = "the caller stopped waiting";

fn encode_err(e: impl Display) -> Error {
    Error::type_error(e)
}

/// Closes the connection if dropped armed: a copy in progress cannot be put back in step.
struct MidCopy {
    conn: Connection,
    armed: bool,
}

impl Drop for MidCopy {
    fn drop(&mut self) {
        if self.armed {
            self.conn.pipe.close();
        }
    }
}

/// Sends one request on the exclusive connection and waits for its reply.
async fn call(conn: &Connection, expect: Expect, bytes: &[u8]) -> Result<Response, Error> {
    conn.pipe
        .call(expect, |b| b.extend_from_slice(bytes))
        .await
        .map_err(Error::from)
}

/// Sends `sql` and returns the reply that starts the copy. Called with the connection fresh
/// from the exclusive pool.
async fn start(conn: &Connection, sql: &str) -> Result<Response, Error> {
    conn.mark_session_dirty();
    if !conn.pipe.is_idle() {
        // Something its last user left in flight: let it finish first, so every copy request
        // reads its own reply directly (none waits in the bridge queue).
        conn.simple("").await?;
    }
    let mut out = BytesMut::new();
    frontend::query(sql, &mut out).map_err(encode_err)?;
    call(conn, Expect::CopyStart, &out).await
}

/// Why a COPY IN stopped reading its source early.
enum Stop {
    /// The source ran out.
    Done,
    /// Send `CopyFail` with this message.
    Abort(String),
    /// The server already ended the copy (an error).
    Ended,
}

/// Sends `data` as one `CopyData`, after waiting for room. True when the server already ended
/// the copy.
async fn send_data(conn: &Connection, data: &[u8], msg: &mut BytesMut) -> Result<bool, Error> {
    let mut spins = 0u32;
    while conn.pipe.outbound_len() > HIGH_WATER {
        if conn.pipe.is_closed() {
            break;
        }
        // The writer task drains the buffer as the socket takes it; let it run.
        if spins < 16 {
            corelane_runtime::task::yield_now().await;
        } else {
            corelane_runtime::task::sleep(std::time::Duration::from_micros(500)).await;
        }
        spins = spins.saturating_add(1);
    }
    msg.clear();
    frontend::copy_data(data, msg).map_err(encode_err)?;
    match call(conn, Expect::CopySend, msg).await? {
        Response::CopySent { ended } => Ok(ended),
        _ => Err(Error::protocol("unexpected reply to CopyData")),
    }
}

/// Runs a whole COPY IN on `conn` (on its worker). Every wait on the server is bounded by
/// `limit` and ends when the caller is `gone` (see [`crate::copy_wait`]).
async fn run_copy_in<S, E>(
    conn: Connection,
    sql: &str,
    source: S,
    gone: &CallerGone,
    limit: Option<Duration>,
) -> Result<u64, Error>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Display,
{
    let mut guard = MidCopy {
        conn: conn.clone(),
        armed: true,
    };
    match on_server(start(&conn, sql), limit, Some(gone)).await? {
        Response::CopyIn => {}
        Response::Failed(e) => {
            guard.armed = false;
            return Err(Error::db(e));
        }
        Response::Rows { .. } => {
            guard.armed = false;
            return Err(Error::runtime(
                "copy_in needs a COPY ... FROM STDIN statement; the statement ran but did not \
                 start one",
            ));
        }
        // A COPY OUT (its data is on the way) cannot be put back in step: closed by the guard.
        Response::CopyOut => {
            return Err(Error::runtime(
                "copy_in needs a COPY ... FROM STDIN statement, not COPY ... TO STDOUT",
            ))
        }
        _ => return Err(Error::protocol("unexpected reply to a COPY statement")),
    }
    let mut source = std::pin::pin!(source);
    let mut buf = BytesMut::with_capacity(COPY_CHUNK);
    let mut msg = BytesMut::with_capacity(COPY_CHUNK + 8);
    let mut turn = 0u32;
    let stop = 'read: loop {
        // A source may wait for a long time (it is the caller's business); a caller that stops
        // waiting ends the wait.
        let Some(next) = unless_gone(source.next(), gone).await else {
            break Stop::Abort(CALLER_GONE.to_owned());
        };
        turn = turn.saturating_add(1);
        if turn >= ITEMS_PER_TURN {
            turn = 0;
            corelane_runtime::task::yield_now().await;
        }
        match next {
            None => break Stop::Done,
            Some(Err(e)) => break Stop::Abort(format!("aborted by the source: {e}")),
            Some(Ok(bytes)) => {
                let mut rest: &[u8] = &bytes;
                while !rest.is_empty() {
                    let room = COPY_CHUNK.saturating_sub(buf.len()).max(1);
                    let (now, later) = rest.split_at(room.min(rest.len()));
                    buf.extend_from_slice(now);
                    rest = later;
                    if buf.len() >= COPY_CHUNK {
                        let ended =
                            on_server(send_data(&conn, &buf, &mut msg), limit, Some(gone)).await?;
                        buf.clear();
                        if ended {
                            break 'read Stop::Ended;
                        }
                    }
                }
            }
        }
    };
    if matches!(stop, Stop::Done) && !buf.is_empty() {
        on_server(send_data(&conn, &buf, &mut msg), limit, Some(gone)).await?;
    }
    drop(buf);
    msg.clear();
    let aborted = match &stop {
        Stop::Abort(why) => {
            frontend::copy_fail(why, &mut msg).map_err(encode_err)?;
            Some(why.clone())
        }
        // After an early error the server drops CopyDone; the reply comes from what the codec
        // already read.
        Stop::Done | Stop::Ended => {
            frontend::copy_done(&mut msg);
            None
        }
    };
    // The end's reply, bounded by the timeout; when the caller is gone the `CopyFail` exchange
    // is let finish (so the connection goes back in step), otherwise the caller's going away
    // ends the wait too (the connection is closed).
    let gone = (!gone.is_set()).then_some(gone);
    let reply = on_server(call(&conn, Expect::CopyEnd, &msg), limit, gone).await?;
    guard.armed = false;
    match (reply, aborted) {
        (Response::Rows { complete, .. }, None) => Ok(complete.and_then(|c| c.rows()).unwrap_or(0)),
        (Response::Failed(_), Some(why)) => Err(Error::copy_aborted(why)),
        (Response::Failed(e), None) => Err(Error::db(e)),
        _ => Err(Error::protocol("unexpected reply at the end of a COPY")),
    }
}

/// What the pump tells the stream.
enum Msg {
    Started,
    Chunk(Bytes),
    Done(u64),
    Failed(Error),
}

/// The data of a `COPY ... TO STDOUT`, as it arrives: see [`Client::copy_out`].
///
/// Each item is a piece of the copy's output: one or more whole `CopyData` payloads, in order
/// (for the text and CSV formats, whole rows; the binary format's header and trailer come as
/// data too). The stream ends after the last piece; an error ends it early.
#[must_use = "a COPY OUT streams only while it is polled"]
pub struct CopyOutStream {
    rx: Receiver<Msg>,
    rows: Option<u64>,
    finished: bool,
}

impl std::fmt::Debug for CopyOutStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOutStream")
            .field("rows", &self.rows)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl CopyOutStream {
    /// The rows the server reported copied (`COPY n`), once the stream has ended.
    pub fn rows(&self) -> Option<u64> {
        self.rows
    }

    fn poll_msg(&mut self, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        self.rx.poll_recv(cx)
    }
}

impl Stream for CopyOutStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.poll_msg(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.finished = true;
                    if this.rows.is_none() {
                        return Poll::Ready(Some(Err(Error::protocol(
                            "the COPY OUT ended without its end",
                        ))));
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Msg::Started)) => {}
                Poll::Ready(Some(Msg::Chunk(b))) => return Poll::Ready(Some(Ok(b))),
                Poll::Ready(Some(Msg::Done(n))) => {
                    this.rows = Some(n);
                    this.finished = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Msg::Failed(e))) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

/// Runs a COPY OUT on `conn`, forwarding its data to `tx` (on the connection's worker). Each
/// wait on the server is bounded by `limit`.
async fn pump(
    conn: Connection,
    sql: &str,
    tx: &Sender<Msg>,
    limit: Option<Duration>,
) -> Result<(), Error> {
    let mut guard = MidCopy {
        conn: conn.clone(),
        armed: true,
    };
    match on_server(start(&conn, sql), limit, None).await? {
        Response::CopyOut => tx.push(Msg::Started),
        Response::Failed(e) => {
            guard.armed = false;
            return Err(Error::db(e));
        }
        Response::Rows { .. } => {
            guard.armed = false;
            return Err(Error::runtime(
                "copy_out needs a COPY ... TO STDOUT statement; the statement ran but did not \
                 start one",
            ));
        }
        // The server waits for data that will not come: closed by the guard.
        Response::CopyIn => {
            return Err(Error::runtime(
                "copy_out needs a COPY ... TO STDOUT statement, not COPY ... FROM STDIN",
            ))
        }
        _ => return Err(Error::protocol("unexpected reply to a COPY statement")),
    }
    let mut hold = None;
    loop {
        // While the consumer is behind, nothing reads this socket: what the server sends next
        // waits in the kernel, then on the server (TCP). Reading resumes only for the one
        // request below, which reads no more than its piece needs.
        if hold.is_none() {
            hold = conn.pipe.hold_reading();
        }
        if !tx.room().await {
            // The stream was dropped: the guard closes the connection.
            return Ok(());
        }
        // Let go and start the request in this same poll: the loop's reader gets no chance to
        // read in between (it runs only when this task yields), and the request takes the read
        // lease itself (the connection is idle), keeping it until its piece is complete. When
        // the piece is complete the lease is dropped and taken again above, in the same poll.
        drop(hold.take());
        match on_server(call(&conn, Expect::CopyChunk, &[]), limit, None).await? {
            Response::CopyChunk(data) => tx.push(Msg::Chunk(data)),
            Response::Rows { complete, .. } => {
                guard.armed = false;
                tx.push(Msg::Done(complete.and_then(|c| c.rows()).unwrap_or(0)));
                return Ok(());
            }
            Response::Failed(e) => {
                guard.armed = false;
                return Err(Error::db(e));
            }
            _ => return Err(Error::protocol("unexpected reply during COPY OUT")),
        }
    }
}

impl Client {
    /// Runs `sql`, a `COPY ... FROM STDIN` statement, feeding it `source`'s bytes; returns the
    /// number of rows copied.
    ///
    /// `source` yields raw COPY data in the statement's format, in pieces of any size (they
    /// need not end at rows): text or CSV rows, or the binary format with its header and
    /// trailer. [`copy_text_row`] and [`CopyBinary`] format rows. It is read lazily and
    /// never buffered whole: at most about a megabyte is queued on the connection at a time.
    ///
    /// When `source` yields an error, the copy is aborted (`CopyFail`): nothing of it is kept,
    /// the error [`is_copy_aborted`](Error::is_copy_aborted) and carries the source's
    /// message, and the client serves on. A row the server rejects ends the copy the same way
    /// with the server's error (the source is not read further).
    ///
    /// The copy runs on a connection of its own (no other statement interleaves), on a
    /// worker, like [`transaction`](Self::transaction); `source` is polled there. Not bounded
    /// by the query timeout: each wait on the server is bounded by
    /// [`Config::copy_timeout`](crate::Config::copy_timeout) instead (a stalled server fails the
    /// copy with [`Error::is_timeout`] and the connection is closed, rolling it back); the time
    /// the source takes is not bounded. Dropping the future stops the copy at once, wherever it
    /// waits, and rolls it back: on a worker it closes that connection; from another thread,
    /// the copy is aborted with `CopyFail` if it was waiting for the source, or its connection
    /// closed if it was waiting on the server.
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// use bytes::{Bytes, BytesMut};
    /// use corelane_postgres::copy_text_row;
    /// use futures_lite::StreamExt;
    ///
    /// let rows = futures_lite::stream::iter(0..1000).map(|i| {
    ///     let mut out = BytesMut::new();
    ///     copy_text_row([Some(i.to_string().as_str()), Some("tab\there")], &mut out);
    ///     Ok::<Bytes, std::io::Error>(out.freeze())
    /// });
    /// let n = client.copy_in("COPY items (id, note) FROM STDIN", rows).await?;
    /// assert_eq!(n, 1000);
    /// # Ok(()) }
    /// ```
    pub async fn copy_in<S, E>(&self, sql: &str, source: S) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Display + 'static,
    {
        let gone = Arc::new(CallerGone::default());
        let mut raise = RaiseOnDrop(Some(gone.clone()));
        let client = self.clone();
        let config = self.inner.config.clone();
        let sql = sql.to_owned();
        let fallback = self.inner.next_worker.fetch_add(1, Ordering::Relaxed);
        let out = dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                let permit = match unless_gone(worker_state::exclusive(&client), &gone).await {
                    Some(permit) => permit?,
                    None => return Err(Error::copy_aborted(CALLER_GONE)),
                };
                let conn = (*permit).clone();
                run_copy_in(conn, &sql, source, &gone, config.copy_timeout).await
            },
        )
        .await
        .map_err(Error::from);
        raise.0 = None;
        out?
    }

    /// Runs `sql`, a `COPY ... TO STDOUT` statement, and streams its output.
    ///
    /// Resolves once the server has started the copy (a failing statement is this call's
    /// error); the returned [`CopyOutStream`] then yields the data in pieces of up to about
    /// 64 KiB, each made of whole `CopyData` messages (whole rows, for text and CSV). Memory
    /// stays bounded however large the output and however slow the consumer: the server is
    /// held back while a few pieces wait unread. [`CopyOutStream::rows`] gives the count at
    /// the end.
    ///
    /// The copy runs on a connection of its own, on a worker (this one when called on one:
    /// then it progresses while the stream is polled). Dropping the stream before its end
    /// closes that connection. Not bounded by the query timeout: each wait for the server's
    /// next piece is bounded by [`Config::copy_timeout`](crate::Config::copy_timeout) (the
    /// stream then ends with [`Error::is_timeout`]); the time the consumer takes is not.
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// use futures_lite::StreamExt;
    ///
    /// let mut out = client.copy_out("COPY items TO STDOUT").await?;
    /// let mut bytes = 0;
    /// while let Some(piece) = out.next().await {
    ///     bytes += piece?.len();
    /// }
    /// println!("{bytes} bytes, {:?} rows", out.rows());
    /// # Ok(()) }
    /// ```
    pub async fn copy_out(&self, sql: &str) -> Result<CopyOutStream, Error> {
        let (tx, mut rx) = pump_chan::channel();
        let client = self.clone();
        let config = self.inner.config.clone();
        let sql = sql.to_owned();
        let fallback = self.inner.next_worker.fetch_add(1, Ordering::Relaxed);
        let pump = dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                tx.on_this_worker();
                let result = match worker_state::exclusive(&client).await {
                    Ok(permit) => {
                        let conn = (*permit).clone();
                        pump(conn, &sql, &tx, config.copy_timeout).await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tx.push(Msg::Failed(e));
                }
            },
        );
        rx.set_pump(pump);
        let mut stream = CopyOutStream {
            rx,
            rows: None,
            finished: false,
        };
        match futures_lite::future::poll_fn(|cx| stream.poll_msg(cx)).await {
            Some(Msg::Started) => Ok(stream),
            Some(Msg::Failed(e)) => {
                stream.finished = true;
                Err(e)
            }
            _ => Err(Error::protocol("the COPY OUT did not start")),
        }
    }
}

/// Appends one row in COPY's text format (the default format of `COPY ... FROM STDIN`) to
/// `out`: fields separated by tabs, `None` as `\N`, backslash, newline, carriage return and
/// tab escaped, and a newline at the end.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// corelane_postgres::copy_text_row([Some("a\tb"), None, Some("c\\d")], &mut out);
/// assert_eq!(&out[..], b"a\\tb\t\\N\tc\\\\d\n");
/// ```
pub fn copy_text_row<'a, I>(fields: I, out: &mut BytesMut)
where
    I: IntoIterator<Item = Option<&'a str>>,
{
    for (k, field) in fields.into_iter().enumerate() {
        if k > 0 {
            out.put_u8(b'\t');
        }
        let Some(text) = field else {
            out.extend_from_slice(b"\\N");
            continue;
        };
        let bytes = text.as_bytes();
        let mut from = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                _ => continue,
            };
            out.extend_from_slice(bytes.get(from..i).unwrap_or_default());
            out.extend_from_slice(escaped);
            from = i + 1;
        }
        out.extend_from_slice(bytes.get(from..).unwrap_or_default());
    }
    out.put_u8(b'\n');
}

/// Formats rows in COPY's binary format (`COPY ... FROM STDIN (FORMAT binary)`), with the
/// column types given once: [`header`](Self::header), then [`row`](Self::row) per row, then
/// [`trailer`](Self::trailer).
///
/// ```
/// use corelane_postgres::{oid, CopyBinary};
///
/// let copy = CopyBinary::new(vec![oid::INT4, oid::TEXT]);
/// let mut out = bytes::BytesMut::new();
/// copy.header(&mut out);
/// copy.row(&[&1i32, &"one"], &mut out)?;
/// copy.row(&[&2i32, &None::<&str>], &mut out)?;
/// copy.trailer(&mut out);
/// # Ok::<(), corelane_postgres::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CopyBinary {
    types: Vec<Type>,
}

/// The binary COPY signature, flags and header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

impl CopyBinary {
    /// Rows of these built-in column types, in the statement's column order (an OID this
    /// crate does not know is taken as [`Type::unresolved`]; use
    /// [`with_types`](Self::with_types) for your own types).
    pub fn new(types: Vec<Oid>) -> Self {
        CopyBinary {
            types: types
                .into_iter()
                .map(Type::from_oid_or_unresolved)
                .collect(),
        }
    }

    /// Rows of these column types (e.g. a [`Statement`](crate::Statement)'s column types,
    /// user-defined ones included), in the statement's column order.
    pub fn with_types(types: Vec<Type>) -> Self {
        CopyBinary { types }
    }

    /// Appends the header (once, before the first row).
    pub fn header(&self, out: &mut BytesMut) {
        out.extend_from_slice(BINARY_HEADER);
    }

    /// Appends one row: one value per column type. On error nothing is appended.
    pub fn row(&self, values: &[&(dyn ToSql + Sync)], out: &mut BytesMut) -> Result<(), Error> {
        if values.len() != self.types.len() {
            return Err(Error::type_error(format!(
                "{} values for {} columns",
                values.len(),
                self.types.len()
            )));
        }
        let count = i16::try_from(values.len())
            .map_err(|_| Error::type_error("too many columns for a binary COPY row"))?;
        let start = out.len();
        out.put_i16(count);
        for (value, ty) in values.iter().zip(&self.types) {
            let at = out.len();
            out.put_i32(0);
            let written = match value.to_sql_checked(ty, out) {
                Ok(IsNull::No) => i32::try_from(out.len() - at - 4)
                    .map_err(|_| Error::type_error("a value too large for a binary COPY row")),
                Ok(IsNull::Yes) => Ok(-1),
                Err(e) => Err(Error::from(e)),
            };
            match written {
                Ok(len) => {
                    if let Some(slot) = out.get_mut(at..at + 4) {
                        slot.copy_from_slice(&len.to_be_bytes());
                    }
                    if len < 0 {
                        out.truncate(at + 4);
                    }
                }
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Appends the trailer (once, after the last row).
    pub fn trailer(&self, out: &mut BytesMut) {
        out.put_i16(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rows_escape() {
        let mut out = BytesMut::new();
        copy_text_row(
            [Some("plain"), Some("a\\b\nc\rd\te"), None, Some("")],
            &mut out,
        );
        assert_eq!(&out[..], b"plain\ta\\\\b\\nc\\rd\\te\t\\N\t\n");
    }

    #[test]
    fn binary_rows() {
        let copy = CopyBinary::new(vec![
            corelane_pg_proto::types::oid::INT4,
            corelane_pg_proto::types::oid::TEXT,
        ]);
        let mut out = BytesMut::new();
        copy.header(&mut out);
        assert_eq!(out.len(), 19);
        copy.row(&[&7i32, &None::<&str>], &mut out)
            .unwrap_or_default();
        assert_eq!(&out[19..], b"\0\x02\0\0\0\x04\0\0\0\x07\xff\xff\xff\xff");
        assert!(copy.row(&[&7i32], &mut out).is_err());
        copy.trailer(&mut out);
        assert_eq!(&out[out.len() - 2..], b"\xff\xff");
    }
}
