//! The `World` table: random rows, updates, and the Redis cache in front of it.

use corelane_postgres::{Row, ToSql};

use crate::rules::{cache_key, distinct_ids, random_id, random_ids, World};

const SELECT: &str = "SELECT id, randomnumber FROM world WHERE id = $1";

/// All rows given new numbers in one statement; ids in ascending order, so two concurrent
/// requests lock their rows in the same order and cannot deadlock.
const UPDATE: &str = "UPDATE world SET randomnumber = new.n \
     FROM (SELECT unnest($1::int4[]) AS id, unnest($2::int4[]) AS n) AS new \
     WHERE world.id = new.id";

/// Why a request's data could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] corelane_postgres::Error),
    #[error("Redis: {0}")]
    Redis(#[from] corelane_redis::Error),
    #[error("no World row {0}")]
    Missing(i32),
}

fn from_row(row: &Row) -> Result<World, DataError> {
    Ok(World {
        id: row.get(0)?,
        random_number: row.get(1)?,
    })
}

/// One random row.
pub(crate) async fn random_one(pg: &corelane_postgres::Client) -> Result<World, DataError> {
    let row = pg.query_one(SELECT, &[&random_id()]).await?;
    from_row(&row)
}

/// `n` random rows (repeats allowed), each its own query.
pub(crate) async fn random_many(
    pg: &corelane_postgres::Client,
    n: usize,
) -> Result<Vec<World>, DataError> {
    let ids = random_ids(n);
    select_each(pg, &ids).await
}

/// Rows `ids`, one `SELECT` each (the rules forbid `WHERE id IN (...)`), sent as one
/// pipeline: one round trip, and the connection stays shared with other requests.
async fn select_each(pg: &corelane_postgres::Client, ids: &[i32]) -> Result<Vec<World>, DataError> {
    let params: Vec<[&(dyn ToSql + Sync); 1]> =
        ids.iter().map(|id| [id as &(dyn ToSql + Sync)]).collect();
    let items: Vec<(&str, &[&(dyn ToSql + Sync)])> =
        params.iter().map(|p| (SELECT, &p[..])).collect();
    let outcomes = pg.pipeline(&items).await?;
    ids.iter()
        .zip(outcomes)
        .map(|(id, outcome)| {
            let outcome = outcome?;
            from_row(outcome.rows.first().ok_or(DataError::Missing(*id))?)
        })
        .collect()
}

/// `n` distinct random rows, read one by one, each given a new random number, written back
/// in one statement. Their cache entries are dropped (the next cached read refills them).
pub(crate) async fn update_many(
    pg: &corelane_postgres::Client,
    redis: &corelane_redis::Client,
    n: usize,
) -> Result<Vec<World>, DataError> {
    let ids = distinct_ids(n);
    let mut rows = select_each(pg, &ids).await?;
    let (ids, numbers) = crate::rules::renumber(&mut rows);
    pg.execute(UPDATE, &[&ids, &numbers]).await?;
    let keys: Vec<String> = ids.iter().map(|&id| cache_key(id)).collect();
    redis.del::<i64>(&keys).await?;
    Ok(rows)
}

/// `n` random rows from the Redis cache; misses are read from PostgreSQL and cached.
pub(crate) async fn cached_many(
    pg: &corelane_postgres::Client,
    redis: &corelane_redis::Client,
    n: usize,
) -> Result<Vec<World>, DataError> {
    let ids = random_ids(n);
    let keys: Vec<String> = ids.iter().map(|&id| cache_key(id)).collect();
    let cached: Vec<Option<i32>> = redis.mget(&keys).await?;
    let mut rows = Vec::with_capacity(n);
    for (id, hit) in ids.iter().zip(cached) {
        let row = match hit {
            Some(random_number) => World {
                id: *id,
                random_number,
            },
            None => {
                let row = from_row(&pg.query_one(SELECT, &[id]).await?)?;
                redis
                    .set::<()>(cache_key(row.id), row.random_number)
                    .await?;
                row
            }
        };
        rows.push(row);
    }
    Ok(rows)
}
