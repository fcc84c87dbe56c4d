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
use std::time::Duration;

use corelane_web::offloop::Offloop;
use corelane_web::Config;

#[path = "../signals.rs"]
mod signals;

fn main() -> ExitCode {
    // Before any thread starts (see the corelane-web binary).
    let signals = match signals::block() {
        Ok(set) => set,
        Err(e) => {
            eprintln!("cannot block SIGINT/SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&signals) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corelane-offloop: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(signals: &signals::Blocked) -> Result<(), Box<dyn std::error::Error>> {
    let database = corelane_testkit::database_url()?;
    let redis = corelane_testkit::redis_url()?;
    let addr = std::env::var("WEB_ADDR").unwrap_or_else(|_| "127.0.0.1:8082".to_owned());
    let stack = Offloop::start(&Config {
        addr: addr.parse()?,
        database_url: database.url(),
        redis_url: redis.url(),
        workers: None,
    })?;
    println!(
        "corelane-offloop (axum + tokio + corelane clients) serving on http://{}/ — Ctrl-C stops it.",
        stack.local_addr()
    );
    let signal = signals.wait()?;
    println!("signal {signal}: draining");
    stack.shutdown(Duration::from_secs(5));
    Ok(())
}
