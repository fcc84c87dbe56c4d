//! What COPY IN and COPY OUT share: starting the copy on a fresh exclusive connection, one
//! request at a time, and the guard that closes a connection left mid-copy.

use std::fmt::Display;

use bytes::BytesMut;
use corelane_pg_proto::message::frontend;

use crate::codec::{Expect, Response};
use crate::connection::Connection;
use crate::Error;

pub(super) fn encode_err(e: impl Display) -> Error {
    Error::type_error(e)
}

/// Closes the connection if dropped armed: a copy in progress cannot be put back in step.
pub(super) struct MidCopy {
    pub(super) conn: Connection,
    pub(super) armed: bool,
}

impl Drop for MidCopy {
    fn drop(&mut self) {
        if self.armed {
            self.conn.pipe.close();
        }
    }
}

/// Sends one request on the exclusive connection and waits for its reply.
pub(super) async fn call(
    conn: &Connection,
    expect: Expect,
    bytes: &[u8],
) -> Result<Response, Error> {
    conn.pipe
        .call(expect, |b| b.extend_from_slice(bytes))
        .await
        .map_err(Error::from)
}

/// Sends `sql` and returns the reply that starts the copy. Called with the connection fresh
/// from the exclusive pool.
pub(super) async fn start(conn: &Connection, sql: &str) -> Result<Response, Error> {
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

/// Which way a copy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// `COPY ... FROM STDIN` ([`Client::copy_in`](crate::Client::copy_in)).
    In,
    /// `COPY ... TO STDOUT` ([`Client::copy_out`](crate::Client::copy_out)).
    Out,
}

/// Checks the reply to the COPY statement: `Ok` when it started a copy `want`'s way. A
/// statement that failed, or ran without starting a copy, leaves the connection in step (the
/// guard is disarmed); a copy the other way cannot be put back in step (the armed guard
/// closes the connection when dropped).
pub(super) fn check_started(
    reply: Response,
    want: Direction,
    guard: &mut MidCopy,
) -> Result<(), Error> {
    let (call, wanted, other) = match want {
        Direction::In => ("copy_in", "COPY ... FROM STDIN", "COPY ... TO STDOUT"),
        Direction::Out => ("copy_out", "COPY ... TO STDOUT", "COPY ... FROM STDIN"),
    };
    match (reply, want) {
        (Response::CopyIn, Direction::In) | (Response::CopyOut, Direction::Out) => Ok(()),
        (Response::Failed(e), _) => {
            guard.armed = false;
            Err(Error::db(e))
        }
        (Response::Rows { .. }, _) => {
            guard.armed = false;
            Err(Error::runtime(format!(
                "{call} needs a {wanted} statement; the statement ran but did not start one"
            )))
        }
        (Response::CopyIn | Response::CopyOut, _) => Err(Error::runtime(format!(
            "{call} needs a {wanted} statement, not {other}"
        ))),
        _ => Err(Error::protocol("unexpected reply to a COPY statement")),
    }
}
