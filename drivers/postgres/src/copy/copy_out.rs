//! COPY TO STDOUT: a pump on the connection's worker reads the output one piece per request
//! and forwards it through a bounded channel to the [`CopyOutStream`], on any thread.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::Stream;

use super::step::{call, check_started, start, Direction, MidCopy};
use super::wait::on_server;
use crate::codec::{Expect, Response};
use crate::connection::Connection;
use crate::pump_chan::{Receiver, Sender};
use crate::Error;

/// What the pump tells the stream.
pub(super) enum Msg {
    Started,
    Chunk(Bytes),
    Done(u64),
    Failed(Error),
}

/// The data of a `COPY ... TO STDOUT`, as it arrives: see [`Client::copy_out`](crate::Client::copy_out).
///
/// Each item is a piece of the copy's output: one or more whole `CopyData` payloads, in order
/// (for the text and CSV formats, whole rows; the binary format's header and trailer come as
/// data too). The stream ends after the last piece; an error ends it early.
#[must_use = "a COPY OUT streams only while it is polled"]
pub struct CopyOutStream {
    pub(super) rx: Receiver<Msg>,
    pub(super) rows: Option<u64>,
    pub(super) finished: bool,
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

    pub(super) fn poll_msg(&mut self, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
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
pub(super) async fn pump(
    conn: Connection,
    sql: &str,
    tx: &Sender<Msg>,
    limit: Option<Duration>,
) -> Result<(), Error> {
    let mut guard = MidCopy {
        conn: conn.clone(),
        armed: true,
    };
    let reply = on_server(start(&conn, sql), limit, None).await?;
    check_started(reply, Direction::Out, &mut guard)?;
    tx.push(Msg::Started);
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
