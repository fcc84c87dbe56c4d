//! Deadlines from user-given durations, built without overflow.
//!
//! `Instant::now() + dur` panics when `dur` is huge (`Duration::MAX`, a URL's
//! `connect_timeout=10000000000000000000`), and on a worker a panic there took the whole core
//! down. Every deadline and timer of the runtime and the drivers is built here instead: a
//! duration beyond [`NEVER_AFTER`] (or one the clock cannot represent) means "never", so a
//! huge timeout behaves as no timeout and a huge sleep as one that does not end.

use std::time::{Duration, Instant};

/// Durations longer than this (about 100 years) are treated as "never": no timer is armed
/// for them. Short enough that `now + NEVER_AFTER` fits every clock and every timer wheel.
pub const NEVER_AFTER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The instant `dur` after `now`, or `None` ("never") when `dur` exceeds [`NEVER_AFTER`] or
/// the sum does not fit the clock.
#[must_use]
pub fn after(now: Instant, dur: Duration) -> Option<Instant> {
    if dur > NEVER_AFTER {
        return None;
    }
    now.checked_add(dur)
}

/// `dur` if a timer of that length can be armed now, `None` for "never".
#[must_use]
pub fn timer_length(dur: Duration) -> Option<Duration> {
    after(Instant::now(), dur).map(|_| dur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_are_never() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::MAX), None);
        assert_eq!(after(now, NEVER_AFTER + Duration::from_nanos(1)), None);
        assert_eq!(
            after(now, Duration::from_secs(10_000_000_000_000_000_000)),
            None
        );
        assert_eq!(timer_length(Duration::MAX), None);
    }

    #[test]
    fn ordinary_durations_are_added() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::ZERO), Some(now));
        assert_eq!(after(now, NEVER_AFTER), now.checked_add(NEVER_AFTER));
        let second = Duration::from_secs(1);
        assert_eq!(timer_length(second), Some(second));
    }
}
