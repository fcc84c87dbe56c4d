//! Decoder limits.

/// Bounds the decoder enforces on what a peer may claim.
///
/// A violation is a [`DecodeError`](crate::DecodeError), checked as soon as the offending
/// header is read, before any of the claimed payload has arrived. No limit is ever used to size
/// an allocation: memory follows the bytes actually received.
///
/// ```
/// use corelane_redis_proto::{Decoder, Limits};
///
/// let decoder = Decoder::with_limits(Limits::default().with_max_bulk_len(1 << 20).with_max_depth(16));
/// # let _ = decoder;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest bulk string, blob error or verbatim string, in bytes; also the longest simple
    /// string, simple error, double or big number line. Default: 512 MiB, Redis'
    /// `proto-max-bulk-len`.
    pub max_bulk_len: usize,
    /// Largest element count of an array, set or push, and pair count of a map or attribute.
    /// Default: 16 Mi (16,777,216): far above what real replies carry (a `KEYS`/`SMEMBERS`
    /// of millions of members still fits), small enough that a corrupt header claiming
    /// billions is refused at once instead of keeping the connection waiting for them.
    pub max_aggregate_len: usize,
    /// Deepest nesting of aggregates (attributes included); a frame nested exactly this deep
    /// is accepted. Default: 128.
    pub max_depth: usize,
}

impl Limits {
    /// Redis' default `proto-max-bulk-len`: 512 MiB.
    pub const DEFAULT_MAX_BULK_LEN: usize = 512 * 1024 * 1024;
    /// Default `max_aggregate_len`.
    pub const DEFAULT_MAX_AGGREGATE_LEN: usize = 16 * 1024 * 1024;
    /// Default `max_depth`.
    pub const DEFAULT_MAX_DEPTH: usize = 128;

    /// Sets [`max_bulk_len`](Self::max_bulk_len).
    #[must_use]
    pub const fn with_max_bulk_len(mut self, max: usize) -> Self {
        self.max_bulk_len = max;
        self
    }

    /// Sets [`max_aggregate_len`](Self::max_aggregate_len).
    #[must_use]
    pub const fn with_max_aggregate_len(mut self, max: usize) -> Self {
        self.max_aggregate_len = max;
        self
    }

    /// Sets [`max_depth`](Self::max_depth).
    #[must_use]
    pub const fn with_max_depth(mut self, max: usize) -> Self {
        self.max_depth = max;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bulk_len: Self::DEFAULT_MAX_BULK_LEN,
            max_aggregate_len: Self::DEFAULT_MAX_AGGREGATE_LEN,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}
