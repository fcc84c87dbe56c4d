//! The cache's settings and counters: plain data that the config, the connections and the
//! per-worker cache name (a leaf, so that naming them does not depend on the client).

use std::time::Duration;

/// Settings of the client-side cache (see the [module docs](crate::cache) for what it does).
/// The bounds hold per worker: each worker of the client keeps its own cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The most cached replies per worker (default 10 000); past it, the least recently used
    /// key's replies go. URL: `client_cache_max_entries=`.
    pub max_entries: usize,
    /// The most bytes of cached replies (payload plus a small per-reply cost) per worker
    /// (default 32 MiB); a single reply larger than this is not cached. URL:
    /// `client_cache_max_bytes=`.
    pub max_bytes: usize,
    /// The longest a reply is served from the cache (default: no cap, invalidations only).
    /// URL: `client_cache_ttl_ms=`.
    pub ttl: Option<Duration>,
    /// `Some(prefixes)`: broadcast mode (`CLIENT TRACKING on BCAST PREFIX p …`): the server
    /// reports every change to keys under the prefixes (all keys when empty), read through
    /// this connection or not, and only keys under them are cached. Fewer server-side
    /// tracking entries, more invalidation traffic. `None` (default): the server tracks the
    /// keys each connection read. URL: `client_cache_bcast=prefix1,prefix2` (empty: all).
    pub broadcast: Option<Vec<String>>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 10_000,
            max_bytes: 32 << 20,
            ttl: None,
            broadcast: None,
        }
    }
}

/// The client-side cache's counters, summed over the workers
/// ([`Client::cache_stats`](crate::Client::cache_stats)). All zero when caching is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Cacheable calls that went to the server.
    pub misses: u64,
    /// Replies stored.
    pub fills: u64,
    /// Replies not stored because their key was invalidated (or the cache flushed) while
    /// the read was in flight.
    pub fills_dropped: u64,
    /// Replies removed to stay within the bounds.
    pub evictions: u64,
    /// Replies removed because they outlived [`CacheConfig::ttl`].
    pub expired: u64,
    /// Keys the server invalidated (counted whether cached or not).
    pub invalidations: u64,
    /// Whole-cache flushes: `invalidate nil` (`FLUSHALL`), a tracking connection closed.
    pub flushes: u64,
    /// Replies cached now.
    pub entries: u64,
    /// Bytes cached now (as counted against [`CacheConfig::max_bytes`]).
    pub bytes: u64,
    /// Tracking connections open now.
    pub tracking_connections: u64,
    /// Connections that could not turn tracking on (the server refused `CLIENT TRACKING`).
    pub tracking_refused: u64,
}

impl CacheStats {
    pub(crate) fn add(&mut self, o: &CacheStats) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.fills += o.fills;
        self.fills_dropped += o.fills_dropped;
        self.evictions += o.evictions;
        self.expired += o.expired;
        self.invalidations += o.invalidations;
        self.flushes += o.flushes;
        self.entries += o.entries;
        self.bytes += o.bytes;
        self.tracking_connections += o.tracking_connections;
        self.tracking_refused += o.tracking_refused;
    }
}
