//! Blocking commands (`BLPOP`, `XREAD … BLOCK`, `WAIT`, …) on a connection of their own.
//!
//! A blocked command holds its connection until the server answers, so it never runs on a
//! shared connection (every other caller would wait behind it). It checks out an exclusive
//! connection; if the caller gives up (drops the future, or the client-side guard fires) while
//! the command is still blocked, that connection is closed, never reused: the server would
//! still answer the abandoned command on it.

use std::time::{Duration, Instant};

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::dispatch;

use crate::client::Client;
use crate::connection::Connection;
use crate::exclusive::checkout;
use crate::Error;

/// Closes the connection when dropped while armed: the blocked command was abandoned.
pub(crate) struct CloseUnlessDone<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) armed: bool,
}

impl Drop for CloseUnlessDone<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.conn.pipe.close();
        }
    }
}

/// The client-side guard of a command the server answers by `server_timeout` (zero: never,
/// it blocks until data arrives): the server's own timeout plus `slack` for the network, or no
/// guard at all when blocking forever or when the sum does not fit a deadline (a timeout
/// of 1e15 s must not overflow and panic; the server is then trusted to answer).
pub(crate) fn guard(server_timeout: Duration, slack: Duration) -> Option<Duration> {
    if server_timeout.is_zero() {
        return None;
    }
    let total = server_timeout.checked_add(slack)?;
    // A deadline the clock cannot represent is no deadline.
    Instant::now().checked_add(total.checked_mul(2)?)?;
    Some(total)
}

impl Client {
    /// Runs `cmd` (a blocking command) on an exclusive connection of a worker, bounded by
    /// `limit` when given.
    pub(crate) async fn run_blocking(
        &self,
        cmd: Cmd,
        limit: Option<Duration>,
    ) -> Result<Value, Error> {
        let client = self.clone();
        dispatch(
            &**self.workers(),
            self.next_fallback(),
            move || async move {
                let mut permit = checkout(&client).await?;
                // Cancelled while blocked: the connection must not be reused.
                permit.set_discard(true);
                let mut close = CloseUnlessDone {
                    conn: &permit,
                    armed: true,
                };
                let call = close.conn.pipe.call((), |buf| cmd.write_to(buf));
                let reply = match limit {
                    None => call.await.map_err(Error::from),
                    Some(limit) => corelane_runtime::task::timeout(limit, call)
                        .await
                        .map_or(Err(Error::timeout(limit)), |r| r.map_err(Error::from)),
                };
                // Answered (a value or a server error): the connection is in step again.
                close.armed = reply.is_err();
                drop(close);
                if reply.is_ok() {
                    permit.set_discard(false);
                }
                reply
            },
        )
        .await
        .map_err(Error::from)?
    }
}
