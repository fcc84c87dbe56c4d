//! Faults: the server killed mid-pipeline and restarted; replies split at every byte boundary
//! by a proxy; every connection cut by the proxy mid-traffic.
//!
//! The tests of this file share one server and run one at a time (one kills it).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::support::{block_on, guard, num_workers, on_worker, two_workers};
use corelane_postgres::{Client, Config, Error, ToSql};
use corelane_runtime::{task, RemoteTask};
use corelane_testkit::{Direction, FaultProxy, Mode, PgServer};

/// The file's server, behind a lock held for a whole test (tests run one at a time).
struct Exclusive {
    server: Arc<Mutex<PgServer>>,
    _turn: MutexGuard<'static, ()>,
}

fn exclusive() -> Exclusive {
    static TURN: Mutex<()> = Mutex::new(());
    static SLOT: Mutex<Weak<Mutex<PgServer>>> = Mutex::new(Weak::new());
    // Take the server first, then wait for our turn: the tests waiting keep it alive.
    let server = {
        let mut slot = SLOT.lock().unwrap_or_else(|p| p.into_inner());
        match slot.upgrade() {
            Some(s) => s,
            None => {
                let s = Arc::new(Mutex::new(PgServer::start().expect("start postgres")));
                *slot = Arc::downgrade(&s);
                s
            }
        }
    };
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let mut guard = server.lock().unwrap_or_else(|p| p.into_inner());
    if !guard.is_running() {
        guard.restart().unwrap();
    }
    drop(guard);
    Exclusive {
        server,
        _turn: turn,
    }
}

impl Exclusive {
    fn lock(&self) -> MutexGuard<'_, PgServer> {
        self.server.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn config(&self) -> Config {
        Config::parse(&self.lock().url())
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
    }
}

fn via(proxy: &FaultProxy, config: Config) -> Client {
    Client::new(config.host("127.0.0.1", proxy.addr().port())).unwrap()
}

type Params<'a> = Vec<[&'a (dyn ToSql + Sync); 1]>;

/// A pipeline of `SELECT $1::int4` over `values`, each slot checked.
async fn echo_pipeline(client: &Client, values: &[i32]) -> Result<(), Error> {
    let params: Params<'_> = values.iter().map(|v| [v as _]).collect();
    let items: Vec<(&str, &[&(dyn ToSql + Sync)])> =
        params.iter().map(|p| ("SELECT $1::int4", &p[..])).collect();
    let outcomes = client.pipeline(&items).await?;
    assert_eq!(outcomes.len(), values.len());
    for (k, (o, v)) in outcomes.iter().zip(values).enumerate() {
        let o = o
            .as_ref()
            .unwrap_or_else(|e| panic!("slot {k} failed in a pipeline that ended: {e}"));
        assert_eq!(
            o.rows[0].get::<i32>(0).unwrap(),
            *v,
            "slot {k}: another query's result"
        );
    }
    Ok(())
}

async fn echo(client: &Client, v: i32) -> Result<(), Error> {
    let row = client.query_one("SELECT $1::int4", &[&v]).await?;
    assert_eq!(row.get::<i32>(0).unwrap(), v, "another query's result");
    Ok(())
}

/// Retries `SELECT $1::int4` on worker `n` a bounded number of times (reconnect backoff).
fn recovers(client: &Client, n: usize) {
    let client = client.clone();
    on_worker(n, move || async move {
        let mut last = None;
        for attempt in 0..150 {
            match echo(&client, attempt).await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            task::sleep(Duration::from_millis(100)).await;
        }
        panic!("worker {n}: no working query after the fault: {last:?}");
    })
}

/// How the tasks of a fault test ended.
#[derive(Default)]
struct Ends {
    /// Calls that completed and were checked.
    ok: AtomicUsize,
    /// First (and only) error of each task.
    errors: Mutex<Vec<Error>>,
    stop: AtomicBool,
}

