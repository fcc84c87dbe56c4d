//! A read-through cache of order views in Redis (`Json<Order>` with an expiry), dropped on every
//! change of the order. Hits and misses are counted for the summary.

use std::cell::Cell;

use corelane_redis::{Client, Json};
use uuid::Uuid;

use crate::model::Order;
use crate::AppError;

/// How long a cached view lives if nothing changes the order.
const TTL_SECONDS: u64 = 300;

fn key(order: Uuid) -> String {
    format!("shop:order:{order}")
}

/// The cache, and its hit and miss counts (the shop lives on one worker: plain cells).
pub(crate) struct OrderCache {
    redis: Client,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

impl OrderCache {
    pub(crate) fn new(redis: Client) -> OrderCache {
        OrderCache {
            redis,
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    /// The cached view of `order`, if any.
    pub(crate) async fn get(&self, order: Uuid) -> Result<Option<Order>, AppError> {
        let found: Option<Json<Order>> = self.redis.get(key(order)).await?;
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.set(counter.get() + 1);
        Ok(found.map(Json::into_inner))
    }

    /// Caches `order`'s view.
    pub(crate) async fn put(&self, order: &Order) -> Result<(), AppError> {
        self.redis
            .set_ex::<()>(key(order.id), Json(order), TTL_SECONDS)
            .await?;
        Ok(())
    }

    /// Drops `order`'s view (it changed).
    pub(crate) async fn forget(&self, order: Uuid) -> Result<(), AppError> {
        self.redis.del::<u64>(&[key(order)]).await?;
        Ok(())
    }

    /// (hits, misses) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }
}
