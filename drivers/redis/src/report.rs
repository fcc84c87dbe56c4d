//! `Client::stats` and `Client::health`: what each worker knows of this client, gathered on
//! demand by the runtime (the counters are plain per-worker cells; nothing is shared on the
//! call path). The driver's own part is the health check's round trip: a `PING`.

use std::time::Duration;

use corelane_redis_proto::Cmd;
use corelane_runtime::client::{Health, Stats, WorkerHealth, WorkerState, HEALTH_CHECK_WITHIN};

use crate::Client;

impl Client {
    /// This client's counters on every worker, and their sum ([`Stats::total`]): calls by
    /// outcome, calls in flight, connects, how requests travelled (direct index, bridge queue,
    /// handoffs) and the connections open now. Cheap: each worker reads its own counters when
    /// asked; the calls themselves share nothing.
    ///
    /// Calls are counted on the worker that runs them; a reply the caller then fails to
    /// convert counts as answered. Not counted: transactions, blocking commands and
    /// subscriptions, which run on connections of their own (in the connection counts).
    ///
    /// ```no_run
    /// # async fn demo(client: corelane_redis::Client) {
    /// let stats = client.stats().await;
    /// let total = stats.total();
    /// println!("{} calls, {} errors, {} in flight", total.calls, total.errors(), total.in_flight);
    /// # }
    /// ```
    pub async fn stats(&self) -> Stats {
        self.states().stats().await
    }

    /// Whether every worker can serve this client now: each worker (alive if it answers in
    /// time) sends a `PING` on one of its connections (opening one if needed) and reports its
    /// open connections, failed connects and last connection-level error. For a readiness
    /// probe: [`Health::is_healthy`].
    ///
    /// ```no_run
    /// # async fn demo(client: corelane_redis::Client) {
    /// let health = client.health().await;
    /// if !health.is_healthy() {
    ///     for w in health.workers.iter().filter(|w| !w.is_healthy()) {
    ///         eprintln!("worker {}: {:?}", w.worker, w.last_error);
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn health(&self) -> Health {
        let client = self.clone();
        self.states()
            .health(move |worker| {
                let client = client.clone();
                async move { client.worker_health(worker, HEALTH_CHECK_WITHIN).await }
            })
            .await
    }

    /// Runs on worker `worker`.
    async fn worker_health(&self, worker: usize, within: Duration) -> WorkerHealth {
        let state = match self.worker_state() {
            Ok(state) => state,
            Err(e) => return WorkerHealth::answered(worker, Err(e.to_string()), 0, 0, None),
        };
        let ping = async {
            let conn = state.connection().await?;
            conn.query::<String>(&Cmd::new("PING")).await
        };
        let reached = match corelane_runtime::task::timeout(within, ping).await {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("PING got no reply within {within:?}")),
        };
        let failures = state.pool.status().connect_failures;
        WorkerHealth::from_state(
            worker,
            reached,
            &state.stats(worker),
            &state.counters,
            failures,
        )
    }
}
