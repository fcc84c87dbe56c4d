//! Counters of how a connection's batches travelled (direct, bridged, handed off, revoked):
//! a leaf module, bumped by the pipe, its runs and its bridge queue.

use std::rc::Rc;

/// Counters of how batches travelled, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipeStats {
    /// Batches (and single calls) that read their own replies by direct index.
    pub direct: u64,
    /// Batches (and single calls) that went through the bridge queue.
    pub bridged: u64,
    /// Batches dropped mid-read whose unanswered requests became placeholders.
    pub handoffs: u64,
    /// Direct batches whose read lease was taken over while they were not polled (another
    /// request needed the reader): their unanswered requests moved to the bridge queue.
    pub revoked: u64,
}

/// Round-trip counters shared by several connections (a client's connections on one worker),
/// so their [`PipeStats`] outlive each connection. See [`Pipe::count_into`](super::Pipe::count_into).
#[derive(Clone, Default)]
pub struct PipeCounters(pub(crate) Rc<StatCells>);

impl PipeCounters {
    /// The counts so far.
    pub fn snapshot(&self) -> PipeStats {
        self.0.snapshot()
    }
}

impl std::fmt::Debug for PipeCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

#[derive(Default)]
pub(crate) struct StatCells {
    pub(crate) direct: std::cell::Cell<u64>,
    pub(crate) bridged: std::cell::Cell<u64>,
    pub(crate) handoffs: std::cell::Cell<u64>,
    pub(crate) revoked: std::cell::Cell<u64>,
}

impl StatCells {
    pub(crate) fn snapshot(&self) -> PipeStats {
        PipeStats {
            direct: self.direct.get(),
            bridged: self.bridged.get(),
            handoffs: self.handoffs.get(),
            revoked: self.revoked.get(),
        }
    }

    pub(crate) fn bump(cell: &std::cell::Cell<u64>) {
        cell.set(cell.get().wrapping_add(1));
    }
}
