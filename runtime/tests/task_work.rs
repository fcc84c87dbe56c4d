//! The fork's main ring runs its io_uring task work cooperatively (vendor/glommio patch 10).
//!
//! By default the kernel interrupts a thread running in user space (an IPI) whenever a
//! completion of its ring needs the thread's context, as a socket read does each time the peer
//! sends; the sender pays for the IPI too. Set up with `COOP_TASKRUN | TASKRUN_FLAG`, the
//! kernel instead holds the completion back until the thread next enters the kernel, and says
//! so in the ring's flags. The reactor must then enter the kernel itself when it looks for
//! completions and sees that flag, or a worker that only looks (spinning before it parks)
//! would miss replies until a timer tick.
//!
//! Its own test binary: one test sets `CORELANE_GLOMMIO_TASKRUN`, which is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{run_on, test_loop};

/// The variable the fork reads when an executor starts (vendor/glommio/src/sys/task_work.rs).
const MODE: &str = "CORELANE_GLOMMIO_TASKRUN";

/// `COOP_TASKRUN` and `TASKRUN_FLAG` came with Linux 5.19.
fn kernel_has_cooperative_task_work() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= (5, 19)
}

#[test]
fn one_look_finds_a_completion_the_kernel_held_back() {
    let rounds = 300;
    let probe = glommio::corelane_task_work_probe(true, rounds).unwrap();
    eprintln!("cooperative: {probe:?}");
    if !kernel_has_cooperative_task_work() {
        assert!(!probe.cooperative, "the kernel cannot have taken the flags");
        eprintln!("kernel before 5.19: the ring fell back to interrupting task work");
        return;
    }
    assert!(probe.cooperative, "the kernel refused COOP_TASKRUN");
    // The case the patch handles did happen: after the peer's write the completion was held
    // back (no timer tick or preemption slipped in before the look).
    assert!(
        probe.deferred > 0,
        "no completion was ever held back, so this test checked nothing: {probe:?}"
    );
    // ... and every time, one look at the queue found it, without waiting.
    assert_eq!(probe.seen, rounds, "a look missed a completion: {probe:?}");
}

#[test]
fn interrupting_task_work_posts_at_once() {
    let rounds = 100;
    let probe = glommio::corelane_task_work_probe(false, rounds).unwrap();
    eprintln!("interrupt: {probe:?}");
    assert!(!probe.cooperative);
    assert_eq!(probe.deferred, 0, "{probe:?}");
    assert_eq!(probe.seen, rounds, "{probe:?}");
}

#[test]
fn workers_run_task_work_cooperatively_unless_told_to_interrupt() {
    let cooperative = || {
        let lp = test_loop(1);
        let mode = run_on(&lp.workers()[0], || async {
            glommio::corelane_main_ring_cooperative()
        });
        lp.shutdown();
        mode
    };
    assert_eq!(
        cooperative(),
        Some(kernel_has_cooperative_task_work()),
        "the default"
    );
    std::env::set_var(MODE, "interrupt");
    let interrupting = cooperative();
    // Anything else is the default (with a warning in the log).
    std::env::set_var(MODE, "nonsense");
    let unknown = cooperative();
    std::env::remove_var(MODE);
    assert_eq!(interrupting, Some(false), "{MODE}=interrupt");
    assert_eq!(
        unknown,
        Some(kernel_has_cooperative_task_work()),
        "{MODE}=nonsense"
    );
    assert_eq!(
        glommio::corelane_main_ring_cooperative(),
        None,
        "off a worker"
    );
}
