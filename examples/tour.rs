//! The corelane tour: Redis and PostgreSQL basics, a pipeline each, then a few seconds of
//! pipelined load on every core with a live progress line.
//!
//! `cargo run --release --example tour` — uses `REDIS_URL` / `DATABASE_URL` when set, else
//! starts throwaway servers. The side-by-side against redis-rs, fred and tokio-postgres is
//! `cargo run --release -p corelane-benches --bin compare`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane_postgres::Client as PgClient;
use corelane_redis::{Client as RedisClient, Pipeline};
use futures_lite::future::block_on;

const LOAD_SECONDS: u64 = 5;
const TASKS_PER_WORKER: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("== corelane tour\n");
    let redis_server = corelane_examples::redis()?;
    let pg_server = corelane_examples::postgres()?;
    let redis = RedisClient::open(&redis_server.url())?;
    let pg = PgClient::connect(&pg_server.url())?;
    let workers = corelane_runtime::resolve(None)?;
    println!(
        "{} workers (one glommio executor per core)\n",
        workers.num_workers()
    );

    block_on(async {
        println!("-- Redis");
        redis.set::<()>("tour:greeting", "hello").await?;
        println!(
            "GET tour:greeting = {}",
            redis.get::<String>("tour:greeting").await?
        );
        let mut pipe = Pipeline::new();
        for i in 0..64 {
            pipe.set(format!("tour:k{i}"), i);
        }
        pipe.get("tour:k63");
        let replies: Vec<corelane_redis::Value> = redis.pipeline(&pipe).await?;
        println!(
            "a 65-command pipeline: {} replies in one round trip\n",
            replies.len()
        );
        Ok::<(), corelane_redis::Error>(())
    })?;

    block_on(async {
        println!("-- PostgreSQL");
        let row = pg
            .query_one("SELECT $1::int4 * 2 AS doubled, version() AS v", &[&21i32])
            .await?;
        println!("SELECT $1 * 2 = {}", row.get::<i32>("doubled")?);
        println!("{}", row.get::<String>("v")?);
        let items: Vec<(&str, &[&(dyn corelane_postgres::ToSql + Sync)])> =
            vec![("SELECT 1::int4", &[]); 64];
        let outcomes = pg.pipeline(&items).await?;
        println!(
            "a 64-query pipeline with one Sync: {} outcomes\n",
            outcomes.len()
        );
        Ok::<(), corelane_postgres::Error>(())
    })?;

    println!(
        "-- {LOAD_SECONDS} s of Redis GETs from {TASKS_PER_WORKER} tasks on each worker (implicit pipelining)"
    );
    block_on(redis.set::<()>("tour:load", "value"))?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut runs = Vec::new();
    for n in 0..workers.num_workers() {
        let Some(worker) = workers.worker(n) else {
            continue;
        };
        let (redis, done, stop) = (redis.clone(), done.clone(), stop.clone());
        runs.push(worker.spawn(move || async move {
            let tasks: Vec<_> = (0..TASKS_PER_WORKER)
                .filter_map(|_| {
                    let (redis, done, stop) = (redis.clone(), done.clone(), stop.clone());
                    corelane_runtime::task::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            match redis.get::<String>("tour:load").await {
                                Ok(v) if v == "value" => {
                                    done.fetch_add(1, Ordering::Relaxed);
                                }
                                _ => return false,
                            }
                        }
                        true
                    })
                    .ok()
                })
                .collect();
            let mut ok = true;
            for t in tasks {
                ok &= t.await;
            }
            ok
        }));
    }
    let start = Instant::now();
    let mut last = 0;
    while start.elapsed() < Duration::from_secs(LOAD_SECONDS) {
        std::thread::sleep(Duration::from_millis(500));
        let now = done.load(Ordering::Relaxed);
        print!(
            "\r{:>4.1} s  {:>10} GETs  {:>9.0} GET/s now",
            start.elapsed().as_secs_f64(),
            now,
            (now - last) as f64 / 0.5
        );
        std::io::stdout().flush()?;
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    for run in runs {
        if !block_on(run)? {
            return Err("a GET returned a wrong value or failed".into());
        }
    }
    let total = done.load(Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "\n{total} GETs in {secs:.1} s = {:.0} GET/s, every reply checked",
        total as f64 / secs
    );
    println!("\nNext: cargo run --release -p corelane-benches --bin compare   (side by side with redis-rs, fred, tokio-postgres)");
    Ok(())
}
