//! Blocking commands (`BLPOP`, `XREAD … BLOCK`, `WAIT`, …) on a connection of their own.
//!
//! A blocked command holds its connection until the server answers, so it never runs on a
//! shared connection (every other caller would wait behind it). It checks out an exclusive
//! connection; if the caller gives up (drops the future, or the client-side guard fires) while
//! the command is still blocked, that connection is closed, never reused: the server would
//! still answer the abandoned command on it.

use std::time::Duration;

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::dispatch;

use crate::connection::CloseUnlessDone;
use crate::exclusive::checkout;
use crate::handle::Client;
use crate::Error;

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
            || self.next_fallback(),
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