/// Starts `per_worker` pipeline tasks and as many single-query tasks on every worker; each runs
/// until its first error (or until `stop`).
fn start_load(
    client: &Client,
    ends: &Arc<Ends>,
    per_worker: usize,
    len: usize,
) -> Vec<RemoteTask<()>> {
    let workers = corelane_runtime::resolve(None).unwrap();
    let mut remote = Vec::new();
    for n in 0..workers.num_workers() {
        let (client, ends) = (client.clone(), ends.clone());
        remote.push(workers.worker(n).unwrap().spawn(move || async move {
            let mut tasks = Vec::new();
            for t in 0..per_worker {
                let (c, e) = (client.clone(), ends.clone());
                tasks.push(
                    task::spawn(async move {
                        let (client, ends) = (c, e);
                        let mut round = 0i32;
                        while !ends.stop.load(Ordering::Relaxed) {
                            let base = ((n * 100 + t) as i32) * 1_000_000 + round * 1000;
                            let values: Vec<i32> = (0..len as i32).map(|i| base + i).collect();
                            match echo_pipeline(&client, &values).await {
                                Ok(()) => ends.ok.fetch_add(1, Ordering::SeqCst),
                                Err(e) => {
                                    ends.errors.lock().unwrap().push(e);
                                    return;
                                }
                            };
                            round += 1;
                        }
                    })
                    .unwrap(),
                );
                let (c, e) = (client.clone(), ends.clone());
                tasks.push(
                    task::spawn(async move {
                        let (client, ends) = (c, e);
                        let mut i = (n * 100 + t) as i32 * -1_000_000;
                        while !ends.stop.load(Ordering::Relaxed) {
                            match echo(&client, i).await {
                                Ok(()) => {}
                                Err(e) => {
                                    ends.errors.lock().unwrap().push(e);
                                    return;
                                }
                            }
                            i -= 1;
                        }
                    })
                    .unwrap(),
                );
            }
            for t in tasks {
                t.await;
            }
        }));
    }
    remote
}

fn wait_for_progress(ends: &Ends, at_least: usize) {
    for _ in 0..6000 {
        if ends.ok.load(Ordering::SeqCst) >= at_least || !ends.errors.lock().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        ends.errors.lock().unwrap().is_empty(),
        "errors before the fault: {:?}",
        ends.errors.lock().unwrap()
    );
    assert!(ends.ok.load(Ordering::SeqCst) >= at_least, "no progress");
}

#[test]
fn server_killed_mid_pipeline_then_restarted() {
    two_workers();
    let ex = exclusive();
    let client = Client::new(ex.config()).unwrap();
    let workers = num_workers();
    // 4 pipeline tasks in all (2 per worker), 500 statements each, plus single queries.
    let per_worker = 4 / workers.max(1);
    for n in 0..workers {
        recovers(&client, n);
    }
    let ends = Arc::new(Ends::default());
    let remote = start_load(&client, &ends, per_worker, 500);
    wait_for_progress(&ends, 8);
    ex.lock().kill().unwrap();
    let e2 = ends.clone();
    guard("in-flight calls after the kill", move || {
        for r in remote {
            block_on(r).unwrap();
        }
        drop(e2);
    });
    {
        let errors = ends.errors.lock().unwrap();
        eprintln!(
            "kill: {} pipelines completed; task ends: {:?}",
            ends.ok.load(Ordering::SeqCst),
            errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        // Every task ended once, with an error (it stops at its first).
        assert_eq!(errors.len(), per_worker * 2 * workers, "{errors:?}");
        for e in errors.iter() {
            // In flight at the kill: closed. Started after its connection was seen closed:
            // the reconnect to the dead server fails, or, while the postmaster is still
            // going down, reaches it and is refused with 57P03 (cannot connect now).
            let shutting_down = e.code().is_some_and(|c| c.code() == "57P03");
            assert!(
                e.is_closed() || e.is_connect() || shutting_down,
                "unexpected error: {e}"
            );
        }
        assert!(
            errors.iter().any(Error::is_closed),
            "no call was in flight at the kill: {errors:?}"
        );
    }
    ex.lock().restart().unwrap();
    guard("after the restart", move || {
        for n in 0..workers {
            recovers(&client, n);
            let c = client.clone();
            on_worker(n, move || async move {
                let values: Vec<i32> = (0..500).collect();
                echo_pipeline(&c, &values).await.unwrap();
            });
        }
    });
}

#[test]
fn replies_split_at_every_byte() {
    two_workers();
    let ex = exclusive();
    let proxy = FaultProxy::start(ex.lock().addr()).unwrap();
    proxy.set_mode_on(Direction::ServerToClient, Mode::Fragment(1));
    let client = via(&proxy, ex.config());
    guard("fragmented", move || {
        // The startup, a 200-statement pipeline and 50 concurrent queries on one worker...
        let c = client.clone();
        on_worker(0, move || async move {
            let values: Vec<i32> = (0..200).map(|i| i * 31 - 1000).collect();
            echo_pipeline(&c, &values).await.unwrap();
            let tasks: Vec<_> = (0..50)
                .map(|i| {
                    let c = c.clone();
                    task::spawn(async move {
                        let text = "ü✓".repeat(i);
                        let row = c
                            .query_one(
                                "SELECT $1::int4, $2::text, $3::bytea, $4::int8[]",
                                &[
                                    &(i as i32),
                                    &text,
                                    &vec![i as u8; i],
                                    &vec![i as i64; i % 5],
                                ],
                            )
                            .await
                            .unwrap();
                        assert_eq!(row.get::<i32>(0).unwrap(), i as i32);
                        assert_eq!(row.get::<String>(1).unwrap(), text);
                        assert_eq!(row.get::<Vec<u8>>(2).unwrap(), vec![i as u8; i]);
                        assert_eq!(row.get::<Vec<i64>>(3).unwrap(), vec![i as i64; i % 5]);
                    })
                    .unwrap()
                })
                .collect();
            for t in tasks {
                t.await;
            }
            // Many rows, an error and a notice-free reply in the same fragmented stream.
            let rows = c
                .query(
                    "SELECT g, repeat('x', g % 37) FROM generate_series(1, 300) g",
                    &[],
                )
                .await
                .unwrap();
            assert_eq!(rows.len(), 300);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(r.get::<i32>(0).unwrap(), i as i32 + 1);
                assert_eq!(r.get::<String>(1).unwrap(), "x".repeat((i + 1) % 37));
            }
            let e = c.query("SELECT 1 / $1::int4", &[&0i32]).await.unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("22012"));
            echo(&c, 5).await.unwrap();
        });
        // ...and through the mailbox from this thread, on every worker.
        for i in 0..20 {
            block_on(echo(&client, i)).unwrap();
        }
    });
    drop(proxy);
}

