//! `Client::stats` and `Client::health`: what each worker knows of this client, gathered on
//! demand (the counters are plain per-worker cells; nothing is shared on the call path).

use std::time::Duration;

use corelane_runtime::client::{Answer, Health, Stats, WorkerHealth, WorkerState, WorkerStats};

use crate::codec::Response;
use crate::{worker_state, Client, Error};

/// How long `stats()` waits for a worker's answer: a worker answers as soon as its current
/// task yields, so only a stuck worker takes longer.
const STATS_DEADLINE: Duration = Duration::from_secs(1);

/// How long `health()` waits for a worker's answer; its round trip to the server gets three
/// quarters of it, so a slow server shows as unreachable rather than as a dead worker.
const HEALTH_DEADLINE: Duration = Duration::from_secs(4);

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
        let answers = self
            .inner
            .states
            .gather(STATS_DEADLINE, |worker, state| async move {
                state.map_or_else(
                    || WorkerStats::empty(worker),
                    |s| {
                        let stats = s.stats(worker);
                        s.counters.publish(&stats);
                        stats
                    },
                )
            })
            .await;
        let unanswered = answers
            .iter()
            .filter(|a| !matches!(a, Answer::Replied(_)))
            .count();
        Stats::new(
            answers.into_iter().filter_map(Answer::replied).collect(),
            unanswered,
        )
    }

    /// Whether every worker can serve this client now: each worker (alive if it answers in
    /// time) runs an empty statement on one of its connections (opening one if needed) and reports its
    /// open connections, failed connects and last connection-level error. For a readiness
    /// probe: [`Health::is_healthy`].
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
        let ping_within = HEALTH_DEADLINE * 3 / 4;
        let answers = self
            .inner
            .states
            .gather(HEALTH_DEADLINE, move |worker, _| {
                let client = client.clone();
                async move { client.worker_health(worker, ping_within).await }
            })
            .await;
        Health::new(
            answers
                .into_iter()
                .enumerate()
                .map(|(n, a)| a.replied().unwrap_or_else(|| WorkerHealth::unanswered(n)))
                .collect(),
        )
    }

    /// Runs on worker `worker`.
    async fn worker_health(&self, worker: usize, ping_within: Duration) -> WorkerHealth {
        let state = match worker_state::pools(self) {
            Ok(state) => state,
            Err(e) => return WorkerHealth::answered(worker, Err(e.to_string()), 0, 0, None),
        };
        let ping = async {
            let conn = crate::cancel::connection(self).await?;
            match conn.simple("").await? {
                Response::Failed(e) => Err(Error::db(e)),
                _ => Ok(()),
            }
        };
        let reached = match corelane_runtime::task::timeout(ping_within, ping).await {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("no reply within {ping_within:?}")),
        };
        let stats = state.stats(worker);
        let last_error = state
            .counters
            .last_error()
            .map(|(text, at)| (text, at.elapsed()));
        WorkerHealth::answered(
            worker,
            reached,
            stats.connections.total(),
            state.connect_failures(),
            last_error,
        )
    }
}
