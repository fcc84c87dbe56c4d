//! Foreign-thread latencies of a worker: how long a `submit`ted job waits before it starts,
//! and the round trip of `WorkerLoop::spawn` awaited with `block_on` from a plain thread.

use std::error::Error;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use corelane_runtime::WorkerLoop;
use hdrhistogram::Histogram;

/// Unrecorded iterations before each measurement.
const WARMUP: usize = 200;
/// A job that has not started after this long never will: the worker is stuck.
const STUCK: Duration = Duration::from_secs(10);

/// A small xorshift generator: the pacing sleeps need no quality, only variety.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from the clock.
    pub fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64);
        Rng(seed | 1)
    }

    /// A number in `0..=max`.
    pub fn upto(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % (max + 1)
    }
}

/// A latency histogram in nanoseconds, 1 ns to 60 s, 3 significant digits.
pub fn histogram() -> Result<Histogram<u64>, Box<dyn Error>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000_000, 3)?)
}

fn record(hist: &mut Histogram<u64>, d: Duration) {
    hist.saturating_record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1));
}

/// Sleeps 0–`max_us` µs, so the worker has parked before the next submission (sometimes).
fn pace(rng: &mut Rng, max_us: u64) {
    let us = rng.upto(max_us);
    if us > 0 {
        std::thread::sleep(Duration::from_micros(us));
    }
}

/// Submits `n` jobs one at a time from this (plain) thread; each job records when it started.
/// Latency = job start − the instant just before `submit`.
pub fn submit_latency(
    worker: &WorkerLoop,
    n: usize,
    pace_us: u64,
    rng: &mut Rng,
) -> Result<Histogram<u64>, Box<dyn Error>> {
    let mut hist = histogram()?;
    let (tx, rx) = mpsc::channel::<Instant>();
    for i in 0..WARMUP + n {
        pace(rng, pace_us);
        let tx = tx.clone();
        let before = Instant::now();
        worker.submit(move || {
            let _ = tx.send(Instant::now());
        })?;
        let Ok(started) = rx.recv_timeout(STUCK) else {
            return Err(format!(
                "HANG: job {i} did not start within {} s of its submit (the worker sleeps through \
                 the mailbox wake)",
                STUCK.as_secs()
            )
            .into());
        };
        if i >= WARMUP {
            record(&mut hist, started.saturating_duration_since(before));
        }
    }
    Ok(hist)
}

/// `block_on(worker.spawn(|| async { 1 }))` from this thread, `n` times, paced or back to back.
pub fn spawn_round_trip(
    worker: &WorkerLoop,
    n: usize,
    pace_us: Option<u64>,
    rng: &mut Rng,
) -> Result<Histogram<u64>, Box<dyn Error>> {
    let mut hist = histogram()?;
    for i in 0..WARMUP + n {
        if let Some(max) = pace_us {
            pace(rng, max);
        }
        let before = Instant::now();
        let one = futures_lite::future::block_on(worker.spawn(|| async { 1u32 }))?;
        let elapsed = before.elapsed();
        if one != 1 {
            return Err("spawned task returned a wrong value".into());
        }
        if i >= WARMUP {
            record(&mut hist, elapsed);
        }
    }
    Ok(hist)
}
