//! A stress workload for the sleep and wake of workers (issue 9 A2), shared by
//! `reactor_stress.rs` and `reactor_faults.rs`.
//!
//! While two threads burn the CPUs, three workers each play a part chosen so that a missed
//! wake has nothing else to hide behind (any completion wakes a sleeping worker, and it then
//! finds everything that was due):
//!
//! - worker 0, *timers*: tasks sleeping random times from 1 µs to 100 ms (`task::sleep`,
//!   `task::Sleep`, `task::timeout`), a task burning CPU slices of up to 3 ms between sleeps
//!   (busy periods arm preemption timers right before the worker parks), and round trips on
//!   TCP connections to an echo server. No mailbox job reaches it after the start, so when it
//!   sleeps through its next timer, nothing else wakes it.
//! - worker 1, *mailbox*: only jobs submitted from two other threads at random times, some in
//!   bursts, some spinning a little. No timer of its own: when a job's wake is missed, nothing
//!   else wakes it.
//! - worker 2, *mixed*: all of the above at once.
//!
//! Every timer must fire, every round trip and every job must complete, each within
//! [`BOUND`] of when it was due. A missed wake shows as seconds (for good, usually: the worker
//! sleeps until the next event that is not coming); a loaded machine as milliseconds. A
//! watchdog fails the run as soon as a worker makes no progress for [`BOUND`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corelane_runtime::roundtrip::Pipe;
use corelane_runtime::{task, Limits, Loop, Stream, WorkerLoop};

use super::{EchoServer, Lines};

/// How late a timer, a round trip or a job may be. A missed wake shows as seconds, or never
/// ends; a slow, loaded machine as milliseconds (at most 0.7 s seen over a 120 s run with
/// the load average at 11 on 2 CPUs).
pub const BOUND: Duration = Duration::from_secs(3);

const TIMER_TASKS: usize = 6;
const SOCKET_TASKS: usize = 2;
const SUBMITTERS: usize = 2;
const BURNERS: usize = 2;

/// What one run did, for the test's log.
#[derive(Debug, Default)]
pub struct Report {
    pub timers: u64,
    pub max_timer_late: Duration,
    pub round_trips: u64,
    pub max_round_trip: Duration,
    pub jobs: u64,
    pub max_job_delay: Duration,
    pub cpu_slices: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Timers,
    Mailbox,
    Mixed,
}

impl Role {
    fn of(worker: usize) -> Role {
        match worker % 3 {
            0 => Role::Timers,
            1 => Role::Mailbox,
            _ => Role::Mixed,
        }
    }
    fn local_work(self) -> bool {
        self != Role::Mailbox
    }
    fn gets_jobs(self) -> bool {
        self != Role::Timers
    }
}

/// Per-worker counters, all readable from the watchdog.
#[derive(Default)]
struct WorkerStats {
    /// Nanoseconds since the start of the run at the worker's last sign of life.
    progress: AtomicU64,
    jobs_sent: AtomicU64,
    jobs_ran: AtomicU64,
}

struct Shared {
    start: Instant,
    stop_at: Instant,
    workers: Vec<WorkerStats>,
    timers: AtomicU64,
    max_timer_late: AtomicU64,
    round_trips: AtomicU64,
    max_round_trip: AtomicU64,
    max_job_delay: AtomicU64,
    cpu_slices: AtomicU64,
    violations: Mutex<Vec<String>>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    fn alive(&self, w: usize) {
        let now = nanos(self.start.elapsed());
        self.workers[w].progress.fetch_max(now, Ordering::Relaxed);
    }

