//! What a cluster reply asks of the client: follow `MOVED` / `ASK`, wait and retry
//! (`TRYAGAIN`, `CLUSTERDOWN`, …), or give the reply to the caller.

use super::discover::NodeAddr;
use crate::{Error, ServerError};

/// The client's next step after an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// `MOVED slot host:port`: the slot lives there now (update the map, retry there).
    Moved(u16, NodeAddr),
    /// `ASK slot host:port`: this one command goes there, preceded by `ASKING`.
    Ask(NodeAddr),
    /// The cluster is busy or reconfiguring: wait, refresh the map, retry.
    Wait,
    /// The node could not be reached (nothing was sent): refresh the map, retry.
    Unreachable,
    /// Give the error to the caller.
    Fail,
}

/// Classifies an error of one attempt.
pub(crate) fn next(error: &Error) -> Next {
    // A node client's pool that gave no connection in time sent nothing either: as before
    // pool timeouts had their own kind, treat it as an unreachable node.
    if error.is_connect() || error.is_pool_timeout() {
        return Next::Unreachable;
    }
    let Some(server) = error.server_error() else {
        return Next::Fail;
    };
    match server.code() {
        Some("MOVED") => parse(server).map_or(Next::Fail, |(slot, addr)| Next::Moved(slot, addr)),
        Some("ASK") => parse(server).map_or(Next::Fail, |(_, addr)| Next::Ask(addr)),
        Some("TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "MASTERDOWN") => Next::Wait,
        _ => Next::Fail,
    }
}

/// `MOVED 3999 127.0.0.1:6381` → (3999, ("127.0.0.1", 6381)); `[::1]:6381` and a bare
/// `:6381` (a node that does not know its address) are understood too (the latter with an
/// empty host: the caller keeps the one it asked).
fn parse(error: &ServerError) -> Option<(u16, NodeAddr)> {
    let text = std::str::from_utf8(error.as_bytes()).ok()?;
    let mut words = text.split_whitespace().skip(1);
    let slot = words.next()?.parse().ok()?;
    let addr = words.next()?;
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((slot, (host.to_owned(), port.parse().ok()?)))
}

/// The wait before retry `attempt` (0-based): doubling from `base`, at most `max`, with
/// jitter so callers that failed together do not retry together.
pub(crate) fn backoff(
    attempt: usize,
    base: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    let shift = u32::try_from(attempt.min(16)).unwrap_or(16);
    let wait = base.saturating_mul(1u32 << shift).min(max);
    let jitter = fastrand::u64(0..=u64::try_from(wait.as_millis() / 4).unwrap_or(0));
    wait.saturating_add(std::time::Duration::from_millis(jitter))
}

#[cfg(test)]
mod tests {
    use super::{backoff, next, Next};
    use crate::{Error, ServerError};
    use std::time::Duration;

    fn server(text: &str) -> Error {
        Error::server(ServerError::new(text.to_owned()))
    }

    #[test]
    fn redirects_and_waits() {
        assert_eq!(
            next(&server("MOVED 3999 127.0.0.1:6381")),
            Next::Moved(3999, ("127.0.0.1".into(), 6381))
        );
        assert_eq!(
            next(&server("ASK 1 [::1]:7000")),
            Next::Ask(("::1".into(), 7000))
        );
        assert_eq!(
            next(&server("TRYAGAIN Multiple keys request during rehashing")),
            Next::Wait
        );
        assert_eq!(next(&server("CLUSTERDOWN The cluster is down")), Next::Wait);
        assert_eq!(next(&server("ERR wrong number")), Next::Fail);
        assert_eq!(next(&server("MOVED nonsense")), Next::Fail);
        assert_eq!(next(&Error::connect("h:1", "refused")), Next::Unreachable);
        assert_eq!(next(&Error::timeout(Duration::from_secs(1))), Next::Fail);
    }

    #[test]
    fn backoff_is_bounded() {
        let max = Duration::from_millis(500);
        for attempt in [0, 1, 5, 100, usize::MAX] {
            assert!(backoff(attempt, Duration::from_millis(10), max) <= max + max / 4);
        }
    }
}
