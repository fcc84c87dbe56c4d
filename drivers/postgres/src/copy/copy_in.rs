//! COPY FROM STDIN: the source's bytes out as `CopyData` with backpressure, then `CopyDone`
//! (or `CopyFail` when the source fails or the caller goes away).

use std::fmt::Display;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use corelane_pg_proto::message::frontend;
use futures_lite::{Stream, StreamExt};

use super::step::{call, check_started, encode_err, start, Direction, MidCopy};
use super::wait::{on_server, unless_gone, CallerGone};
use crate::codec::{Expect, Response, COPY_CHUNK};
use crate::connection::Connection;
use crate::Error;

/// A COPY IN waits before sending more while this many bytes are queued and unsent.
const HIGH_WATER: usize = 1024 * 1024;

/// Source items a COPY IN takes in one go before it lets the worker's other tasks run. A
/// source that is always ready and a socket that always takes the bytes would otherwise keep
/// the copy inside one poll for the whole copy, stalling every other connection, timer and
/// mailbox job of its core (and a caller's drop or select! could never come in between).
const ITEMS_PER_TURN: u32 = 64;

/// Why a COPY IN was aborted when its caller went away.
pub(super) const CALLER_GONE: &str = "the caller stopped waiting";

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
/// `limit` and ends when the caller is `gone` (see [`super::wait`]).
pub(super) async fn run_copy_in<S, E>(
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
    let reply = on_server(start(&conn, sql), limit, Some(gone)).await?;
    check_started(reply, Direction::In, &mut guard)?;
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
