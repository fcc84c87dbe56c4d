//! Faults a real server and a proxy can produce: the server killed mid-pipeline, replies
//! stalled past the command timeout, connections cut mid-traffic. Every call ends (no hang, no
//! panic, no reply of another request), and the same client recovers afterwards.

use crate::support;

use std::sync::mpsc;
use std::time::Duration;

use crate::support::{block_on, client, guard, on_worker, HANG};
use corelane_redis::{Client, Config, Error, Pipeline};
use corelane_runtime::RemoteTask;
use corelane_testkit::{Direction, FaultProxy, Mode, RedisServer};

fn value_for(i: usize) -> String {
    format!("v:{i}")
}

fn preset(c: &Client, n: usize) {
    let mut p = Pipeline::new();
    for i in 0..n {
        p.set(format!("k:{i}"), value_for(i));
    }
    block_on(c.pipeline::<Vec<()>>(&p)).unwrap();
}

fn gets(n: usize) -> Pipeline {
    let mut p = Pipeline::new();
    for i in 0..n {
        p.get(format!("k:{i}"));
    }
    p
}

/// What one traffic task saw: how many calls succeeded (with correct replies) and the error
/// that ended it, if any.
#[derive(Debug)]
struct Outcome {
    ok: usize,
    error: Option<Error>,
    wrong: Option<String>,
}

/// Spawns a task on worker `n` that runs `pipelines` of `size` GETs over and over (at most
/// `rounds` times) until one fails; it signals `ready` after its first success.
fn traffic(
    c: &Client,
    n: usize,
    size: usize,
    rounds: usize,
    ready: mpsc::Sender<()>,
) -> RemoteTask<Outcome> {
    let workers = corelane_runtime::resolve(None).unwrap();
    let worker = workers.worker(n % workers.num_workers()).unwrap().clone();
    let c = c.clone();
    worker.spawn(move || async move {
        let pipe = gets(size);
        let mut ok = 0;
        for round in 0..rounds {
            match c.pipeline::<Vec<Option<String>>>(&pipe).await {
                Ok(values) => {
                    if let Some((i, v)) = values
                        .iter()
                        .enumerate()
                        .find(|(i, v)| v.as_deref() != Some(value_for(*i).as_str()))
                    {
                        // After a restart the data is gone: a missing value is fine then, a
                        // value of another key never is.
                        if v.is_some() || round == 0 {
                            return Outcome {
                                ok,
                                error: None,
                                wrong: Some(format!("GET k:{i} returned {v:?}")),
                            };
                        }
                    }
                    ok += 1;
                    if ok == 1 {
                        let _ = ready.send(());
                    }
                }
                Err(e) => {
                    let _ = ready.send(());
                    return Outcome {
                        ok,
                        error: Some(e),
                        wrong: None,
                    };
                }
            }
        }
        Outcome {
            ok,
            error: None,
            wrong: None,
        }
    })
}

/// Collects the outcomes of `tasks`, each guarded against hangs.
fn collect(tasks: Vec<RemoteTask<Outcome>>) -> Vec<Outcome> {
    tasks
        .into_iter()
        .map(|t| guard("a traffic task", move || block_on(t).expect("worker alive")))
        .collect()
}

