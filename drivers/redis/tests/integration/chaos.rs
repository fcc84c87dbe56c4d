//! Cancellation chaos against a real redis-server.
//!
//! Two workers of the shared standalone loop run many tasks each; every task issues random
//! GETs, SETs, `SET … GET`s, pipelines of 1..=100 commands and MULTI/EXEC pipelines on keys
//! `chaos:{i}` whose values encode the key, and drops a random ~30% of its calls at random
//! points (after 0..5 polls, or through a tiny timeout): before they are sent, mid-write,
//! mid-read of a direct batch, queued in the bridge queue. A second client with a tiny command
//! timeout adds the driver's own deadline path. Meanwhile a plain thread and a tokio runtime
//! call through the mailbox with the same client, dropping some calls too.
//!
//! Checked: every reply received is its own request's (a GET returns the value of the key it
//! asked for), no error other than a timeout (or, for the tiny-timeout client, "closed": a
//! timed-out call retires its connection), nothing hangs, and the connections survive: each
//! worker still uses the main client's connection it had before (same `CLIENT ID`), a final
//! 1000-GET pipeline on each worker is all correct, and `INFO clients` shows no leaked
//! connection.
//!
//! `CHAOS_SEED=<n>` replays a run's random choices (task interleavings still vary). The same run
//! also goes over TLS (`cancellation_chaos_over_tls`, a testkit redis-server's TLS port); the
//! two take turns.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corelane_redis::{Client, Cmd, Config, Error, Pipeline, SetOptions, Value};
use corelane_runtime::{configure_standalone, resolve, Loop, RemoteTask};
use corelane_testkit::RedisServer;

const WORKERS: usize = 2;
const KEYS: usize = 5000;
const TASKS_PER_WORKER: usize = 32;
/// GET/SET commands issued by the worker tasks, all workers together.
const WORKER_COMMANDS: u64 = 120_000;
const THREAD_CALLS: usize = 2000;
const TOKIO_TASKS: usize = 8;
const TOKIO_CALLS_PER_TASK: usize = 400;
/// Hang guard, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(120);
/// The command timeout of the second client: short enough that many of its calls time out.
const TINY_COMMAND_TIMEOUT: Duration = Duration::from_millis(1);
/// A side call issued while another call of the same task is left idle: past this it is stuck
/// behind a reader that never runs. Generous: a hang guard, not a timing assertion.
const SIDE_CALL_HANG: Duration = Duration::from_secs(30);

fn key(i: usize) -> String {
    format!("chaos:{i}")
}

/// The value of `chaos:{i}`: the key, then a padding of 0..1024 bytes, so big pipelines'
/// replies span many reads and drops land mid-read with part of the replies in.
fn value_of(i: usize) -> String {
    let pad = (i * 7919) % 1024;
    format!("value-of-chaos:{i}|{}", "v".repeat(pad))
}

fn short(v: &Value) -> String {
    let s = format!("{v:?}");
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// What one command of a call expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The value of key `i` (GET, `SET … GET`).
    Value(usize),
    /// `OK` (plain SET).
    Ok,
}

impl Expect {
    fn check(self, got: &Value) -> Result<(), String> {
        let fine = match (self, got) {
            (Expect::Value(i), Value::BulkString(b)) => b.as_ref() == value_of(i).as_bytes(),
            (Expect::Ok, Value::SimpleString(s)) => s.as_ref() == b"OK",
            _ => false,
        };
        if fine {
            Ok(())
        } else {
            let want = match self {
                Expect::Value(i) => format!("the value of {}", key(i)),
                Expect::Ok => "OK".to_owned(),
            };
            Err(format!(
                "A REPLY WENT TO THE WRONG REQUEST: expected {want}, got {}",
                short(got)
            ))
        }
    }
}

/// Adds a random GET / SET / `SET … GET` of a random key to `pipe`.
fn add_random(pipe: &mut Pipeline, rng: &mut fastrand::Rng, expects: &mut Vec<Expect>) {
    let i = rng.usize(..KEYS);
    match rng.u8(..10) {
        0 => {
            pipe.set(key(i), value_of(i));
            expects.push(Expect::Ok);
        }
        1 => {
            pipe.set_options(key(i), value_of(i), SetOptions::default().get());
            expects.push(Expect::Value(i));
        }
        _ => {
            pipe.get(key(i));
            expects.push(Expect::Value(i));
        }
    }
}

