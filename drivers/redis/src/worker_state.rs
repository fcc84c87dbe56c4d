//! Each worker's share of a client: its own pool of pipelined connections (shared-nothing).

use std::rc::Rc;
use std::time::Duration;

use corelane_redis_proto::Value;
use corelane_runtime::client::{
    ConnectionCounts, Counters, InFlight, Outcome, WorkerState, WorkerStats,
};
use corelane_runtime::pool::{
    Config as PoolConfig, Manager, Pool, PoolError, PoolKind, SharedPool,
};

use crate::cache::worker::WorkerCache;
use crate::config::Config;
use crate::connection::Connection;
use crate::Error;

/// Opens connections for a worker's pool.
pub(crate) struct RedisManager {
    config: Config,
    counters: Rc<Counters>,
    /// The worker's client-side cache, for the shared pool's manager when caching is on: its
    /// connections turn tracking on and route invalidations to it.
    cache: Option<Rc<WorkerCache>>,
}

impl Manager for RedisManager {
    type Conn = Connection;
    type Error = Error;

    async fn connect(&self) -> Result<Connection, Error> {
        let mut on_push = self.config.on_push.clone().map(|callback| {
            let sink: crate::codec::PushSink = std::rc::Rc::new(move |frame| (callback.0)(frame));
            sink
        });
        if let Some(cache) = &self.cache {
            on_push = Some(cache.sink(on_push));
        }
        match self.open(on_push).await {
            Ok(mut conn) => {
                self.counters.opened(&mut conn.pipe);
                if let (Some(cache), true) = (&self.cache, conn.tracking) {
                    cache.track(conn.pipe.clone());
                }
                Ok(conn)
            }
            Err(e) => {
                self.counters.connect_failed(&e);
                Err(e)
            }
        }
    }

    fn is_broken(&self, conn: &Connection) -> bool {
        // (A tracking connection that broke is noticed by the cache itself, on its next use.)
        conn.pipe.is_closed() || self.reaches_replaced_master(conn)
    }

    /// An idle connection is probed before it is handed out (`Pipe::probe_idle`, one
    /// non-blocking `recv`): one the server or a proxy dropped while it sat idle does not go to
    /// the call that would have been the first to find it closed. The shared pool asks on the
    /// cold path (`WorkerClient::connection`), the exclusive pool at each checkout; the hot path
    /// asks nothing, and its calls resend what was never sent instead (see `local_call.rs`).
    fn check_out(&self, conn: &Connection) -> bool {
        conn.pipe.probe_idle().is_ok()
    }

    /// Requests in flight (queued, or read by a caller directly): what spreads concurrent
    /// callers over the worker's shared connections, since a call holds no pool handle while
    /// its request is out.
    fn load(&self, conn: &Connection) -> usize {
        conn.pipe.in_flight().max(usize::from(!conn.pipe.is_idle()))
    }

    /// Exclusive connections only (shared ones are never recycled).
    async fn recycle(&self, conn: &mut Connection) -> Result<bool, Error> {
        if conn.needs_reset.replace(false) {
            conn.reset().await?;
        }
        Ok(!conn.pipe.is_closed())
    }
}

impl RedisManager {
    /// With Sentinel: true (and the connection closed, ending the requests in flight on it)
    /// when a `+switch-master` replaced the master it reached. One atomic load per call until
    /// a switch; then one address comparison per connection and switch.
    fn reaches_replaced_master(&self, conn: &Connection) -> bool {
        let (Some(master), Some(settings)) = (&conn.master, &self.config.sentinel) else {
            return false;
        };
        let generation = settings.switch.generation();
        if conn.switch_seen.get() == generation {
            return false;
        }
        conn.switch_seen.set(generation);
        if settings.switch.is_replaced(master) {
            conn.pipe.close();
            return true;
        }
        false
    }

    /// Opens a connection, with `CLIENT TRACKING` on when this pool feeds a cache.
    async fn open(&self, on_push: Option<crate::codec::PushSink>) -> Result<Connection, Error> {
        let mut conn = crate::connect::open(&self.config, on_push).await?;
        if let Some(cache) = &self.cache {
            let tracking = corelane_runtime::task::timeout(
                self.config.connect_timeout,
                conn.enable_tracking(cache.config()),
            )
            .await
            .unwrap_or_else(|| {
                Err(Error::connect(
                    crate::connection::describe(&self.config.addr),
                    "timed out turning CLIENT TRACKING on",
                ))
            });
            match tracking {
                Ok(true) => {}
                Ok(false) => {
                    if conn.protocol == crate::config::Protocol::Resp3 {
                        cache.refused();
                    }
                }
                Err(e) => {
                    conn.pipe.close();
                    return Err(e);
                }
            }
        }
        Ok(conn)
    }
}

