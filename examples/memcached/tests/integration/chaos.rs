//! Cancellation chaos against a real memcached, in the shape of the Redis driver's chaos test.
//!
//! Two workers run 32 tasks each; every task issues random gets, sets, `noreply` sets,
//! multi-gets and pipelines of 1..=100 requests (some `noreply`) on keys `x:{i}` whose values
//! encode the key, and drops a random ~30% of its calls at random points (after 0..5 polls, or
//! through a tiny timeout): before they are sent, mid-write, mid-read of a direct batch, queued
//! in the bridge queue. Another ~10% are left idle (alive, not polled) while the task issues
//! other gets on the same connection. A second client with a tiny command timeout (against a
//! second server) adds the driver's own deadline path; plain threads call through the mailbox
//! and drop some calls too.
//!
//! Checked: every reply received is its own request's, no error but a timeout (tiny client),
//! nothing hangs, and the connections stay in step: the main server accepted no connection
//! during the chaos (none was closed and reopened) and a final 1000-get pipeline on each worker
//! is all correct. `CHAOS_SEED=<n>` replays a run's random choices.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{off_loop, on_worker, value_of, workers, Cancellable};
use corelane_memcached::{Client, Error, Item, Options, Pipeline, Reply, Store, Stored};
use corelane_testkit::MemcachedServer;

const KEYS: usize = 3000;
const TASKS_PER_WORKER: usize = 32;
const CALLS_PER_TASK: usize = 600;
const THREAD_CALLS: usize = 1500;
const TINY_TIMEOUT: Duration = Duration::from_millis(1);
/// A side call issued while another call of its task is idle; past this it is stuck behind a
/// reader that never runs. A hang guard, not a timing assertion.
const SIDE_CALL_HANG: Duration = Duration::from_secs(30);

fn key(i: usize) -> String {
    format!("x:{i}")
}

fn value(i: usize) -> String {
    value_of("x:", i)
}

#[derive(Default)]
struct Tally {
    issued: AtomicU64,
    completed: AtomicU64,
    dropped: AtomicU64,
    idled: AtomicU64,
    timed_out: AtomicU64,
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

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What a call gives back, reduced to something every kind can be checked as.
#[derive(Debug)]
enum Got {
    Item(Option<Item>),
    Items(Vec<Item>),
    Stored(Stored),
    Replies(Vec<Reply>),
    Nothing,
}

/// What a call expects: the value of each key it reads, in order; `None` for a store.
type Expect = Vec<Option<usize>>;

fn check(expect: &Expect, got: &Got) -> Result<(), String> {
    let item_ok =
        |item: &Item, i: usize| item.key == key(i).as_bytes() && item.value == value(i).as_bytes();
    let fine = match got {
        Got::Item(Some(item)) => matches!(expect[..], [Some(i)] if item_ok(item, i)),
        Got::Items(items) => {
            items.len() == expect.len()
                && items
                    .iter()
                    .zip(expect)
                    .all(|(it, e)| e.is_some_and(|i| item_ok(it, i)))
        }
        Got::Stored(s) => *s == Stored::Stored && expect[..] == [None],
        Got::Replies(replies) => {
            replies.len() == expect.len()
                && replies.iter().zip(expect).all(|(r, e)| match (r, e) {
                    (Reply::Stored, None) => true,
                    (Reply::Values(items), Some(i)) => items.len() == 1 && item_ok(&items[0], *i),
                    _ => false,
                })
        }
        Got::Nothing => expect.is_empty(),
        Got::Item(None) => false,
    };
    if fine {
        Ok(())
    } else {
        let text = format!("{got:?}");
        Err(format!(
            "A REPLY WENT TO THE WRONG REQUEST: expected {expect:?}, got {}",
            &text[..text.len().min(200)]
        ))
    }
}

/// A call of any kind, as one future type.
type BoxedCall<'c> = std::pin::Pin<Box<dyn Future<Output = Result<Got, Error>> + Send + 'c>>;

/// Builds one random call. Returns the call's future and what it expects.
fn random_call<'c>(client: &'c Client, rng: &mut fastrand::Rng) -> (BoxedCall<'c>, Expect) {
    let i = rng.usize(..KEYS);
    match rng.u8(..100) {
        0..=44 => (
            Box::pin(async move { client.get(key(i)).await.map(Got::Item) }),
            vec![Some(i)],
        ),
        45..=54 => (
            Box::pin(async move { client.set(key(i), value(i)).await.map(Got::Stored) }),
            vec![None],
        ),
        55..=64 => (
            Box::pin(async move {
                client
                    .set_no_reply(key(i), value(i))
                    .await
                    .map(|()| Got::Nothing)
            }),
            vec![],
        ),
        65..=74 => {
            let keys: Vec<usize> = (0..rng.usize(1..30)).map(|_| rng.usize(..KEYS)).collect();
            let expect = keys.iter().map(|&i| Some(i)).collect();
            let names: Vec<String> = keys.iter().map(|&i| key(i)).collect();
            (
                Box::pin(async move { client.get_multi(&names, false).await.map(Got::Items) }),
                expect,
            )
        }
        _ => {
            let mut pipe = Pipeline::new();
            let mut expect = Vec::new();
            for _ in 0..rng.usize(1..=100) {
                let i = rng.usize(..KEYS);
                match rng.u8(..10) {
                    0 => {
                        pipe.set(key(i), value(i));
                        expect.push(None);
                    }
                    1 => {
                        pipe.store_no_reply(Store::Set, key(i), value(i), Options::default());
                    }
                    _ => {
                        pipe.get(key(i));
                        expect.push(Some(i));
                    }
                }
            }
            (
                Box::pin(async move { client.pipeline(&pipe).await.map(Got::Replies) }),
                expect,
            )
        }
    }
}

