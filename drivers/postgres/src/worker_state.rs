//! Each worker's share of a client: its own pool of pipelined connections (shared-nothing).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use corelane_runtime::pool::{Config as PoolConfig, Manager, PoolError, SharedPool};

use crate::config::Config;
use crate::connection::Connection;
use crate::Error;

pub(crate) struct PgManager {
    config: Config,
}

impl Manager for PgManager {
    type Conn = Connection;
    type Error = Error;

    async fn connect(&self) -> Result<Connection, Error> {
        Connection::open(&self.config).await
    }

    fn is_broken(&self, conn: &Connection) -> bool {
        conn.pipe.is_closed()
    }
}

thread_local! {
    static CLIENTS: RefCell<HashMap<u64, Rc<SharedPool<PgManager>>>> = RefCell::new(HashMap::new());
}

fn pool(id: u64, config: &Config) -> Result<Rc<SharedPool<PgManager>>, Error> {
    if let Some(found) = CLIENTS.with(|c| c.borrow().get(&id).cloned()) {
        return Ok(found);
    }
    let pool_config = PoolConfig::shared()
        .with_max_size(config.connections_per_worker)
        .with_connect_timeout(Some(config.connect_timeout));
    let pool = SharedPool::new(
        PgManager {
            config: config.clone(),
        },
        pool_config,
    )
    .map_err(|e| Error::config(e.to_string()))?;
    let pool = Rc::new(pool);
    CLIENTS.with(|c| c.borrow_mut().insert(id, pool.clone()));
    Ok(pool)
}

/// A live connection of client `id` on this worker, opened if needed.
pub(crate) async fn connection(id: u64, config: &Config) -> Result<Connection, Error> {
    let pool = pool(id, config)?;
    if let Some(shared) = pool.try_get_shared() {
        return Ok((*shared).clone());
    }
    match pool.get_shared().await {
        Ok(shared) => Ok((*shared).clone()),
        Err(PoolError::Connect(e)) => Err(e),
        Err(PoolError::Closed) => Err(Error::worker_closed()),
        Err(other) => Err(Error::connect(
            format!("{}:{}", config.host, config.port),
            other,
        )),
    }
}

/// Drops client `id`'s pool on this worker.
pub(crate) fn forget(id: u64) {
    if let Some(pool) = CLIENTS.with(|c| c.borrow_mut().remove(&id)) {
        pool.close();
    }
}
