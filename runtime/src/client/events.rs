//! `tracing` events for what operators look for in logs (feature `tracing`): connections
//! opened (a reconnect when it is not the worker's first), connects that failed, and calls that
//! timed out, were cancelled, or lost their connection. Target `corelane::client`; fields
//! `db.system.name` and `worker`.

use super::outcome::Outcome;

const TARGET: &str = "corelane::client";

pub(crate) fn connected(labels: Option<(&'static str, usize)>, before: u64) {
    let (system, worker) = labels.unwrap_or(("", 0));
    if before == 0 {
        tracing::debug!(target: TARGET, worker, db.system.name = system, "connection opened");
    } else {
        tracing::info!(
            target: TARGET,
            worker,
            db.system.name = system,
            connects = before + 1,
            "reconnected: a new connection replaces one that closed"
        );
    }
}

pub(crate) fn connect_failed(labels: Option<(&'static str, usize)>, error: &dyn std::fmt::Display) {
    let (system, worker) = labels.unwrap_or(("", 0));
    tracing::warn!(target: TARGET, worker, db.system.name = system, error = %error, "connect failed");
}

pub(crate) fn call_ended(labels: Option<(&'static str, usize)>, outcome: Outcome) {
    let (system, worker) = labels.unwrap_or(("", 0));
    match outcome {
        Outcome::Timeout => tracing::warn!(
            target: TARGET,
            worker,
            db.system.name = system,
            "call timed out; its connection was closed (the server stopped answering on it)"
        ),
        Outcome::Cancelled => tracing::debug!(
            target: TARGET,
            worker,
            db.system.name = system,
            "call dropped before its reply; the reply will be read and discarded (handoff)"
        ),
        Outcome::Connection | Outcome::Protocol => tracing::warn!(
            target: TARGET,
            worker,
            db.system.name = system,
            outcome = outcome.as_str(),
            "call failed with its connection"
        ),
        Outcome::Ok | Outcome::ServerError | Outcome::Other => {}
    }
}