/// Runs `fut` to completion, or drops it at a random point, or leaves it idle while side gets
/// run on the same connection. `None` when it was dropped.
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
            corelane_runtime::task::timeout(Duration::from_micros(rng.u64(0..=300)), fut).await
        }
        30..=39 => {
            Tally::bump(&tally.idled);
            for _ in 0..rng.usize(1..4) {
                if let Some(out) = futures_lite::future::poll_once(fut.as_mut()).await {
                    return Some(out);
                }
            }
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..KEYS);
                match corelane_runtime::task::timeout(SIDE_CALL_HANG, client.get(key(i))).await {
                    None => tally.fail("a get hung behind a call left idle".into()),
                    Some(got) => match got.map(Got::Item) {
                        Ok(got) => match check(&vec![Some(i)], &got) {
                            Ok(()) => Tally::bump(&tally.completed),
                            Err(m) => tally.fail(format!("side get: {m}")),
                        },
                        Err(e) => tally.fail(format!("side get: {e}")),
                    },
                }
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

async fn worker_task(client: Client, tiny: Client, seed: u64, tally: Arc<Tally>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..CALLS_PER_TASK {
        if tally.stop.load(Ordering::Relaxed) {
            return;
        }
        Tally::bump(&tally.issued);
        if rng.u8(..100) < 5 {
            // The driver's own deadline drops the request in flight.
            let (call, expect) = random_call(&tiny, &mut rng);
            match call.await {
                Ok(got) => match check(&expect, &got) {
                    Ok(()) => Tally::bump(&tally.completed),
                    Err(m) => tally.fail(format!("tiny client: {m}")),
                },
                // A timed-out call closes its connection: calls queued behind it fail as closed.
                Err(Error::Timeout(_) | Error::Closed(_)) => Tally::bump(&tally.timed_out),
                Err(e) => tally.fail(format!("tiny client: {e}")),
            }
            continue;
        }
        let (call, expect) = random_call(&client, &mut rng);
        match maybe_drop(call, &mut rng, &client, &tally).await {
            None => Tally::bump(&tally.dropped),
            Some(Ok(got)) => match check(&expect, &got) {
                Ok(()) => Tally::bump(&tally.completed),
                Err(m) => tally.fail(m),
            },
            Some(Err(e)) => tally.fail(format!("error {e}")),
        }
        if rng.u8(..8) == 0 {
            corelane_runtime::task::yield_now().await;
        }
    }
}

fn plain_thread(client: Client, seed: u64, tally: Arc<Tally>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..THREAD_CALLS {
        if tally.stop.load(Ordering::Relaxed) {
            return;
        }
        let (call, expect) = random_call(&client, &mut rng);
        let outcome = if rng.u8(..100) < 30 {
            futures_lite::future::block_on(Cancellable {
                fut: call,
                polls_left: rng.usize(0..3),
            })
        } else {
            Some(futures_lite::future::block_on(call))
        };
        match outcome {
            None => Tally::bump(&tally.remote_dropped),
            Some(Ok(got)) => match check(&expect, &got) {
                Ok(()) => Tally::bump(&tally.remote_completed),
                Err(m) => tally.fail(format!("plain thread: {m}")),
            },
            Some(Err(e)) => tally.fail(format!("plain thread: error {e}")),
        }
    }
}

