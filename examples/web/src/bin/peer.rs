//! The peer stack's binary: the same endpoints on axum + tokio + tokio-postgres + redis-rs.
//!
//! ```text
//! cargo run --release -p corelane-web --bin peer
//! ```
//!
//! Same environment as `corelane-web` (`DATABASE_URL`, `REDIS_URL`, throwaway servers when
//! unset); listens on `WEB_ADDR` (default `127.0.0.1:8081`).

use std::process::ExitCode;

use corelane_web::peer::Peer;

#[path = "../tokio_stack_main.rs"]
mod tokio_stack_main;

use tokio_stack_main::{main_for, Running};

fn main() -> ExitCode {
    main_for(
        "peer",
        "axum + tokio-postgres + redis-rs",
        "127.0.0.1:8081",
        |config| {
            let peer = Peer::start(config)?;
            Ok(Running {
                addr: peer.local_addr(),
                shutdown: Box::new(move |deadline| peer.shutdown(deadline)),
            })
        },
    )
}
