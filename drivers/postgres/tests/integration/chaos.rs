//! Cancellation chaos against a real PostgreSQL.
//!
//! The two workers of the standalone loop run 16 tasks each. Every task issues random
//! `SELECT $1::int4`-shaped queries (several SQL texts, so a small statement cache keeps
//! evicting and closing statements), short `pg_sleep`s and explicit pipelines of 1..=50
//! statements, and drops ~30% of its calls at random points (after 0..8 polls, or through a
//! timeout of 0..3 ms): before anything is sent, mid-write, mid-read of a direct batch, queued in
//! the bridge queue. Another ~10% are polled 1..3 times and then left idle (alive, not polled)
//! while their task awaits 1..3 other queries on the same worker's connection — the `select!`
//! shape — and are then awaited or dropped. A plain thread adds calls through the mailbox at
//! the same time.
//!
//! Checked: every result received is its own query's (each echoes a random value), no error
//! at all (a dropped call simply never reports), nothing hangs, and the connections survive:
//! each worker still talks to the same backend (`pg_backend_pid()`) as before the chaos, the
//! server holds no more prepared statements than the cache allows, and a final 1000-statement
//! pipeline plus 100 concurrent queries per worker are all correct.
//!
//! `CHAOS_SEED=<n>` replays a run's random choices (task interleavings still vary).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{
    block_on, client_for, guard, on_worker, shared_server, two_workers, DropAfter, Rng,
};
use corelane_postgres::{Client, ToSql};
use corelane_runtime::task;

const TASKS_PER_WORKER: usize = 16;
/// Statements issued by the worker tasks, all workers together (dropped ones included).
const TARGET: u64 = 40_000;
/// The per-connection statement cache: smaller than the number of SQL texts, so statements are
/// evicted and closed all the time while calls are dropped around them.
const CACHE: usize = 4;

/// SQL texts and the column holding the echoed value.
const SQLS: [(&str, usize); 7] = [
    ("SELECT $1::int4", 0),
    ("SELECT $1::int4 AS v", 0),
    ("SELECT 'pad'::text, $1::int4", 1),
    ("SELECT $1::int4 + 0", 0),
    ("SELECT $1::int4 WHERE true", 0),
    ("SELECT ($1::int4)", 0),
    ("SELECT pg_sleep(0.001), $1::int4", 1),
];
const SLEEP: usize = 6;

