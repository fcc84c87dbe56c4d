//! The `main` the two tokio stacks' binaries share (`peer`, `corelane-offloop`): signals
//! blocked before any thread starts, servers from the environment (throwaway ones when unset),
//! serve until Ctrl-C or SIGTERM, then drain. `WEB_WORKERS=N` runs N tokio worker threads
//! (default: one per CPU); for the off-loop stack, `WEB_LOOP_WORKERS=N` runs corelane's
//! standalone loop with N workers (default: one per CPU).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use corelane_web::Config;

#[path = "signals.rs"]
mod signals;

/// A running stack: where it listens, and how to drain and stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: Box<dyn FnOnce(Duration)>,
}

/// Runs the stack `start` makes, named `name` (with `about` in its banner), on `WEB_ADDR` or
/// `default_addr`.
pub fn main_for(
    name: &str,
    about: &str,
    default_addr: &str,
    start: impl FnOnce(&Config) -> Result<Running, Box<dyn std::error::Error>>,
) -> ExitCode {
    // Before any thread starts (see the corelane-web binary).
    let signals = match signals::block() {
        Ok(set) => set,
        Err(e) => {
            eprintln!("cannot block SIGINT/SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&signals, name, about, default_addr, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    signals: &signals::Blocked,
    name: &str,
    about: &str,
    default_addr: &str,
    start: impl FnOnce(&Config) -> Result<Running, Box<dyn std::error::Error>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let database = corelane_testkit::database_url()?;
    let redis = corelane_testkit::redis_url()?;
    let addr = std::env::var("WEB_ADDR").unwrap_or_else(|_| default_addr.to_owned());
    let running = start(&Config {
        addr: addr.parse()?,
        database_url: database.url(),
        redis_url: redis.url(),
        workers: corelane_web::env::number("WEB_WORKERS")?,
        placement: corelane_runtime::Placement::Auto,
        spin_before_park: None,
        loop_workers: corelane_web::env::number("WEB_LOOP_WORKERS")?,
    })?;
    println!(
        "{name} ({about}) serving on http://{}/ — Ctrl-C stops it.",
        running.addr
    );
    let signal = signals.wait()?;
    println!("signal {signal}: draining");
    (running.shutdown)(Duration::from_secs(5));
    // `database` and `redis` drop here: throwaway servers stop.
    Ok(())
}
