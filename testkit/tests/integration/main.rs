//! The testkit's integration tests, one module per kind of server, in one test binary: one
//! link instead of one per file. `cargo test -p corelane-testkit --test integration proxy::`
//! runs one module.
//!
//! `env` has its own binary beside this directory: it sets process-wide variables (`PATH`
//! among them, which would hide the server binaries from every other test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pg_replica;
mod postgres;
mod proxy;
mod redis;
mod redis_cluster;
mod redis_sentinel;
