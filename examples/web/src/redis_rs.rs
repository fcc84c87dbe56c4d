//! The Redis side of the two peer stacks (axum + tokio-postgres, xitca-web + xitca-postgres):
//! the same redis-rs calls, whatever the PostgreSQL client and the HTTP framework.

use std::future::Future;

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use crate::rules::{cache_key, World};

/// Rows `ids` from the cache (one `MGET`); each miss is read by `miss` and cached (`SET`).
pub(crate) async fn cached_worlds<E, F, Fut>(
    redis: &MultiplexedConnection,
    ids: &[i32],
    mut miss: F,
) -> Result<Vec<World>, E>
where
    E: From<RedisError>,
    F: FnMut(i32) -> Fut,
    Fut: Future<Output = Result<World, E>>,
{
    let keys: Vec<String> = ids.iter().map(|&id| cache_key(id)).collect();
    let mut redis = redis.clone();
    let cached: Vec<Option<i32>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut redis)
        .await?;
    let mut rows = Vec::with_capacity(ids.len());
    for (&id, hit) in ids.iter().zip(cached) {
        let row = match hit {
            Some(random_number) => World { id, random_number },
            None => {
                let row = miss(id).await?;
                redis::cmd("SET")
                    .arg(cache_key(row.id))
                    .arg(row.random_number)
                    .query_async::<()>(&mut redis)
                    .await?;
                row
            }
        };
        rows.push(row);
    }
    Ok(rows)
}

/// Drops the cache entries of rows `ids` (one `DEL`), after they were updated.
pub(crate) async fn forget(redis: &MultiplexedConnection, ids: &[i32]) -> Result<(), RedisError> {
    let keys: Vec<String> = ids.iter().map(|&id| cache_key(id)).collect();
    let mut redis = redis.clone();
    redis::cmd("DEL")
        .arg(&keys)
        .query_async::<i64>(&mut redis)
        .await?;
    Ok(())
}
