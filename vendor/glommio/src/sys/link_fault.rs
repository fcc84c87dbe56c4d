//! corelane test hook (issue 9 A2): fault injection for the link submission of a sleep.
//!
//! To sleep, the reactor submits a poll on the latency ring's fd ("the link") to the main ring
//! and waits there, in one `io_uring_enter` (`SleepableRing::sleep`). When the kernel takes
//! fewer requests than were staged plus the link (EBUSY, EAGAIN, EINTR, or a staged request it
//! rejects, after which it stops), the reactor must not sleep and must not believe the link is
//! armed. Such failures are rare on a healthy machine, so tests provoke them with
//!
//! ```text
//! CORELANE_GLOMMIO_FAIL_LINK_SUBMIT=<EBUSY|EAGAIN|EINTR|BADSQE>[,<every>]
//! ```
//!
//! read once when an executor starts: every `every`-th link submission of that executor
//! (default 2, at least 2 so that the executor still sleeps in between) fails that way.
//! `EBUSY`, `EAGAIN` and `EINTR` make the call fail without the kernel taking any request,
//! which is what the kernel does for the first two. `BADSQE` stages a request with an invalid
//! opcode just before the link: the kernel really takes it, fails it and stops there, so the
//! link is really left unsubmitted (a partial submission).
//!
//! Unset (always, outside tests), the cost is one `None` check per fresh link submission.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable read when an executor starts.
pub(crate) const ENV: &str = "CORELANE_GLOMMIO_FAIL_LINK_SUBMIT";

/// Link submissions failed on purpose in this process (all executors), for tests to check
/// that the faults they asked for happened.
static INJECTED: AtomicUsize = AtomicUsize::new(0);

/// How a link submission fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkFault {
    /// `io_uring_enter` fails with this errno, having taken no request.
    Errno(i32),
    /// A request the kernel rejects is staged just before the link.
    BadSqe,
}

/// One executor's schedule of faults.
#[derive(Debug)]
pub(crate) struct LinkFaults {
    fault: LinkFault,
    every: u32,
    seen: u32,
}

impl LinkFaults {
    /// The schedule from the environment, if any.
    pub(crate) fn from_env() -> Option<Self> {
        Self::parse(&std::env::var(ENV).ok()?)
    }

    fn parse(spec: &str) -> Option<Self> {
        let mut parts = spec.trim().splitn(2, ',');
        let fault = match parts.next()?.trim() {
            "EBUSY" => LinkFault::Errno(libc::EBUSY),
            "EAGAIN" => LinkFault::Errno(libc::EAGAIN),
            "EINTR" => LinkFault::Errno(libc::EINTR),
            "BADSQE" => LinkFault::BadSqe,
            _ => return None,
        };
        let every = match parts.next() {
            Some(n) => n.trim().parse::<u32>().ok()?.max(2),
            None => 2,
        };
        Some(LinkFaults {
            fault,
            every,
            seen: 0,
        })
    }

    /// Called once per fresh link submission: the fault to inject this time, if any.
    pub(crate) fn next(&mut self) -> Option<LinkFault> {
        self.seen = self.seen.wrapping_add(1);
        (self.seen % self.every == 0).then_some(self.fault)
    }
}

/// Counts a link submission that failed because of an injected fault.
pub(crate) fn record_injected() {
    INJECTED.fetch_add(1, Ordering::Relaxed);
}

/// Link submissions failed on purpose so far in this process.
pub(crate) fn injected() -> usize {
    INJECTED.load(Ordering::Relaxed)
}