    fn running(&self) -> bool {
        Instant::now() < self.stop_at
    }

    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 20 {
            v.push(what);
        }
    }

    fn timer_fired(&self, w: usize, asked: Duration, took: Duration) {
        let late = took.saturating_sub(asked);
        self.timers.fetch_add(1, Ordering::Relaxed);
        self.max_timer_late
            .fetch_max(nanos(late), Ordering::Relaxed);
        if late > BOUND {
            self.violation(format!(
                "worker {w}: a {asked:?} timer fired after {took:?}"
            ));
        }
        self.alive(w);
    }

    fn round_trip(&self, w: usize, took: Duration) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        self.max_round_trip
            .fetch_max(nanos(took), Ordering::Relaxed);
        if took > BOUND {
            self.violation(format!("worker {w}: a round trip took {took:?}"));
        }
        self.alive(w);
    }

    fn job_ran(&self, w: usize, delay: Duration) {
        self.workers[w].jobs_ran.fetch_add(1, Ordering::Relaxed);
        self.max_job_delay
            .fetch_max(nanos(delay), Ordering::Relaxed);
        if delay > BOUND {
            self.violation(format!(
                "worker {w}: a mailbox job ran {delay:?} after its submit"
            ));
        }
        self.alive(w);
    }

    /// Why the run must fail now, if it must: a worker with work due made no progress for
    /// `BOUND`. `local_running[w]`: worker `w`'s timers, CPU slices and round trips have not
    /// all ended yet.
    fn stuck(&self, roles: &[Role], local_running: &[bool]) -> Option<String> {
        let now = self.start.elapsed();
        for (w, stats) in self.workers.iter().enumerate() {
            let last = Duration::from_nanos(stats.progress.load(Ordering::Relaxed));
            let idle = now.saturating_sub(last);
            if idle <= BOUND {
                continue;
            }
            let pending_jobs =
                stats.jobs_sent.load(Ordering::Relaxed) > stats.jobs_ran.load(Ordering::Relaxed);
            // A worker whose local tasks still run always has a timer or a round trip due; a
            // mailbox-only worker has work due when a job is waiting.
            let due = local_running[w] || pending_jobs;
            if due {
                return Some(format!(
                    "worker {w} ({:?}) made no progress for {idle:?} with work due \
                     (jobs sent {}, ran {}): a missed wake",
                    roles[w],
                    stats.jobs_sent.load(Ordering::Relaxed),
                    stats.jobs_ran.load(Ordering::Relaxed),
                ));
            }
        }
        None
    }
}

/// Random timer lengths from 1 µs to 100 ms, uniform on a log scale.
fn random_timer(rng: &mut fastrand::Rng) -> Duration {
    let micros = 10f64.powf(rng.f64() * 5.0);
    Duration::from_nanos((micros * 1000.0) as u64)
}

async fn timer_task(shared: Arc<Shared>, w: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    while shared.running() {
        let asked = random_timer(&mut rng);
        let started = Instant::now();
        match rng.u8(0..3) {
            0 => task::sleep(asked).await,
            1 => task::Sleep::new(asked).unwrap().await,
            _ => {
                let r = task::timeout(asked, std::future::pending::<()>()).await;
                assert!(r.is_none());
            }
        }
        shared.timer_fired(w, asked, started.elapsed());
    }
}

/// CPU slices between short sleeps or yields: the worker parks right after busy periods,
/// with a preemption timer pending. `edge` slices end just before the worker's preemption
/// timer fires (tasks started by `WorkerLoop::spawn` run in the mailbox's task queue, whose
/// latency, 1 ms, sets that timer), so the worker parks while it is about to fire: the
/// moment the reactor once lost its timers in (patch 8). Other slices take 50 µs to 3 ms.
async fn cpu_task(shared: Arc<Shared>, w: usize, seed: u64, edge: bool) {
    let mut rng = fastrand::Rng::with_seed(seed);
    while shared.running() {
        let slice = Duration::from_micros(if edge {
            rng.u64(850..1000)
        } else {
            rng.u64(50..3000)
        });
        let t = Instant::now();
        while t.elapsed() < slice {
            std::hint::spin_loop();
        }
        shared.cpu_slices.fetch_add(1, Ordering::Relaxed);
        shared.alive(w);
        if !edge && rng.bool() {
            task::yield_now().await;
        } else {
            let asked = if edge {
                Duration::from_micros(rng.u64(50..1000))
            } else {
                random_timer(&mut rng)
            };
            let started = Instant::now();
            task::sleep(asked).await;
            shared.timer_fired(w, asked, started.elapsed());
        }
    }
}

