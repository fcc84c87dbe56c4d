//! The standalone loop: N worker threads, each running one glommio executor.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::conn::registry;
use crate::{probe, CloseCause, Error, EventLoopProvider, WorkerLoop};

/// The thread currently running a worker. A worker restarted after a panic runs on a new
/// thread, which the dying one stores here before it exits, so [`Loop::shutdown`] joins it.
type ThreadSlot = Arc<Mutex<Option<std::thread::JoinHandle<()>>>>;

fn lock(slot: &ThreadSlot) -> MutexGuard<'_, Option<std::thread::JoinHandle<()>>> {
    // Poisoned only if a thread panicked while holding it, between two plain assignments.
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

type Ready = std::sync::mpsc::Sender<Result<(), Error>>;

/// Where the workers' threads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Placement {
    /// Pin worker `i` to the `i`-th CPU this process may use when there are at least as many
    /// CPUs as workers; otherwise leave them unbound. The default.
    #[default]
    Auto,
    /// Pin worker `i` to the `i`-th allowed CPU; fails when there are fewer CPUs than workers.
    Pinned,
    /// Let the OS schedule the threads.
    Unbound,
}

/// Builds a [`Loop`].
#[derive(Debug, Clone)]
pub struct LoopBuilder {
    workers: Option<usize>,
    placement: Placement,
    io_memory: usize,
    spin_before_park: Option<Duration>,
    name: String,
}

/// glommio reserves this much locked memory per executor for file-I/O buffers. Network-only
/// workers never use it, and a large default trips `RLIMIT_MEMLOCK` on small machines.
pub const DEFAULT_IO_MEMORY: usize = 512 * 1024;

impl Default for LoopBuilder {
    fn default() -> Self {
        LoopBuilder {
            workers: None,
            placement: Placement::Auto,
            io_memory: DEFAULT_IO_MEMORY,
            spin_before_park: None,
            name: "corelane".to_owned(),
        }
    }
}

impl LoopBuilder {
    /// Number of workers (default: one per CPU this process may run on).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Where worker threads run (default [`Placement::Auto`]).
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Locked memory per executor for glommio's I/O buffers (default [`DEFAULT_IO_MEMORY`]).
    pub fn io_memory(mut self, bytes: usize) -> Self {
        self.io_memory = bytes;
        self
    }

    /// Spin this long before parking an idle worker (default: park at once). Spinning trades CPU
    /// for latency: a request-at-a-time workload skips a vCPU wake-up per round trip.
    pub fn spin_before_park(mut self, spin: Duration) -> Self {
        self.spin_before_park = Some(spin);
        self
    }

    /// Thread name prefix (default `corelane`); worker `i` is named `{name}-{i}`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Probes io_uring, then starts the workers and waits until each one is ready.
    pub fn start(self) -> Result<Loop, Error> {
        probe::probe_io_uring()?;
        let cpus = allowed_cpus();
        let n = self.workers.unwrap_or(cpus.len().max(1));
        if n == 0 {
            return Err(Error::NoWorkers);
        }
        let pin = match self.placement {
            Placement::Unbound => false,
            Placement::Auto => cpus.len() >= n,
            Placement::Pinned if cpus.len() >= n => true,
            Placement::Pinned => {
                return Err(Error::WorkerStart {
                    worker: cpus.len(),
                    reason: format!("{n} pinned workers need {n} CPUs, {} allowed", cpus.len()),
                })
            }
        };
        let mut workers = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let cpu = if pin { cpus.get(i).copied() } else { None };
            let worker = WorkerLoop::new(i, cpu);
            match self.spawn_worker(worker.clone()) {
                Ok(thread) => {
                    workers.push(worker);
                    threads.push(thread);
                }
                Err(e) => {
                    let partial = Loop { workers, threads };
                    drop(partial);
                    return Err(e);
                }
            }
        }
        Ok(Loop { workers, threads })
    }

    fn spawn_worker(&self, worker: WorkerLoop) -> Result<ThreadSlot, Error> {
        let id = worker.id();
        let start_error = |reason: String| Error::WorkerStart { worker: id, reason };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), Error>>();
        let slot = ThreadSlot::default();
        let handle = start_thread(self.clone(), worker, slot.clone(), Some(ready_tx))
            .map_err(|e| start_error(e.to_string()))?;
        *lock(&slot) = Some(handle);
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(start_error("the worker thread exited during start".into())),
        }
        Ok(slot)
    }

    fn executor(&self, worker: &WorkerLoop) -> glommio::LocalExecutorBuilder {
        let placement = match worker.cpu() {
            Some(cpu) => glommio::Placement::Fixed(cpu),
            None => glommio::Placement::Unbound,
        };
        let mut builder = glommio::LocalExecutorBuilder::new(placement).io_memory(self.io_memory);
        if let Some(spin) = self.spin_before_park {
            builder = builder.spin_before_park(spin);
        }
        builder
    }
}

