//! The runtime's integration tests, one module per area, in one test binary: one link instead
//! of one per file. `cargo test -p corelane-runtime --test integration faults::` runs one
//! module; `serve` needs the `hyper` feature (`--features hyper`).
//!
//! Tests that must be alone in their process have their own binaries beside this directory:
//! `dispatch` and `timer_alloc` (a counting `#[global_allocator]`), `reactor_faults` (sets the
//! process-wide variable that makes every worker's reactor fail link submissions, and reads
//! the process-wide count of failures).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod adversarial;
mod chaos;
mod durations;
mod fairness;
mod faults;
mod idle;
mod io_timestamps;
mod no_reply;
mod panics;
mod per_worker;
mod pool;
mod probe_idle;
mod provider;
mod quiet_meta;
mod quiet_owner;
mod reactor_stress;
mod registered;
mod roundtrip;
#[cfg(feature = "hyper")]
mod serve;
mod session;
mod submit;
mod tls;
mod unsolicited;
mod write_back;
