//! Snapshots of a client's counters: per worker, and summed.

use crate::pool::{SharedStatus, Status};
use crate::roundtrip::PipeStats;

/// A client's connections on one worker (or summed over workers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionCounts {
    /// Shared (pipelined) connections open.
    pub shared_open: usize,
    /// Shared connections being opened.
    pub shared_connecting: usize,
    /// Exclusive connections open (idle + in use + being opened).
    pub exclusive_open: usize,
    /// Exclusive connections idle in the pool.
    pub exclusive_idle: usize,
    /// Exclusive connections checked out (a transaction, a blocking command, a session).
    pub exclusive_in_use: usize,
    /// Callers waiting for a connection (shared or exclusive): among them, exclusive
    /// checkouts waiting because the worker's exclusive pool is full (at its size, or at its
    /// share of the client's connection budget, see [`worker_share`](crate::pool::worker_share)).
    pub waiting: usize,
}

impl ConnectionCounts {
    /// The counts of a worker's shared pool and exclusive pool.
    pub fn from_pools(shared: &SharedStatus, exclusive: &Status) -> Self {
        ConnectionCounts {
            shared_open: shared.open,
            shared_connecting: shared.connecting,
            exclusive_open: exclusive.open,
            exclusive_idle: exclusive.idle,
            exclusive_in_use: exclusive.open.saturating_sub(exclusive.idle),
            waiting: shared.waiting + exclusive.waiting,
        }
    }

    /// Every connection open or being opened.
    pub fn total(&self) -> usize {
        self.shared_open + self.shared_connecting + self.exclusive_open
    }

    fn add(&mut self, other: &Self) {
        self.shared_open += other.shared_open;
        self.shared_connecting += other.shared_connecting;
        self.exclusive_open += other.exclusive_open;
        self.exclusive_idle += other.exclusive_idle;
        self.exclusive_in_use += other.exclusive_in_use;
        self.waiting += other.waiting;
    }
}

/// One client's counters on one worker (`worker: Some(n)`), or summed (`worker: None`).
///
/// Counts are since the client was first used on the worker; they wrap at `u64::MAX`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// The worker, or `None` for a sum.
    pub worker: Option<usize>,
    /// Calls ended (all outcomes below).
    pub calls: u64,
    /// Calls started and not yet ended.
    pub in_flight: u64,
    /// Calls answered.
    pub ok: u64,
    /// Calls the server answered with an error.
    pub server_errors: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// Calls dropped before they ended.
    pub cancelled: u64,
    /// Calls failed by their connection (closed, reset, not opened).
    pub connection_errors: u64,
    /// Calls failed because the server broke the protocol.
    pub protocol_errors: u64,
    /// Calls failed otherwise (refused, type mismatch).
    pub other_errors: u64,
    /// Connections opened.
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// How requests travelled: read directly by their caller, through the bridge queue,
    /// handed off mid-read, or revoked from a caller that stopped polling.
    pub round_trips: PipeStats,
    /// Connections now.
    pub connections: ConnectionCounts,
}

impl WorkerStats {
    /// Zero counts for worker `worker` (a worker the client has not used yet).
    pub fn empty(worker: usize) -> Self {
        WorkerStats {
            worker: Some(worker),
            ..WorkerStats::default()
        }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &WorkerStats) {
        let sum = |a: &mut u64, b: u64| *a = a.wrapping_add(b);
        sum(&mut self.calls, other.calls);
        sum(&mut self.in_flight, other.in_flight);
        sum(&mut self.ok, other.ok);
        sum(&mut self.server_errors, other.server_errors);
        sum(&mut self.timeouts, other.timeouts);
        sum(&mut self.cancelled, other.cancelled);
        sum(&mut self.connection_errors, other.connection_errors);
        sum(&mut self.protocol_errors, other.protocol_errors);
        sum(&mut self.other_errors, other.other_errors);
        sum(&mut self.connects, other.connects);
        sum(&mut self.connect_failures, other.connect_failures);
        sum(&mut self.round_trips.direct, other.round_trips.direct);
        sum(&mut self.round_trips.bridged, other.round_trips.bridged);
        sum(&mut self.round_trips.handoffs, other.round_trips.handoffs);
        sum(&mut self.round_trips.revoked, other.round_trips.revoked);
        self.connections.add(&other.connections);
    }

    /// Calls that ended in an error of any kind (cancellations excluded).
    pub fn errors(&self) -> u64 {
        self.server_errors
            .wrapping_add(self.timeouts)
            .wrapping_add(self.connection_errors)
            .wrapping_add(self.protocol_errors)
            .wrapping_add(self.other_errors)
    }
}

/// A client's counters on every worker that answered, and their sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Per worker, in worker order (workers that did not answer in time are left out and
    /// counted in `unanswered`).
    pub workers: Vec<WorkerStats>,
    /// Workers that did not answer in time (busy, stuck or shut down).
    pub unanswered: usize,
}

impl Stats {
    /// A report from the workers' answers.
    pub fn new(workers: Vec<WorkerStats>, unanswered: usize) -> Self {
        Stats {
            workers,
            unanswered,
        }
    }

    /// The counters summed over the workers that answered.
    pub fn total(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for w in &self.workers {
            total.add(w);
        }
        total
    }
}
