//! glommio patch 9 (vendor/glommio/CORELANE_PATCHES.md): a long timer pending on a worker (a
//! metrics publisher, a pool's idle check, an application's `sleep(60s)`) does not make every
//! turn of the loop allocate. Before the patch, each turn split the timer tree with
//! `BTreeMap::split_off`, which allocates whenever any timer is pending: two allocations per
//! park of the executor (per request on a connection, when the call has a timeout or anything
//! else has a timer pending).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use corelane_runtime::{task, Loop, Placement};
use corelane_testkit::alloc_count::{start_counting, stop_counting, ThreadCountingAlloc};

#[global_allocator]
static ALLOCATOR: ThreadCountingAlloc = ThreadCountingAlloc;

const TURNS: u32 = 2000;

/// Each turn's sleep. Long enough that the executor parks for it (and its timer is in the
/// timer tree while it does) on any machine: a 1 µs sleep had often elapsed before the
/// executor parked, so how much of a turn was measured depended on the machine's speed (the
/// test failed on a fast one).
const NAP: Duration = Duration::from_micros(20);

/// Allocations per short sleep (each one a timer registered, processed by the reactor and
/// fired) on a worker, with `far` timers pending meanwhile.
fn allocations_per_turn(far: usize) -> f64 {
    let lp = Loop::builder()
        .workers(1)
        .placement(Placement::Unbound)
        .start()
        .unwrap();
    let worker = lp.workers()[0].clone();
    let per_turn = futures_lite::future::block_on(worker.spawn(move || async move {
        for _ in 0..far {
            task::spawn_detached(task::sleep(Duration::from_secs(3600))).unwrap();
        }
        // Warm: the timer map and the reactor's buffers at their working size.
        for _ in 0..200 {
            task::sleep(NAP).await;
        }
        start_counting();
        for _ in 0..TURNS {
            task::sleep(NAP).await;
        }
        stop_counting() as f64 / f64::from(TURNS)
    }))
    .unwrap();
    lp.shutdown();
    per_turn
}

#[test]
fn a_pending_long_timer_does_not_make_loop_turns_allocate() {
    let alone = allocations_per_turn(0);
    let with_long_timers = allocations_per_turn(3);
    eprintln!(
        "allocations per turn: {alone:.3} alone, {with_long_timers:.3} with long timers pending"
    );
    // A turn allocates twice: the sleep's own timer, and the timeout the executor arms to wake
    // for it when it parks (glommio's latency-ring timer, a new `Source` per arm). Pending long
    // timers must add nothing to that. Before the patch each park of the executor also split
    // the timer tree whenever any timer was pending: two more allocations per turn.
    assert!(
        with_long_timers < alone + 0.5,
        "{with_long_timers:.2} allocations per loop turn with long timers pending, {alone:.2} \
         alone: the pending timers made the loop allocate"
    );
    assert!(
        alone < 2.5,
        "{alone:.2} allocations per loop turn alone (the sleep's own timer and the park's \
         timeout are two)"
    );
}
