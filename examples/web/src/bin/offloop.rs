//! The off-loop stack's binary: the peer's axum + tokio service with corelane's clients (on
//! corelane's standalone loop) in place of tokio-postgres and redis-rs.
//!
//! ```text
//! cargo run --release -p corelane-web --bin corelane-offloop
//! ```
//!
//! Same environment as `corelane-web` (`DATABASE_URL`, `REDIS_URL`, throwaway servers when
//! unset); listens on `WEB_ADDR` (default `127.0.0.1:8082`).

use std::process::ExitCode;

use corelane_web::offloop::Offloop;

#[path = "../tokio_stack_main.rs"]
mod tokio_stack_main;

use tokio_stack_main::{main_for, Running};

fn main() -> ExitCode {
    main_for(
        "corelane-offloop",
        "axum + tokio + corelane clients",
        "127.0.0.1:8082",
        |config| {
            let stack = Offloop::start(config)?;
            Ok(Running {
                addr: stack.local_addr(),
                shutdown: Box::new(move |deadline| stack.shutdown(deadline)),
            })
        },
    )
}