/// Retries `call` (a bounded number of times, with a short pause) until it succeeds.
fn eventually<T>(what: &str, mut call: impl FnMut() -> Result<T, Error>) -> T {
    let mut errors = Vec::new();
    for _ in 0..50 {
        match call() {
            Ok(v) => return v,
            Err(e) => {
                assert!(
                    e.is_closed() || e.is_connect() || e.is_timeout(),
                    "{what}: unexpected error kind {e:?}"
                );
                errors.push(e.to_string());
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    panic!("{what}: never recovered: {errors:?}");
}

/// The same client recovers on every path: from this thread and on each worker.
fn recovers(c: &Client) {
    let c1 = c.clone();
    eventually("set/get from a thread", move || {
        block_on(async {
            c1.set::<()>("after", "yes").await?;
            c1.get::<String>("after").await
        })
    });
    for n in 0..support::num_workers() {
        let c = c.clone();
        let got = guard("recovery on a worker", move || {
            on_worker(n, move || async move {
                let mut last = None;
                for _ in 0..50 {
                    match c.get::<String>("after").await {
                        Ok(v) => return Ok(v),
                        Err(e) => {
                            last = Some(e);
                            corelane_runtime::task::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                Err(last)
            })
        });
        assert_eq!(got.unwrap(), "yes", "worker {n}");
    }
}

#[test]
fn server_killed_mid_pipeline() {
    let mut server = RedisServer::start().unwrap();
    let c = client(&server.url());
    preset(&c, 20_000);
    let (ready_tx, ready_rx) = mpsc::channel();
    let tasks: Vec<_> = (0..5)
        .map(|n| traffic(&c, n, 20_000, 1_000, ready_tx.clone()))
        .collect();
    for _ in 0..5 {
        ready_rx.recv_timeout(HANG).expect("traffic never started");
    }
    server.kill();
    let outcomes = collect(tasks);
    for (n, o) in outcomes.iter().enumerate() {
        assert!(o.wrong.is_none(), "task {n}: {o:?}");
        if let Some(e) = &o.error {
            assert!(
                e.is_closed() || e.is_connect(),
                "task {n}: in-flight pipeline ended with {e:?}"
            );
        }
    }
    server.restart().unwrap();
    recovers(&c);
    // And pipelines run again on the restarted server.
    preset(&c, 1_000);
    let (tx, _rx) = mpsc::channel();
    let outcomes = collect(
        (0..2)
            .map(|n| traffic(&c, n, 1_000, 3, tx.clone()))
            .collect(),
    );
    for o in outcomes {
        assert!(o.error.is_none() && o.wrong.is_none(), "{o:?}");
        assert_eq!(o.ok, 3);
    }
}

#[test]
fn single_calls_in_flight_when_the_server_dies() {
    let mut server = RedisServer::start().unwrap();
    let c = client(&server.url());
    preset(&c, 100);
    let (ready_tx, ready_rx) = mpsc::channel();
    // Many tasks per worker sharing the connection (bridge queue), plus calls from threads.
    let mut tasks = Vec::new();
    for t in 0..20 {
        let (c, ready) = (c.clone(), ready_tx.clone());
        let workers = corelane_runtime::resolve(None).unwrap();
        let worker = workers.worker(t % workers.num_workers()).unwrap().clone();
        tasks.push(worker.spawn(move || async move {
            let mut signalled = false;
            for i in 0..100_000usize {
                let key = i % 100;
                match c.get::<Option<String>>(format!("k:{key}")).await {
                    Ok(v) => {
                        if v.is_some() && v != Some(value_for(key)) {
                            return Err(format!("GET k:{key} returned {v:?}"));
                        }
                        if !signalled {
                            signalled = true;
                            let _ = ready.send(());
                        }
                    }
                    Err(e) => {
                        let _ = ready.send(());
                        return if e.is_closed() || e.is_connect() {
                            Ok(())
                        } else {
                            Err(format!("unexpected error {e:?}"))
                        };
                    }
                }
            }
            Ok(())
        }));
    }
    for _ in 0..20 {
        ready_rx.recv_timeout(HANG).expect("traffic never started");
    }
    server.kill();
    for t in tasks {
        guard("a single-call task", move || block_on(t).unwrap()).unwrap();
    }
    server.restart().unwrap();
    recovers(&c);
}

fn timeout_setup() -> (RedisServer, FaultProxy, Client) {
    let server = RedisServer::start().unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let config = Config::from_url(&format!("redis://{}", proxy.addr()))
        .unwrap()
        .command_timeout(Some(Duration::from_millis(100)))
        // A timed-out call retires its connection; while the stall lasts, the replacement's
        // handshake stalls too and gives up after this.
        .connect_timeout(Duration::from_secs(1));
    let c = Client::new(config).unwrap();
    let direct = client(&server.url());
    block_on(async {
        for k in ["a", "b", "c", "d"] {
            direct.set::<()>(k, format!("value-{k}")).await.unwrap();
        }
    });
    (server, proxy, c)
}

#[test]
fn command_timeout_from_a_thread_then_the_client_recovers() {
    let (_server, proxy, c) = timeout_setup();
    // Mailbox path: connections are opened on every worker first (round-robin).
    for _ in 0..support::num_workers() * 2 {
        assert_eq!(block_on(c.get::<String>("a")).unwrap(), "value-a");
    }
    proxy.set_mode_on(Direction::ServerToClient, Mode::Stall);
    for k in ["a", "b"] {
        let c1 = c.clone();
        let e = guard("a stalled call from a thread", move || {
            block_on(c1.get::<String>(k)).unwrap_err()
        });
        // The first times out and retires its connection; a replacement cannot finish its
        // handshake while the stall lasts.
        assert!(e.is_timeout() || e.is_connect(), "{e:?}");
    }
    // A stalled pipeline times out (or cannot connect) as well.
    let c1 = c.clone();
    let e = guard("a stalled pipeline", move || {
        let mut p = Pipeline::new();
        p.get("a").get("b").get("c");
        block_on(c1.pipeline::<Vec<String>>(&p)).unwrap_err()
    });
    assert!(e.is_timeout() || e.is_connect(), "{e:?}");
    proxy.set_mode_on(Direction::ServerToClient, Mode::PassThrough);
    // The stuck connections were closed and are replaced; every later call gets its own reply.
    for round in 0..4 {
        for k in ["c", "d", "a", "b"] {
            let c1 = c.clone();
            let got = guard("a call after the stall", move || {
                block_on(c1.get::<String>(k)).unwrap()
            });
            assert_eq!(got, format!("value-{k}"), "round {round}");
        }
    }
}

/// On a worker, `Call::poll` (call.rs) checks the deadline *before* `start()` creates it, so
/// the first poll never registers the timer; a call whose reply never comes is never woken by
/// its deadline and hangs (the mailbox path uses `task::timeout` and is fine).
#[test]

fn command_timeout_on_a_worker_then_the_client_recovers() {
    let (_server, proxy, c) = timeout_setup();
    // Worker path (the call's own deadline).
    for n in 0..support::num_workers() {
        let c = c.clone();
        let proxy_mode = |m| proxy.set_mode_on(Direction::ServerToClient, m);
        let c1 = c.clone();
        assert_eq!(
            on_worker(n, move || async move { c1.get::<String>("a").await }).unwrap(),
            "value-a"
        );
        proxy_mode(Mode::Stall);
        let c1 = c.clone();
        let errors = guard("stalled calls on a worker", move || {
            on_worker(n, move || async move {
                let mut errors = Vec::new();
                for k in ["a", "b"] {
                    errors.push(c1.get::<String>(k).await.unwrap_err());
                }
                let mut p = Pipeline::new();
                p.get("c").get("d");
                errors.push(c1.pipeline::<Vec<String>>(&p).await.unwrap_err());
                errors
            })
        });
        for e in &errors {
            assert!(e.is_timeout() || e.is_connect(), "worker {n}: {e:?}");
        }
        proxy_mode(Mode::PassThrough);
        let c1 = c.clone();
        let got = guard("calls on a worker after the stall", move || {
            on_worker(n, move || async move {
                let mut got = Vec::new();
                for k in ["d", "c", "b", "a"] {
                    got.push(c1.get::<String>(k).await.map_err(|e| format!("{k}: {e:?}")));
                }
                let mut p = Pipeline::new();
                p.get("a").get("b").get("c").get("d");
                let all = c1
                    .pipeline::<Vec<String>>(&p)
                    .await
                    .map_err(|e| e.to_string());
                (got, all)
            })
        });
        let (single, all) = got;
        let single: Vec<String> = single.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            single,
            ["value-d", "value-c", "value-b", "value-a"],
            "worker {n}"
        );
        assert_eq!(
            all.unwrap(),
            ["value-a", "value-b", "value-c", "value-d"],
            "worker {n}"
        );
    }
}

#[test]
fn proxy_cut_mid_traffic() {
    let server = RedisServer::start().unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let c = client(&format!("redis://{}", proxy.addr()));
    preset(&client(&server.url()), 5_000);
    for cut in 0..3 {
        let (ready_tx, ready_rx) = mpsc::channel();
        let tasks: Vec<_> = (0..4)
            .map(|n| traffic(&c, n, 5_000, 1_000, ready_tx.clone()))
            .collect();
        for _ in 0..4 {
            ready_rx.recv_timeout(HANG).expect("traffic never started");
        }
        proxy.cut_all();
        let outcomes = collect(tasks);
        for (n, o) in outcomes.iter().enumerate() {
            assert!(o.wrong.is_none(), "cut {cut}, task {n}: {o:?}");
            if let Some(e) = &o.error {
                assert!(e.is_closed(), "cut {cut}, task {n}: {e:?}");
            }
        }
        recovers(&c);
    }
}

/// A server that never answers the first `GET` it receives (the socket stays open) and answers
/// everything else: the connection that carried that `GET` is stuck for good.
fn swallows_the_first_get() -> support::FakeServer {
    let swallowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    support::FakeServer::start(move |mut s| {
        let mut stuck = false;
        while let Some(command) = s.next_command() {
            let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
            if stuck {
                // Nothing more on this connection, as from a hung server.
                continue;
            }
            match name.as_str() {
                "GET" if !swallowed.swap(true, std::sync::atomic::Ordering::AcqRel) => {
                    stuck = true;
                }
                "GET" => s.write(&support::bulk(b"v")),
                "PING" => s.write(b"+PONG\r\n"),
                _ => s.write(b"+OK\r\n"),
            }
        }
    })
}

fn stuck_setup() -> (support::FakeServer, Client) {
    let fake = swallows_the_first_get();
    let config = Config::from_url(&fake.url())
        .unwrap()
        .command_timeout(Some(Duration::from_millis(200)));
    (fake, Client::new(config).unwrap())
}

/// A timed-out command's connection is closed and replaced: later commands get their replies
/// instead of queueing behind one that never comes (on a worker).
#[test]
fn a_timed_out_command_retires_its_connection_on_a_worker() {
    let (fake, c) = stuck_setup();
    let (first, later) = guard("a stuck connection on a worker", move || {
        on_worker(0, move || async move {
            let first = c.get::<String>("k").await;
            let mut later = Vec::new();
            for _ in 0..3 {
                later.push(c.get::<String>("k").await);
            }
            (first, later)
        })
    });
    assert!(first.unwrap_err().is_timeout());
    for got in later {
        assert_eq!(got.unwrap(), "v");
    }
    assert!(fake.accepted() >= 2, "no new connection was opened");
}

/// The same from a thread (the mailbox path, round-robin over the workers): after the first
/// command times out, no later one lands on the stuck connection.
#[test]
fn a_timed_out_command_retires_its_connection_from_a_thread() {
    let (_fake, c) = stuck_setup();
    let rounds = support::num_workers() * 3;
    let (first, later) = guard("a stuck connection from a thread", move || {
        let first = block_on(c.get::<String>("k"));
        let later: Vec<_> = (0..rounds)
            .map(|_| block_on(c.get::<String>("k")))
            .collect();
        (first, later)
    });
    assert!(first.unwrap_err().is_timeout());
    for got in later {
        assert_eq!(got.unwrap(), "v");
    }
}

/// Requests queued behind the overdue one on the same connection fail at once with a typed
/// error (closed) rather than each waiting out its own timeout behind it.
#[test]
fn requests_behind_an_overdue_reply_fail_as_closed() {
    let (_fake, c) = stuck_setup();
    let outcomes = guard("requests behind a stuck one", move || {
        on_worker(0, move || async move {
            // Connected first, so the three calls share one connection.
            c.ping::<String>().await.unwrap();
            let c2 = c.clone();
            let c3 = c.clone();
            let (a, b) = futures_lite::future::zip(c.get::<String>("k"), async move {
                futures_lite::future::zip(c2.get::<String>("k"), c3.get::<String>("k")).await
            })
            .await;
            vec![a, b.0, b.1]
        })
    });
    assert!(
        outcomes[0].as_ref().unwrap_err().is_timeout(),
        "{outcomes:?}"
    );
    for got in &outcomes[1..] {
        let e = got.as_ref().unwrap_err();
        assert!(e.is_closed() && !e.is_timeout(), "{e:?}");
    }
}