#[derive(Default)]
struct Tally {
    /// Statements to issue (all worker tasks together).
    target: u64,
    issued: AtomicU64,
    completed: AtomicU64,
    dropped_calls: AtomicU64,
    dropped_statements: AtomicU64,
    idled_calls: AtomicU64,
    pipelines: AtomicU64,
    remote_completed: AtomicU64,
    failures: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Tally {
    fn fail(&self, message: String) {
        eprintln!("FAILURE: {message}");
        self.failures.lock().unwrap().push(message);
        self.stop.store(true, Ordering::SeqCst);
    }
    fn done(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.issued.load(Ordering::Relaxed) >= self.target
    }
}

fn seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Runs `op` (one statement, or a pipeline) and checks every value; the number of statements
/// whose result was checked, or what went wrong.
async fn run(client: &Client, op: &[(usize, i32)], pipeline: bool) -> Result<u64, String> {
    if !pipeline {
        let (sql, col) = SQLS[op[0].0];
        let rows = client
            .query(sql, &[&op[0].1])
            .await
            .map_err(|e| format!("{sql}: unexpected error: {e}"))?;
        if rows.len() != 1 {
            return Err(format!("{sql}: {} rows instead of 1", rows.len()));
        }
        let got: i32 = rows[0]
            .get(col)
            .map_err(|e| format!("{sql}: decoding: {e}"))?;
        if got != op[0].1 {
            return Err(format!(
                "A RESULT WENT TO THE WRONG QUERY: {sql} with {} returned {got}",
                op[0].1
            ));
        }
        return Ok(1);
    }
    let params: Vec<[&(dyn ToSql + Sync); 1]> = op.iter().map(|(_, v)| [v as _]).collect();
    let items: Vec<(&str, &[&(dyn ToSql + Sync)])> = op
        .iter()
        .zip(&params)
        .map(|((i, _), p)| (SQLS[*i].0, &p[..]))
        .collect();
    let outcomes = client
        .pipeline(&items)
        .await
        .map_err(|e| format!("pipeline of {}: unexpected error: {e}", op.len()))?;
    if outcomes.len() != op.len() {
        return Err(format!(
            "pipeline of {}: {} outcomes",
            op.len(),
            outcomes.len()
        ));
    }
    for (k, (outcome, (i, v))) in outcomes.iter().zip(op).enumerate() {
        let (sql, col) = SQLS[*i];
        let outcome = outcome
            .as_ref()
            .map_err(|e| format!("pipeline slot {k} ({sql}): unexpected error: {e}"))?;
        if outcome.rows.len() != 1 {
            return Err(format!(
                "pipeline slot {k} ({sql}): {} rows",
                outcome.rows.len()
            ));
        }
        let got: i32 = outcome.rows[0]
            .get(col)
            .map_err(|e| format!("pipeline slot {k}: decoding: {e}"))?;
        if got != *v {
            return Err(format!(
                "A RESULT WENT TO THE WRONG QUERY: pipeline slot {k} ({sql}) with {v} returned {got}"
            ));
        }
    }
    Ok(op.len() as u64)
}

fn random_op(rng: &mut Rng) -> (Vec<(usize, i32)>, bool) {
    let kind = rng.below(100);
    if kind < 55 {
        (vec![(rng.below(SLEEP as u64) as usize, rng.i32())], false)
    } else if kind < 65 {
        (vec![(SLEEP, rng.i32())], false)
    } else {
        let n = 1 + rng.below(50) as usize;
        let op = (0..n)
            .map(|_| {
                let sql = if rng.chance(3) {
                    SLEEP
                } else {
                    rng.below(SLEEP as u64) as usize
                };
                (sql, rng.i32())
            })
            .collect();
        (op, true)
    }
}

async fn chaos_task(client: Client, seed: u64, tally: Arc<Tally>) {
    let mut rng = Rng::new(seed);
    while !tally.done() {
        let (op, pipeline) = random_op(&mut rng);
        let n = op.len() as u64;
        tally.issued.fetch_add(n, Ordering::Relaxed);
        if pipeline {
            tally.pipelines.fetch_add(1, Ordering::Relaxed);
        }
        let fut = run(&client, &op, pipeline);
        let result = if rng.chance(10) {
            left_idle(fut, &client, &mut rng, &tally).await
        } else if rng.chance(30) {
            if rng.chance(50) {
                DropAfter::new(fut, rng.below(8) as usize).await
            } else {
                task::timeout(Duration::from_micros(rng.below(3000)), fut).await
            }
        } else {
            Some(fut.await)
        };
        match result {
            None => {
                tally.dropped_calls.fetch_add(1, Ordering::Relaxed);
                tally.dropped_statements.fetch_add(n, Ordering::Relaxed);
            }
            Some(Ok(k)) => {
                tally.completed.fetch_add(k, Ordering::Relaxed);
            }
            Some(Err(message)) => tally.fail(message),
        }
    }
}

/// A side query issued while another call of the same task is left idle: past this it is stuck
/// behind a reader that never runs. Generous: a hang guard, not a timing assertion.
const SIDE_CALL_HANG: Duration = Duration::from_secs(30);

/// The fourth fate: `fut` is polled 1..3 times, then left alive while this task awaits 1..3
/// other queries on the same connection, then awaited or dropped (`None`).
async fn left_idle(
    fut: impl std::future::Future<Output = Result<u64, String>>,
    client: &Client,
    rng: &mut Rng,
    tally: &Tally,
) -> Option<Result<u64, String>> {
    tally.idled_calls.fetch_add(1, Ordering::Relaxed);
    let mut fut = Box::pin(fut);
    for _ in 0..1 + rng.below(3) {
        if let Some(out) = futures_lite::future::poll_once(fut.as_mut()).await {
            return Some(out);
        }
    }
    for _ in 0..1 + rng.below(3) {
        let op = [(rng.below(SLEEP as u64) as usize, rng.i32())];
        tally.issued.fetch_add(1, Ordering::Relaxed);
        match task::timeout(SIDE_CALL_HANG, run(client, &op, false)).await {
            None => tally.fail(format!(
                "a query hung behind a call left idle ({SIDE_CALL_HANG:?})"
            )),
            Some(Err(m)) => tally.fail(format!("side query: {m}")),
            Some(Ok(k)) => {
                tally.completed.fetch_add(k, Ordering::Relaxed);
            }
        }
    }
    if rng.chance(25) {
        task::sleep(Duration::from_micros(rng.below(500))).await;
    }
    if rng.chance(50) {
        Some(fut.await)
    } else {
        None
    }
}

/// The backend pid of worker `n`'s connection.
fn backend_pid(client: &Client, n: usize) -> i32 {
    let client = client.clone();
    on_worker(n, move || async move {
        client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get::<i32>(0)
            .unwrap()
    })
}

/// A 1000-statement pipeline and 100 concurrent queries on worker `n`, all checked.
fn still_usable(client: &Client, n: usize) {
    let client = client.clone();
    on_worker(n, move || async move {
        let op: Vec<(usize, i32)> = (0..1000).map(|i| (i % SLEEP, i as i32 * 7 - 3)).collect();
        run(&client, &op, true).await.unwrap();
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let client = client.clone();
                task::spawn(async move {
                    let op = [(i % SQLS.len(), i as i32 - 50)];
                    run(&client, &op, false).await
                })
                .unwrap()
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// Many tasks per connection: mostly the bridge queue.
#[test]
fn cancellation_chaos_two_workers() {
    chaos(TASKS_PER_WORKER, TARGET, false);
}

/// Two tasks per connection: mostly direct runs, so calls left idle hold the read lease and
/// the queries their tasks await meanwhile must take it over.
#[test]
fn quiet_cancellation_chaos_two_workers() {
    chaos(2, TARGET / 4, false);
}

/// The crowded shape over TLS (`sslmode=verify-full`, SCRAM-SHA-256-PLUS): drops and
/// cancellations land between and inside records, and the backends stay the same.
#[test]
fn cancellation_chaos_over_tls() {
    chaos(TASKS_PER_WORKER, TARGET / 2, true);
}

fn chaos(tasks_per_worker: usize, target: u64, tls: bool) {
    two_workers();
    let certs = corelane_testkit::TestCerts::generate().unwrap();
    let server = if tls {
        Arc::new(
            corelane_testkit::PgServer::builder()
                .auth(corelane_testkit::PgAuth::ScramSha256)
                .superuser_password("chaos-secret")
                .tls(&certs.server().cert, &certs.server().key)
                .start()
                .unwrap(),
        )
    } else {
        shared_server()
    };
    let root = certs.ca_file().to_owned();
    let client = client_for(&server, |c| {
        let c = c.statement_cache_size(CACHE);
        if tls {
            c.ssl_mode(corelane_postgres::SslMode::VerifyFull)
                .ssl_root_cert(root)
                .channel_binding(corelane_postgres::ChannelBinding::Require)
        } else {
            c
        }
    });
    let workers = corelane_runtime::resolve(None).unwrap();
    let nworkers = workers.num_workers();
    assert_eq!(nworkers, 2, "the standalone loop should have two workers");
    let seed = seed();
    eprintln!("CHAOS_SEED={seed}");

    let pids: Vec<i32> = (0..nworkers).map(|n| backend_pid(&client, n)).collect();
    let tally = Arc::new(Tally {
        target,
        ..Tally::default()
    });

    let (c, t) = (client.clone(), tally.clone());
    guard("chaos", move || {
        let mut remote = Vec::new();
        for n in 0..nworkers {
            let (client, tally) = (c.clone(), t.clone());
            let worker = workers.worker(n).unwrap().clone();
            remote.push(worker.spawn(move || async move {
                let tasks: Vec<_> = (0..tasks_per_worker)
                    .map(|k| {
                        let s = seed
                            .wrapping_add((n * tasks_per_worker + k) as u64)
                            .wrapping_mul(0x9E37_79B9);
                        task::spawn(chaos_task(client.clone(), s, tally.clone())).unwrap()
                    })
                    .collect();
                for task in tasks {
                    task.await;
                }
            }));
        }
        // Meanwhile, calls through the mailbox from a plain thread, some dropped.
        let (client, tally) = (c.clone(), t.clone());
        let thread = std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ 0xABCD);
            while !tally.done() {
                let (op, pipeline) = random_op(&mut rng);
                let fut = run(&client, &op, pipeline);
                let result = if rng.chance(30) {
                    block_on(DropAfter::new(fut, rng.below(3) as usize))
                } else {
                    Some(block_on(fut))
                };
                match result {
                    None | Some(Ok(_)) => {
                        tally.remote_completed.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Err(message)) => tally.fail(format!("mailbox: {message}")),
                }
            }
        });
        for r in remote {
            block_on(r).unwrap();
        }
        thread.join().unwrap();
    });

    let failures = tally.failures.lock().unwrap().clone();
    eprintln!(
        "chaos: issued {} statements, checked {}, dropped {} calls ({} statements), {} pipelines, \
         {} mailbox calls",
        tally.issued.load(Ordering::Relaxed),
        tally.completed.load(Ordering::Relaxed),
        tally.dropped_calls.load(Ordering::Relaxed),
        tally.dropped_statements.load(Ordering::Relaxed),
        tally.pipelines.load(Ordering::Relaxed),
        tally.remote_completed.load(Ordering::Relaxed),
    );
    assert!(
        failures.is_empty(),
        "{} failures: {failures:#?}",
        failures.len()
    );
    assert!(tally.issued.load(Ordering::Relaxed) >= target / 2);
    assert!(tally.completed.load(Ordering::Relaxed) >= target / 4);
    assert!(tally.dropped_calls.load(Ordering::Relaxed) > 20);
    assert!(
        tally.idled_calls.load(Ordering::Relaxed) > 20,
        "too few calls were left idle"
    );

    // The connections survived: same backends as before, no leaked statements, all correct.
    guard("after the chaos", move || {
        for (n, pid) in pids.iter().enumerate() {
            assert_eq!(
                backend_pid(&client, n),
                *pid,
                "worker {n}: the connection was replaced during the chaos"
            );
            let c = client.clone();
            let prepared = on_worker(n, move || async move {
                c.query_one("SELECT count(*)::int4 FROM pg_prepared_statements", &[])
                    .await
                    .unwrap()
                    .get::<i32>(0)
                    .unwrap()
            });
            assert!(
                prepared as usize <= CACHE + 1,
                "worker {n}: {prepared} prepared statements on the server, cache holds {CACHE}"
            );
            still_usable(&client, n);
        }
    });
}