async fn socket_task(shared: Arc<Shared>, w: usize, s: usize, addr: std::net::SocketAddr) {
    let mut rng = fastrand::Rng::with_seed((w * 100 + s) as u64);
    let stream = Stream::connect_tcp(addr).await.unwrap();
    let pipe = Pipe::new(stream, Lines, Limits::default()).unwrap();
    let mut i = 0u64;
    while shared.running() {
        let line = format!("w{w}-s{s}-{i}\n");
        let t = Instant::now();
        match pipe
            .call((), |b| b.extend_from_slice(line.as_bytes()))
            .await
        {
            Ok(reply) if reply == line.as_bytes() => shared.round_trip(w, t.elapsed()),
            other => shared.violation(format!("worker {w}: round trip {i}: {other:?}")),
        }
        i += 1;
        // Back to back, or after a pause (a timer) with the connection idle.
        if rng.bool() {
            let asked = random_timer(&mut rng);
            let started = Instant::now();
            task::sleep(asked).await;
            shared.timer_fired(w, asked, started.elapsed());
        }
    }
}

/// The local part of a worker's load: timers, CPU slices, round trips, until the run ends.
async fn local_work(shared: Arc<Shared>, w: usize, addr: std::net::SocketAddr) {
    let mut tasks = Vec::new();
    for t in 0..TIMER_TASKS {
        let seed = (w * 1000 + t) as u64;
        tasks.push(task::spawn(timer_task(shared.clone(), w, seed)).unwrap());
    }
    for (c, edge) in [false, true].into_iter().enumerate() {
        let seed = (w * 1000 + 900 + c) as u64;
        tasks.push(task::spawn(cpu_task(shared.clone(), w, seed, edge)).unwrap());
    }
    for s in 0..SOCKET_TASKS {
        tasks.push(task::spawn(socket_task(shared.clone(), w, s, addr)).unwrap());
    }
    for t in tasks {
        t.await;
    }
}

/// Submits jobs to the job-taking workers at random times (gaps up to 30 ms, some bursts).
fn submitter(shared: Arc<Shared>, workers: Vec<(usize, WorkerLoop)>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    while shared.running() {
        std::thread::sleep(Duration::from_micros(rng.u64(0..30_000)));
        let (w, worker) = &workers[rng.usize(0..workers.len())];
        let burst = if rng.u8(0..10) == 0 {
            rng.usize(2..20)
        } else {
            1
        };
        for _ in 0..burst {
            let sent = Instant::now();
            let spin = Duration::from_micros(if rng.bool() { rng.u64(0..500) } else { 0 });
            let (sh, w) = (shared.clone(), *w);
            shared.workers[w].jobs_sent.fetch_add(1, Ordering::Relaxed);
            worker
                .submit(move || {
                    sh.job_ran(w, sent.elapsed());
                    let t = Instant::now();
                    while t.elapsed() < spin {
                        std::hint::spin_loop();
                    }
                })
                .unwrap();
        }
    }
}

