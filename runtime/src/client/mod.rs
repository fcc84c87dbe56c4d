//! Per-worker client state: what a driver keeps on each worker for one client.
//!
//! A driver's `Client` is one `Send + Sync` handle; its connections live on every worker
//! (shared-nothing). Each worker therefore holds the client's own state — its pools, its
//! counters — created on that worker on first use and dropped on every worker when the last
//! handle goes. [`PerWorker`] is that arrangement, written once for every driver:
//!
//! - [`PerWorker::local`] returns this worker's state, making it on first use (the hot path:
//!   one thread-local lookup, no lock, no atomic).
//! - [`PerWorker::gather`] reads every worker's state (each read runs on its own worker) and
//!   returns the answers, bounded by a deadline: what `stats()` and `health()` are built on.
//! - Dropping the [`PerWorker`] submits a job to every worker that removes the state and calls
//!   [`WorkerState::close`] on it.
//!
//! [`Counters`] are the per-worker counters every driver keeps (calls, errors by kind,
//! timeouts, cancellations, connects), read into a [`WorkerStats`] snapshot on demand; the
//! [`Stats`] and [`Health`] reports sum and list them per worker.

mod counters;
#[cfg(feature = "tracing")]
mod events;
mod gather;
mod health;
#[cfg(feature = "metrics")]
pub mod metrics;
mod operation;
mod outcome;
mod registry;
mod stats;

pub use counters::{Counters, InFlight};
pub use gather::Answer;
pub use health::{Health, WorkerHealth};
pub use operation::OperationName;
pub use outcome::Outcome;
pub use registry::{PerWorker, WorkerState, HEALTH_CHECK_WITHIN, HEALTH_DEADLINE, STATS_DEADLINE};
pub use stats::{ConnectionCounts, Stats, WorkerStats};
