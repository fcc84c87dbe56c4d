//! A client's connection budget, split once over its workers.
//!
//! A driver's client keeps, on every worker, a pool of shared (pipelined) connections and a
//! pool of exclusive ones. A server caps its connections (PostgreSQL's `max_connections`,
//! 100 by default), and a client on a big machine multiplies its per-worker pools by the
//! number of workers. A **budget** bounds the client's total instead.
//!
//! The hot path stays shared-nothing: nothing is counted across workers. The budget is split
//! statically, when a worker's state is made ([`worker_share`]): each worker gets
//! `budget / workers` connections, the remainder going one each to the lowest worker indexes,
//! and fills its pools' `max_size` from that share. A worker can never open more than its share,
//! so the client never opens more than the budget, at the price of not lending an idle
//! worker's share to a busy one. A checkout that finds its pool full waits (FIFO, counted in
//! the pool's `waiting`) up to the pool's acquire timeout.

/// Which of a worker's two pools: named by a driver's pool-timeout error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PoolKind {
    /// The pipelined connections every caller shares.
    Shared,
    /// The connections checked out for one caller (transactions, blocking commands).
    Exclusive,
}

impl PoolKind {
    /// `"shared"` or `"exclusive"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolKind::Shared => "shared",
            PoolKind::Exclusive => "exclusive",
        }
    }
}

impl std::fmt::Display for PoolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One worker's pool sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerShare {
    /// `max_size` of the worker's shared pool (at least 1).
    pub shared: usize,
    /// `max_size` of the worker's exclusive pool (at least 1).
    pub exclusive: usize,
}

impl WorkerShare {
    /// Both pools, unbudgeted: `shared` and `exclusive` as asked (each at least 1).
    pub fn unbudgeted(shared: usize, exclusive: usize) -> Self {
        WorkerShare {
            shared: shared.max(1),
            exclusive: exclusive.max(1),
        }
    }

    /// Connections this worker may have open at once.
    pub fn total(&self) -> usize {
        self.shared + self.exclusive
    }
}

/// The budget cannot be split: every worker needs one shared and one exclusive connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error(
    "max_connections ({budget}) is below 2 per worker ({workers} workers need at least {}): \
     raise it or run fewer workers",
    .workers * 2
)]
pub struct BudgetTooSmall {
    /// The budget asked for.
    pub budget: usize,
    /// The client's workers.
    pub workers: usize,
}

/// Checks that `budget` leaves each of `workers` workers one shared and one exclusive
/// connection (`budget >= 2 * workers`). Drivers call it when a client is made, so a budget
/// too small for the machine fails there rather than on first use.
pub fn check_budget(budget: usize, workers: usize) -> Result<(), BudgetTooSmall> {
    let workers = workers.max(1);
    if budget < workers.saturating_mul(2) {
        return Err(BudgetTooSmall { budget, workers });
    }
    Ok(())
}

/// Worker `worker`'s pool sizes out of a client budget of `budget` connections over `workers`
/// workers.
///
/// The worker's share is `budget / workers`, plus one for the `budget % workers` lowest
/// indexes. The shared pool gets `shared_wanted` of it (a driver's `connections_per_worker`),
/// but always leaves one for the exclusive pool; the exclusive pool gets the rest, capped at
/// `exclusive_cap`. So the shares of all workers sum to at most `budget`. Both `shared_wanted`
/// and `exclusive_cap` count as at least 1; a `worker` past the last counts as the last.
pub fn worker_share(
    budget: usize,
    workers: usize,
    worker: usize,
    shared_wanted: usize,
    exclusive_cap: usize,
) -> Result<WorkerShare, BudgetTooSmall> {
    check_budget(budget, workers)?;
    let workers = workers.max(1);
    let worker = worker.min(workers - 1);
    let share = budget / workers + usize::from(worker < budget % workers);
    // `share >= 2` (checked above): both pools get at least one.
    let shared = shared_wanted.clamp(1, share - 1);
    let exclusive = (share - shared).min(exclusive_cap.max(1));
    Ok(WorkerShare { shared, exclusive })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(budget: usize, workers: usize, shared: usize, cap: usize) -> Vec<WorkerShare> {
        (0..workers)
            .map(|w| worker_share(budget, workers, w, shared, cap).unwrap())
            .collect()
    }

    #[test]
    fn the_remainder_goes_to_the_low_workers_and_the_sum_is_the_budget() {
        let s = shares(11, 4, 1, 100);
        let totals: Vec<usize> = s.iter().map(WorkerShare::total).collect();
        assert_eq!(totals, [3, 3, 3, 2]);
        assert_eq!(totals.iter().sum::<usize>(), 11);
        assert!(s.iter().all(|s| s.shared == 1));
        assert_eq!(
            s.iter().map(|s| s.exclusive).collect::<Vec<_>>(),
            [2, 2, 2, 1]
        );
    }

    #[test]
    fn shared_leaves_one_for_exclusive_and_exclusive_is_capped() {
        // A share of 5: 4 shared wanted, 1 left for exclusive.
        assert_eq!(
            worker_share(10, 2, 0, 4, 10),
            Ok(WorkerShare {
                shared: 4,
                exclusive: 1
            })
        );
        // 8 shared wanted, only 4 available.
        assert_eq!(worker_share(10, 2, 1, 8, 10).map(|s| s.shared), Ok(4));
        // The cap leaves part of the share unused.
        assert_eq!(
            worker_share(100, 2, 0, 1, 10),
            Ok(WorkerShare {
                shared: 1,
                exclusive: 10
            })
        );
        // Zero requests count as one.
        assert_eq!(
            worker_share(4, 2, 0, 0, 0),
            Ok(WorkerShare {
                shared: 1,
                exclusive: 1
            })
        );
    }

    #[test]
    fn a_budget_below_two_per_worker_is_refused() {
        assert_eq!(
            worker_share(7, 4, 0, 1, 10),
            Err(BudgetTooSmall {
                budget: 7,
                workers: 4
            })
        );
        assert_eq!(check_budget(8, 4), Ok(()));
        assert_eq!(
            check_budget(1, 0),
            Err(BudgetTooSmall {
                budget: 1,
                workers: 1
            })
        );
        let e = check_budget(3, 2).unwrap_err().to_string();
        assert!(
            e.contains("max_connections (3)") && e.contains("at least 4"),
            "{e}"
        );
    }

    #[test]
    fn a_worker_past_the_last_gets_the_last_share() {
        assert_eq!(worker_share(5, 2, 7, 1, 10), worker_share(5, 2, 1, 1, 10));
        assert_eq!(worker_share(5, 2, 1, 1, 10).map(|s| s.total()), Ok(2));
    }
}
