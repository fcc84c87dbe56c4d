//! Heap allocations of the hot paths on a worker, warm: a sequential GET and a 64-GET
//! pipeline, and a GET through the cluster client. The driver encodes into recycled
//! buffers, reads replies into its batch's slots and (with glommio patches 6 and 7 in
//! vendor/glommio) the reactor reuses its readiness-poll and timer sources, so a GET
//! allocates nothing and a pipeline only the `Vec` of replies the caller asked for. The
//! bounds leave room for the reactor's occasional throughput timer and a loaded machine, and
//! fail if any one allocation per call comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use bytes::Bytes;
use corelane_redis::cluster::ClusterClient;
use corelane_redis::{Config, Pipeline, Value};
use corelane_testkit::alloc_count::{start_counting, stop_counting, ThreadCountingAlloc};
use corelane_testkit::{RedisCluster, RedisServer};
use support::{client, guard, on_worker};

#[global_allocator]
static ALLOCATOR: ThreadCountingAlloc = ThreadCountingAlloc;

const KEY: &str = "alloc:key";
const VALUE: &[u8] = b"0123456789abcdef";
const WARM: u32 = 500;
const CALLS: u32 = 2000;
const PIPE: usize = 64;

/// Counts allocations on the worker over `CALLS` calls of `one` after `WARM` warm-up calls.
async fn per_call<F, Fut>(mut one: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARM {
        one().await;
    }
    start_counting();
    for _ in 0..CALLS {
        one().await;
    }
    stop_counting() as f64 / f64::from(CALLS)
}

#[test]
fn warm_gets_and_pipelines_on_a_worker_do_not_allocate() {
    let server = RedisServer::start().unwrap();
    let c = client(&server.url());
    let (get, pipe) = guard("allocations", move || {
        on_worker(0, move || async move {
            c.set::<()>(KEY, VALUE).await.unwrap();
            let get = per_call(|| {
                let c = c.clone();
                async move {
                    let v = c.get::<Option<Bytes>>(KEY).await.unwrap();
                    if v.as_deref() != Some(VALUE) {
                        stop_counting();
                        panic!("GET returned {v:?}");
                    }
                }
            })
            .await;
            let pipe = per_call(|| {
                let c = c.clone();
                async move {
                    let mut pipeline = Pipeline::new();
                    for _ in 0..PIPE {
                        pipeline.get(KEY);
                    }
                    let replies: Vec<Value> = c.pipeline(&pipeline).await.unwrap();
                    let ok = replies.len() == PIPE
                        && replies
                            .iter()
                            .all(|r| matches!(r, Value::BulkString(b) if &b[..] == VALUE));
                    if !ok {
                        stop_counting();
                        panic!("pipeline returned {replies:?}");
                    }
                }
            })
            .await;
            (get, pipe)
        })
    });
    eprintln!("{get:.3} allocations per GET, {pipe:.3} per {PIPE}-GET pipeline");
    assert!(
        get < 0.5,
        "{get:.2} allocations per warm GET (expected about 0.03)"
    );
    assert!(
        pipe < 1.5,
        "{pipe:.2} allocations per warm {PIPE}-GET pipeline (expected 1: the replies' Vec)"
    );
}

/// A warm cluster GET on a worker allocates no more than a GET to one server: the worker's
/// cached map names the node and the node's own call carries the command (no routing
/// future boxed, no copy of the command or of the node's address). It was three per call.
#[test]
fn warm_cluster_gets_on_a_worker_do_not_allocate() {
    let cluster = RedisCluster::start().unwrap();
    let client = ClusterClient::builder(Config::default())
        .seed("127.0.0.1", cluster.addrs()[0].port())
        .refresh_interval(None)
        .build()
        .unwrap();
    let get = guard("cluster allocations", move || {
        on_worker(0, move || async move {
            // Slots 4365, 8558 and 12747: one on each of three masters that split the slots
            // evenly (as `redis-cli --cluster create` does).
            const KEYS: [&str; 3] = ["alloc:cluster:b", "alloc:cluster:a", "alloc:cluster:d"];
            for key in KEYS {
                client.set::<()>(key, VALUE).await.unwrap();
            }
            let mut n = 0;
            per_call(|| {
                let c = client.clone();
                n += 1;
                let key = KEYS[n % KEYS.len()];
                async move {
                    let v = c.get::<Option<Bytes>>(key).await.unwrap();
                    if v.as_deref() != Some(VALUE) {
                        stop_counting();
                        panic!("GET returned {v:?}");
                    }
                }
            })
            .await
        })
    });
    eprintln!("{get:.3} allocations per cluster GET");
    assert!(
        get < 0.5,
        "{get:.2} allocations per warm cluster GET (expected about 0.03)"
    );
}
