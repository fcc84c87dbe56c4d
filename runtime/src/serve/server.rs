//! `serve`: a listener and an accept loop on every worker, and the handle that shuts them
//! down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::accept;
use super::local::{Drain, Stats};
use crate::{EventLoopProvider, ServerProvider, Stream, SubmitError, WorkerLoop, WorkerSet};

static NEXT_SERVER: AtomicU64 = AtomicU64::new(1);

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The provider has no workers.
    #[error("there are no workers to serve on")]
    NoWorkers,
    /// A worker could not listen on the address (in use without `SO_REUSEPORT`, no
    /// permission, not a local address).
    #[error("worker {worker} could not listen on {addr}: {source}")]
    Bind {
        /// The worker's index.
        worker: usize,
        /// The address it tried.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A worker could not run the start-up job: it has shut down, or making its handler
    /// panicked (the panic was caught there).
    #[error("worker {worker} could not start serving: {source}")]
    Worker {
        /// The worker's index.
        worker: usize,
        /// Why.
        source: SubmitError,
    },
}

/// What a graceful [`Serving::shutdown`] did with the connections open when it began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections that finished on their own before the deadline (idle keep-alive
    /// connections close at once and count here).
    pub drained: u64,
    /// Connections still open at the deadline, closed by the server.
    pub cut: u64,
}

/// Counters of a running server, summed over its workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeStats {
    /// Connections accepted so far.
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Connection tasks that ended in a panic (caught; the worker served on).
    pub panics: u64,
    /// `accept` calls that failed (the loop waits a moment and goes on).
    pub accept_errors: u64,
}

/// A server running on every worker of a provider: a listener per worker on one address
/// (`SO_REUSEPORT`: the kernel spreads new connections over the workers), an accept loop per
/// worker, and one local task per connection on the worker that accepted it.
///
/// Stop it with [`shutdown`](Self::shutdown). Dropping it without that stops it abruptly:
/// listeners close and open connections are dropped at once.
///
/// It is also a [`ServerProvider`]: drivers given it (`Client::with_server`) place their
/// connections on the same workers. The workers it hands out do not keep the loop alive: a
/// [`Loop`](crate::Loop) still shuts down while clients hold them (their calls then fail with
/// "worker closed").
pub struct Serving {
    id: u64,
    addr: SocketAddr,
    workers: Vec<WorkerLoop>,
    stats: Arc<Stats>,
    stopped: bool,
}

/// Serves TCP connections on every worker of `workers`.
///
/// `make_handler` runs once on each worker and returns that worker's connection handler (so
/// per-worker state needs no lock); the handler is called with each connection the worker
/// accepts and a [`Drain`] that says when the server shuts down, and its future runs as a
/// local task of that worker. A panic in a handler ends its connection only; the worker serves
/// on and [`ServeStats::panics`] counts it.
///
/// Port 0 picks a free port (the same one on every worker): see [`Serving::local_addr`].
/// Workers are started one after the other; if one fails, those started are stopped again.
pub async fn serve<P, F, H, Fut>(
    workers: &P,
    addr: SocketAddr,
    make_handler: F,
) -> Result<Serving, ServeError>
where
    P: EventLoopProvider + ?Sized,
    F: Fn() -> H + Send + Sync + 'static,
    H: Fn(Stream, Drain) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let list = WorkerSet::of(workers);
    if list.num_workers() == 0 {
        return Err(ServeError::NoWorkers);
    }
    let make = Arc::new(make_handler);
    // Dropped on an error: that stops the workers started so far.
    let mut serving = Serving {
        id: NEXT_SERVER.fetch_add(1, Ordering::Relaxed),
        addr,
        workers: Vec::with_capacity(list.num_workers()),
        stats: Arc::new(Stats::default()),
        stopped: false,
    };
    for worker in list.iter() {
        let (id, bind) = (serving.id, serving.addr);
        let (make, stats) = (make.clone(), serving.stats.clone());
        let job = worker.spawn(move || {
            let bound = accept::start_on_worker(id, bind, &*make, stats);
            async move { bound }
        });
        // Listed before the job is awaited: should this future be dropped while the worker
        // starts, `serving`'s drop still stops it (its abort job queues behind the start).
        serving.workers.push(worker.clone());
        match job.await {
            // The first worker's port (0 picks one) is the port of all the others.
            Ok(Ok(local)) => serving.addr = local,
            Ok(Err(source)) => {
                return Err(ServeError::Bind {
                    worker: worker.id(),
                    addr: bind,
                    source,
                })
            }
            Err(source) => {
                return Err(ServeError::Worker {
                    worker: worker.id(),
                    source,
                })
            }
        }
    }
    Ok(serving)
}

impl Serving {
    /// The address every worker listens on (with the port chosen, when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The workers serving, as a provider drivers can be given (it does not keep them
    /// alive).
    pub fn workers(&self) -> WorkerSet {
        WorkerSet::new(self.workers.iter().cloned())
    }

    /// Counters summed over the workers.
    pub fn stats(&self) -> ServeStats {
        let accepted = self.stats.accepted.load(Ordering::Relaxed);
        let closed = self.stats.closed.load(Ordering::Relaxed);
        ServeStats {
            accepted,
            open: accepted.saturating_sub(closed),
            panics: self.stats.panics.load(Ordering::Relaxed),
            accept_errors: self.stats.accept_errors.load(Ordering::Relaxed),
        }
    }

    /// Shuts the server down gracefully: every worker closes its listener (new connections are
    /// refused from then on), tells its connections to drain ([`Drain`]: an HTTP connection
    /// answers the request in flight, then closes), waits for them until `deadline` from now,
    /// then closes those still open. Returns how many connections drained and how many were
    /// cut. Awaitable from any thread, a worker included.
    ///
    /// Connections of a worker that shut down before (its loop stopped) were closed with it
    /// and count in neither.
    pub async fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        self.stopped = true;
        let until = crate::deadline::after(Instant::now(), deadline);
        // Every worker drains at the same time: spawn all, then await all.
        let jobs: Vec<_> = self
            .workers
            .iter()
            .map(|worker| {
                let id = self.id;
                worker.spawn(move || async move {
                    match until {
                        Some(until) => accept::shutdown_on_worker(id, until).await,
                        None => accept::shutdown_on_worker(id, far_future()).await,
                    }
                })
            })
            .collect();
        let mut report = ShutdownReport::default();
        for job in jobs {
            if let Ok((drained, cut)) = job.await {
                report.drained += drained;
                report.cut += cut;
            }
        }
        report
    }
}

/// A deadline for "no deadline" that `Instant` can hold.
fn far_future() -> Instant {
    let now = Instant::now();
    crate::deadline::after(now, crate::deadline::NEVER_AFTER).unwrap_or(now)
}

impl Drop for Serving {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let id = self.id;
        for worker in self.workers.iter() {
            // Refused only by a worker that shut down, which closed its connections already.
            let _ = worker.submit(move || accept::abort_on_worker(id));
        }
    }
}

impl ServerProvider for Serving {
    fn event_loop(&self) -> Arc<dyn EventLoopProvider> {
        Arc::new(self.workers())
    }
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("addr", &self.addr)
            .field("workers", &self.workers.len())
            .field("stats", &self.stats())
            .finish()
    }
}