/// One client's state on one worker.
pub(crate) struct WorkerClient {
    pub(crate) pool: SharedPool<RedisManager>,
    /// Connections for exclusive use: WATCH transactions, blocking commands.
    pub(crate) exclusive: Pool<RedisManager>,
    /// Calls, errors and connects of this client on this worker (see `Client::stats`).
    pub(crate) counters: Rc<Counters>,
    /// The client-side cache (`None`: caching is off).
    pub(crate) cache: Option<Rc<WorkerCache>>,
}

impl WorkerState for WorkerClient {
    /// The client was dropped: its connections close when their last user is done.
    fn close(&self) {
        self.pool.close();
        self.exclusive.close();
        if let Some(cache) = &self.cache {
            cache.close();
        }
    }

    fn counters(&self) -> Option<&Counters> {
        Some(&self.counters)
    }

    /// The counters, with this worker's connection counts.
    fn stats(&self, worker: usize) -> WorkerStats {
        let mut stats = self.counters.snapshot(Some(worker));
        stats.connections =
            ConnectionCounts::from_pools(&self.pool.status(), &self.exclusive.status());
        stats
    }
}

impl WorkerClient {
    /// A client's (empty) state for this worker: its pools open connections on demand, up to
    /// this worker's share of the client's budget ([`Config::max_connections`]): `worker` is
    /// its index among the client's `workers`.
    pub(crate) fn new(
        config: &Config,
        workers: usize,
        worker: usize,
    ) -> Result<WorkerClient, Error> {
        let label = corelane_runtime::WorkerLoop::current().map_or(0, |w| w.id());
        let counters = Rc::new(Counters::labelled("redis", label));
        let share = config.worker_share(workers, worker)?;
        let cache = config.cache.as_ref().map(WorkerCache::new);
        let manager = |cache: Option<Rc<WorkerCache>>| RedisManager {
            config: config.clone(),
            counters: counters.clone(),
            cache,
        };
        let mut pool_config = PoolConfig::shared()
            .with_max_size(share.shared)
            // Another connection (up to the worker's share) as soon as every open one has a
            // request in flight: concurrent callers spread over all of them.
            .with_shared_target_load(1)
            .with_connect_timeout(Some(config.connect_timeout))
            .with_acquire_timeout(config.acquire_timeout);
        if let Some((first, max)) = config.reconnect_backoff {
            pool_config = pool_config.with_backoff(first, max);
        }
        let pool = SharedPool::new(manager(cache.clone()), pool_config)
            .map_err(|e| Error::config(e.to_string()))?;
        // More callers than this wait their turn (FIFO), up to the acquire timeout.
        let exclusive = Pool::new(
            manager(None),
            PoolConfig::default()
                .with_max_size(share.exclusive)
                .with_connect_timeout(Some(config.connect_timeout))
                .with_acquire_timeout(config.acquire_timeout),
        )
        .map_err(|e| Error::config(e.to_string()))?;
        Ok(WorkerClient {
            pool,
            exclusive,
            counters,
            cache,
        })
    }
}

/// A checkout's failure as the driver's error; `pool` and its acquire timeout `limit` name the
/// pool in a timeout.
pub(crate) fn pool_error(pool: PoolKind, limit: Option<Duration>, e: PoolError<Error>) -> Error {
    match e {
        PoolError::Connect(e) => e,
        PoolError::Timeout => Error::pool_timed_out(pool, limit),
        PoolError::ConnectTimeout => Error::connect("pool", "connect timed out"),
        PoolError::Closed => Error::worker_closed(),
        other => Error::runtime(other),
    }
}

impl WorkerClient {
    /// A `+switch-master` replaced the master (already recorded in the client's
    /// [`SwitchHint`](crate::switch_hint::SwitchHint)): close the shared and idle
    /// exclusive connections to the old one now, rather than at their next use.
    pub(crate) fn master_switched(&self) {
        self.pool.reap_now();
        self.exclusive.reap_now();
    }

    /// A live connection, opening one if needed; probed first when it was idle (see
    /// `RedisManager::check_out`).
    pub(crate) async fn connection(&self) -> Result<Connection, Error> {
        let shared = self
            .pool
            .get_checked()
            .await
            .map_err(|e| pool_error(PoolKind::Shared, self.pool.config().acquire_timeout, e))?;
        Ok((*shared).clone())
    }
}

/// Ends a counted call with its result: a server error reply counts as a server error.
pub(crate) fn record(in_flight: InFlight, result: &Result<Value, Error>) {
    match result {
        Ok(Value::Error(_) | Value::BlobError(_)) => in_flight.end(Outcome::ServerError),
        Ok(_) => in_flight.end(Outcome::Ok),
        Err(e) => in_flight.fail(e.outcome(), e),
    }
}
