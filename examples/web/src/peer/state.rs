//! The peer's connections: tokio-postgres connections with prepared statements, taken
//! round-robin, and one multiplexed redis-rs connection.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::{NoTls, Statement};

use super::PeerError;
use crate::Config;

/// One PostgreSQL connection and its prepared statements.
pub(crate) struct Db {
    pub(crate) client: tokio_postgres::Client,
    pub(crate) world: Statement,
    pub(crate) fortunes: Statement,
    pub(crate) update: Statement,
}

pub(crate) struct State {
    dbs: Vec<Db>,
    next: AtomicUsize,
    pub(crate) redis: redis::aio::MultiplexedConnection,
}

impl State {
    pub(crate) async fn connect(config: &Config, connections: usize) -> Result<State, PeerError> {
        let mut dbs = Vec::with_capacity(connections.max(1));
        for _ in 0..connections.max(1) {
            let (client, connection) = tokio_postgres::connect(&config.database_url, NoTls).await?;
            tokio::spawn(async move {
                // Ends when the client is dropped or the server goes; requests then fail.
                let _ = connection.await;
            });
            let world = client
                .prepare("SELECT id, randomnumber FROM world WHERE id = $1")
                .await?;
            let fortunes = client.prepare("SELECT id, message FROM fortune").await?;
            // As the corelane service: one statement for all rows, ids in ascending order.
            let update = client
                .prepare(
                    "UPDATE world SET randomnumber = new.n \
                     FROM (SELECT unnest($1::int4[]) AS id, unnest($2::int4[]) AS n) AS new \
                     WHERE world.id = new.id",
                )
                .await?;
            dbs.push(Db {
                client,
                world,
                fortunes,
                update,
            });
        }
        let redis = redis::Client::open(config.redis_url.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        Ok(State {
            dbs,
            next: AtomicUsize::new(0),
            redis,
        })
    }

    /// The next connection, round-robin.
    pub(crate) fn db(&self) -> Option<&Db> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dbs.get(n % self.dbs.len().max(1))
    }
}