fn check_array(expects: &[Expect], got: &Value) -> Result<(), String> {
    let Value::Array(items) = got else {
        return Err(format!(
            "A REPLY WENT TO THE WRONG REQUEST: expected an array of {}, got {}",
            expects.len(),
            short(got)
        ));
    };
    if items.len() != expects.len() {
        return Err(format!(
            "A REPLY WENT TO THE WRONG REQUEST: expected {} replies, got {}",
            expects.len(),
            items.len()
        ));
    }
    for (k, (e, v)) in expects.iter().zip(items).enumerate() {
        e.check(v).map_err(|m| format!("reply {k}: {m}"))?;
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    /// GET/SET commands of calls that were started (polled or not), on workers.
    issued: AtomicU64,
    /// Commands whose reply arrived and was checked, on workers.
    completed: AtomicU64,
    /// Calls dropped before they finished, on workers (commands in them: `dropped_cmds`).
    dropped_calls: AtomicU64,
    dropped_cmds: AtomicU64,
    /// Calls left idle (polled, then not polled while their task awaited other calls).
    idled_calls: AtomicU64,
    /// Calls of the tiny-timeout client that ended with a timeout error.
    timed_out: AtomicU64,
    /// Calls per kind: get, set, set-get, pipeline, atomic, tiny-timeout client.
    kinds: [AtomicU64; 6],
    remote_issued: AtomicU64,
    remote_completed: AtomicU64,
    remote_dropped: AtomicU64,
    failures: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Tally {
    fn fail(&self, message: String) {
        eprintln!("FAILURE: {message}");
        self.failures.lock().unwrap().push(message);
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn summary(&self) -> String {
        let k: Vec<u64> = self.kinds.iter().map(Tally::get).collect();
        format!(
            "workers: issued {} cmds, completed {} cmds, dropped {} calls ({} cmds), \
             left idle {} calls, tiny-timeout timeouts {}; calls: get {} set {} set-get {} pipeline {} atomic {} \
             tiny-timeout {}; mailbox: issued {} completed {} dropped {}",
            Tally::get(&self.issued),
            Tally::get(&self.completed),
            Tally::get(&self.dropped_calls),
            Tally::get(&self.dropped_cmds),
            Tally::get(&self.idled_calls),
            Tally::get(&self.timed_out),
            k[0],
            k[1],
            k[2],
            k[3],
            k[4],
            k[5],
            Tally::get(&self.remote_issued),
            Tally::get(&self.remote_completed),
            Tally::get(&self.remote_dropped),
        )
    }
}

/// A future that is dropped after `polls_left` polls unless it finished first.
struct Cancellable<F> {
    fut: F,
    polls_left: usize,
}

impl<F: Future + Unpin> Future for Cancellable<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls_left == 0 {
            return Poll::Ready(None);
        }
        self.polls_left -= 1;
        Pin::new(&mut self.fut).poll(cx).map(Some)
    }
}

/// Runs `fut` to completion, or, for a random ~30% of calls, drops it at a random point:
/// after 0..5 polls, or when a random tiny timeout fires; or, for another ~10%, polls it 1..3
/// times and leaves it idle (alive, not polled) while this task awaits 1..3 GETs on the same
/// connection — the `select!` shape — then awaits it or drops it. `None` when it was dropped.
async fn maybe_drop<F: Future>(
    fut: F,
    rng: &mut fastrand::Rng,
    client: &Client,
    tally: &Tally,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match rng.u8(..100) {
        0..=14 => {
            Cancellable {
                fut,
                polls_left: rng.usize(0..5),
            }
            .await
        }
        15..=29 => {
            let limit = Duration::from_micros(rng.u64(0..=300));
            corelane_runtime::task::timeout(limit, fut).await
        }
        30..=39 => {
            Tally::add(&tally.idled_calls, 1);
            for _ in 0..rng.usize(1..4) {
                if let Some(out) = futures_lite::future::poll_once(fut.as_mut()).await {
                    return Some(out);
                }
            }
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..KEYS);
                Tally::add(&tally.issued, 1);
                let side = client.get::<Value>(key(i));
                match corelane_runtime::task::timeout(SIDE_CALL_HANG, side).await {
                    None => tally.fail(format!(
                        "a GET hung behind a call left idle ({SIDE_CALL_HANG:?})"
                    )),
                    Some(Err(e)) => tally.fail(format!("side GET: error {}", describe(&e))),
                    Some(Ok(v)) => match Expect::Value(i).check(&v) {
                        Ok(()) => Tally::add(&tally.completed, 1),
                        Err(m) => tally.fail(format!("side GET: {m}")),
                    },
                }
            }
            if rng.u8(..4) == 0 {
                corelane_runtime::task::sleep(Duration::from_micros(rng.u64(0..=500))).await;
            }
            if rng.bool() {
                Some(fut.await)
            } else {
                None
            }
        }
        _ => Some(fut.await),
    }
}

