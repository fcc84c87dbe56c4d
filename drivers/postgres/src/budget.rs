//! The client's connection budget: how many connections it may open in all, how that splits
//! over its workers, and how long a call waits for one.
//!
//! Each worker keeps its own shared (pipelined) pool and exclusive (transaction, COPY) pool;
//! the budget is split over the workers once, when a worker's pools are made
//! ([`corelane_runtime::pool::worker_share`]), so the hot path counts nothing across workers.

use std::time::Duration;

use corelane_runtime::pool::{check_budget, worker_share, WorkerShare};

use crate::{Config, Error};

/// The default budget's ceiling: a default PostgreSQL accepts 100 connections, of which
/// `superuser_reserved_connections` (3) are kept for superusers; 90 leaves those and a few
/// more for psql, migrations and monitoring.
pub(crate) const DEFAULT_MAX_CONNECTIONS_CEILING: usize = 90;

/// Exclusive connections per worker that the default budget makes room for, besides
/// `connections_per_worker` shared ones: four concurrent transactions (or COPYs) per worker
/// before the next waits.
const DEFAULT_EXCLUSIVE_IN_BUDGET: usize = 4;

impl Config {
    /// The most connections the client opens in all, over all its workers: the shared
    /// (pipelined) ones and the exclusive ones (transactions, [`Client::begin`], COPY,
    /// [`Client::query_stream`]) together. In a URL or key=value string: `max_connections`.
    ///
    /// The budget is split over the workers once, when each worker first uses the client:
    /// worker `i` of `w` gets `n / w` connections, plus one for the `n % w` lowest indexes.
    /// A worker's shared pool takes [`connections_per_worker`](Self::connections_per_worker)
    /// of its share (but leaves at least one for transactions), and its exclusive pool the rest,
    /// up to [`exclusive_per_worker`](Self::exclusive_per_worker). A call that finds its pool
    /// full waits for a connection (first come, first served; [`ConnectionCounts::waiting`]
    /// in [`Client::stats`]), up to [`acquire_timeout`](Self::acquire_timeout). A worker
    /// never borrows another's share: that keeps the workers from sharing anything on the
    /// call path.
    ///
    /// The budget must leave every worker one shared and one exclusive connection: `n` below
    /// twice the number of workers fails when the client is made ([`Error::is_config`]).
    ///
    /// Default: `min(workers × (connections_per_worker + 4), 90)`, but at least
    /// `2 × workers` ([`Config::max_connections_for`]). A default PostgreSQL accepts 100
    /// connections (3 reserved for superusers), so one client with the default budget fits
    /// beside psql and friends on any machine of up to 45 workers; on a bigger one set the
    /// budget (and the server's `max_connections`) yourself. Not counted: the one-off
    /// connection of [`Client::check`], each [`Listener`](crate::Listener)'s own connection,
    /// and the short-lived side connections that carry cancel requests.
    ///
    /// [`Client::begin`]: crate::Client::begin
    /// [`Client::query_stream`]: crate::Client::query_stream
    /// [`Client::stats`]: crate::Client::stats
    /// [`Client::check`]: crate::Client::check
    /// [`ConnectionCounts::waiting`]: crate::ConnectionCounts::waiting
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// The budget set with [`max_connections`](Self::max_connections), if one was.
    pub fn get_max_connections(&self) -> Option<usize> {
        self.max_connections
    }

    /// The budget a client of this config has on `workers` workers: the one set, or the
    /// default (see [`max_connections`](Self::max_connections)).
    pub fn max_connections_for(&self, workers: usize) -> usize {
        let workers = workers.max(1);
        self.max_connections.unwrap_or_else(|| {
            let per_worker = self
                .connections_per_worker
                .saturating_add(DEFAULT_EXCLUSIVE_IN_BUDGET);
            workers
                .saturating_mul(per_worker)
                .min(DEFAULT_MAX_CONNECTIONS_CEILING)
                .max(workers.saturating_mul(2))
        })
    }

    /// The most exclusive connections (transactions, COPY, row streams) one worker opens,
    /// within its share of [`max_connections`](Self::max_connections), which usually binds
    /// first. Default 10; at least 1. In a URL or key=value string: `exclusive_per_worker`.
    pub fn exclusive_per_worker(mut self, n: usize) -> Self {
        self.exclusive_per_worker = n.max(1);
        self
    }

    /// See [`exclusive_per_worker`](Self::exclusive_per_worker).
    pub fn get_exclusive_per_worker(&self) -> usize {
        self.exclusive_per_worker
    }

