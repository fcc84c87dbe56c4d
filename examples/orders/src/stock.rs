//! Stock in Redis: one counter per product, reserved for a whole order at once by a Lua script
//! (all lines or none, with no other client in between), released with a pipeline.

use corelane_redis::{Client, Pipeline, Script};

use crate::model::Line;
use crate::AppError;

/// The error code the reservation script raises (the reply is `-OUT_OF_STOCK <key>`).
const OUT_OF_STOCK: &str = "OUT_OF_STOCK";

/// KEYS: the stock counters; ARGV: the quantities, in the same order. Checks every line
/// before taking any, so a refused order leaves all counters as they were.
const RESERVE_LUA: &str = r"
for i, key in ipairs(KEYS) do
  local have = tonumber(redis.call('GET', key) or '0')
  if have < tonumber(ARGV[i]) then
    return redis.error_reply('OUT_OF_STOCK ' .. key)
  end
end
for i, key in ipairs(KEYS) do
  redis.call('DECRBY', key, ARGV[i])
end
return #KEYS
";

/// The key of a product's stock counter.
pub(crate) fn key(sku: &str) -> String {
    format!("shop:stock:{sku}")
}

/// The stock counters and the reservation script (its SHA1 computed once; the first call
/// loads it into the server's script cache, later calls send only `EVALSHA`).
pub(crate) struct Stock {
    redis: Client,
    reserve: Script,
}

impl Stock {
    pub(crate) fn new(redis: Client) -> Stock {
        Stock {
            redis,
            reserve: Script::new(RESERVE_LUA),
        }
    }

    /// Sets the counters of `(sku, units)` (one round trip).
    pub(crate) async fn set(&self, units: &[(&str, i64)]) -> Result<(), AppError> {
        let pairs: Vec<(String, i64)> = units.iter().map(|(s, n)| (key(s), *n)).collect();
        self.redis.mset::<()>(&pairs).await?;
        Ok(())
    }

    /// Units in stock of each of `skus`, in order (a missing counter reads 0).
    pub(crate) async fn units(&self, skus: &[&str]) -> Result<Vec<i64>, AppError> {
        let keys: Vec<String> = skus.iter().map(|s| key(s)).collect();
        let units: Vec<Option<i64>> = self.redis.mget(&keys).await?;
        Ok(units.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Takes the units of every line, or none: the script's `OUT_OF_STOCK` error is
    /// [`AppError::OutOfStock`] naming the product.
    pub(crate) async fn reserve(&self, lines: &[Line]) -> Result<(), AppError> {
        let mut call = self.reserve.prepare_invoke();
        for line in lines {
            call = call.key(key(&line.sku)).arg(line.qty);
        }
        match call.invoke::<i64, _>(&self.redis).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(OUT_OF_STOCK) => {
                // The message after the code is the counter's key.
                let text = e
                    .server_error()
                    .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
                    .unwrap_or_default();
                let sku = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|k| k.strip_prefix("shop:stock:"))
                    .unwrap_or("?")
                    .to_owned();
                Err(AppError::OutOfStock { sku })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Puts the units of `lines` back (a cancelled order, or an order that failed to commit).
    pub(crate) async fn release(&self, lines: &[Line]) -> Result<(), AppError> {
        let mut pipe = Pipeline::new();
        for line in lines {
            pipe.incr_by(key(&line.sku), i64::from(line.qty));
        }
        let _: Vec<i64> = self.redis.pipeline(&pipe).await?;
        Ok(())
    }
}
