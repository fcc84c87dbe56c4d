//! A subscriber's settings (a leaf: the sentinel watcher and the cluster subscriber name them
//! without depending on the client's pub/sub methods).

use std::time::Duration;

/// Settings of a [`Subscriber`](crate::Subscriber).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberOptions {
    /// Messages received and not yet consumed before the connection stops reading
    /// (default 1024).
    pub capacity: usize,
    /// First reconnect delay ceiling (default 100 ms).
    pub backoff_initial: Duration,
    /// Largest reconnect delay ceiling (default 5 s).
    pub backoff_max: Duration,
}

impl Default for SubscriberOptions {
    fn default() -> Self {
        SubscriberOptions {
            capacity: 1024,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl SubscriberOptions {
    /// Sets the inbox capacity, in messages (at least 1).
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = messages.max(1);
        self
    }

    /// Sets the reconnect backoff: the delay ceiling starts at `initial` and doubles per
    /// consecutive failure up to `max`; each delay is drawn uniformly below it.
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }
}
