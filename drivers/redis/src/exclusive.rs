//! Exclusive connections: `WATCH` transactions and blocking commands.
//!
//! The client's ordinary calls share pipelined connections, where another caller's commands
//! can land between yours. `WATCH … MULTI … EXEC` and blocking pops need a connection of their
//! own: these run on a connection checked out of the worker's exclusive pool, which is reset
//! (`DISCARD`, `UNWATCH`) before its next user.

use std::future::Future;
use std::time::{Duration, Instant};

use corelane_redis_proto::{Cmd, ToArg};
use corelane_runtime::dispatch;
use corelane_runtime::pool::{Backoff, PoolKind, Pooled};

use crate::call::Reply;
use crate::classify::{classify, refusal};
use crate::connection::Connection;
use crate::handle::Client;
use crate::pipeline::Pipeline;
use crate::worker_state::{pool_error, RedisManager};
use crate::{Error, FromValue};

/// Optimistic transactions retry at most this many times when a watched key keeps changing.
pub const MAX_TRANSACTION_ATTEMPTS: usize = 64;

/// Bounds of the random pause before a transaction starts over after an aborted `EXEC`.
pub(crate) const RETRY_PAUSE_MIN: Duration = Duration::from_micros(50);
pub(crate) const RETRY_PAUSE_MAX: Duration = Duration::from_millis(5);

/// A connection checked out for one caller's exclusive use (inside
/// [`Client::with_connection`] and [`Client::transaction`]). Lives on the worker.
///
/// It has the same typed commands as [`Client`] and [`Pipeline`] (`conn.get::<i64>("k")`,
/// `conn.xadd(…)`, …) as `async` methods, plus [`query`](Self::query) for any other command.
/// Blocking reads ([`xread_block`](Self::xread_block), `BLPOP` through `query`) block this
/// connection only; there is no client-side timeout on it (the server's own timeout ends them).
/// An `xread_block` dropped while blocked closes this connection (later commands on it fail
/// with [`Error::is_closed`]; the pool replaces it).
#[derive(Clone)]
pub struct Exclusive {
    conn: Connection,
}

impl std::fmt::Debug for Exclusive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exclusive").finish_non_exhaustive()
    }
}

impl Exclusive {
    /// Sends any command on this connection.
    ///
    /// Transactions (`MULTI`, `WATCH`, …) and blocking commands are fine here; a command whose
    /// effect would outlive this checkout and reach the connection's next user (`SELECT`,
    /// `CLIENT REPLY`, `SUBSCRIBE`, `HELLO`, …) fails with [`Error::is_refused`].
    pub async fn query<T: FromValue>(&self, cmd: Cmd) -> Result<T, Error> {
        let class = classify(&cmd);
        if !class.allowed_exclusive() {
            return Err(refusal(&cmd, class));
        }
        self.conn.query(&cmd).await
    }

    /// A typed command (see commands.rs): known to leave no state behind, its reply kind
    /// checked before conversion.
    pub(crate) async fn typed<T: FromValue>(&self, cmd: Cmd, reply: Reply) -> Result<T, Error> {
        let value = self.conn.pipe.call((), |buf| cmd.write_to(buf)).await?;
        T::from_value(reply.check(value)?)
    }

    /// A blocking typed command (`XREAD … BLOCK`): as [`typed`](Self::typed), but if the
    /// caller gives up while it is blocked, the connection is closed. Otherwise it would go
    /// back to the exclusive pool with the server still blocked on it, and its next user (its
    /// reset first) would wait behind the abandoned command.
    pub(crate) async fn blocking<T: FromValue>(&self, cmd: Cmd) -> Result<T, Error> {
        let mut close = crate::connection::CloseUnlessDone {
            conn: &self.conn,
            armed: true,
        };
        let value = close.conn.pipe.call((), |buf| cmd.write_to(buf)).await;
        // Answered (a value or a server error): in step again.
        close.armed = value.is_err();
        drop(close);
        T::from_value(value?)
    }

    /// Sends a pipeline on this connection (see [`Client::pipeline`]).
    pub async fn pipeline<T: FromValue>(&self, pipeline: &Pipeline) -> Result<T, Error> {
        if let Some(e) = pipeline.refusal(true) {
            return Err(e);
        }
        let request = pipeline.request();
        let mut batch = self.conn.pipe.take_batch();
        request.fill(&mut batch);
        let outcome = self.conn.pipe.run(&mut batch).await;
        let value = match outcome {
            Ok(()) => request.assemble(&mut batch),
            Err(e) => Err(e.into()),
        };
        self.conn.pipe.recycle_batch(batch);
        T::from_value(value?)
    }
}

pub(crate) async fn checkout(client: &Client) -> Result<Pooled<RedisManager>, Error> {
    let state = client.worker_state()?;
    let permit = state.exclusive.get().await.map_err(|e| {
        let limit = state.exclusive.config().acquire_timeout;
        pool_error(PoolKind::Exclusive, limit, e)
    })?;
    // Whatever the caller does may leave state behind; the pool resets it before reuse.
    permit.needs_reset.set(true);
    Ok(permit)
}

