//! Heap allocations of the hot paths on a worker, warm: a sequential GET and a 64-GET
//! pipeline. The driver encodes into recycled buffers, reads replies into its batch's slots
//! and (with glommio patches 6 and 7 in vendor/glommio) the reactor reuses its readiness-poll
//! and timer sources, so a GET allocates nothing and a pipeline only the `Vec` of replies the
//! caller asked for. The bounds leave room for the reactor's occasional throughput timer and a
//! loaded machine, and fail if any one allocation per call comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use bytes::Bytes;
use corelane_redis::{Pipeline, Value};
use corelane_testkit::alloc_count::{start_counting, stop_counting, ThreadCountingAlloc};
use corelane_testkit::RedisServer;
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
