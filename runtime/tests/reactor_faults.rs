//! A worker still wakes for its timers, round trips and mailbox jobs after the reactor failed
//! to submit the link it sleeps on (issue 9 A2).
//!
//! To sleep, the reactor submits a poll on its latency ring (where timers and remote wakes
//! complete) to its main ring, and waits there. When the kernel takes fewer requests than
//! that (EBUSY, EAGAIN, EINTR, or a staged request it rejects), the reactor must not sleep,
//! and must not believe the link armed: it once did, and from then on slept deaf to every
//! timer and every mailbox job. The fork's fault injection (`CORELANE_GLOMMIO_FAIL_LINK_SUBMIT`,
//! vendor/glommio/src/sys/link_fault.rs, read when an executor starts) fails every few link
//! submissions each way in turn, under the reactor stress workload (`support/stress.rs`).
//!
//! Its own test binary: the variable is process-wide, and this is the only test setting it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::{stress, test_loop};

/// The variable the fork reads (see vendor/glommio/src/sys/link_fault.rs).
const FAULTS: &str = "CORELANE_GLOMMIO_FAIL_LINK_SUBMIT";

#[test]
fn workers_wake_after_failed_link_submissions() {
    // Each way of failing, every 2nd or 3rd link submission of every worker.
    for spec in ["EBUSY,2", "EAGAIN,3", "EINTR,2", "BADSQE,2"] {
        // Read by each worker's reactor as it starts; `test_loop` returns once all have.
        std::env::set_var(FAULTS, spec);
        let lp = test_loop(3);
        std::env::remove_var(FAULTS);
        let before = glommio::corelane_link_submit_faults_injected();
        let run_for = Duration::from_secs(2);
        let report = corelane_testkit::guard(
            "the reactor stress run with failed link submissions",
            run_for + Duration::from_secs(60),
            move || stress::run(lp, run_for),
        );
        let injected = glommio::corelane_link_submit_faults_injected() - before;
        eprintln!("link submissions failing {spec}: {injected} failed; {report:?}");
        assert!(
            injected > 10,
            "{spec}: only {injected} link submissions failed: the fault injection did not work"
        );
    }
}
