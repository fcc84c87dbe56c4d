//! Heap allocations of the hot paths on a worker, warm: a sequential GET and a 64-GET
//! pipeline. The driver encodes into recycled buffers, reads replies into its batch's slots
//! and (with glommio patches 6 and 7 in vendor/glommio) the reactor reuses its readiness-poll
//! and timer sources, so a GET allocates nothing and a pipeline only the `Vec` of replies the
//! caller asked for. The bounds leave room for the reactor's occasional throughput timer and a
//! loaded machine, and fail if any one allocation per call comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use corelane_redis::{Pipeline, Value};
use corelane_testkit::RedisServer;
use support::{client, guard, on_worker};

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// Counts the allocations of the threads that turned counting on (the worker under test).
struct Counting;

fn count() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    for _ in 0..CALLS {
        one().await;
    }
    COUNTING.with(|on| on.set(false));
    COUNT.with(Cell::get) as f64 / f64::from(CALLS)
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
                        COUNTING.with(|on| on.set(false));
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
                        COUNTING.with(|on| on.set(false));
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
