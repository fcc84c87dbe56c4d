//! A set of workers that does not own their threads: the provider a server hands to drivers.

use std::sync::Arc;

use crate::{EventLoopProvider, ServerProvider, WorkerLoop};

/// Workers by index, without ownership of their threads: holding one keeps no loop alive.
///
/// [`Loop::worker_set`](crate::Loop::worker_set) and
/// [`Serving::workers`](crate::serve::Serving::workers) give one. It is both an
/// [`EventLoopProvider`] and a [`ServerProvider`], so drivers' `Client::with_server(config,
/// &set)` put their connections on these workers while the loop's owner stays free to shut it
/// down (the clients' calls then fail with "worker closed" instead of keeping threads alive).
#[derive(Clone, Debug)]
pub struct WorkerSet {
    workers: Arc<[WorkerLoop]>,
}

impl WorkerSet {
    /// A set of these workers, in order (worker `n` of the set is the `n`-th given).
    pub fn new(workers: impl IntoIterator<Item = WorkerLoop>) -> WorkerSet {
        WorkerSet {
            workers: workers.into_iter().collect(),
        }
    }

    /// The workers of `provider`.
    pub fn of<P: EventLoopProvider + ?Sized>(provider: &P) -> WorkerSet {
        WorkerSet::new((0..provider.num_workers()).filter_map(|n| provider.worker(n).cloned()))
    }

    /// The workers, in order.
    pub fn iter(&self) -> impl Iterator<Item = &WorkerLoop> {
        self.workers.iter()
    }
}

impl EventLoopProvider for WorkerSet {
    fn num_workers(&self) -> usize {
        self.workers.len()
    }

    fn worker(&self, n: usize) -> Option<&WorkerLoop> {
        self.workers.get(n)
    }
}

impl ServerProvider for WorkerSet {
    fn event_loop(&self) -> Arc<dyn EventLoopProvider> {
        Arc::new(self.clone())
    }
}
