//! Reconnect backoff: exponential ceiling with full jitter, sans-IO.
//!
//! Call order: after a failed connect call [`Backoff::on_failure`] with the current time; after a
//! successful one call [`Backoff::on_success`]. Before a connect attempt, ask
//! [`Backoff::ready_at`]: if it is `Some(t)` and `t` is in the future, wait until `t`.
//! The clock is an argument; this type never reads it.

use std::time::{Duration, Instant};

/// Growth factor of the delay ceiling per consecutive failure.
const MULTIPLIER: u32 = 2;

/// Consecutive-failure backoff for one server.
///
/// After the `k`-th consecutive failure (`k >= 1`) the ceiling is
/// `min(initial * 2^(k-1), max)` and the actual delay is drawn uniformly from `[0, ceiling]`
/// ("full jitter"), so workers that lost the same server do not reconnect in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// A backoff with no failures recorded. `initial` larger than `max` is clamped to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial: initial.min(max),
            max,
            failures: 0,
            retry_at: None,
        }
    }

    /// Records a failed connect at `now`; returns the instant before which the next attempt
    /// should not start.
    pub fn on_failure(&mut self, now: Instant, rng: &mut fastrand::Rng) -> Instant {
        self.failures = self.failures.saturating_add(1);
        let ceiling = self.ceiling();
        let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let delay = Duration::from_nanos(rng.u64(0..=ceiling_nanos));
        // `checked_add` fails only for instants centuries away; then retry at once.
        let at = now.checked_add(delay).unwrap_or(now);
        self.retry_at = Some(at);
        at
    }

    /// Records a successful connect: the next failure starts again from `initial`.
    pub fn on_success(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// The instant before which no connect should start, if the last attempt failed.
    pub fn ready_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// How long to wait at `now` before connecting; `None` when an attempt may start now.
    pub fn wait_at(&self, now: Instant) -> Option<Duration> {
        self.retry_at
            .and_then(|at| at.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The jitter ceiling for the current failure count (zero when there were no failures).
    pub fn ceiling(&self) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let exp = self.failures - 1;
        let factor = MULTIPLIER.checked_pow(exp).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ceiling_doubles_up_to_max() {
        let mut b = Backoff::new(ms(100), ms(1000));
        let mut rng = fastrand::Rng::with_seed(7);
        let t0 = Instant::now();
        assert_eq!(b.ceiling(), Duration::ZERO);
        assert_eq!(b.ready_at(), None);
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            b.on_failure(t0, &mut rng);
            ceilings.push(b.ceiling());
        }
        assert_eq!(
            ceilings,
            vec![ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(b.failures(), 6);
    }

    #[test]
    fn delay_is_jittered_within_ceiling() {
        let mut b = Backoff::new(ms(100), ms(1000));
        let mut rng = fastrand::Rng::with_seed(42);
        let t0 = Instant::now();
        let mut seen = std::collections::HashSet::new();
        for i in 0..200u32 {
            let now = t0 + ms(u64::from(i));
            let at = b.on_failure(now, &mut rng);
            let delay = at - now;
            assert!(delay <= b.ceiling(), "{delay:?} > {:?}", b.ceiling());
            assert_eq!(b.ready_at(), Some(at));
            seen.insert(delay);
        }
        assert!(seen.len() > 100, "jitter should vary, saw {}", seen.len());
    }

    #[test]
    fn success_resets() {
        let mut b = Backoff::new(ms(10), ms(10_000));
        let mut rng = fastrand::Rng::with_seed(1);
        let t0 = Instant::now();
        for _ in 0..5 {
            b.on_failure(t0, &mut rng);
        }
        assert_eq!(b.ceiling(), ms(160));
        b.on_success();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.ready_at(), None);
        assert_eq!(b.wait_at(t0), None);
        b.on_failure(t0, &mut rng);
        assert_eq!(b.ceiling(), ms(10));
    }

    #[test]
    fn wait_at_steps_with_fake_clock() {
        let mut b = Backoff::new(ms(100), ms(100));
        // Force a non-zero delay: retry with seeds until the draw is > 0.
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(3);
        let mut at = b.on_failure(t0, &mut rng);
        while at == t0 {
            at = b.on_failure(t0, &mut rng);
        }
        let delay = at - t0;
        assert_eq!(b.wait_at(t0), Some(delay));
        assert_eq!(b.wait_at(at), None);
        assert_eq!(b.wait_at(at + ms(5)), None);
    }

    #[test]
    fn huge_failure_counts_saturate() {
        let mut b = Backoff::new(ms(1), Duration::from_secs(3600));
        let mut rng = fastrand::Rng::with_seed(9);
        let t0 = Instant::now();
        for _ in 0..100 {
            b.on_failure(t0, &mut rng);
        }
        assert_eq!(b.ceiling(), Duration::from_secs(3600));
        b.failures = u32::MAX;
        b.on_failure(t0, &mut rng);
        assert_eq!(b.failures(), u32::MAX);
        assert_eq!(b.ceiling(), Duration::from_secs(3600));
    }

    #[test]
    fn initial_above_max_is_clamped() {
        let mut b = Backoff::new(ms(500), ms(100));
        let mut rng = fastrand::Rng::with_seed(2);
        b.on_failure(Instant::now(), &mut rng);
        assert_eq!(b.ceiling(), ms(100));
    }
}
