//! Which shared connection a new user gets, sans-IO.

/// The decision for one `get_shared` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Join the connection at this index.
    Use(usize),
    /// Open a new connection.
    Connect,
    /// Wait for a connect in progress to finish.
    Wait,
}

/// The inputs of [`choose`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loads {
    /// Live connections in the rotation.
    pub(crate) len: usize,
    /// Where the round-robin scan starts.
    pub(crate) cursor: usize,
    /// Connects in progress.
    pub(crate) connecting: usize,
    /// Callers already parked waiting for those connects.
    pub(crate) waiting: usize,
    /// `Config::max_size`.
    pub(crate) max_size: usize,
    /// `Config::shared_target_load`.
    pub(crate) target: usize,
}

/// Picks a connection for one more user. `load(i)` is the user count of connection `i`.
///
/// With live connections:
/// 1. the least-loaded one (ties broken round-robin from `cursor`) if it is below target;
/// 2. else open one more, if below `max_size` and no connect is already in progress;
/// 3. else the least-loaded one, even above target (never wait while a connection is live).
///
/// With none: wait while the connects in progress have room for this caller (each is assumed to
/// absorb `target` waiters), else connect while below `max_size`, else wait.
pub(crate) fn choose(loads: Loads, load: impl Fn(usize) -> usize) -> Choice {
    if let Some((idx, users)) = least_loaded(loads.len, loads.cursor, load) {
        let below_max = loads.len.saturating_add(loads.connecting) < loads.max_size;
        if users >= loads.target && below_max && loads.connecting == 0 {
            return Choice::Connect;
        }
        return Choice::Use(idx);
    }
    if loads.waiting < loads.connecting.saturating_mul(loads.target) {
        return Choice::Wait;
    }
    if loads.connecting < loads.max_size {
        return Choice::Connect;
    }
    Choice::Wait
}

/// The first connection with the smallest load, scanning from `cursor` and wrapping.
fn least_loaded(
    len: usize,
    cursor: usize,
    load: impl Fn(usize) -> usize,
) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for step in 0..len {
        let idx = (cursor.wrapping_add(step)) % len;
        let users = load(idx);
        if best.is_none_or(|(_, b)| users < b) {
            best = Some((idx, users));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loads(users: &[usize], cursor: usize, connecting: usize, waiting: usize) -> Choice {
        choose(
            Loads {
                len: users.len(),
                cursor,
                connecting,
                waiting,
                max_size: 3,
                target: 2,
            },
            |i| users[i],
        )
    }

    #[test]
    fn first_user_connects() {
        assert_eq!(loads(&[], 0, 0, 0), Choice::Connect);
    }

    #[test]
    fn callers_wait_for_a_pending_connect_up_to_target() {
        assert_eq!(loads(&[], 0, 1, 0), Choice::Wait);
        assert_eq!(loads(&[], 0, 1, 1), Choice::Wait);
        // The pending connect is "full": open another.
        assert_eq!(loads(&[], 0, 1, 2), Choice::Connect);
        // At max_size, everyone waits.
        assert_eq!(loads(&[], 0, 3, 100), Choice::Wait);
    }

    #[test]
    fn least_loaded_round_robin() {
        assert_eq!(loads(&[1, 0, 1], 0, 0, 0), Choice::Use(1));
        assert_eq!(loads(&[0, 0, 0], 0, 0, 0), Choice::Use(0));
        assert_eq!(loads(&[0, 0, 0], 1, 0, 0), Choice::Use(1));
        assert_eq!(loads(&[0, 0, 0], 5, 0, 0), Choice::Use(2));
    }

    #[test]
    fn opens_only_when_all_reach_target() {
        assert_eq!(loads(&[2, 1], 0, 0, 0), Choice::Use(1));
        assert_eq!(loads(&[2, 2], 0, 0, 0), Choice::Connect);
        // At max_size, overload the least loaded instead of waiting.
        assert_eq!(loads(&[5, 3, 4], 0, 0, 0), Choice::Use(1));
        // A connect is already in progress: overload rather than wait or open a second one.
        assert_eq!(loads(&[2, 3], 0, 1, 0), Choice::Use(0));
    }
}