impl Client {
    /// Runs `f` with a connection of its own (no other caller's commands interleave), on a
    /// worker of this client, from any thread. The connection is reset before its next user.
    pub async fn with_connection<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Exclusive) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        let client = self.clone();
        dispatch(
            &**self.workers(),
            || self.next_fallback(),
            move || async move {
                let permit = checkout(&client).await?;
                f(Exclusive {
                    conn: (*permit).clone(),
                })
                .await
            },
        )
        .await
        .map_err(Error::from)?
    }

    /// An optimistic transaction: `WATCH keys`, then `build` reads what it needs through the
    /// connection it is given and returns the commands to run atomically; they run as
    /// `MULTI … EXEC`. When a watched key changed meanwhile (`EXEC` aborted), it starts over
    /// after a short random pause (growing from 50 µs to at most 5 ms, so contenders that
    /// collided spread out instead of colliding again) — at most [`MAX_TRANSACTION_ATTEMPTS`]
    /// times, then the abort is returned ([`Error::is_exec_aborted`]).
    ///
    /// ```
    /// # // Runs against a throwaway redis-server (corelane-testkit, a dev-dependency).
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = corelane_testkit::RedisServer::start()?;
    /// # let client = corelane_redis::Client::open(&server.url())?;
    /// # futures_lite::future::block_on(async {
    /// use corelane_redis::Pipeline;
    /// let (_, balance): ((), i64) = client
    ///     .transaction(&["balance"], |conn| async move {
    ///         // The typed commands work on the transaction's connection too.
    ///         let balance: Option<i64> = conn.get("balance").await?;
    ///         let mut pipe = Pipeline::new();
    ///         pipe.set("balance", balance.unwrap_or(0) + 10).get("balance");
    ///         Ok(pipe)
    ///     })
    ///     .await?;
    /// # Ok::<(), corelane_redis::Error>(())
    /// # })?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<T, F, Fut>(
        &self,
        keys: &[impl ToArg],
        mut build: F,
    ) -> Result<T, Error>
    where
        T: FromValue + Send + 'static,
        F: FnMut(Exclusive) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Pipeline, Error>> + 'static,
    {
        let mut watch = Cmd::new("WATCH");
        for key in keys {
            watch = watch.arg(key);
        }
        self.with_connection(move |conn| async move {
            let mut last = Error::exec_aborted();
            // Without a pause, a contender that lost can lose again every time to faster
            // ones (seen: one of 20 tasks aborted 64 times in a row).
            let mut backoff = Backoff::new(RETRY_PAUSE_MIN, RETRY_PAUSE_MAX);
            let mut rng = fastrand::Rng::new();
            for attempt in 0..MAX_TRANSACTION_ATTEMPTS {
                if attempt > 0 {
                    let now = Instant::now();
                    let until = backoff.on_failure(now, &mut rng);
                    corelane_runtime::task::sleep(until.saturating_duration_since(now)).await;
                }
                conn.query::<()>(watch.clone()).await?;
                let mut pipeline = build(conn.clone()).await?;
                pipeline.atomic();
                match conn.pipeline::<T>(&pipeline).await {
                    Err(e) if e.is_exec_aborted() => last = e,
                    other => return other,
                }
            }
            Err(last)
        })
        .await
    }

    /// `BLPOP keys timeout`: the first element pushed to any of `keys`, as `(key, value)`, or
    /// `None` after `timeout` (server-side; zero blocks until a value arrives, however long).
    /// Runs on a connection of its own; if the call is dropped while blocked, that connection is
    /// closed rather than reused (the server would keep it blocked).
    pub async fn blpop<T: FromValue + Send + 'static>(
        &self,
        keys: &[impl ToArg],
        timeout: Duration,
    ) -> Result<Option<(String, T)>, Error> {
        self.blocking_pop("BLPOP", keys, timeout).await
    }

    /// `BRPOP keys timeout` (see [`blpop`](Self::blpop)).
    pub async fn brpop<T: FromValue + Send + 'static>(
        &self,
        keys: &[impl ToArg],
        timeout: Duration,
    ) -> Result<Option<(String, T)>, Error> {
        self.blocking_pop("BRPOP", keys, timeout).await
    }

    async fn blocking_pop<T: FromValue + Send + 'static>(
        &self,
        name: &str,
        keys: &[impl ToArg],
        timeout: Duration,
    ) -> Result<Option<(String, T)>, Error> {
        let mut cmd = Cmd::new(name);
        for key in keys {
            cmd = cmd.arg(key);
        }
        cmd = cmd.arg(timeout.as_secs_f64());
        // The server answers by `timeout`; past it (plus slack for the network) something is
        // wrong with the connection. A zero timeout blocks until a value arrives: no guard.
        let limit = crate::limits::guard(timeout, self.config().connect_timeout);
        let reply = self.run_blocking(cmd, limit).await?;
        <Option<(String, T)>>::from_value(reply)
    }
}
