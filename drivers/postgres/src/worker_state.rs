//! Each worker's share of a client (shared-nothing): a pool of pipelined connections that
//! every caller shares, and a pool of exclusive connections for transactions.

use std::rc::Rc;
use std::time::Duration;

use corelane_runtime::pool::PoolKind;

use corelane_runtime::client::{
    ConnectionCounts, Counters, InFlight, Outcome, PerWorker, WorkerState, WorkerStats,
};
use corelane_runtime::pool::{Config as PoolConfig, Manager, Pool, PoolError, Pooled, SharedPool};

use crate::config::Config;
use crate::connection::Connection;
use crate::Error;

/// Bounds the reset of a returned exclusive connection; past it the connection is closed. A
/// reset waits behind whatever its last user left in flight (a cancelled long query).
const RESET_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct PgManager {
    config: Config,
    /// Opens the shared (pipelined) connections: their sessions are watched (see
    /// [`crate::session`]).
    shared: bool,
    counters: Rc<Counters>,
}

impl Manager for PgManager {
    type Conn = Connection;
    type Error = Error;

    async fn connect(&self) -> Result<Connection, Error> {
        let mut conn = match Connection::open(&self.config).await {
            Ok(conn) => conn,
            Err(e) => {
                self.counters.connect_failed(&e);
                return Err(e);
            }
        };
        self.counters.opened(&mut conn.pipe);
        if self.shared {
            conn.session.mark_shared();
        }
        Ok(conn)
    }

    /// Closed, or (shared) retired because its session changed.
    fn is_broken(&self, conn: &Connection) -> bool {
        conn.pipe.is_closed() || conn.session.is_retired()
    }

    /// An idle connection is probed before it is handed out (`Pipe::probe_idle`, one
    /// non-blocking `recv`): one the server or a proxy dropped while it sat idle does not go to
    /// a transaction, a session, a COPY or a pipeline, whose statements could not go to another
    /// connection once they failed. The exclusive pool asks at each checkout, the shared pool
    /// on the cold path (`shared_connection`); the hot path asks nothing, and its statements
    /// resend what was never sent instead (see `execute.rs`).
    fn check_out(&self, conn: &Connection) -> bool {
        conn.pipe.probe_idle().is_ok()
    }

    /// Requests in flight (queued, or read by a caller directly): what spreads concurrent
    /// callers over the worker's shared connections, since a call holds no pool handle while
    /// its request is out.
    fn load(&self, conn: &Connection) -> usize {
        conn.pipe.in_flight().max(usize::from(!conn.pipe.is_idle()))
    }

    /// Runs before a returned exclusive connection is handed out again. A transaction that
    /// ended normally already reset the session (`COMMIT`/`ROLLBACK` + `DISCARD ALL` in one
    /// round trip), so this costs nothing; one that was cancelled, or failed to reset, left
    /// the session marked: `ROLLBACK` (when the last `ReadyForQuery` showed a transaction)
    /// and `DISCARD ALL` now, or the connection is closed.
    async fn recycle(&self, conn: &mut Connection) -> Result<bool, Error> {
        Ok(reset(conn).await)
    }
}

/// Resets the session of an exclusive connection its user may have changed: `ROLLBACK` (when
/// the last `ReadyForQuery` showed a transaction) and `DISCARD ALL`, in one round trip queued
/// behind whatever the user left in flight, bounded by [`RESET_TIMEOUT`]. False when the
/// connection could not be reset: it must be closed.
pub(crate) async fn reset(conn: &Connection) -> bool {
    if !conn.needs_reset() {
        return true;
    }
    let end = (conn.transaction_status()
        != corelane_pg_proto::message::backend::TransactionStatus::Idle)
        .then_some("ROLLBACK");
    match corelane_runtime::task::timeout(RESET_TIMEOUT, conn.end_session(end)).await {
        Some(Ok(_)) => !conn.needs_reset(),
        Some(Err(_)) | None => false,
    }
}

/// A client's pools and counters on this worker.
pub(crate) struct WorkerPools {
    shared: Rc<SharedPool<PgManager>>,
    exclusive: Pool<PgManager>,
    /// Calls, errors and connects of this client on this worker (see `Client::stats`).
    pub(crate) counters: Rc<Counters>,
}

impl WorkerState for WorkerPools {
    /// The client was dropped: its connections close when their last user is done.
    fn close(&self) {
        self.shared.close();
        self.exclusive.close();
    }

    fn counters(&self) -> Option<&Counters> {
        Some(&self.counters)
    }

    /// The counters, with this worker's connection counts.
    fn stats(&self, worker: usize) -> WorkerStats {
        let mut stats = self.counters.snapshot(Some(worker));
        stats.connections =
            ConnectionCounts::from_pools(&self.shared.status(), &self.exclusive.status());
        stats
    }
}

