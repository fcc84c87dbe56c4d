//! Client-side caching (opt-in): replies of read commands kept on each worker and kept
//! current by the server's invalidation pushes (`CLIENT TRACKING`, RESP3).
//!
//! # How it works
//!
//! With [`Config::client_side_cache`](crate::Config::client_side_cache) set, each worker's
//! shared connections send `CLIENT TRACKING on` (or `… BCAST PREFIX …`, see
//! [`CacheConfig::broadcast`]) in their handshake, and each worker keeps one cache per client
//! (shared-nothing: no lock, no atomic). A [`Client`](crate::Client) call of a cacheable
//! command ([`CACHEABLE_COMMANDS`]: `GET`, `HGET`, `HGETALL`, `SMEMBERS`, `LRANGE`, `ZRANGE`,
//! …; one key, in the second argument) is answered from the worker's cache when the same
//! command (same arguments) was answered before and its key has not changed since; otherwise
//! it goes to the server and its reply (nil included, errors not) fills the cache. The server
//! then remembers that this connection read the key and pushes `invalidate [key]` when anyone
//! changes it (or `invalidate nil` on `FLUSHALL`/`FLUSHDB`), which evicts the key's replies
//! on that worker.
//!
//! Correctness rules the cache keeps:
//!
//! - A reply fills the cache only if no invalidation of its key (and no flush) arrived
//!   between sending the read and taking its reply: such a reply may predate the change, and
//!   the invalidation that would have removed it is already spent.
//! - When a tracking connection closes (server restart, `CLIENT KILL`, a timeout, a protocol
//!   error), the server forgets what it tracked for it: the worker's cache is flushed, and
//!   reads in flight do not fill.
//! - Entries are bounded ([`CacheConfig::max_entries`], [`CacheConfig::max_bytes`], evicted in
//!   clock order: least recently used first, roughly) and may be capped in age
//!   ([`CacheConfig::ttl`]).
//!
//! Only single-command calls of a [`Client`](crate::Client) use the cache. Pipelines,
//! transactions, [`Exclusive`](crate::Exclusive) connections, scripts and blocking commands
//! always go to the server (their writes still invalidate). A cluster client does not cache
//! (the setting is ignored there). With caching on, [`Client::query`](crate::Client::query)
//! refuses `CLIENT TRACKING` and `CLIENT CACHING` ([`Error::is_refused`](crate::Error::is_refused)):
//! changing the shared connections' tracking would leave the cache stale.
//!
//! # Consistency
//!
//! Like every client-side cache built on tracking (redis-rs, lettuce, fred), the cache is
//! eventually consistent: after a write by another client — or by this client on another
//! worker or another of a worker's connections — a cached reply may be served until the
//! invalidation reaches the worker (normally well under a millisecond). A write sent on the
//! same connection that tracks the key is seen by the next read on that worker: Redis sends
//! the invalidation right behind the write's reply, and the client handles a push right
//! behind a reply before handing the reply over (with the default single shared connection
//! per worker, a worker's own writes are therefore read back). A connection the server
//! closed keeps serving its entries until the worker has read the close (the flush happens
//! at the next cache access after that); one that dies silently (no FIN, no error) keeps
//! them until it is found dead. The [`CacheConfig::ttl`] cap bounds both, and also keys whose
//! expiry the server has not acted on yet (an expired key's invalidation comes when the
//! server deletes it).
//!
//! Callers off the loop (a plain thread, tokio) are served as usual: their call runs on a
//! worker, which answers from its cache — the hop to the worker remains, the round trip to
//! the server does not.
//!
//! # Protocol
//!
//! Invalidations come as RESP3 pushes on the connection that read the key. Under RESP2 (the
//! server refused `HELLO 3`, or [`Protocol::Resp2`](crate::Protocol::Resp2)) the cache stays
//! off: nothing fills it (`REDIRECT` to a second connection is not implemented). A server that
//! refuses `CLIENT TRACKING` (an ACL without `client`) leaves that connection uncached too
//! ([`CacheStats::tracking_refused`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), corelane_redis::Error> {
//! use std::time::Duration;
//! use corelane_redis::{CacheConfig, Client, Config};
//!
//! let config = Config::from_url("redis://127.0.0.1:6379")?.client_side_cache(CacheConfig {
//!     max_entries: 50_000,
//!     max_bytes: 64 << 20,
//!     ttl: Some(Duration::from_secs(60)),
//!     ..CacheConfig::default()
//! });
//! // Or: redis://127.0.0.1:6379?client_cache=true&client_cache_max_entries=50000
//! let client = Client::new(config)?;
//! let first: Option<String> = client.get("user:7:name").await?; // from the server
//! let again: Option<String> = client.get("user:7:name").await?; // from this worker's cache
//! assert_eq!(first, again);
//! let stats = client.cache_stats().await;
//! println!("{} hits, {} misses, {} invalidations", stats.hits, stats.misses, stats.invalidations);
//! # Ok(()) }
//! ```

mod cacheable;
mod settings;
mod store;
pub(crate) mod url;
pub(crate) mod worker;

use corelane_runtime::client::STATS_DEADLINE;

pub(crate) use cacheable::changes_tracking;
pub use cacheable::CACHEABLE_COMMANDS;
pub use settings::{CacheConfig, CacheStats};

/// Why a client that caches refuses `CLIENT TRACKING`/`CLIENT CACHING` from its callers.
pub(crate) fn tracking_refusal() -> crate::Error {
    crate::Error::refused(
        b"CLIENT TRACKING",
        "the client-side cache relies on the shared connections' tracking; \
         turn caching off (Config::no_client_side_cache) to manage tracking yourself",
    )
}

impl crate::Client {
    /// The client-side cache's counters, summed over the workers (each worker reads its own
    /// when asked; a worker that does not answer within a second is left out). All zero when
    /// caching is off. See [`cache_stats_per_worker`](Self::cache_stats_per_worker).
    pub async fn cache_stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for worker in self.cache_stats_per_worker().await.iter().flatten() {
            total.add(worker);
        }
        total
    }

    /// The client-side cache's counters of each worker, in worker order (`None`: the worker
    /// did not answer).
    pub async fn cache_stats_per_worker(&self) -> Vec<Option<CacheStats>> {
        self.states()
            .gather(STATS_DEADLINE, |_, state| async move {
                state
                    .and_then(|s| s.cache.as_ref().map(|c| c.stats()))
                    .unwrap_or_default()
            })
            .await
            .into_iter()
            .map(|a| a.replied())
            .collect()
    }
}
