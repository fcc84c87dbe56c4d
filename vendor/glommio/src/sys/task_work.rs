//! corelane patch 10: the main ring runs its task work cooperatively (see
//! `CORELANE_PATCHES.md`).
//!
//! By default io_uring interrupts a thread running in user space (an IPI to its CPU) whenever a
//! completion needs that thread's context to be posted, as a socket read armed as a poll does
//! each time its peer sends. With `IORING_SETUP_COOP_TASKRUN` (Linux 5.19) the work waits for
//! the thread's next transition into the kernel instead, and `IORING_SETUP_TASKRUN_FLAG`
//! makes the kernel say so in the SQ ring's flags, so the reactor can enter the kernel once
//! when it looks for completions and sees the flag.
//!
//! ```text
//! CORELANE_GLOMMIO_TASKRUN=interrupt     # the upstream behaviour
//! CORELANE_GLOMMIO_TASKRUN=cooperative   # the default
//! ```
//!
//! is read when an executor starts.

use log::warn;

/// The environment variable read when an executor starts.
pub(crate) const ENV: &str = "CORELANE_GLOMMIO_TASKRUN";

/// `IORING_SQ_TASKRUN`: task work waits for the thread (set with `TASKRUN_FLAG`).
pub(crate) const IORING_SQ_TASKRUN: u32 = 1 << 2;

/// How a ring's completions that need the submitting thread are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskWork {
    /// At the thread's next transition into the kernel (falls back to `Interrupt` on a kernel
    /// without it).
    Cooperative,
    /// By interrupting the thread (upstream glommio).
    Interrupt,
}

impl TaskWork {
    /// The mode [`ENV`] asks for: `Cooperative` unless it says `interrupt`.
    pub(crate) fn from_env() -> TaskWork {
        parse(std::env::var(ENV).ok().as_deref())
    }
}

fn parse(value: Option<&str>) -> TaskWork {
    match value {
        None | Some("") | Some("cooperative") => TaskWork::Cooperative,
        Some("interrupt") => TaskWork::Interrupt,
        Some(other) => {
            warn!("{ENV}={other}: expected `cooperative` or `interrupt`; using `cooperative`");
            TaskWork::Cooperative
        }
    }
}

/// What [`crate::corelane_task_work_probe`] saw.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskWorkProbe {
    /// The ring really runs its task work cooperatively (the kernel took the flags).
    pub cooperative: bool,
    /// Rounds run: the peer thread wrote once per round.
    pub rounds: usize,
    /// Rounds where, after the write and before the reactor looked, the kernel held the
    /// completion back as task work (the flag was set and no completion was visible).
    pub deferred: usize,
    /// Rounds where one look at the completion queue (what a spinning executor does) found
    /// the completion.
    pub seen: usize,
}