fn describe(e: &Error) -> String {
    format!(
        "{e} (closed: {}, protocol: {}, timeout: {})",
        e.is_closed(),
        e.is_protocol(),
        e.is_timeout()
    )
}

/// One random call on a worker. Returns how many GET/SET commands it issued.
async fn one_call(
    client: &Client,
    tiny: &Client,
    rng: &mut fastrand::Rng,
    tally: &Tally,
    who: &str,
) -> u64 {
    let mut expects = Vec::new();
    let (kind, call) = match rng.u8(..100) {
        // Through the client whose command timeout is tiny: the driver's own deadline drops
        // the in-flight request (no outer drop here, the timeout is the chaos).
        0..=4 => {
            let mut pipe = Pipeline::new();
            for _ in 0..rng.usize(1..=20) {
                add_random(&mut pipe, rng, &mut expects);
            }
            (5, tiny.pipeline::<Value>(&pipe))
        }
        5..=44 => {
            let i = rng.usize(..KEYS);
            expects.push(Expect::Value(i));
            (0, client.get::<Value>(key(i)))
        }
        45..=54 => {
            let i = rng.usize(..KEYS);
            expects.push(Expect::Ok);
            (1, client.set::<Value>(key(i), value_of(i)))
        }
        55..=64 => {
            let i = rng.usize(..KEYS);
            expects.push(Expect::Value(i));
            (
                2,
                client.set_options::<Value>(key(i), value_of(i), SetOptions::default().get()),
            )
        }
        65..=89 => {
            let mut pipe = Pipeline::new();
            for _ in 0..rng.usize(1..=100) {
                add_random(&mut pipe, rng, &mut expects);
            }
            (3, client.pipeline::<Value>(&pipe))
        }
        _ => {
            let mut pipe = Pipeline::new();
            pipe.atomic();
            for _ in 0..rng.usize(1..=10) {
                add_random(&mut pipe, rng, &mut expects);
            }
            (4, client.pipeline::<Value>(&pipe))
        }
    };
    let n = expects.len() as u64;
    Tally::add(&tally.issued, n);
    Tally::add(&tally.kinds[kind], 1);
    let outcome = if kind == 5 {
        Some(call.await)
    } else {
        maybe_drop(call, rng, client, tally).await
    };
    let what = || format!("{who}: call kind {kind} of {n} cmds");
    match outcome {
        None => {
            Tally::add(&tally.dropped_calls, 1);
            Tally::add(&tally.dropped_cmds, n);
        }
        // A timed-out call retires its connection: the tiny client's calls queued behind it on
        // that connection fail as closed.
        Some(Err(e)) if kind == 5 && (e.is_timeout() || e.is_closed()) => {
            Tally::add(&tally.timed_out, 1)
        }
        Some(Err(e)) => tally.fail(format!("{}: error {}", what(), describe(&e))),
        Some(Ok(value)) => {
            let checked = if kind <= 2 {
                expects[0].check(&value)
            } else {
                check_array(&expects, &value)
            };
            match checked {
                Ok(()) => Tally::add(&tally.completed, n),
                Err(m) => tally.fail(format!("{}: {m}", what())),
            }
        }
    }
    n
}

