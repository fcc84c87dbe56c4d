//! Pool configuration: sizes, lifetimes, timeouts and reconnect backoff.

use std::time::Duration;

/// Settings of one pool (one worker, one server).
///
/// Build it from [`Config::default`] (tuned for exclusive checkout) or [`Config::shared`] (tuned
/// for pipelined connections), then adjust with the `with_*` setters or by assigning the public
/// fields. [`Pool::new`](super::Pool::new) and [`SharedPool::new`](super::SharedPool::new) check
/// it with [`Config::validate`] and return a [`ConfigError`] instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Most connections this pool keeps open at once, counting idle, in use and being opened.
    /// Default 10 ([`Config::shared`]: 1). Must be at least 1.
    pub max_size: usize,
    /// Idle connections that [`idle_timeout`](Self::idle_timeout) never closes, and that
    /// [`Pool::fill`](super::Pool::fill) opens ahead of demand. Default 0. At most `max_size`.
    pub min_idle: usize,
    /// A connection older than this is closed when it is next seen (checkout, return, reap), even
    /// if healthy. Default `Some(30 min)`; `None` keeps connections forever.
    pub max_lifetime: Option<Duration>,
    /// An idle connection unused for this long is closed when next seen. Default `Some(10 min)`.
    pub idle_timeout: Option<Duration>,
    /// A connection idle for longer than this is health-checked
    /// ([`Manager::health_check`](super::Manager::health_check)) before an exclusive checkout
    /// hands it out. Default `Some(30 s)`; `None` never checks.
    pub health_check_after: Option<Duration>,
    /// Bounds a whole `get` / `get_shared` (waiting for a slot, the backoff, the connect, checks);
    /// past it the call returns [`PoolError::Timeout`](super::PoolError::Timeout).
    /// Default `Some(30 s)`; `None` waits as long as it takes.
    pub acquire_timeout: Option<Duration>,
    /// Bounds one [`Manager::connect`](super::Manager::connect); past it the attempt fails with
    /// [`PoolError::ConnectTimeout`](super::PoolError::ConnectTimeout). Default `Some(10 s)`.
    pub connect_timeout: Option<Duration>,
    /// First reconnect delay ceiling after a failed connect. Default 50 ms.
    pub backoff_initial: Duration,
    /// Largest reconnect delay ceiling; the ceiling doubles per consecutive failure up to this.
    /// Default 5 s. Must be at least `backoff_initial`.
    pub backoff_max: Duration,
    /// Shared mode: users per connection before [`SharedPool`](super::SharedPool) opens another
    /// connection (while below `max_size`). Default 32. Must be at least 1.
    pub shared_target_load: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_size: 10,
            min_idle: 0,
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            health_check_after: Some(Duration::from_secs(30)),
            acquire_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Some(Duration::from_secs(10)),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            shared_target_load: 32,
        }
    }
}

/// Why a [`Config`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_size` is 0: the pool could never hand out a connection.
    #[error("max_size must be at least 1")]
    ZeroMaxSize,
    /// `min_idle` is larger than `max_size`.
    #[error("min_idle ({min_idle}) exceeds max_size ({max_size})")]
    MinIdleAboveMax {
        /// The configured `min_idle`.
        min_idle: usize,
        /// The configured `max_size`.
        max_size: usize,
    },
    /// `backoff_initial` is larger than `backoff_max`.
    #[error("backoff_initial exceeds backoff_max")]
    BackoffInitialAboveMax,
    /// `shared_target_load` is 0.
    #[error("shared_target_load must be at least 1")]
    ZeroSharedTargetLoad,
}

impl Config {
    /// Defaults for pipelined connections shared by many callers: one connection per worker
    /// (`max_size` 1), everything else as [`Config::default`].
    pub fn shared() -> Self {
        Self {
            max_size: 1,
            ..Self::default()
        }
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_size == 0 {
            return Err(ConfigError::ZeroMaxSize);
        }
        if self.min_idle > self.max_size {
            return Err(ConfigError::MinIdleAboveMax {
                min_idle: self.min_idle,
                max_size: self.max_size,
            });
        }
        if self.backoff_initial > self.backoff_max {
            return Err(ConfigError::BackoffInitialAboveMax);
        }
        if self.shared_target_load == 0 {
            return Err(ConfigError::ZeroSharedTargetLoad);
        }
        Ok(())
    }

    /// Sets [`max_size`](Self::max_size).
    pub fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// Sets [`min_idle`](Self::min_idle).
    pub fn with_min_idle(mut self, min_idle: usize) -> Self {
        self.min_idle = min_idle;
        self
    }

    /// Sets [`max_lifetime`](Self::max_lifetime).
    pub fn with_max_lifetime(mut self, max_lifetime: Option<Duration>) -> Self {
        self.max_lifetime = max_lifetime;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    pub fn with_idle_timeout(mut self, idle_timeout: Option<Duration>) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Sets [`health_check_after`](Self::health_check_after).
    pub fn with_health_check_after(mut self, after: Option<Duration>) -> Self {
        self.health_check_after = after;
        self
    }

    /// Sets [`acquire_timeout`](Self::acquire_timeout).
    pub fn with_acquire_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`backoff_initial`](Self::backoff_initial) and [`backoff_max`](Self::backoff_max).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// Sets [`shared_target_load`](Self::shared_target_load).
    pub fn with_shared_target_load(mut self, load: usize) -> Self {
        self.shared_target_load = load;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Config::shared().validate(), Ok(()));
        assert_eq!(Config::shared().max_size, 1);
    }

    #[test]
    fn rejects_bad_settings() {
        assert_eq!(
            Config::default().with_max_size(0).validate(),
            Err(ConfigError::ZeroMaxSize)
        );
        assert_eq!(
            Config::default()
                .with_max_size(2)
                .with_min_idle(3)
                .validate(),
            Err(ConfigError::MinIdleAboveMax {
                min_idle: 3,
                max_size: 2
            })
        );
        assert_eq!(
            Config::default()
                .with_backoff(Duration::from_secs(2), Duration::from_secs(1))
                .validate(),
            Err(ConfigError::BackoffInitialAboveMax)
        );
        assert_eq!(
            Config::default().with_shared_target_load(0).validate(),
            Err(ConfigError::ZeroSharedTargetLoad)
        );
    }
}
