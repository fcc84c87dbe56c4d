//! A worker's connections: its own xitca-postgres connection with prepared statements, and
//! its own multiplexed redis-rs connection.

use std::future::IntoFuture;

use xitca_postgres::types::Type;
use xitca_postgres::{Execute, Postgres, Statement};

use super::XitcaError;
use crate::Config;

/// One worker's state (built on the worker's thread, never shared between threads).
pub(crate) struct State {
    pub(crate) pg: xitca_postgres::Client,
    pub(crate) world: Statement,
    pub(crate) fortunes: Statement,
    pub(crate) update: Statement,
    pub(crate) redis: redis::aio::MultiplexedConnection,
}

impl State {
    /// Connects and prepares, on the calling thread's tokio runtime (the connection's driver
    /// task is spawned there).
    pub(crate) async fn connect(config: Config) -> Result<State, XitcaError> {
        let (pg, driver) = Postgres::new(config.database_url.as_str())
            .connect()
            .await?;
        // Ends when the client is dropped or the server goes; requests then fail.
        tokio::spawn(driver.into_future());
        let world = prepare(
            &pg,
            "SELECT id, randomnumber FROM world WHERE id = $1",
            &[Type::INT4],
        )
        .await?;
        let fortunes = prepare(&pg, "SELECT id, message FROM fortune", &[]).await?;
        // As the other stacks: one statement for all rows, ids in ascending order.
        let update = prepare(
            &pg,
            "UPDATE world SET randomnumber = new.n \
             FROM (SELECT unnest($1::int4[]) AS id, unnest($2::int4[]) AS n) AS new \
             WHERE world.id = new.id",
            &[Type::INT4_ARRAY, Type::INT4_ARRAY],
        )
        .await?;
        let redis = redis::Client::open(config.redis_url.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        Ok(State {
            pg,
            world,
            fortunes,
            update,
            redis,
        })
    }
}

/// A named statement that lives as long as the connection (`leak`: not closed on drop).
async fn prepare(
    pg: &xitca_postgres::Client,
    sql: &str,
    types: &[Type],
) -> Result<Statement, xitca_postgres::Error> {
    Ok(Statement::named(sql, types).execute(pg).await?.leak())
}
