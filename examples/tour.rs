//! The corelane tour: Redis and PostgreSQL basics, a pipeline each, then a 10-second
//! side-by-side against redis-rs: the same `GET tour:load` load (every reply checked) runs for
//! 5 s on corelane — 64 tasks on each worker, implicitly pipelined — and then for 5 s on
//! redis-rs — one `MultiplexedConnection` on a tokio multi-thread runtime with as many worker
//! threads, 64 tasks each — with a live progress line, then both rates and their ratio.
//!
//! `cargo run --release --example tour` — uses `REDIS_URL` / `DATABASE_URL` when set, else
//! starts throwaway servers. The full side-by-side (latency, CPU, allocations; redis-rs, fred
//! and tokio-postgres) is `cargo run --release -p corelane-benches --bin compare`.

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane_postgres::Client as PgClient;
use corelane_redis::{Client as RedisClient, Pipeline};
use futures_lite::future::block_on;

/// How long each side of the side-by-side runs.
const LOAD_SECONDS: u64 = 5;
const TASKS_PER_WORKER: usize = 64;
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
const LOAD_KEY: &str = "tour:load";
const LOAD_VALUE: &str = "value";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\ntour failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
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

    block_on(redis.set::<()>(LOAD_KEY, LOAD_VALUE))?;
    let n = workers.num_workers();

    println!(
        "-- {LOAD_SECONDS} s of GET {LOAD_KEY} with corelane: {TASKS_PER_WORKER} tasks on each of {n} workers (implicit pipelining)"
    );
    let corelane_rate = run_load("corelane", |load| {
        let mut runs = Vec::with_capacity(n);
        for i in 0..n {
            let worker = workers.worker(i).ok_or_else(|| format!("no worker {i}"))?;
            let (redis, load) = (redis.clone(), load.clone());
            runs.push(worker.spawn(move || async move {
                let mut tasks = Vec::with_capacity(TASKS_PER_WORKER);
                for _ in 0..TASKS_PER_WORKER {
                    let redis = redis.clone();
                    let task = drive(load.clone(), async move || {
                        check(redis.get::<Option<String>>(LOAD_KEY).await)
                    });
                    match corelane_runtime::task::spawn(task) {
                        Ok(t) => tasks.push(t),
                        Err(e) => {
                            load.stop.store(true, Ordering::Relaxed);
                            return Err(e.to_string());
                        }
                    }
                }
                let mut first_error = Ok(());
                for t in tasks {
                    first_error = first_error.and(t.await);
                }
                first_error
            }));
        }
        Ok(move || {
            runs.into_iter().try_for_each(|run| {
                block_on(run).map_err(|e| format!("a worker went away: {e}"))?
            })
        })
    })?;

    println!(
        "-- {LOAD_SECONDS} s of the same GETs with redis-rs: one MultiplexedConnection, {TASKS_PER_WORKER} tasks on each of {n} tokio worker threads"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .enable_all()
        .build()?;
    let client = redis::Client::open(redis_server.url().as_str())?;
    // The multiplexed connection's driver task lives on this runtime.
    let conn = rt.block_on(client.get_multiplexed_async_connection())?;
    let redis_rs_rate = run_load("redis-rs", |load| {
        let tasks: Vec<_> = (0..n * TASKS_PER_WORKER)
            .map(|_| {
                let mut conn = conn.clone();
                rt.spawn(drive(load.clone(), async move || {
                    use redis::AsyncCommands;
                    check(conn.get::<_, Option<String>>(LOAD_KEY).await)
                }))
            })
            .collect();
        Ok(|| {
            rt.block_on(async {
                for t in tasks {
                    t.await.map_err(|e| format!("a task died: {e}"))??;
                }
                Ok(())
            })
        })
    })?;

    println!(
        "-- side by side: the same {} tasks, the same GETs",
        n * TASKS_PER_WORKER
    );
    println!("corelane  {corelane_rate:>10.0} GET/s");
    println!("redis-rs  {redis_rs_rate:>10.0} GET/s");
    println!(
        "corelane / redis-rs = {:.2}x",
        corelane_rate / redis_rs_rate
    );

    println!("\n-- what the clients counted (client.stats(), per worker and summed)");
    print_stats("redis", &block_on(redis.stats()));
    print_stats("postgres", &block_on(pg.stats()));
    let healthy = block_on(redis.health()).is_healthy() && block_on(pg.health()).is_healthy();
    println!(
        "health: {}",
        if healthy {
            "every worker reaches both servers"
        } else {
            "NOT healthy"
        }
    );
    println!("\nNext: cargo run --release -p corelane-benches --bin compare   (the full side-by-side: latency, CPU, allocations; redis-rs, fred, tokio-postgres)");
    Ok(())
}