async fn worker_task(
    client: Client,
    tiny: Client,
    rng_seed: u64,
    budget: u64,
    tally: Arc<Tally>,
    who: String,
) {
    let mut rng = fastrand::Rng::with_seed(rng_seed);
    let mut issued = 0;
    while issued < budget && !tally.stopped() {
        issued += one_call(&client, &tiny, &mut rng, &tally, &who).await;
        if rng.u8(..8) == 0 {
            corelane_runtime::task::yield_now().await;
        }
    }
}

/// A GET (or a small pipeline) from off the loop: returns the call and what it expects.
fn remote_call(
    client: &Client,
    rng: &mut fastrand::Rng,
) -> (corelane_redis::Call<Value>, Vec<Expect>) {
    let mut expects = Vec::new();
    if rng.u8(..10) == 0 {
        let mut pipe = Pipeline::new();
        for _ in 0..rng.usize(1..=50) {
            add_random(&mut pipe, rng, &mut expects);
        }
        (client.pipeline::<Value>(&pipe), expects)
    } else {
        let i = rng.usize(..KEYS);
        expects.push(Expect::Value(i));
        (client.get::<Value>(key(i)), expects)
    }
}

fn remote_outcome(
    tally: &Tally,
    who: &str,
    expects: &[Expect],
    outcome: Option<Result<Value, Error>>,
) {
    match outcome {
        None => Tally::add(&tally.remote_dropped, 1),
        Some(Err(e)) => tally.fail(format!("{who}: error {}", describe(&e))),
        Some(Ok(value)) => {
            let checked = if expects.len() == 1 && !matches!(value, Value::Array(_)) {
                expects[0].check(&value)
            } else {
                check_array(expects, &value)
            };
            match checked {
                Ok(()) => Tally::add(&tally.remote_completed, expects.len() as u64),
                Err(m) => tally.fail(format!("{who}: {m}")),
            }
        }
    }
}

/// Plain-thread caller: blocks on each call; ~30% are dropped after 0..3 polls.
fn plain_thread(client: Client, seed: u64, tally: Arc<Tally>) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x7468_7265_6164);
    for _ in 0..THREAD_CALLS {
        if tally.stopped() {
            return;
        }
        let (call, expects) = remote_call(&client, &mut rng);
        Tally::add(&tally.remote_issued, expects.len() as u64);
        let outcome = if rng.u8(..100) < 30 {
            futures_lite::future::block_on(Cancellable {
                fut: call,
                polls_left: rng.usize(0..3),
            })
        } else {
            Some(futures_lite::future::block_on(call))
        };
        remote_outcome(&tally, "plain thread", &expects, outcome);
    }
}

