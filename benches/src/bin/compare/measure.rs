//! The measurement: N tasks issue ops back to back; an op counts when it starts and ends inside
//! a fixed window that follows a warm-up. Latency goes to a per-task HDR histogram (merged at
//! the end); CPU is `getrusage(RUSAGE_SELF)` (the client process only: servers are separate
//! processes) and allocations are the counting allocator's, both as deltas over the window.

use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::{alloc, sys};

/// Highest latency the histograms hold (longer ones are clamped to it), in ns.
const MAX_NS: u64 = 10_000_000_000;

/// Warm-up and window lengths.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warmup: Duration,
    pub window: Duration,
}

impl Timing {
    /// How long one measurement may take before it is reported as a hang.
    pub fn hang_limit(&self) -> Duration {
        self.warmup + self.window + Duration::from_secs(30)
    }
}

/// The measurement window, fixed before the tasks start.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

/// What one task saw inside the window.
pub struct TaskStats {
    pub ops: u64,
    pub hist: Histogram<u64>,
}

pub fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, MAX_NS, 3).map_err(|e| e.to_string())
}

/// One task: runs `op` back to back until the window has passed. `op` returns how many ops it
/// performed (1, or 64 for a pipeline); a latency sample is taken per call of `op`.
pub async fn drive<F, Fut>(window: Window, mut op: F) -> Result<TaskStats, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, String>>,
{
    let mut hist = histogram()?;
    let mut ops = 0u64;
    let mut calls = 0u64;
    loop {
        let t0 = Instant::now();
        if t0 >= window.end {
            break;
        }
        let n = op()
            .await
            .map_err(|e| format!("{e} (call #{} of this task)", calls + 1))?;
        calls += 1;
        let t1 = Instant::now();
        if t0 >= window.start && t1 <= window.end {
            ops += n;
            let ns = u64::try_from((t1 - t0).as_nanos()).unwrap_or(MAX_NS);
            hist.saturating_record(ns.clamp(1, MAX_NS));
        }
    }
    Ok(TaskStats { ops, hist })
}

/// Waits for the launched tasks and returns their stats.
pub type Joiner = Box<dyn FnOnce() -> Result<Vec<TaskStats>, String> + Send>;

/// One result line.
pub struct Sample {
    pub ops: u64,
    pub hist: Histogram<u64>,
    pub window: Duration,
    pub cpu: Duration,
    pub allocs: u64,
    /// CPU of the server processes over the window, when they are local.
    pub server_cpu: Option<Duration>,
}

impl Sample {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.window.as_secs_f64()
    }
}

/// Computes the window, launches the tasks, samples CPU, allocations and server CPU at the
/// window's edges, then joins the tasks.
pub fn measure(
    timing: Timing,
    server: &'static str,
    launch: impl FnOnce(Window) -> Result<Joiner, String>,
) -> Result<Sample, String> {
    let start = Instant::now() + timing.warmup;
    let window = Window {
        start,
        end: start + timing.window,
    };
    let join = launch(window)?;
    sleep_until(window.start);
    let (cpu0, allocs0, server0) = (sys::process_cpu(), alloc::count(), server_snapshot(server));
    sleep_until(window.end);
    let (cpu1, allocs1, server1) = (sys::process_cpu(), alloc::count(), server_snapshot(server));
    let tasks = join()?;
    let mut hist = histogram()?;
    let mut ops = 0;
    for t in &tasks {
        ops += t.ops;
        hist.add(&t.hist).map_err(|e| e.to_string())?;
    }
    Ok(Sample {
        ops,
        hist,
        window: timing.window,
        cpu: cpu1.saturating_sub(cpu0),
        allocs: allocs1.saturating_sub(allocs0),
        server_cpu: server_cpu_between(&server0, &server1),
    })
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// CPU time so far of every local process whose command name is `name` (redis-server,
/// postgres), by pid.
pub type ServerSnapshot = std::collections::HashMap<u32, Duration>;

pub fn server_snapshot(name: &str) -> ServerSnapshot {
    let mut out = ServerSnapshot::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if comm.trim_end() == name {
            if let Some(cpu) = sys::other_process_cpu(pid) {
                out.insert(pid, cpu);
            }
        }
    }
    out
}

