//! Lifetime, idle and health-check deadlines of a pooled connection, sans-IO.
//!
//! Every decision takes `now`; [`Expiry::next_deadline`] reports when the answer can next
//! change, so a caller that wants a timer knows when to wake. The pools use it lazily: at
//! checkout, at return and in `reap_now`, never from a background task.

use std::time::{Duration, Instant};

use super::Config;

/// Why a connection is past its use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpiryReason {
    /// Older than [`Config::max_lifetime`].
    MaxLifetime,
    /// Unused for longer than [`Config::idle_timeout`].
    IdleTimeout,
}

/// The time limits of one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expiry {
    /// See [`Config::max_lifetime`].
    pub max_lifetime: Option<Duration>,
    /// See [`Config::idle_timeout`].
    pub idle_timeout: Option<Duration>,
    /// See [`Config::health_check_after`].
    pub health_check_after: Option<Duration>,
}

impl Expiry {
    /// The limits set in `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_lifetime: config.max_lifetime,
            idle_timeout: config.idle_timeout,
            health_check_after: config.health_check_after,
        }
    }

    /// Whether an idle connection opened at `created` and last used at `last_used` must be
    /// closed at `now`. Lifetime wins over idleness when both apply.
    pub fn expired(
        &self,
        created: Instant,
        last_used: Instant,
        now: Instant,
    ) -> Option<ExpiryReason> {
        if self.lifetime_over(created, now) {
            return Some(ExpiryReason::MaxLifetime);
        }
        if past(last_used, self.idle_timeout, now) {
            return Some(ExpiryReason::IdleTimeout);
        }
        None
    }

    /// Whether a connection opened at `created` is past [`Config::max_lifetime`] at `now`
    /// (checked for connections in use too, where idleness does not apply).
    pub fn lifetime_over(&self, created: Instant, now: Instant) -> bool {
        past(created, self.max_lifetime, now)
    }

    /// Whether a connection idle since `last_used` needs a health check before use at `now`.
    pub fn needs_health_check(&self, last_used: Instant, now: Instant) -> bool {
        past(last_used, self.health_check_after, now)
    }

    /// The earliest instant at which [`Expiry::expired`] can turn `Some` for an idle connection,
    /// or `None` when no limit is set.
    pub fn next_deadline(&self, created: Instant, last_used: Instant) -> Option<Instant> {
        let lifetime = self.max_lifetime.and_then(|d| created.checked_add(d));
        let idle = self.idle_timeout.and_then(|d| last_used.checked_add(d));
        match (lifetime, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// `since + limit <= now`, treating an unrepresentable sum as "never".
fn past(since: Instant, limit: Option<Duration>, now: Instant) -> bool {
    match limit.and_then(|d| since.checked_add(d)) {
        Some(deadline) => deadline <= now,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy() -> Expiry {
        Expiry {
            max_lifetime: Some(ms(1000)),
            idle_timeout: Some(ms(100)),
            health_check_after: Some(ms(30)),
        }
    }

    #[test]
    fn idle_timeout_counts_from_last_use() {
        let p = policy();
        let t0 = Instant::now();
        let used = t0 + ms(500);
        assert_eq!(p.expired(t0, used, used + ms(99)), None);
        assert_eq!(
            p.expired(t0, used, used + ms(100)),
            Some(ExpiryReason::IdleTimeout)
        );
    }

    #[test]
    fn lifetime_counts_from_creation_and_wins() {
        let p = policy();
        let t0 = Instant::now();
        assert_eq!(p.expired(t0, t0 + ms(950), t0 + ms(999)), None);
        assert_eq!(
            p.expired(t0, t0 + ms(950), t0 + ms(1000)),
            Some(ExpiryReason::MaxLifetime)
        );
        // Both apply: lifetime is reported.
        assert_eq!(
            p.expired(t0, t0, t0 + ms(5000)),
            Some(ExpiryReason::MaxLifetime)
        );
        assert!(p.lifetime_over(t0, t0 + ms(1000)));
        assert!(!p.lifetime_over(t0, t0 + ms(999)));
    }

    #[test]
    fn no_limits_never_expire() {
        let p = Expiry::default();
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1_000_000);
        assert_eq!(p.expired(t0, t0, later), None);
        assert!(!p.needs_health_check(t0, later));
        assert_eq!(p.next_deadline(t0, t0), None);
    }

    #[test]
    fn health_check_after_idle() {
        let p = policy();
        let t0 = Instant::now();
        assert!(!p.needs_health_check(t0, t0 + ms(29)));
        assert!(p.needs_health_check(t0, t0 + ms(30)));
    }

    #[test]
    fn next_deadline_is_the_earliest_limit() {
        let p = policy();
        let t0 = Instant::now();
        assert_eq!(p.next_deadline(t0, t0 + ms(10)), Some(t0 + ms(110)));
        assert_eq!(p.next_deadline(t0, t0 + ms(950)), Some(t0 + ms(1000)));
        let only_idle = Expiry {
            max_lifetime: None,
            ..p
        };
        assert_eq!(
            only_idle.next_deadline(t0, t0 + ms(950)),
            Some(t0 + ms(1050))
        );
        // At the reported deadline the answer changes.
        let d = p.next_deadline(t0, t0 + ms(10)).unwrap_or(t0);
        assert_eq!(p.expired(t0, t0 + ms(10), d - ms(1)), None);
        assert!(p.expired(t0, t0 + ms(10), d).is_some());
    }

    #[test]
    fn huge_limits_do_not_overflow() {
        let p = Expiry {
            max_lifetime: Some(Duration::MAX),
            idle_timeout: Some(Duration::MAX),
            health_check_after: Some(Duration::MAX),
        };
        let t0 = Instant::now();
        assert_eq!(p.expired(t0, t0, t0 + ms(1)), None);
        assert!(!p.needs_health_check(t0, t0 + ms(1)));
        assert_eq!(p.next_deadline(t0, t0), None);
    }
}