/// `SELECT pg_sleep(10)` started on each of `workers` workers (each on that worker's shared
/// connection).
fn sleep_on_every_worker(client: &Client, workers: usize) -> Vec<RemoteTask<Result<(), Error>>> {
    let loop_workers = corelane_runtime::resolve(None).unwrap();
    (0..workers)
        .map(|n| {
            let client = client.clone();
            loop_workers.worker(n).unwrap().spawn(move || async move {
                client.execute("SELECT pg_sleep(10)", &[]).await.map(|_| ())
            })
        })
        .collect()
}

/// Waits (through `direct`, a client that bypasses the proxy) until the server runs `sql` in
/// `at_least` sessions.
fn wait_until_running(direct: &Client, sql: &'static str, at_least: usize) {
    for _ in 0..1000 {
        let running: i64 = block_on(direct.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1",
            &[&sql],
        ))
        .unwrap()
        .get(0)
        .unwrap();
        if running as usize >= at_least {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{sql} never ran in {at_least} sessions");
}

#[test]
fn proxy_cuts_every_connection_mid_traffic() {
    two_workers();
    let ex = exclusive();
    let proxy = FaultProxy::start(ex.lock().addr()).unwrap();
    let client = via(&proxy, ex.config());
    let workers = num_workers();
    for n in 0..workers {
        recovers(&client, n);
    }
    let ends = Arc::new(Ends::default());
    let remote = start_load(&client, &ends, 2, 200);
    wait_for_progress(&ends, 8);
    // A statement certainly on the wire when the cut comes, on every worker: the load alone
    // may be between round trips at that instant, and a call that finds its connection closed
    // before it was sent goes to a new one (nothing to notice then).
    let sleepers = sleep_on_every_worker(&client, workers);
    let direct = Client::new(ex.config()).unwrap();
    wait_until_running(&direct, "SELECT pg_sleep(10)", workers);
    proxy.cut_all();
    for sleeper in sleepers {
        let ended = block_on(sleeper).unwrap();
        let e = ended.expect_err("a statement in flight through a cut connection succeeded");
        assert!(e.is_closed(), "a statement in flight at the cut: {e}");
    }
    // Let the tasks meet the cut; those that got through on a new connection stop on the flag.
    for _ in 0..3000 {
        if !ends.errors.lock().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ends.stop.store(true, Ordering::SeqCst);
    let e2 = ends.clone();
    guard("in-flight calls after the cut", move || {
        for r in remote {
            block_on(r).unwrap();
        }
        drop(e2);
    });
    {
        let errors = ends.errors.lock().unwrap();
        eprintln!(
            "cut: {} pipelines completed; task ends: {:?}",
            ends.ok.load(Ordering::SeqCst),
            errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        // The sleepers above noticed the cut. A load task may not have: one between round
        // trips at that instant finds its connection closed before it sends, and its call
        // goes to a new connection. Whatever did fail failed as a closed connection.
        for e in errors.iter() {
            assert!(e.is_closed(), "unexpected error after a cut: {e}");
        }
    }
    guard("after the cut", move || {
        for n in 0..workers {
            recovers(&client, n);
            let c = client.clone();
            on_worker(n, move || async move {
                let values: Vec<i32> = (0..200).collect();
                echo_pipeline(&c, &values).await.unwrap();
            });
        }
        drop(proxy);
    });
}
