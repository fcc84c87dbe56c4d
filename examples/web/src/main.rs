//! The TechEmpower-style HTTP service on corelane's workers.
//!
//! ```text
//! cargo run --release --example web      # or: cargo run --release -p corelane-web
//! ```
//!
//! Uses `DATABASE_URL` and `REDIS_URL` when set; otherwise starts a throwaway PostgreSQL and
//! redis-server (corelane-testkit; `postgres`/`initdb` and `redis-server` must be installed)
//! and stops them on exit. Listens on `WEB_ADDR` (default `127.0.0.1:8080`). Stops on Ctrl-C
//! or SIGTERM, draining requests in flight. `/metrics` serves the drivers' counters in
//! Prometheus format (`WEB_METRICS=off` leaves the recorder out, for benchmarks).
//! `WEB_PLACEMENT=unbound` leaves the worker threads to the OS scheduler (`pinned`, `auto`);
//! `WEB_WORKERS=N` runs N workers (default: one per CPU); `WEB_SPIN_US=N` lets an idle worker
//! spin N µs before it sleeps (default: it sleeps at once).

use std::process::ExitCode;
use std::time::Duration;

use corelane_runtime::Placement;
use corelane_web::{Config, Web};

mod signals;

fn main() -> ExitCode {
    // Before any thread starts, so every thread inherits the mask and the signal waits for
    // `signals::wait` instead of killing the process (and leaking the throwaway servers).
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
            eprintln!("corelane-web: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `WEB_PLACEMENT`: `pinned`, `unbound`, or `auto` (the default).
fn placement() -> Result<Placement, Box<dyn std::error::Error>> {
    match std::env::var("WEB_PLACEMENT").as_deref() {
        Err(_) | Ok("auto") => Ok(Placement::Auto),
        Ok("pinned") => Ok(Placement::Pinned),
        Ok("unbound") => Ok(Placement::Unbound),
        Ok(other) => Err(format!("WEB_PLACEMENT={other}: expected auto, pinned or unbound").into()),
    }
}

fn run(signals: &signals::Blocked) -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var("WEB_METRICS").map_or(true, |v| v != "off") {
        corelane_web::metrics::install()?;
    }
    let database = corelane_testkit::database_url()?;
    let redis = corelane_testkit::redis_url()?;
    let addr = std::env::var("WEB_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let config = Config {
        addr: addr.parse()?,
        database_url: database.url(),
        redis_url: redis.url(),
        workers: corelane_web::env::number("WEB_WORKERS")?,
        placement: placement()?,
        spin_before_park: corelane_web::env::number("WEB_SPIN_US")?.map(Duration::from_micros),
        loop_workers: None,
    };
    let web = Web::start(&config)?;
    let base = format!("http://{}", web.local_addr());
    println!("corelane-web serving on {base}/ — point a browser at:");
    for path in [
        "/plaintext",
        "/json",
        "/db",
        "/queries?q=20",
        "/updates?q=20",
        "/fortunes",
        "/cached-queries?q=20",
        "/metrics",
    ] {
        println!("  {base}{path}");
    }
    println!("Ctrl-C stops it.");
    let signal = signals.wait()?;
    println!("signal {signal}: draining");
    let report = web.shutdown(Duration::from_secs(5));
    println!(
        "stopped: {} connections drained, {} cut",
        report.drained, report.cut
    );
    // `database` and `redis` drop here: throwaway servers stop.
    Ok(())
}
