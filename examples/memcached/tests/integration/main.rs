//! The memcached client's integration tests, one module per area, in one test binary: one link
//! instead of one per file. `cargo test -p corelane-memcached --test integration chaos::` runs
//! one module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod chaos;
mod commands;
mod concurrency;
mod faults;
mod proto;