fn preload(client: &Client) {
    let mut pipe = Pipeline::new();
    for i in 0..KEYS {
        pipe.set(key(i), value(i));
    }
    let client = client.clone();
    let replies = off_loop(async move { client.pipeline(&pipe).await.unwrap() });
    assert!(replies.iter().all(|r| *r == Reply::Stored));
}

#[test]
fn cancellation_chaos_on_workers_and_threads() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("chaos seed {seed} (set CHAOS_SEED={seed} to replay)");
    let workers = Arc::new(workers());
    let server = MemcachedServer::start().unwrap();
    let tiny_server = MemcachedServer::start().unwrap();
    let config = corelane_memcached::Config::from_addr(server.addr());
    let client = Client::new(config).unwrap();
    let tiny_config = corelane_memcached::Config::from_addr(tiny_server.addr())
        .with_command_timeout(Some(TINY_TIMEOUT));
    let tiny = Client::new(tiny_config).unwrap();
    preload(&client);
    let tiny_loader =
        Client::new(corelane_memcached::Config::from_addr(tiny_server.addr())).unwrap();
    preload(&tiny_loader);

    // Open every worker's connection before counting.
    for n in 0..workers.num_workers() {
        let client = client.clone();
        on_worker(&workers, n, move || async move {
            client.version().await.unwrap()
        });
    }
    let accepted_before = server.stat("total_connections").unwrap();

    let tally = Arc::new(Tally::default());
    let mut parts = Vec::new();
    for n in 0..workers.num_workers() {
        let (client, tiny, tally, workers) =
            (client.clone(), tiny.clone(), tally.clone(), workers.clone());
        parts.push(std::thread::spawn(move || {
            on_worker(&workers, n, move || async move {
                let tasks: Vec<_> = (0..TASKS_PER_WORKER)
                    .map(|t| {
                        let seed = seed ^ ((n as u64) << 40) ^ ((t as u64) << 20);
                        corelane_runtime::task::spawn(worker_task(
                            client.clone(),
                            tiny.clone(),
                            seed,
                            tally.clone(),
                        ))
                        .unwrap()
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            })
        }));
    }
    for t in 0..2u64 {
        let (client, tally) = (client.clone(), tally.clone());
        parts.push(std::thread::spawn(move || {
            plain_thread(client, seed ^ (0x7468 + t), tally)
        }));
    }
    for part in parts {
        part.join().unwrap();
    }
    let summary = format!(
        "issued {} completed {} dropped {} idled {} tiny timeouts {}; mailbox completed {} dropped {}",
        Tally::get(&tally.issued),
        Tally::get(&tally.completed),
        Tally::get(&tally.dropped),
        Tally::get(&tally.idled),
        Tally::get(&tally.timed_out),
        Tally::get(&tally.remote_completed),
        Tally::get(&tally.remote_dropped),
    );
    eprintln!("{summary}");
    let failures = tally.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed}), first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(Tally::get(&tally.dropped) > 0, "nothing was dropped");
    assert!(Tally::get(&tally.idled) > 0, "no call was left idle");
    assert!(
        Tally::get(&tally.remote_dropped) > 0,
        "no mailbox call was dropped"
    );
    assert!(Tally::get(&tally.completed) > 10_000, "{summary}");

    // The connections stayed in step: a big pipeline on each worker is all correct ...
    for n in 0..workers.num_workers() {
        let client = client.clone();
        on_worker(&workers, n, move || async move {
            let mut pipe = Pipeline::new();
            let keys: Vec<usize> = (0..1000).map(|k| (k * 3 + n) % KEYS).collect();
            for &i in &keys {
                pipe.get(key(i));
            }
            let replies = client.pipeline(&pipe).await.unwrap();
            let expect = keys.iter().map(|&i| Some(i)).collect();
            check(&expect, &Got::Replies(replies)).unwrap();
        });
    }
    // ... and none was replaced: the server accepted only the stats connection since.
    let accepted_after = server.stat("total_connections").unwrap();
    assert_eq!(
        accepted_after,
        accepted_before + 1,
        "a connection was closed and reopened"
    );
}