/// Threads that keep the CPUs busy until dropped.
struct Burners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Burners {
    fn start(n: usize) -> Burners {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        Burners { stop, threads }
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Runs the workload on `lp` (three workers) for `run_for` and returns what it did; panics
/// with the first violations if a timer, a round trip or a job was late by more than
/// [`BOUND`], or a worker stopped making progress. On failure the loop is leaked, not shut
/// down: a worker that missed its wake would make the shutdown hang too.
pub fn run(lp: Loop, run_for: Duration) -> Report {
    assert_eq!(lp.workers().len(), 3, "one worker per role");
    let roles: Vec<Role> = (0..3).map(Role::of).collect();
    let server = EchoServer::start();
    let _burners = Burners::start(BURNERS);
    let start = Instant::now();
    let shared = Arc::new(Shared {
        start,
        stop_at: start + run_for,
        workers: (0..3).map(|_| WorkerStats::default()).collect(),
        timers: AtomicU64::new(0),
        max_timer_late: AtomicU64::new(0),
        round_trips: AtomicU64::new(0),
        max_round_trip: AtomicU64::new(0),
        max_job_delay: AtomicU64::new(0),
        cpu_slices: AtomicU64::new(0),
        violations: Mutex::new(Vec::new()),
    });

    // One slot per worker: its local work while it runs.
    let mut runs: Vec<_> = lp
        .workers()
        .iter()
        .enumerate()
        .map(|(w, worker)| {
            roles[w].local_work().then(|| {
                let (sh, addr) = (shared.clone(), server.addr);
                worker.spawn(move || local_work(sh, w, addr))
            })
        })
        .collect();
    let job_takers: Vec<(usize, WorkerLoop)> = lp
        .workers()
        .iter()
        .enumerate()
        .filter(|(w, _)| roles[*w].gets_jobs())
        .map(|(w, worker)| (w, worker.clone()))
        .collect();
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|s| {
            let (sh, takers) = (shared.clone(), job_takers.clone());
            std::thread::spawn(move || submitter(sh, takers, 7 + s as u64))
        })
        .collect();

    // The watchdog: fail as soon as a worker stops making progress with work due.
    fn fail(why: String, lp: Loop, shared: &Shared) -> ! {
        std::mem::forget(lp);
        let v = shared.violations.lock().unwrap().clone();
        panic!("{why}\nviolations: {v:#?}");
    }
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let local_running: Vec<bool> = runs.iter().map(Option::is_some).collect();
        if let Some(why) = shared.stuck(&roles, &local_running) {
            fail(why, lp, &shared);
        }
        for r in runs.iter_mut() {
            if let Some(task) = r.take() {
                // Poll once without blocking: done, or put back.
                let mut task = task;
                match futures_lite::future::block_on(futures_lite::future::poll_once(&mut task)) {
                    Some(out) => out.unwrap(),
                    None => *r = Some(task),
                }
            }
        }
        let submitting = submitters.iter().any(|s| !s.is_finished());
        if runs.iter().all(Option::is_none) && !submitting {
            break;
        }
    }
    for s in submitters {
        s.join().unwrap();
    }
    // The last jobs: each must run within BOUND of its submit.
    let drained_by = Instant::now() + BOUND;
    while shared
        .workers
        .iter()
        .any(|s| s.jobs_sent.load(Ordering::Relaxed) > s.jobs_ran.load(Ordering::Relaxed))
    {
        if Instant::now() > drained_by {
            fail("mailbox jobs never ran: a missed wake".into(), lp, &shared);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let violations = shared.violations.lock().unwrap().clone();
    if !violations.is_empty() {
        fail("late timers, round trips or jobs".into(), lp, &shared);
    }
    lp.shutdown();
    Report {
        timers: shared.timers.load(Ordering::Relaxed),
        max_timer_late: Duration::from_nanos(shared.max_timer_late.load(Ordering::Relaxed)),
        round_trips: shared.round_trips.load(Ordering::Relaxed),
        max_round_trip: Duration::from_nanos(shared.max_round_trip.load(Ordering::Relaxed)),
        jobs: shared
            .workers
            .iter()
            .map(|s| s.jobs_ran.load(Ordering::Relaxed))
            .sum(),
        max_job_delay: Duration::from_nanos(shared.max_job_delay.load(Ordering::Relaxed)),
        cpu_slices: shared.cpu_slices.load(Ordering::Relaxed),
    }
}
