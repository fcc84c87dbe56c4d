//! `Client::stats` and `Client::health`: what each worker knows of this client, gathered on
//! demand by the runtime (the counters are plain per-worker cells; nothing is shared on the
//! call path). The driver's own part is the health check's round trip: an empty statement.

use std::time::Duration;

use corelane_runtime::client::{Health, Stats, WorkerHealth, WorkerState, HEALTH_CHECK_WITHIN};

use crate::codec::Response;
use crate::{Client, Error};

impl Client {
    /// This client's counters on every worker, and their sum ([`Stats::total`]): calls by
    /// outcome, calls in flight, connects, how requests travelled (direct index, bridge queue,
    /// handoffs) and the connections open now. Cheap: each worker reads its own counters when
    /// asked; the calls themselves share nothing.
    ///
    /// Calls are counted on the worker that runs them: statements on the shared connections
    /// (`query*`, `execute`, `prepare`, `batch_execute`, pipelines as one call each). Not yet
    /// counted: transactions, `query_stream`, COPY and LISTEN, which run on connections of
    /// their own (their connections are in the connection counts).
    ///
    /// ```no_run
    /// # async fn demo(client: corelane_postgres::Client) {
    /// let stats = client.stats().await;
    /// let total = stats.total();
    /// println!("{} calls, {} errors, {} in flight", total.calls, total.errors(), total.in_flight);
    /// # }
    /// ```
    pub async fn stats(&self) -> Stats {
        self.inner.states.stats().await
    }

    /// Whether every worker can serve this client now: each worker (alive if it answers in
    /// time) runs an empty statement on one of its connections (opening one if needed) and
    /// reports its open connections, failed connects and last connection-level error. For a
    /// readiness probe: [`Health::is_healthy`].
    ///
    /// ```no_run
    /// # async fn demo(client: corelane_postgres::Client) {
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
        self.inner
            .states
            .health(move |worker| {
                let client = client.clone();
                async move { client.worker_health(worker, HEALTH_CHECK_WITHIN).await }
            })
            .await
    }

    /// Runs on worker `worker`.
    async fn worker_health(&self, worker: usize, within: Duration) -> WorkerHealth {
        let state = match self.worker_pools() {
            Ok(state) => state,
            Err(e) => return WorkerHealth::answered(worker, Err(e.to_string()), 0, 0, None),
        };
        let ping = async {
            let conn = crate::cancel::connection(&self.inner.config, &self.inner.states).await?;
            match conn.simple("").await? {
                Response::Failed(e) => Err(Error::db(e)),
                _ => Ok(()),
            }
        };
        let reached = match corelane_runtime::task::timeout(within, ping).await {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("no reply within {within:?}")),
        };
        let failures = state.connect_failures();
        WorkerHealth::from_state(
            worker,
            reached,
            &state.stats(worker),
            &state.counters,
            failures,
        )
    }
}