/// CPU the server processes used between two snapshots: per pid, so a backend that exits
/// inside the window (a previous client's connection closing) does not make it negative.
/// `None` when no such process is local.
pub fn server_cpu_between(before: &ServerSnapshot, after: &ServerSnapshot) -> Option<Duration> {
    if after.is_empty() {
        return None;
    }
    Some(
        after
            .iter()
            .map(|(pid, cpu)| cpu.saturating_sub(before.get(pid).copied().unwrap_or_default()))
            .sum(),
    )
}

/// Runs one task per `op` on a tokio runtime (on a thread of its own that drives it), each
/// through [`drive`].
pub fn launch_tokio<F, Fut>(
    rt: tokio::runtime::Runtime,
    window: Window,
    ops: Vec<F>,
) -> Result<Joiner, String>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, String>> + Send + 'static,
{
    let thread = std::thread::Builder::new()
        .name("bench-tokio".into())
        .spawn(move || {
            let out = rt.block_on(async move {
                let handles: Vec<_> = ops
                    .into_iter()
                    .map(|op| tokio::spawn(drive(window, op)))
                    .collect();
                let mut stats = Vec::with_capacity(handles.len());
                for h in handles {
                    stats.push(h.await.map_err(|e| e.to_string())??);
                }
                Ok(stats)
            });
            // The runtime (and the peer's connection tasks) go away with this thread.
            rt.shutdown_background();
            out
        })
        .map_err(|e| e.to_string())?;
    Ok(Box::new(move || {
        thread
            .join()
            .map_err(|_| "the tokio driver thread panicked".to_owned())?
    }))
}

/// Runs one task per `op` on the corelane loop's workers (task `i` on worker `i % n`): the
/// thread-per-core usage, no thread hop on the request path.
pub fn launch_corelane<F, Fut>(
    workers: &dyn corelane_runtime::EventLoopProvider,
    window: Window,
    ops: Vec<F>,
) -> Result<Joiner, String>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, String>> + 'static,
{
    let n = workers.num_workers().max(1);
    let mut tasks = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        let worker = workers
            .worker(i % n)
            .ok_or_else(|| format!("no worker {}", i % n))?;
        tasks.push(worker.spawn(move || drive(window, op)));
    }
    Ok(Box::new(move || {
        let mut stats = Vec::with_capacity(tasks.len());
        for t in tasks {
            stats.push(futures_lite::future::block_on(t).map_err(|e| e.to_string())??);
        }
        Ok(stats)
    }))
}

pub fn tokio_current_thread() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

pub fn tokio_multi_thread(workers: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Runs one plain thread per `op`, each through [`drive`] with a blocking op (the shape of a
/// synchronous client: one connection per thread, one call at a time).
pub fn launch_threads<F>(window: Window, ops: Vec<F>) -> Result<Joiner, String>
where
    F: FnMut() -> Result<u64, String> + Send + 'static,
{
    let mut threads = Vec::with_capacity(ops.len());
    for (i, mut op) in ops.into_iter().enumerate() {
        let thread = std::thread::Builder::new()
            .name(format!("bench-sync-{i}"))
            .spawn(move || {
                futures_lite::future::block_on(drive(window, || std::future::ready(op())))
            })
            .map_err(|e| e.to_string())?;
        threads.push(thread);
    }
    Ok(Box::new(move || {
        let mut stats = Vec::with_capacity(threads.len());
        for t in threads {
            stats.push(
                t.join()
                    .map_err(|_| "a blocking client's thread panicked".to_owned())??,
            );
        }
        Ok(stats)
    }))
}
