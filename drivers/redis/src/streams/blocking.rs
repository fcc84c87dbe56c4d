//! Blocking stream reads: `XREAD … BLOCK` and `XREADGROUP … BLOCK`.
//!
//! On a [`Client`] they take the same path as `BLPOP` (crate::blocking): a connection of
//! their own, bounded client-side by the server's timeout plus the connect timeout, closed
//! rather than reused when the call is dropped while blocked. They are not typed commands of
//! [`Pipeline`](crate::Pipeline): a blocked command would hold a shared connection.

use std::time::Duration;

use corelane_redis_proto::ToArg;

use super::{xread_cmd, xreadgroup_cmd, StreamReadOptions};
use crate::call::Call;
use crate::{Client, Error, Exclusive, FromValue};

impl Client {
    /// `XREAD [COUNT n] BLOCK ms STREAMS key... id...`: waits up to `timeout` (server-side;
    /// zero waits until an entry arrives, however long) for entries after `ids`
    /// (`"$"`: entries added from now on). Read it as a [`StreamReadReply`](crate::StreamReadReply),
    /// empty when the timeout passed.
    ///
    /// Runs on a connection of its own, never on the shared pipelined one. If the call is
    /// dropped while blocked, that connection is closed rather than reused (the server would
    /// still answer on it).
    pub fn xread_block<T: FromValue>(
        &self,
        keys: &[impl ToArg],
        ids: &[impl ToArg],
        options: StreamReadOptions,
        timeout: Duration,
    ) -> Call<T> {
        let cmd = xread_cmd(keys, ids, options, Some(timeout));
        Call::blocking(self.clone(), cmd, self.block_limit(timeout))
    }

    /// `XREADGROUP GROUP group consumer [COUNT n] BLOCK ms [NOACK] STREAMS key... id...`
    /// (see [`xread_block`](Self::xread_block)): `">"` waits for entries never delivered to
    /// the group.
    pub fn xreadgroup_block<T: FromValue>(
        &self,
        group: impl ToArg,
        consumer: impl ToArg,
        keys: &[impl ToArg],
        ids: &[impl ToArg],
        options: StreamReadOptions,
        timeout: Duration,
    ) -> Call<T> {
        let cmd = xreadgroup_cmd(group, consumer, keys, ids, options, Some(timeout));
        Call::blocking(self.clone(), cmd, self.block_limit(timeout))
    }

    /// The client-side bound of a read the server answers by `timeout` (see
    /// crate::limits::guard).
    fn block_limit(&self, timeout: Duration) -> Option<Duration> {
        crate::limits::guard(timeout, self.config().connect_timeout)
    }
}

impl Exclusive {
    /// `XREAD … BLOCK` on this connection (see [`Client::xread_block`]). No client-side
    /// bound: the server's timeout ends it (zero: until an entry arrives). Dropped while
    /// blocked, it closes this connection (the server would still answer on it).
    pub async fn xread_block<T: FromValue>(
        &self,
        keys: &[impl ToArg],
        ids: &[impl ToArg],
        options: StreamReadOptions,
        timeout: Duration,
    ) -> Result<T, Error> {
        self.blocking(xread_cmd(keys, ids, options, Some(timeout)))
            .await
    }

    /// `XREADGROUP … BLOCK` on this connection (see [`Client::xreadgroup_block`]).
    pub async fn xreadgroup_block<T: FromValue>(
        &self,
        group: impl ToArg,
        consumer: impl ToArg,
        keys: &[impl ToArg],
        ids: &[impl ToArg],
        options: StreamReadOptions,
        timeout: Duration,
    ) -> Result<T, Error> {
        let cmd = xreadgroup_cmd(group, consumer, keys, ids, options, Some(timeout));
        self.blocking(cmd).await
    }
}
