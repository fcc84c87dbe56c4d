//! The peer stack's binary: the same endpoints on axum + tokio + tokio-postgres + redis-rs.
//!
//! ```text
//! cargo run --release -p corelane-web --bin peer
//! ```
//!
//! Same environment as `corelane-web` (`DATABASE_URL`, `REDIS_URL`, throwaway servers when
//! unset); listens on `WEB_ADDR` (default `127.0.0.1:8081`).

use std::process::ExitCode;
use std::time::Duration;

use corelane_web::peer::Peer;
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
            eprintln!("peer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(signals: &signals::Blocked) -> Result<(), Box<dyn std::error::Error>> {
    let database = corelane_testkit::database_url()?;
    let redis = corelane_testkit::redis_url()?;
    let addr = std::env::var("WEB_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let peer = Peer::start(&Config {
        addr: addr.parse()?,
        database_url: database.url(),
        redis_url: redis.url(),
        workers: None,
    })?;
    println!(
        "peer (axum + tokio-postgres + redis-rs) serving on http://{}/ — Ctrl-C stops it.",
        peer.local_addr()
    );
    let signal = signals.wait()?;
    println!("signal {signal}: draining");
    peer.shutdown(Duration::from_secs(5));
    Ok(())
}
