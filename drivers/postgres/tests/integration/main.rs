//! The postgres driver's integration tests, one module per area, in one test binary: one link
//! instead of one per file, and one server (`support::shared_server`) for every test that does
//! not need a server of its own. `cargo test -p corelane-postgres --test integration tls::`
//! runs one module.
//!
//! Tests that must be alone in their process have their own binaries beside this directory:
//! `allocations` (a counting `#[global_allocator]`), `bounded_memory` (measures the whole
//! process's resident set against a tight bound), `dropped_off_loop` (needs a standalone loop
//! of one worker; the others use two), `metrics` and `tracing` (each installs a process-wide
//! recorder that would see every other test's calls).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod app_errors;
mod basics;
mod budget;
mod cancel;
mod chaos;
mod connections;
mod conninfo;
mod copy;
mod copy_cancel;
mod durations;
mod faults;
mod hostile;
mod idle_cut;
mod listen;
mod moved_query;
mod multi_host;
mod network_types;
mod observability;
mod panics;
mod pipeline_rollback;
mod query_stream;
mod quiet_owner;
mod ranges;
mod result_cap;
mod savepoint_drop;
mod scram_offload;
mod session_state;
mod sessions;
mod stale_statements;
mod statement_cache;
mod statement_leak;
mod statements_api;
mod text_params;
mod tls;
mod transactions;
#[cfg(all(
    feature = "uuid",
    feature = "chrono",
    feature = "time",
    feature = "serde_json",
    feature = "rust_decimal",
    feature = "cidr",
    feature = "ipnetwork",
    feature = "bit-vec"
))]
mod type_features;
mod types;
mod user_types;