    /// Bound on a call's wait for a connection of its worker: for a free one when the pool is
    /// full, and for opening one (with several hosts, it is at least long enough to try each
    /// host once, each bounded by [`connect_timeout`](Self::connect_timeout)). Past it the
    /// call fails with [`Error::is_pool_timeout`], which names the pool
    /// ([`Error::pool_timeout`]). Default 30 s; `None` (or zero) waits as long as it takes.
    /// In a URL or key=value string: `acquire_timeout_ms` (0 = none).
    ///
    /// A query's [`query_timeout`](Self::query_timeout), when shorter, bounds the wait too.
    pub fn acquire_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.acquire_timeout = timeout.filter(|d| !d.is_zero());
        self
    }

    /// See [`acquire_timeout`](Self::acquire_timeout).
    pub fn get_acquire_timeout(&self) -> Option<Duration> {
        self.acquire_timeout
    }

    /// Fails when the budget cannot give each of `workers` workers its two connections.
    pub(crate) fn check_budget(&self, workers: usize) -> Result<(), Error> {
        check_budget(self.max_connections_for(workers), workers)
            .map_err(|e| Error::config(e.to_string()))
    }

    /// Worker `worker`'s pool sizes (an index past the last gets the last worker's share).
    pub(crate) fn worker_share(&self, workers: usize, worker: usize) -> Result<WorkerShare, Error> {
        worker_share(
            self.max_connections_for(workers),
            workers,
            worker,
            self.connections_per_worker,
            self.exclusive_per_worker,
        )
        .map_err(|e| Error::config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn parse(s: &str) -> Config {
        Config::parse_with_env(s, |_| None).unwrap()
    }

    #[test]
    fn the_default_budget_fits_a_default_server() {
        let c = Config::default();
        assert_eq!(c.get_max_connections(), None);
        assert_eq!(c.max_connections_for(1), 5);
        assert_eq!(c.max_connections_for(2), 10);
        assert_eq!(c.max_connections_for(18), 90);
        assert_eq!(c.max_connections_for(64), 128);
        assert_eq!(c.max_connections_for(32), 90);
        // Two per worker on 2 workers: 1 shared + 4 exclusive.
        let share = c.worker_share(2, 0).unwrap();
        assert_eq!((share.shared, share.exclusive), (1, 4));
        // 32 workers share 90: 26 workers get 3, 6 get 2.
        let shares: Vec<usize> = (0..32)
            .map(|w| c.worker_share(32, w).unwrap().total())
            .collect();
        assert_eq!(shares.iter().sum::<usize>(), 90);
        assert_eq!(shares.iter().filter(|&&n| n == 3).count(), 26);
        // More shared connections per worker raise the default budget.
        let c = Config::default().connections_per_worker(2);
        assert_eq!(c.max_connections_for(4), 24);
    }

    #[test]
    fn an_explicit_budget_below_two_per_worker_is_a_config_error() {
        let c = Config::default().max_connections(3);
        assert!(c.check_budget(2).unwrap_err().is_config());
        assert!(c.worker_share(2, 0).unwrap_err().is_config());
        assert!(c.check_budget(1).is_ok());
        let c = Config::default().max_connections(4);
        assert!(c.check_budget(2).is_ok());
        let share = c.worker_share(2, 1).unwrap();
        assert_eq!((share.shared, share.exclusive), (1, 1));
    }

    #[test]
    fn exclusive_per_worker_caps_the_share() {
        let c = Config::default()
            .max_connections(40)
            .exclusive_per_worker(3);
        let share = c.worker_share(2, 0).unwrap();
        assert_eq!((share.shared, share.exclusive), (1, 3));
        assert_eq!(
            Config::default()
                .exclusive_per_worker(0)
                .get_exclusive_per_worker(),
            1
        );
    }

    #[test]
    fn keys_in_urls_and_key_value_strings() {
        let c = parse(
            "postgres://u@h/d?max_connections=12&exclusive_per_worker=2&acquire_timeout_ms=1500",
        );
        assert_eq!(c.get_max_connections(), Some(12));
        assert_eq!(c.get_exclusive_per_worker(), 2);
        assert_eq!(c.get_acquire_timeout(), Some(Duration::from_millis(1500)));
        assert!(c.ignored_keys().is_empty(), "{:?}", c.ignored_keys());
        let c = parse("host=h max_connections=8 acquire_timeout_ms=0");
        assert_eq!(c.get_max_connections(), Some(8));
        assert_eq!(c.get_acquire_timeout(), None);
        assert_eq!(
            Config::default().get_acquire_timeout(),
            Some(crate::config::DEFAULT_ACQUIRE_TIMEOUT)
        );
        let e = Config::parse_with_env("host=h max_connections=many", |_| None).unwrap_err();
        assert!(e.is_config(), "{e}");
    }
}
