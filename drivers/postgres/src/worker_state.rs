//! Each worker's share of a client (shared-nothing): a pool of pipelined connections that
//! every caller shares, and a pool of exclusive connections for transactions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use corelane_runtime::pool::{Config as PoolConfig, Manager, Pool, PoolError, Pooled, SharedPool};

use crate::config::Config;
use crate::connection::Connection;
use crate::Error;

/// Exclusive (transaction) connections per worker per client: the pool's default. A
/// transaction that finds them all busy waits (FIFO) for one, up to the pool's acquire timeout.
const EXCLUSIVE_PER_WORKER: usize = 10;

/// Bounds the reset of a returned exclusive connection; past it the connection is closed. A
/// reset waits behind whatever its last user left in flight (a cancelled long query).
const RESET_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct PgManager {
    config: Config,
    /// Opens the shared (pipelined) connections: their sessions are watched (see
    /// [`crate::session`]).
    shared: bool,
}

impl Manager for PgManager {
    type Conn = Connection;
    type Error = Error;

    async fn connect(&self) -> Result<Connection, Error> {
        let conn = Connection::open(&self.config).await?;
        if self.shared {
            conn.session.mark_shared();
        }
        Ok(conn)
    }

    /// Closed, or (shared) retired because its session changed.
    fn is_broken(&self, conn: &Connection) -> bool {
        conn.pipe.is_closed() || conn.session.is_retired()
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
        if !conn.needs_reset() {
            return Ok(true);
        }
        let end = (conn.transaction_status()
            != corelane_pg_proto::message::backend::TransactionStatus::Idle)
            .then_some("ROLLBACK");
        match corelane_runtime::task::timeout(RESET_TIMEOUT, conn.end_session(end)).await {
            Some(Ok(_)) => Ok(!conn.needs_reset()),
            Some(Err(_)) | None => Ok(false),
        }
    }
}

/// Client `id`'s pools on this worker.
struct Pools {
    shared: Rc<SharedPool<PgManager>>,
    exclusive: Pool<PgManager>,
}

thread_local! {
    static CLIENTS: RefCell<HashMap<u64, Rc<Pools>>> = RefCell::new(HashMap::new());
}

fn pools(id: u64, config: &Config) -> Result<Rc<Pools>, Error> {
    if let Some(found) = CLIENTS.with(|c| c.borrow().get(&id).cloned()) {
        return Ok(found);
    }
    let manager = |shared| PgManager {
        config: config.clone(),
        shared,
    };
    let shared = SharedPool::new(
        manager(true),
        PoolConfig::shared()
            .with_max_size(config.connections_per_worker)
            // Another connection (up to `connections_per_worker`) as soon as every open one
            // has a request in flight: concurrent callers spread over all of them.
            .with_shared_target_load(1)
            .with_connect_timeout(Some(config.connect_timeout)),
    )
    .map_err(|e| Error::config(e.to_string()))?;
    let exclusive = Pool::new(
        manager(false),
        PoolConfig::default()
            .with_max_size(EXCLUSIVE_PER_WORKER)
            .with_connect_timeout(Some(config.connect_timeout)),
    )
    .map_err(|e| Error::config(e.to_string()))?;
    let pools = Rc::new(Pools {
        shared: Rc::new(shared),
        exclusive,
    });
    CLIENTS.with(|c| c.borrow_mut().insert(id, pools.clone()));
    Ok(pools)
}

fn pool_error(config: &Config, e: PoolError<Error>) -> Error {
    match e {
        PoolError::Connect(e) => e,
        PoolError::Closed => Error::worker_closed(),
        other => Error::connect(crate::endpoint::describe(config), other),
    }
}

/// A live shared (pipelined) connection of client `id` on this worker, opened if needed.
pub(crate) async fn connection(id: u64, config: &Config) -> Result<Connection, Error> {
    let pool = pools(id, config)?.shared.clone();
    if let Some(shared) = pool.try_get_shared() {
        return Ok((*shared).clone());
    }
    match pool.get_shared().await {
        Ok(shared) => Ok((*shared).clone()),
        Err(e) => Err(pool_error(config, e)),
    }
}

/// The shared connection of client `id` on this worker when one is open now: the hot path,
/// which must not await. `None` when one has to be opened or waited for (or the pools cannot be
/// made: the awaiting path reports that).
pub(crate) fn ready_connection(id: u64, config: &Config) -> Option<Connection> {
    let pools = pools(id, config).ok()?;
    let shared = pools.shared.try_get_shared()?;
    Some((*shared).clone())
}

/// A connection of client `id` on this worker for exclusive use (a transaction), checked out
/// until the permit drops. It comes reset (see [`PgManager::recycle`]).
pub(crate) async fn exclusive(id: u64, config: &Config) -> Result<Pooled<PgManager>, Error> {
    let pool = pools(id, config)?.exclusive.clone();
    pool.get().await.map_err(|e| pool_error(config, e))
}

/// Drops client `id`'s pools on this worker.
pub(crate) fn forget(id: u64) {
    if let Some(pools) = CLIENTS.with(|c| c.borrow_mut().remove(&id)) {
        pools.shared.close();
        pools.exclusive.close();
    }
}
