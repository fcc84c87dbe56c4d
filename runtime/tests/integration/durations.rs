//! No panic from a `Duration` (issue 9 A4): sleeps, timeouts and timers of any length are
//! built overflow-free; a length past `deadline::NEVER_AFTER` means "never".

use crate::support;

use std::time::Duration;

use crate::support::{run_on, test_loop};
use corelane_runtime::task::{self, Sleep};
use futures_lite::future::poll_once;

const HUGE: [Duration; 3] = [
    Duration::MAX,
    Duration::from_secs(10_000_000_000_000_000_000),
    Duration::from_secs(200 * 365 * 24 * 3600),
];

#[test]
fn huge_sleeps_timeouts_and_timers_never_fire_and_never_panic() {
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    for dur in HUGE {
        let out = run_on(&worker, move || async move {
            // A huge timeout is no timeout: the work finishes.
            let finished = task::timeout(dur, async { 5u8 }).await;
            // A huge sleep does not end: a short timeout around it fires first.
            let slept = task::timeout(Duration::from_millis(20), task::sleep(dur)).await;
            // A huge timeout around work that takes a while still lets it finish.
            let waited = task::timeout(dur, task::sleep(Duration::from_millis(5))).await;
            // A nameable timer of a huge length stays pending.
            let mut timer = Sleep::new(dur).unwrap();
            let pending = poll_once(&mut timer).await.is_none();
            (finished, slept, waited, pending)
        });
        assert_eq!(out, (Some(5), None, Some(()), true), "{dur:?}");
    }
    assert_eq!(worker.panics(), 0);
    assert_eq!(worker.restarts(), 0);
}

#[test]
fn a_connect_with_a_huge_timeout_connects() {
    let server = support::EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    for dur in HUGE {
        let connected = run_on(&lp.workers()[0], move || async move {
            corelane_runtime::Stream::connect_tcp_timeout(addr, dur)
                .await
                .is_ok()
        });
        assert!(connected, "{dur:?}");
    }
}