/// One line per worker and one for the sum: calls by outcome, how requests travelled,
/// connections.
fn print_stats(who: &str, stats: &corelane_redis::Stats) {
    let rows = stats.workers.iter().cloned().chain([stats.total()]);
    for w in rows {
        let at = w
            .worker
            .map_or_else(|| "total".to_owned(), |n| format!("worker {n}"));
        println!(
            "{who:<8} {at:<8} calls {:>9}  errors {:>3}  timeouts {:>3}  cancelled {:>3}  direct {:>9}  bridged {:>9}  handoffs {:>3}  connections {}",
            w.calls,
            w.errors(),
            w.timeouts,
            w.cancelled,
            w.round_trips.direct,
            w.round_trips.bridged,
            w.round_trips.handoffs,
            w.connections.total()
        );
    }
}

/// What the tasks of one load share: the count of checked GETs and the flag that ends them.
#[derive(Default)]
struct Load {
    done: AtomicU64,
    stop: AtomicBool,
}

/// One load task: runs `get` back to back until the load stops. An error stops every task of
/// the load (so the demo ends at once) and is this task's output.
async fn drive(
    load: Arc<Load>,
    mut get: impl AsyncFnMut() -> Result<(), String>,
) -> Result<(), String> {
    while !load.stop.load(Ordering::Relaxed) {
        if let Err(e) = get().await {
            load.stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        load.done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Checks one `GET tour:load` reply.
fn check<E: Display>(reply: Result<Option<String>, E>) -> Result<(), String> {
    match reply {
        Ok(Some(v)) if v == LOAD_VALUE => Ok(()),
        Ok(Some(v)) => Err(format!(
            "GET {LOAD_KEY} returned {v:?}, expected {LOAD_VALUE:?}"
        )),
        Ok(None) => Err(format!(
            "GET {LOAD_KEY} returned nil, expected {LOAD_VALUE:?}"
        )),
        Err(e) => Err(format!("GET {LOAD_KEY} failed: {e}")),
    }
}

/// Runs a load for [`LOAD_SECONDS`] with a progress line, then prints and returns its GET/s.
///
/// `launch` starts the load's tasks (each one [`drive`]) and returns what waits for them all.
fn run_load<J>(
    who: &str,
    launch: impl FnOnce(&Arc<Load>) -> Result<J, String>,
) -> Result<f64, String>
where
    J: FnOnce() -> Result<(), String>,
{
    let load = Arc::new(Load::default());
    let join = match launch(&load) {
        Ok(join) => join,
        Err(e) => {
            // Tasks that did start end at their next GET.
            load.stop.store(true, Ordering::Relaxed);
            return Err(format!("{who}: could not start the load: {e}"));
        }
    };
    let start = Instant::now();
    let end = start + Duration::from_secs(LOAD_SECONDS);
    let (mut tick, mut last_at, mut last_done) = (start, start, 0);
    while tick < end && !load.stop.load(Ordering::Relaxed) {
        tick = (tick + PROGRESS_EVERY).min(end);
        std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        let (at, done) = (Instant::now(), load.done.load(Ordering::Relaxed));
        print!(
            "\r{:>4.1} s  {:>10} GETs  {:>9.0} GET/s now",
            (at - start).as_secs_f64(),
            done,
            (done - last_done) as f64 / (at - last_at).as_secs_f64()
        );
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        (last_at, last_done) = (at, done);
    }
    load.stop.store(true, Ordering::Relaxed);
    let joined = join();
    let secs = start.elapsed().as_secs_f64();
    let total = load.done.load(Ordering::Relaxed);
    println!();
    joined.map_err(|e| format!("{who}: {e}"))?;
    if total == 0 {
        return Err(format!("{who}: no GET completed in {secs:.1} s"));
    }
    let rate = total as f64 / secs;
    println!("{who}: {total} GETs in {secs:.1} s = {rate:.0} GET/s, every reply checked\n");
    Ok(rate)
}
