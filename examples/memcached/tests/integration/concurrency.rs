//! Many concurrent callers against a real memcached: 64 tasks on each worker (implicit
//! pipelining over each worker's connection), plain threads and a tokio runtime off the loop
//! (mailbox path), all at once. Every reply is checked against its own key.

use std::sync::Arc;

use crate::support::{off_loop, on_worker, server_and_client, value_of, workers};
use corelane_memcached::{Client, Pipeline, Reply, Stored};

const KEYS: usize = 2000;
const TASKS_PER_WORKER: usize = 64;
const OPS_PER_TASK: usize = 150;

/// One random operation on key `i` (whose value is always `value_of("c:", i)`); panics on a
/// reply that is not its own.
async fn one_op(client: &Client, rng: &mut fastrand::Rng) {
    let i = rng.usize(..KEYS);
    let key = format!("c:{i}");
    let want = value_of("c:", i);
    match rng.u8(..10) {
        0 => assert_eq!(client.set(&key, &want).await.unwrap(), Stored::Stored),
        1 => client.set_no_reply(&key, &want).await.unwrap(),
        2 => {
            let keys: Vec<usize> = (0..rng.usize(1..20)).map(|_| rng.usize(..KEYS)).collect();
            let names: Vec<String> = keys.iter().map(|i| format!("c:{i}")).collect();
            let items = client.get_multi(&names, false).await.unwrap();
            assert_eq!(items.len(), keys.len(), "every key is preloaded");
            for (item, i) in items.iter().zip(&keys) {
                assert_eq!(item.key, format!("c:{i}").as_bytes());
                assert_eq!(item.value, value_of("c:", *i).as_bytes());
            }
        }
        3 => {
            let keys: Vec<usize> = (0..rng.usize(1..50)).map(|_| rng.usize(..KEYS)).collect();
            let mut pipe = Pipeline::new();
            for i in &keys {
                pipe.get(format!("c:{i}"));
            }
            let replies = client.pipeline(&pipe).await.unwrap();
            for (reply, i) in replies.iter().zip(&keys) {
                let Reply::Values(items) = reply else {
                    panic!("{reply:?}")
                };
                assert_eq!(items[0].value, value_of("c:", *i).as_bytes(), "key c:{i}");
            }
        }
        _ => {
            let item = client.get(&key).await.unwrap().expect("preloaded");
            assert_eq!(item.key, key.as_bytes());
            assert_eq!(item.value, want.as_bytes(), "key {key}");
        }
    }
}

#[test]
fn concurrent_callers_on_every_worker_and_off_the_loop() {
    let workers = Arc::new(workers());
    let (server, client) = server_and_client(|c| c);
    let mut preload = Pipeline::new();
    for i in 0..KEYS {
        preload.set(format!("c:{i}"), value_of("c:", i));
    }
    let loaded = off_loop({
        let client = client.clone();
        async move { client.pipeline(&preload).await.unwrap() }
    });
    assert!(loaded.iter().all(|r| *r == Reply::Stored));

    let mut parts = Vec::new();
    for n in 0..workers.num_workers() {
        let (client, workers) = (client.clone(), workers.clone());
        parts.push(std::thread::spawn(move || {
            on_worker(&workers, n, move || async move {
                let tasks: Vec<_> = (0..TASKS_PER_WORKER)
                    .map(|t| {
                        let client = client.clone();
                        corelane_runtime::task::spawn(async move {
                            let mut rng = fastrand::Rng::with_seed((n * 1000 + t) as u64);
                            for _ in 0..OPS_PER_TASK {
                                one_op(&client, &mut rng).await;
                            }
                        })
                        .unwrap()
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            })
        }));
    }
    for t in 0..4u64 {
        let client = client.clone();
        parts.push(std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(7_000 + t);
            for _ in 0..300 {
                off_loop({
                    let client = client.clone();
                    let mut rng = rng.fork();
                    async move { one_op(&client, &mut rng).await }
                });
            }
        }));
    }
    {
        let client = client.clone();
        parts.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let tasks: Vec<_> = (0..16u64)
                    .map(|t| {
                        let client = client.clone();
                        tokio::spawn(async move {
                            let mut rng = fastrand::Rng::with_seed(9_000 + t);
                            for _ in 0..100 {
                                one_op(&client, &mut rng).await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
        }));
    }
    for part in parts {
        part.join().unwrap();
    }
    // One connection per worker did all of it (plus this stats connection).
    let curr = server.stat("curr_connections").unwrap();
    assert!(
        curr <= workers.num_workers() as u64 + 2,
        "{curr} connections open"
    );
}