/// Starts the thread of `worker` and runs its executor there. If the executor dies of a panic
/// that no task caught (every task the runtime spawns catches its own), the worker leaves
/// rotation and a new thread with a new executor takes over; its old connections are gone,
/// its queued jobs run on the new one.
fn start_thread(
    settings: LoopBuilder,
    worker: WorkerLoop,
    slot: ThreadSlot,
    ready: Option<Ready>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let name = format!("{}-{}", settings.name, worker.id());
    std::thread::Builder::new().name(name).spawn(move || {
        let died = catch_unwind(AssertUnwindSafe(|| {
            match settings.executor(&worker).make() {
                Ok(executor) => executor.run(run_worker(worker.clone(), ready)),
                Err(e) => {
                    let reason = e.to_string();
                    if let Some(ready) = ready {
                        let _ = ready.send(Err(Error::WorkerStart {
                            worker: worker.id(),
                            reason,
                        }));
                    }
                    worker.detach();
                }
            }
        }))
        .is_err();
        if died && worker.begin_restart() {
            match start_thread(settings, worker.clone(), slot.clone(), None) {
                Ok(handle) => *lock(&slot) = Some(handle),
                Err(_) => worker.detach(),
            }
        }
    })
}

async fn run_worker(worker: WorkerLoop, ready: Option<Ready>) {
    let mailbox = match worker.attach() {
        Ok(task) => task,
        Err(e) => {
            if let Some(ready) = ready {
                let _ = ready.send(Err(e));
            }
            return;
        }
    };
    if let Some(ready) = ready {
        let _ = ready.send(Ok(()));
    }
    mailbox.await;
    // Servers on this worker stop and close their connections while the executor still runs
    // their tasks (dropped with the executor, their sockets would close in no known order).
    crate::serve::close_on_worker_exit().await;
    // Shutdown: every connection still registered on this worker ends with `LoopClosed`, which
    // fails its pending requests before the executor (and the tasks awaiting them) goes away.
    registry::close_all(&CloseCause::LoopClosed);
    worker.detach();
}

/// The CPUs this process may run on, in ascending order.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set. sched_getaffinity writes at
    // most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: see above; pid 0 is the calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `set` is initialized and `cpu` < CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// A running standalone loop. Dropping it (or [`Loop::shutdown`]) stops every worker: queued
/// jobs run, registered connections get `on_close(LoopClosed)`, and the threads are joined.
pub struct Loop {
    workers: Vec<WorkerLoop>,
    threads: Vec<ThreadSlot>,
}

impl Loop {
    /// A builder with the defaults: one pinned worker per allowed CPU.
    pub fn builder() -> LoopBuilder {
        LoopBuilder::default()
    }

    /// Starts a loop with the defaults.
    pub fn start() -> Result<Loop, Error> {
        LoopBuilder::default().start()
    }

    /// The workers, by index.
    pub fn workers(&self) -> &[WorkerLoop] {
        &self.workers
    }

    /// The workers as a provider that does not keep the loop alive: give it to drivers
    /// (`Client::with_server`) and shut the loop down whenever you like.
    pub fn worker_set(&self) -> crate::WorkerSet {
        crate::WorkerSet::new(self.workers.iter().cloned())
    }

    /// Stops the workers and joins their threads.
    ///
    /// Called on one of this loop's own workers it cannot join that thread; it then signals the
    /// workers and returns, and they finish on their own.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for worker in &self.workers {
            worker.begin_shutdown();
        }
        let on_own_worker = self.workers.iter().any(WorkerLoop::is_current);
        for slot in self.threads.drain(..) {
            if on_own_worker {
                continue;
            }
            // A worker restarted while we joined has a new thread in its slot: join that too.
            while let Some(thread) = lock(&slot).take() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl EventLoopProvider for Loop {
    fn num_workers(&self) -> usize {
        self.workers.len()
    }

    fn worker(&self, n: usize) -> Option<&WorkerLoop> {
        self.workers.get(n)
    }
}
