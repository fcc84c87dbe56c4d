//! Part 3: the off-loop handoff alone. 64 tokio tasks (a 2-thread runtime) each await
//! `worker.spawn(|| async { 1 })` in a loop: a call that crosses to a worker and back and does
//! nothing there. Its CPU per call is the least an off-loop call can add to the same call made
//! on the worker, on a machine where nobody sleeps; with a server sharing the CPUs the threads
//! sleep and wake between calls, and the real cost is higher.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane_runtime::Loop;

use super::sys;

/// Callers, as in `compare`'s `*_c64` rows.
const CALLERS: usize = 64;

/// One measurement: calls per second and process CPU per call.
pub struct Handoff {
    pub workers: usize,
    pub calls_per_sec: f64,
    pub cpu_us_per_call: f64,
}

/// Runs the handoff loop against a fresh loop of `workers` workers for `window`.
pub fn measure(workers: usize, window: Duration) -> Result<Handoff, String> {
    let lp = Loop::builder()
        .workers(workers)
        .name("handoff")
        .start()
        .map_err(|e| e.to_string())?;
    let targets = lp.workers().to_vec();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let calls = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let measured = rt.block_on(async {
        let mut tasks = Vec::with_capacity(CALLERS);
        for i in 0..CALLERS {
            let worker = targets[i % targets.len()].clone();
            let (calls, stop) = (calls.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let one = worker
                        .spawn(|| async { 1u64 })
                        .await
                        .map_err(|e| e.to_string())?;
                    calls.fetch_add(one, Ordering::Relaxed);
                }
                Ok::<(), String>(())
            }));
        }
        // Warm up, then count from a fresh start.
        tokio::time::sleep(window / 4).await;
        let (t0, cpu0, n0) = (
            Instant::now(),
            sys::process_cpu(),
            calls.load(Ordering::Relaxed),
        );
        tokio::time::sleep(window).await;
        let (t1, cpu1, n1) = (
            Instant::now(),
            sys::process_cpu(),
            calls.load(Ordering::Relaxed),
        );
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.map_err(|e| e.to_string())??;
        }
        let n = (n1 - n0).max(1) as f64;
        Ok::<_, String>(Handoff {
            workers,
            calls_per_sec: n / (t1 - t0).as_secs_f64(),
            cpu_us_per_call: (cpu1 - cpu0).as_secs_f64() * 1e6 / n,
        })
    });
    drop(rt);
    lp.shutdown();
    measured
}
