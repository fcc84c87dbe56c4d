//! `cargo run -p corelane-orders`: plays the shop's scripted day against `DATABASE_URL` and
//! `REDIS_URL` (or throwaway servers when unset), prints what happened and both clients'
//! `stats()`, and exits 0.

use std::process::ExitCode;

use corelane_runtime::client::Stats;
use corelane_testkit::{PgTarget, RedisTarget};
use futures_lite::future::block_on;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orders failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let redis_server = corelane_testkit::redis_url()?;
    match &redis_server {
        RedisTarget::External(url) => println!("using REDIS_URL={url}"),
        other => println!("started a throwaway redis-server at {}", other.url()),
    }
    let pg_server = corelane_testkit::database_url()?;
    match &pg_server {
        // The URL may hold a password: not printed.
        PgTarget::External(_) => println!("using DATABASE_URL"),
        other => println!("started a throwaway PostgreSQL on {}", other.url()),
    }
    let pg = corelane_postgres::Client::connect(&pg_server.url())?;
    let redis = corelane_redis::Client::open(&redis_server.url())?;

    let summary = corelane_orders::scenario::run(pg.clone(), redis.clone())?;
    println!("{summary}");

    let (pg_stats, redis_stats) = block_on(async { (pg.stats().await, redis.stats().await) });
    println!("-- client stats");
    print_stats("postgres", &pg_stats);
    print_stats("redis", &redis_stats);
    Ok(())
}

fn print_stats(name: &str, stats: &Stats) {
    let t = stats.total();
    println!(
        "  {name:<8} {} calls ({} ok, {} server errors, {} other errors), {} connects, \
         {} connections open ({} shared, {} exclusive)",
        t.calls,
        t.ok,
        t.server_errors,
        t.errors() - t.server_errors,
        t.connects,
        t.connections.total(),
        t.connections.shared_open,
        t.connections.exclusive_open,
    );
}
