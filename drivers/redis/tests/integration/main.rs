//! The redis driver's integration tests, one module per area, in one test binary: one link
//! instead of one per file. `cargo test -p corelane-redis --test integration cluster::` runs
//! one module.
//!
//! Tests that must be alone in their process have their own binaries beside this directory:
//! `allocations` (a counting `#[global_allocator]`), `metrics` and `tracing` (each installs a
//! process-wide recorder that would see every other test's calls).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod blocking;
mod budget;
mod chaos;
mod client_cache;
mod cluster;
mod cluster_pubsub;
mod cluster_replicas;
mod cluster_streams;
mod cluster_transactions;
mod commands;
mod connections;
mod durations;
mod exclusive;
mod faults;
mod hostile;
mod idle_cut;
mod moved_call;
mod observability;
mod panics;
mod pipelines;
mod pubsub;
mod quiet_owner;
mod scan_push;
mod scripts;
mod sentinel;
mod shared_state;
mod streams;
mod tls;
mod unsolicited;
mod user_types;
