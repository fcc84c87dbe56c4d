//! Errors returned by [`Pool::get`](super::Pool::get) and
//! [`SharedPool::get_shared`](super::SharedPool::get_shared).

/// Why a checkout failed. `E` is the driver's [`Manager::Error`](super::Manager::Error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError<E> {
    /// [`Config::acquire_timeout`](super::Config::acquire_timeout) passed before a connection
    /// was available.
    #[error("timed out waiting for a pooled connection")]
    Timeout,
    /// One connect attempt took longer than
    /// [`Config::connect_timeout`](super::Config::connect_timeout).
    #[error("timed out connecting")]
    ConnectTimeout,
    /// The manager failed to open a connection; this caller's attempt is over (later callers
    /// retry after the backoff).
    #[error("failed to connect: {0}")]
    Connect(#[source] E),
    /// The pool was closed with `close()`.
    #[error("pool is closed")]
    Closed,
}

impl<E> PoolError<E> {
    /// Whether the error came from opening a connection (failure or connect timeout), as
    /// opposed to waiting for one.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::ConnectTimeout)
    }

    /// Whether this is [`PoolError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }
}
