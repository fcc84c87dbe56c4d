//! Whether each worker can serve a client: what a readiness probe asks.

use std::time::Duration;

/// One worker's health for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerHealth {
    /// The worker.
    pub worker: usize,
    /// The worker answered in time (it runs its tasks).
    pub alive: bool,
    /// The worker reached the server just now (a round trip on one of its connections, opened
    /// if needed).
    pub server_reachable: bool,
    /// Connections open (or being opened) for this client on the worker.
    pub connections: usize,
    /// Consecutive failed connects since the last success (0: the last connect worked).
    pub connect_failures: u32,
    /// The last connection-level error (timeout, connection, protocol) and how long ago.
    pub last_error: Option<(String, Duration)>,
}

impl WorkerHealth {
    /// A worker that did not answer.
    pub fn unanswered(worker: usize) -> Self {
        WorkerHealth {
            worker,
            alive: false,
            server_reachable: false,
            connections: 0,
            connect_failures: 0,
            last_error: None,
        }
    }

    /// A worker that answered: `reached` tells whether its round trip to the server worked
    /// (`Err` holds why not, which becomes the last error); the rest comes from its state
    /// ([`from_state`](Self::from_state) fills it from a worker's stats and counters).
    pub fn answered(
        worker: usize,
        reached: Result<(), String>,
        connections: usize,
        connect_failures: u32,
        last_error: Option<(String, Duration)>,
    ) -> Self {
        let (server_reachable, last_error) = match reached {
            Ok(()) => (true, last_error),
            Err(why) => (false, Some((why, Duration::ZERO))),
        };
        WorkerHealth {
            worker,
            alive: true,
            server_reachable,
            connections,
            connect_failures,
            last_error,
        }
    }

    /// A worker that answered, with its connection count and last error taken from `stats`
    /// and `counters`, and `connect_failures` (the pool's consecutive failures).
    pub fn from_state(
        worker: usize,
        reached: Result<(), String>,
        stats: &super::WorkerStats,
        counters: &super::Counters,
        connect_failures: u32,
    ) -> Self {
        let last_error = counters.last_error().map(|(text, at)| (text, at.elapsed()));
        WorkerHealth::answered(
            worker,
            reached,
            stats.connections.total(),
            connect_failures,
            last_error,
        )
    }

    /// Alive, and it reached the server.
    pub fn is_healthy(&self) -> bool {
        self.alive && self.server_reachable
    }
}

/// Every worker's health for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Per worker, in worker order.
    pub workers: Vec<WorkerHealth>,
}

impl Health {
    /// A report from the workers' answers.
    pub fn new(workers: Vec<WorkerHealth>) -> Self {
        Health { workers }
    }

    /// Every worker is healthy (see [`WorkerHealth::is_healthy`]).
    pub fn is_healthy(&self) -> bool {
        !self.workers.is_empty() && self.workers.iter().all(WorkerHealth::is_healthy)
    }
}