/// Tokio callers: ~30% of calls are wrapped in a timeout of a few µs.
fn tokio_callers(client: Client, seed: u64, tally: Arc<Tally>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let handles: Vec<_> = (0..TOKIO_TASKS)
            .map(|t| {
                let client = client.clone();
                let tally = tally.clone();
                tokio::spawn(async move {
                    let mut rng = fastrand::Rng::with_seed(seed ^ 0x746f_6b69_6f00 ^ t as u64);
                    for _ in 0..TOKIO_CALLS_PER_TASK {
                        if tally.stopped() {
                            return;
                        }
                        let (call, expects) = remote_call(&client, &mut rng);
                        Tally::add(&tally.remote_issued, expects.len() as u64);
                        let outcome = if rng.u8(..100) < 30 {
                            let limit = Duration::from_micros(rng.u64(1..=20));
                            tokio::time::timeout(limit, call).await.ok()
                        } else {
                            Some(call.await)
                        };
                        remote_outcome(&tally, &format!("tokio task {t}"), &expects, outcome);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
}

/// Blocks on a worker task with the hang guard.
fn wait<T: Send + 'static>(task: RemoteTask<T>, what: &str) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(futures_lite::future::block_on(task));
    });
    rx.recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("{what} hung"))
        .unwrap_or_else(|e| panic!("{what}: the worker shut down: {e:?}"))
}

fn info_field(info: &str, field: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in INFO: {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// `CLIENT ID` of the connection each worker uses, for `client` and `tiny`.
fn client_ids(
    workers: &corelane_runtime::Provider,
    client: &Client,
    tiny: &Client,
) -> Vec<(i64, i64)> {
    (0..workers.num_workers())
        .map(|n| {
            let (client, tiny) = (client.clone(), tiny.clone());
            let task = workers.worker(n).unwrap().spawn(move || async move {
                let id =
                    |c: Client| async move { c.query::<i64>(Cmd::new("CLIENT").arg("ID")).await };
                // The tiny command timeout may fire before the reply: retry until one
                // attempt gets through (each timed-out attempt closes its connection, which
                // the final `connected_clients` check verifies).
                let mut tiny_id = id(tiny.clone()).await;
                let mut attempts = 1;
                while matches!(&tiny_id, Err(e) if e.is_timeout() || e.is_closed())
                    && attempts < 10_000
                {
                    tiny_id = id(tiny.clone()).await;
                    attempts += 1;
                }
                if attempts > 1 {
                    eprintln!(
                        "worker {n}: tiny-timeout client: CLIENT ID took {attempts} attempts"
                    );
                }
                (id(client).await, tiny_id)
            });
            match wait(task, "CLIENT ID") {
                (Ok(a), Ok(b)) => (a, b),
                other => panic!("CLIENT ID on worker {n}: {other:?}"),
            }
        })
        .collect()
}

/// The two chaos runs share the machine's CPUs and the standalone loop: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn cancellation_chaos_get_set_pipelines_on_workers_threads_and_tokio() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = RedisServer::start().unwrap();
    chaos(&server.url(), "plain");
}

/// The same chaos over TLS: drops mid-record must leave the TLS stream in step too.
#[test]
fn cancellation_chaos_over_tls() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let certs = corelane_testkit::TestCerts::generate().unwrap();
    let server = RedisServer::builder()
        .tls(certs.ca_pem(), certs.server())
        .start()
        .unwrap();
    let url = server.tls_url().unwrap();
    assert!(Config::from_url(&url).unwrap().is_tls());
    chaos(&url, "tls");
}

fn chaos(url: &str, what: &str) {
    eprintln!("chaos over {what}");
    let started = Instant::now();
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("chaos seed {seed} (set CHAOS_SEED={seed} to replay)");

    // The shared standalone loop, with two workers even on a one-CPU machine.
    let _ = configure_standalone(Loop::builder().workers(WORKERS));
    let workers = resolve(None).unwrap();
    assert!(workers.num_workers() >= 2, "needs 2 workers");
    let nworkers = workers.num_workers();

    let config = Config::from_url(url).unwrap();
    let client = Client::new(config.clone()).unwrap();
    let tiny = Client::new(config.command_timeout(Some(TINY_COMMAND_TIMEOUT))).unwrap();

    // Preload every key in one pipeline (from the test thread: the mailbox path).
    let mut preload = Pipeline::new();
    for i in 0..KEYS {
        preload.set(key(i), value_of(i));
    }
    let replies: Vec<String> = futures_lite::future::block_on(client.pipeline(&preload)).unwrap();
    assert!(replies.iter().all(|r| r == "OK"));

    // Open every worker's connections (both clients), then note who they are.
    let ids_before = client_ids(&workers, &client, &tiny);

    let tally = Arc::new(Tally::default());
    let budget = WORKER_COMMANDS / (nworkers * TASKS_PER_WORKER) as u64 + 1;
    let (done_tx, done_rx) = mpsc::channel::<String>();
    let mut parts = 0;
    for n in 0..nworkers {
        let (client, tiny, tally) = (client.clone(), tiny.clone(), tally.clone());
        let task = workers.worker(n).unwrap().spawn(move || async move {
            let tasks: Vec<_> = (0..TASKS_PER_WORKER)
                .map(|t| {
                    let rng_seed = seed ^ ((n as u64) << 40) ^ ((t as u64) << 20);
                    corelane_runtime::task::spawn(worker_task(
                        client.clone(),
                        tiny.clone(),
                        rng_seed,
                        budget,
                        tally.clone(),
                        format!("worker {n} task {t}"),
                    ))
                    .unwrap()
                })
                .collect();
            for t in tasks {
                t.await;
            }
        });
        let done = done_tx.clone();
        std::thread::spawn(move || {
            let outcome = futures_lite::future::block_on(task);
            let _ = done.send(match outcome {
                Ok(()) => format!("worker {n}: ok"),
                Err(e) => format!("worker {n}: the worker shut down: {e:?}"),
            });
        });
        parts += 1;
    }
    {
        let (client, tally, done) = (client.clone(), tally.clone(), done_tx.clone());
        std::thread::spawn(move || {
            plain_thread(client, seed, tally);
            let _ = done.send("plain thread: ok".to_owned());
        });
        parts += 1;
    }
    {
        let (client, tally, done) = (client.clone(), tally.clone(), done_tx.clone());
        std::thread::spawn(move || {
            tokio_callers(client, seed, tally);
            let _ = done.send("tokio: ok".to_owned());
        });
        parts += 1;
    }
    drop(done_tx);
    let deadline = Instant::now() + HANG_GUARD;
    for _ in 0..parts {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(msg) => {
                eprintln!("{msg} ({:.1?})", started.elapsed());
                assert!(msg.ends_with(": ok"), "{msg}; {}", tally.summary());
            }
            Err(e) => panic!("the chaos hung ({e}); seed {seed}; {}", tally.summary()),
        }
    }
    eprintln!("{}", tally.summary());
    let failures = tally.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed}), first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    let issued = Tally::get(&tally.issued);
    assert!(issued >= 100_000, "only {issued} commands issued");
    assert!(Tally::get(&tally.dropped_calls) > 0, "nothing was dropped");
    assert!(Tally::get(&tally.idled_calls) > 0, "no call was left idle");
    assert!(Tally::get(&tally.completed) > 0);
    assert!(Tally::get(&tally.remote_completed) > 0);
    assert!(
        Tally::get(&tally.remote_dropped) > 0,
        "no mailbox call was dropped"
    );

    // The connections survived: each worker still talks over the same connections, the server
    // accepted none during the chaos, and a big pipeline on each worker is all in step.
    for n in 0..nworkers {
        let client = client.clone();
        let task = workers.worker(n).unwrap().spawn(move || async move {
            let mut pipe = Pipeline::new();
            let mut expects = Vec::new();
            for k in 0..1000 {
                let i = (k * 5 + n) % KEYS;
                pipe.get(key(i));
                expects.push(Expect::Value(i));
            }
            match client.pipeline::<Value>(&pipe).await {
                Ok(v) => check_array(&expects, &v),
                Err(e) => Err(describe(&e)),
            }
        });
        if let Err(m) = wait(task, "final pipeline") {
            panic!("final pipeline on worker {n}: {m}");
        }
    }
    let ids_after = client_ids(&workers, &client, &tiny);
    // The main client's connections survived every drop. (The tiny client's did not, by
    // design: a timed-out call closes its connection and the pool opens a new one.)
    let main_ids = |ids: &[(i64, i64)]| ids.iter().map(|(a, _)| *a).collect::<Vec<_>>();
    assert_eq!(
        main_ids(&ids_before),
        main_ids(&ids_after),
        "a worker's connection was replaced"
    );
    let connections_after = info_field(
        &futures_lite::future::block_on(client.info::<String>("stats")).unwrap(),
        "total_connections_received",
    );
    let connected = info_field(
        &futures_lite::future::block_on(client.info::<String>("clients")).unwrap(),
        "connected_clients",
    );
    eprintln!(
        "connected clients {connected}, connections accepted {connections_after}, {:.1?}",
        started.elapsed()
    );
    assert!(
        connected as usize <= 2 * nworkers + 2,
        "{connected} clients connected: a connection leaked"
    );
}
