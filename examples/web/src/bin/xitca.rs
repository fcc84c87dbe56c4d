//! The xitca stack's binary: the same endpoints on xitca-web + xitca-postgres + redis-rs,
//! thread-per-core on tokio.
//!
//! ```text
//! cargo run --release -p corelane-web --bin xitca
//! ```
//!
//! Same environment as `corelane-web` (`DATABASE_URL`, `REDIS_URL`, throwaway servers when
//! unset); listens on `WEB_ADDR` (default `127.0.0.1:8083`); `WEB_WORKERS=N` runs N worker
//! threads (default: one per CPU).

use std::process::ExitCode;

use corelane_web::xitca::Xitca;

#[path = "../tokio_stack_main.rs"]
mod tokio_stack_main;

use tokio_stack_main::{main_for, Running};

fn main() -> ExitCode {
    main_for(
        "xitca",
        "xitca-web + xitca-postgres + redis-rs",
        "127.0.0.1:8083",
        |config| {
            let stack = Xitca::start(config)?;
            Ok(Running {
                addr: stack.local_addr(),
                shutdown: Box::new(move |deadline| stack.shutdown(deadline)),
            })
        },
    )
}