impl WorkerPools {
    /// This worker's (empty) pools, sized by its share of the client's budget
    /// ([`Config::max_connections`]): `worker` is its index among the client's `workers`.
    fn new(config: &Config, workers: usize, worker: usize) -> Result<WorkerPools, Error> {
        let label = corelane_runtime::WorkerLoop::current().map_or(0, |w| w.id());
        let counters = Rc::new(Counters::labelled("postgresql", label));
        let share = config.worker_share(workers, worker)?;
        // A checkout must leave room for a connect that tries every host (each bounded by the
        // connect timeout), as libpq would; one host keeps the configured bound.
        let acquire = match config.get_hosts().len() {
            1 => config.acquire_timeout,
            _ => config
                .acquire_timeout
                .map(|limit| limit.max(crate::host_select::worst_case(config))),
        };
        let manager = |shared| PgManager {
            config: config.clone(),
            shared,
            counters: counters.clone(),
        };
        let shared = SharedPool::new(
            manager(true),
            PoolConfig::shared()
                .with_max_size(share.shared)
                // Another connection (up to the worker's share) as soon as every open one
                // has a request in flight: concurrent callers spread over all of them.
                .with_shared_target_load(1)
                // Each host's attempt is bounded by the connect timeout (host_select), so a
                // multi-host connect may take longer than one.
                .with_connect_timeout(None)
                .with_acquire_timeout(acquire),
        )
        .map_err(|e| Error::config(e.to_string()))?;
        // A transaction that finds them all busy waits (FIFO) for one, up to the acquire
        // timeout.
        let exclusive = Pool::new(
            manager(false),
            PoolConfig::default()
                .with_max_size(share.exclusive)
                .with_connect_timeout(None)
                .with_acquire_timeout(acquire),
        )
        .map_err(|e| Error::config(e.to_string()))?;
        Ok(WorkerPools {
            shared: Rc::new(shared),
            exclusive,
            counters,
        })
    }

    /// Consecutive failed connects of the shared pool since its last success.
    pub(crate) fn connect_failures(&self) -> u32 {
        self.shared.status().connect_failures
    }
}

/// This worker's pools and counters for a client (its `config` and its per-worker `states`:
/// this module takes them, not the `Client`, so that it does not depend on the client's),
/// made on first use. Call it on one of the client's workers.
///
/// The worker's index among the client's workers picks its share of the budget. A thread that
/// is not one of them (the driver never makes pools there: its calls run on a worker) gets the
/// last worker's share.
pub(crate) fn pools(
    config: &Config,
    states: &PerWorker<WorkerPools>,
) -> Result<Rc<WorkerPools>, Error> {
    let workers = states.workers();
    states.local(|| {
        let index = workers.current_index().unwrap_or(usize::MAX);
        WorkerPools::new(config, workers.num_workers(), index)
    })
}

fn pool_error(
    config: &Config,
    pool: PoolKind,
    limit: Option<Duration>,
    e: PoolError<Error>,
) -> Error {
    match e {
        PoolError::Connect(e) => e,
        PoolError::Closed => Error::worker_closed(),
        PoolError::Timeout => Error::pool_timed_out(pool, limit),
        other => Error::connect(crate::endpoint::describe(config), other),
    }
}

/// A live shared (pipelined) connection of a client on this worker (its pools, from
/// [`pools`]), opened if needed; probed first when it was idle (see `check_out`).
pub(crate) async fn shared_connection(pools: &WorkerPools) -> Result<Connection, Error> {
    let pool = &pools.shared;
    match pool.get_checked().await {
        Ok(shared) => Ok((*shared).clone()),
        Err(e) => {
            let limit = pool.config().acquire_timeout;
            Err(pool_error(
                &pool.manager().config,
                PoolKind::Shared,
                limit,
                e,
            ))
        }
    }
}

/// The shared connection of `client` on this worker when one is open now: the hot path, which
/// must not await. `None` when one has to be opened or waited for (or the pools cannot be made:
/// the awaiting path reports that).
pub(crate) fn ready_connection(pools: &WorkerPools) -> Option<Connection> {
    let shared = pools.shared.try_get_shared()?;
    Some((*shared).clone())
}

/// A connection of a client on this worker for exclusive use (a transaction), checked out
/// until the permit drops. It comes reset (see [`PgManager::recycle`]).
pub(crate) async fn exclusive(
    config: &Config,
    states: &PerWorker<WorkerPools>,
) -> Result<Pooled<PgManager>, Error> {
    let pool = pools(config, states)?.exclusive.clone();
    let limit = pool.config().acquire_timeout;
    pool.get()
        .await
        .map_err(|e| pool_error(config, PoolKind::Exclusive, limit, e))
}

/// Ends a counted call with its result.
pub(crate) fn record<T>(in_flight: InFlight, result: &Result<T, Error>) {
    match result {
        Ok(_) => in_flight.end(Outcome::Ok),
        Err(e) => in_flight.fail(e.outcome(), e),
    }
}
