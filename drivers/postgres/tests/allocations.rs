//! Heap allocations of the hot path: a prepared single-row query on a worker, warm.
//!
//! The driver's own share is zero (inline row ranges, the single row kept inline, the
//! hand-written on-worker future), and with glommio patches 6 and 7 (vendor/glommio) its
//! reactor reuses the sources of readiness polls and preemption timers, so what is left is
//! the occasional throughput timer: a few hundredths per query. The bound is 0.5: any one
//! allocation per query coming back fails it, with room for a loaded machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use corelane_testkit::alloc_count::{start_counting, stop_counting, ThreadCountingAlloc};
use support::{client_for, guard, on_worker, shared_server, two_workers};

#[global_allocator]
static ALLOCATOR: ThreadCountingAlloc = ThreadCountingAlloc;

const WARM: i32 = 500;
const QUERIES: i32 = 2000;

#[test]
fn a_warm_query_one_on_a_worker_does_not_allocate() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    let per_query = guard("allocations", move || {
        on_worker(0, move || async move {
            for i in 0..WARM {
                let row = client.query_one("SELECT $1::int", &[&i]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), i);
            }
            start_counting();
            for i in 0..QUERIES {
                let row = client.query_one("SELECT $1::int", &[&i]).await.unwrap();
                let got: i32 = row.get(0).unwrap();
                if got != i {
                    stop_counting();
                    panic!("got {got} for {i}");
                }
            }
            stop_counting() as f64 / f64::from(QUERIES)
        })
    });
    eprintln!("{per_query:.3} allocations per warm query_one");
    assert!(
        per_query < 0.5,
        "{per_query:.2} allocations per warm query_one (expected about 0.02)"
    );
}
