//! What drivers need of a set of workers: the traits a server's own workers and the standalone
//! loop implement (a leaf, so that those implementations do not depend on `provider`, which
//! starts the standalone loop).

use std::sync::Arc;

use crate::WorkerLoop;

/// A set of workers drivers can place connections on.
pub trait EventLoopProvider: Send + Sync {
    /// How many workers there are (at least one).
    fn num_workers(&self) -> usize;

    /// Worker `n`, for `n < num_workers()`.
    fn worker(&self, n: usize) -> Option<&WorkerLoop>;

    /// The worker the calling thread runs, if it is one of this provider's.
    fn current_worker(&self) -> Option<&WorkerLoop> {
        (0..self.num_workers())
            .filter_map(|n| self.worker(n))
            .find(|w| w.is_current())
    }

    /// The index (`n` of [`worker`](Self::worker)) of the worker the calling thread runs, if
    /// it is one of this provider's.
    fn current_index(&self) -> Option<usize> {
        (0..self.num_workers()).find(|&n| self.worker(n).is_some_and(WorkerLoop::is_current))
    }
}

/// A thread-per-core server that hands its own workers to drivers, so its request handlers and
/// its database connections share executors and rings.
pub trait ServerProvider: Send + Sync {
    /// The server's workers.
    fn event_loop(&self) -> Arc<dyn EventLoopProvider>;
}
