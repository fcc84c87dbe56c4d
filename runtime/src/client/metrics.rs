//! A client's counters published through the `metrics` facade (feature `metrics`).
//!
//! Handles are registered once, when a client's state is made on a worker, with the labels
//! `db_system` (`redis`, `postgresql`) and `worker` — no keys, no SQL, so cardinality stays
//! bounded by workers × outcomes. Calls, connects and latencies are recorded as they happen;
//! connection gauges and round-trip totals are published by each worker every
//! [`PUBLISH_EVERY`] and whenever `stats()` reads the worker.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `corelane_calls_total` | counter | `outcome` (`ok`, `server_error`, `timeout`, `cancelled`, `connection`, `protocol`, `other`) |
//! | `corelane_call_duration_seconds` | histogram | |
//! | `corelane_pipeline_size` | histogram | |
//! | `corelane_connects_total` | counter | |
//! | `corelane_connect_failures_total` | counter | |
//! | `corelane_round_trips_total` | counter | `path` (`direct`, `bridged`, `handoff`, `revoked`) |
//! | `corelane_connections` | gauge | `state` (`shared_open`, `shared_connecting`, `exclusive_idle`, `exclusive_in_use`, `waiting`) |
//! | `corelane_in_flight` | gauge | |
//!
//! Every metric also carries `db_system` and `worker`.

use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use super::outcome::Outcome;
use super::stats::WorkerStats;

/// How often each worker publishes its gauges and round-trip totals.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

const OUTCOMES: [Outcome; 7] = [
    Outcome::Ok,
    Outcome::ServerError,
    Outcome::Timeout,
    Outcome::Cancelled,
    Outcome::Connection,
    Outcome::Protocol,
    Outcome::Other,
];

/// The registered handles of one client on one worker.
pub(crate) struct Sink {
    calls: [Counter; 7],
    latency: Histogram,
    batch_size: Histogram,
    connects: Counter,
    connect_failures: Counter,
    /// direct, bridged, handoff, revoked.
    round_trips: [Counter; 4],
    /// shared_open, shared_connecting, exclusive_idle, exclusive_in_use, waiting.
    connections: [Gauge; 5],
    in_flight: Gauge,
}

fn index(outcome: Outcome) -> usize {
    OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(6)
}

impl Sink {
    pub(crate) fn new(system: &'static str, worker: usize) -> Sink {
        let worker = worker.to_string();
        let calls = OUTCOMES.map(|o| {
            counter!("corelane_calls_total",
                "db_system" => system, "worker" => worker.clone(), "outcome" => o.as_str())
        });
        let round_trips = ["direct", "bridged", "handoff", "revoked"].map(|path| {
            counter!("corelane_round_trips_total",
                "db_system" => system, "worker" => worker.clone(), "path" => path)
        });
        let connections = [
            "shared_open",
            "shared_connecting",
            "exclusive_idle",
            "exclusive_in_use",
            "waiting",
        ]
        .map(|state| {
            gauge!("corelane_connections",
                "db_system" => system, "worker" => worker.clone(), "state" => state)
        });
        Sink {
            calls,
            latency: histogram!("corelane_call_duration_seconds",
                "db_system" => system, "worker" => worker.clone()),
            batch_size: histogram!("corelane_pipeline_size",
                "db_system" => system, "worker" => worker.clone()),
            connects: counter!("corelane_connects_total",
                "db_system" => system, "worker" => worker.clone()),
            connect_failures: counter!("corelane_connect_failures_total",
                "db_system" => system, "worker" => worker.clone()),
            round_trips,
            connections,
            in_flight: gauge!("corelane_in_flight", "db_system" => system, "worker" => worker),
        }
    }

    pub(crate) fn call(&self, outcome: Outcome, took: Option<Duration>) {
        self.calls[index(outcome)].increment(1);
        if let Some(took) = took {
            self.latency.record(took.as_secs_f64());
        }
    }

    pub(crate) fn batch(&self, size: usize) {
        self.batch_size.record(size as f64);
    }

    pub(crate) fn connected(&self) {
        self.connects.increment(1);
    }

    pub(crate) fn connect_failed(&self) {
        self.connect_failures.increment(1);
    }

    pub(crate) fn publish(&self, stats: &WorkerStats) {
        let trips = &stats.round_trips;
        for (counter, total) in self.round_trips.iter().zip([
            trips.direct,
            trips.bridged,
            trips.handoffs,
            trips.revoked,
        ]) {
            counter.absolute(total);
        }
        let c = &stats.connections;
        for (gauge, value) in self.connections.iter().zip([
            c.shared_open,
            c.shared_connecting,
            c.exclusive_idle,
            c.exclusive_in_use,
            c.waiting,
        ]) {
            gauge.set(value as f64);
        }
        self.in_flight.set(stats.in_flight as f64);
    }
}
