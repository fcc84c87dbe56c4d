//! Heap allocations of the hot path: a prepared single-row query on a worker, warm.
//!
//! The driver's own share is zero (inline row ranges, the single row kept inline, the
//! hand-written on-worker future), and with glommio patches 6 and 7 (vendor/glommio) its
//! reactor reuses the sources of readiness polls and preemption timers, so what is left is
//! the occasional throughput timer: a few hundredths per query. The bound is 0.5: any one
//! allocation per query coming back fails it, with room for a loaded machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use support::{client_for, guard, on_worker, shared_server, two_workers};

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
            COUNT.with(|n| n.set(0));
            COUNTING.with(|on| on.set(true));
            for i in 0..QUERIES {
                let row = client.query_one("SELECT $1::int", &[&i]).await.unwrap();
                let got: i32 = row.get(0).unwrap();
                if got != i {
                    COUNTING.with(|on| on.set(false));
                    panic!("got {got} for {i}");
                }
            }
            COUNTING.with(|on| on.set(false));
            COUNT.with(Cell::get) as f64 / f64::from(QUERIES)
        })
    });
    eprintln!("{per_query:.3} allocations per warm query_one");
    assert!(
        per_query < 0.5,
        "{per_query:.2} allocations per warm query_one (expected about 0.02)"
    );
}
