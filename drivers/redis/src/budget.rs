//! The client's connection budget: how many connections it may open in all, how that splits
//! over its workers, and how long a call waits for one.
//!
//! Each worker keeps its own shared (pipelined) pool and exclusive (transactions, blocking
//! commands) pool. With a budget, it is split over the workers once, when a worker's pools are
//! made ([`corelane_runtime::pool::worker_share`]), so the hot path counts nothing across
//! workers.

use std::time::Duration;

use corelane_runtime::pool::{check_budget, worker_share, WorkerShare};

use crate::{Config, Error};

impl Config {
    /// The most connections the client opens in all, over all its workers: shared
    /// (pipelined) ones and exclusive ones ([`Client::with_connection`],
    /// [`Client::transaction`], blocking commands) together. URL: `max_connections=N`.
    ///
    /// The budget is split over the workers once, when each worker first uses the client:
    /// worker `i` of `w` gets `n / w` connections, plus one for the `n % w` lowest indexes.
    /// A worker's shared pool takes [`connections_per_worker`](Self::connections_per_worker)
    /// of its share (but leaves at least one for exclusive use), and its exclusive pool the
    /// rest, up to [`exclusive_per_worker`](Self::exclusive_per_worker). A call that finds its
    /// pool full waits its turn ([`ConnectionCounts::waiting`] in [`Client::stats`]) up to
    /// [`acquire_timeout`](Self::acquire_timeout). A worker never borrows another's share:
    /// that keeps the workers from sharing anything on the call path.
    ///
    /// The budget must leave every worker one shared and one exclusive connection: `n` below
    /// twice the number of workers fails when the client is made ([`Error::is_config`]).
    ///
    /// Default: no budget — each worker opens up to `connections_per_worker` shared and
    /// `exclusive_per_worker` (8) exclusive connections, `workers × 9` in all by default,
    /// far below Redis' default `maxclients` of 10000. Not counted: each
    /// [`Subscriber`](crate::Subscriber)'s own connection. A cluster client applies the
    /// budget to each node.
    ///
    /// [`Client::with_connection`]: crate::Client::with_connection
    /// [`Client::transaction`]: crate::Client::transaction
    /// [`Client::stats`]: crate::Client::stats
    /// [`ConnectionCounts::waiting`]: crate::ConnectionCounts::waiting
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// The budget set with [`max_connections`](Self::max_connections), if one was.
    pub fn get_max_connections(&self) -> Option<usize> {
        self.max_connections
    }

    /// The most exclusive connections (transactions, blocking commands) one worker opens,
    /// within its share of [`max_connections`](Self::max_connections) when one is set.
    /// Default 8; at least 1. URL: `exclusive_per_worker=N`.
    pub fn exclusive_per_worker(mut self, n: usize) -> Self {
        self.exclusive_per_worker = n.max(1);
        self
    }

    /// See [`exclusive_per_worker`](Self::exclusive_per_worker).
    pub fn get_exclusive_per_worker(&self) -> usize {
        self.exclusive_per_worker
    }

    /// Bound on a call's wait for a connection of its worker: for a free one when the pool is
    /// full, and for opening one. Past it the call fails with [`Error::is_pool_timeout`],
    /// which names the pool ([`Error::pool_timeout`]). Default 30 s; `None` (or zero) waits
    /// as long as it takes. URL: `acquire_timeout_ms=N` (0 = none).
    pub fn acquire_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.acquire_timeout = timeout.filter(|d| !d.is_zero());
        self
    }

    /// See [`acquire_timeout`](Self::acquire_timeout).
    pub fn get_acquire_timeout(&self) -> Option<Duration> {
        self.acquire_timeout
    }

    /// Fails when a budget is set and cannot give each of `workers` workers its two
    /// connections.
    pub(crate) fn check_budget(&self, workers: usize) -> Result<(), Error> {
        match self.max_connections {
            Some(budget) => check_budget(budget, workers).map_err(|e| Error::config(e.to_string())),
            None => Ok(()),
        }
    }

    /// Worker `worker`'s pool sizes (an index past the last gets the last worker's share).
    pub(crate) fn worker_share(&self, workers: usize, worker: usize) -> Result<WorkerShare, Error> {
        match self.max_connections {
            Some(budget) => worker_share(
                budget,
                workers,
                worker,
                self.connections_per_worker,
                self.exclusive_per_worker,
            )
            .map_err(|e| Error::config(e.to_string())),
            None => Ok(WorkerShare::unbudgeted(
                self.connections_per_worker,
                self.exclusive_per_worker,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn no_budget_by_default() {
        let c = Config::default();
        assert_eq!(c.get_max_connections(), None);
        assert_eq!(c.get_exclusive_per_worker(), 8);
        assert_eq!(c.get_acquire_timeout(), Some(Duration::from_secs(30)));
        assert!(c.check_budget(64).is_ok());
        let share = c.worker_share(64, 63).unwrap();
        assert_eq!((share.shared, share.exclusive), (1, 8));
    }

    #[test]
    fn a_budget_is_split_and_checked() {
        let c = Config::default().max_connections(7);
        let totals: Vec<usize> = (0..3)
            .map(|w| c.worker_share(3, w).unwrap().total())
            .collect();
        assert_eq!(totals, [3, 2, 2]);
        assert!(c.check_budget(4).unwrap_err().is_config());
        assert!(c.worker_share(4, 0).unwrap_err().is_config());
        let c = Config::default()
            .max_connections(100)
            .connections_per_worker(3)
            .exclusive_per_worker(2);
        let share = c.worker_share(2, 0).unwrap();
        assert_eq!((share.shared, share.exclusive), (3, 2));
    }

    #[test]
    fn url_keys() {
        let c = Config::from_url(
            "redis://127.0.0.1/0?max_connections=12&exclusive_per_worker=3&acquire_timeout_ms=250",
        )
        .unwrap();
        assert_eq!(c.get_max_connections(), Some(12));
        assert_eq!(c.get_exclusive_per_worker(), 3);
        assert_eq!(c.get_acquire_timeout(), Some(Duration::from_millis(250)));
        let c = Config::from_url("redis://127.0.0.1/?acquire_timeout_ms=0&exclusive_per_worker=0")
            .unwrap();
        assert_eq!(c.get_acquire_timeout(), None);
        assert_eq!(c.get_exclusive_per_worker(), 1);
        let e = Config::from_url("redis://127.0.0.1/?max_connections=lots").unwrap_err();
        assert!(e.is_config(), "{e}");
    }
}
