//! Client-side time limits: a duration becomes a deadline only when the clock can hold it
//! (a `Duration::MAX` timeout means "never", and must not overflow the clock and panic).

use std::time::{Duration, Instant};

/// `limit` when a deadline that far ahead fits the clock, else `None` (no deadline: a
/// `Duration::MAX` timeout means "never", and must not overflow the clock and panic).
pub(crate) fn representable(limit: Duration) -> Option<Duration> {
    std::time::Instant::now().checked_add(limit.checked_mul(2)?)?;
    Some(limit)
}

/// The client-side guard of a command the server answers by `server_timeout` (zero: never,
/// it blocks until data arrives): the server's own timeout plus `slack` for the network, or no
/// guard at all when blocking forever or when the sum does not fit a deadline (a timeout
/// of 1e15 s must not overflow and panic; the server is then trusted to answer).
pub(crate) fn guard(server_timeout: Duration, slack: Duration) -> Option<Duration> {
    if server_timeout.is_zero() {
        return None;
    }
    let total = server_timeout.checked_add(slack)?;
    // A deadline the clock cannot represent is no deadline.
    Instant::now().checked_add(total.checked_mul(2)?)?;
    Some(total)
}
