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
//! (see [`wait`](self::wait)): a stalled server fails the copy with
//! [`Error::is_timeout`] and its connection is closed.
//!
//! Dropping a copy's future (on the worker) or a [`CopyOutStream`] before the end closes the
//! connection (the server rolls back a COPY IN); it never goes back to the pool mid-copy. A
//! COPY IN whose caller (on another thread) stops waiting stops at once too, wherever it
//! waits: waiting for its source, it sends `CopyFail` (the connection serves on); waiting on
//! the server, it closes the connection.

mod copy_in;
mod copy_out;
mod format;
mod step;
pub(crate) mod wait;

use std::fmt::Display;
use std::sync::Arc;

use bytes::Bytes;
use corelane_runtime::dispatch;
use futures_lite::Stream;

use self::copy_in::{run_copy_in, CALLER_GONE};
pub use self::copy_out::CopyOutStream;
use self::copy_out::{pump, Msg};
pub use self::format::{copy_text_row, CopyBinary};
use self::wait::{unless_gone, CallerGone, RaiseOnDrop};
use crate::client::Client;
use crate::pump_chan;
use crate::Error;

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
    /// ```
    /// # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = corelane_testkit::PgServer::start()?;
    /// # let client = corelane_postgres::Client::connect(&server.url())?;
    /// # let client = &client;
    /// # futures_lite::future::block_on(async {
    /// # client.batch_execute("CREATE TABLE items (id int4, note text)").await?;
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
    /// # Ok::<(), corelane_postgres::Error>(())
    /// # })?;
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
        let fallback = || corelane_runtime::ClientHandle::fallback(self);
        let out = dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                let permit = match unless_gone(client.exclusive_connection(), &gone).await {
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
    /// ```
    /// # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = corelane_testkit::PgServer::start()?;
    /// # let client = corelane_postgres::Client::connect(&server.url())?;
    /// # let client = &client;
    /// # futures_lite::future::block_on(async {
    /// # client.batch_execute("CREATE TABLE items (id int4, note text); INSERT INTO items VALUES (1, 'a')").await?;
    /// use futures_lite::StreamExt;
    ///
    /// let mut out = client.copy_out("COPY items TO STDOUT").await?;
    /// let mut bytes = 0;
    /// while let Some(piece) = out.next().await {
    ///     bytes += piece?.len();
    /// }
    /// println!("{bytes} bytes, {:?} rows", out.rows());
    /// # Ok::<(), corelane_postgres::Error>(())
    /// # })?;
    /// # Ok(()) }
    /// ```
    pub async fn copy_out(&self, sql: &str) -> Result<CopyOutStream, Error> {
        let (tx, mut rx) = pump_chan::channel();
        let client = self.clone();
        let config = self.inner.config.clone();
        let sql = sql.to_owned();
        let fallback = || corelane_runtime::ClientHandle::fallback(self);
        let pump = dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                tx.on_this_worker();
                let result = match client.exclusive_connection().await {
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
