//! `runtime_bench`: what the corelane runtime itself costs, measured in one run.
//!
//! 1. Foreign-wake latency of a worker's mailbox (`submit` from a plain thread until the job
//!    starts), and the round trip of `block_on(worker.spawn(..))`, for several loop settings.
//! 2. Per-request cost of the round-trip toolkit on one connection to a byte-echo server in a
//!    separate process: a 64-request batch by direct index vs the same requests through the
//!    bridge queue, and single sequential calls; wall and CPU time per request. The baseline of
//!    the sequential calls: the same requests from a plain thread with a blocking socket.
//! 3. The off-loop handoff alone: 64 tokio tasks calling a worker that does nothing; calls
//!    per second and CPU per call, on one worker and on two.
//!
//! ```text
//! cargo run --release -p corelane-benches --bin runtime_bench [-- --quick]
//! ```

// The crate root lives in src/bin/, so its modules are named by path.
#[path = "runtime_bench/blocking.rs"]
mod blocking;
#[path = "runtime_bench/echo.rs"]
mod echo;
#[path = "runtime_bench/guard.rs"]
mod guard;
#[path = "runtime_bench/handoff.rs"]
mod handoff;
#[path = "runtime_bench/pipeline.rs"]
mod pipeline;
#[path = "runtime_bench/sys.rs"]
mod sys;
#[path = "runtime_bench/wake.rs"]
mod wake;

use std::error::Error;
use std::time::Duration;

use corelane_runtime::{Loop, Placement, WorkerLoop};
use hdrhistogram::Histogram;

use pipeline::{Mode, Sample};

/// Repetitions of each per-request measurement; the report quotes their median.
const REPS: usize = 3;
/// Workers per loop (the machine this was written for has 2 CPUs).
const WORKERS: usize = 2;
/// Upper bound of the random pause between two foreign submissions, in µs.
const PACE_US: u64 = 200;
/// A foreign-wake p99 above this is reported as a runtime problem.
const WAKE_P99_ALARM: Duration = Duration::from_millis(5);

struct Settings {
    quick: bool,
    wake_n: usize,
    warmup: Duration,
    window: Duration,
}

#[derive(Clone, Copy)]
struct LoopConfig {
    placement: Placement,
    spin: Option<Duration>,
}

impl LoopConfig {
    fn label(&self) -> String {
        let placement = match self.placement {
            Placement::Auto => "auto",
            Placement::Pinned => "pinned",
            Placement::Unbound => "unbound",
            _ => "other",
        };
        match self.spin {
            Some(spin) => format!("{placement}/spin{}us", spin.as_micros()),
            None => format!("{placement}/park"),
        }
    }

    fn start(&self) -> Result<Loop, corelane_runtime::Error> {
        let mut builder = Loop::builder()
            .workers(WORKERS)
            .placement(self.placement)
            .name("bench");
        if let Some(spin) = self.spin {
            builder = builder.spin_before_park(spin);
        }
        builder.start()
    }

    fn describe(&self, lp: &Loop) -> String {
        let cpus: Vec<String> = lp
            .workers()
            .iter()
            .map(|w| w.cpu().map_or("-".to_owned(), |c| c.to_string()))
            .collect();
        format!("{} (worker cpus [{}])", self.label(), cpus.join(","))
    }
}

const PARK_UNBOUND: LoopConfig = LoopConfig {
    placement: Placement::Unbound,
    spin: None,
};
const PARK_AUTO: LoopConfig = LoopConfig {
    placement: Placement::Auto,
    spin: None,
};
const SPIN_UNBOUND: LoopConfig = LoopConfig {
    placement: Placement::Unbound,
    spin: Some(Duration::from_micros(50)),
};
const SPIN_AUTO: LoopConfig = LoopConfig {
    placement: Placement::Auto,
    spin: Some(Duration::from_micros(50)),
};

/// p50, p99 and max of one latency histogram, in ns.
struct Quantiles {
    p50: u64,
    p99: u64,
    max: u64,
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

fn print_hist(name: &str, label: &str, h: &Histogram<u64>) -> Quantiles {
    println!(
        "{name:<17} {label:<16} p50 {:>7}  p90 {:>7}  p99 {:>7}  max {:>8} us   n={}",
        us(h.value_at_quantile(0.50)),
        us(h.value_at_quantile(0.90)),
        us(h.value_at_quantile(0.99)),
        us(h.max()),
        h.len()
    );
    Quantiles {
        p50: h.value_at_quantile(0.50),
        p99: h.value_at_quantile(0.99),
        max: h.max(),
    }
}

/// `x` with a k/M suffix.
fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Results kept for the summary.
#[derive(Default)]
struct Summary {
    wake: Vec<(String, Quantiles)>,
    spawn: Vec<(String, Quantiles)>,
    /// (loop label, mode, median ns/req, median thread CPU ns/req).
    pipeline: Vec<(String, Mode, f64, f64)>,
    /// The blocking-socket baseline of the sequential calls: (median ns/req, thread CPU ns/req).
    blocking_c1: Option<(f64, f64)>,
    warnings: Vec<String>,
}

fn part1(
    settings: &Settings,
    configs: &[LoopConfig],
    summary: &mut Summary,
) -> Result<(), Box<dyn Error>> {
    println!();
    println!(
        "## 1. foreign wake: plain thread -> worker 0, sequential, {} samples, pause 0-{PACE_US} us",
        settings.wake_n
    );
    // Generous: one measurement takes a few seconds; a stuck one is reported, not waited for.
    let limit = Duration::from_secs(60);
    for config in configs {
        let lp = config.start()?;
        let worker: WorkerLoop = lp.workers().first().ok_or("loop without workers")?.clone();
        println!("# loop {}", config.describe(&lp));
        let label = config.label();
        let n = settings.wake_n;

        let w = worker.clone();
        let wake = guard::guarded(limit, move || {
            wake::submit_latency(&w, n, PACE_US, &mut wake::Rng::new())
        });
        let w = worker.clone();
        let paced = guarded_after(&wake, limit, move || {
            wake::spawn_round_trip(&w, n, Some(PACE_US), &mut wake::Rng::new())
        });
        let w = worker.clone();
        let b2b = guarded_after(&paced, limit, move || {
            wake::spawn_round_trip(&w, n, None, &mut wake::Rng::new())
        });

        let mut hung = false;
        for (name, result) in [
            ("wake.submit", wake),
            ("spawn.rt.paced", paced),
            ("spawn.rt.b2b", b2b),
        ] {
            match result {
                Ok(h) => {
                    let q = print_hist(name, &label, &h);
                    if name == "wake.submit" {
                        if q.p99 > WAKE_P99_ALARM.as_nanos() as u64 {
                            summary.warnings.push(format!(
                                "foreign-wake p99 {} us on {label}: queue latency in the mailbox path",
                                us(q.p99)
                            ));
                        }
                        summary.wake.push((label.clone(), q));
                    } else if name == "spawn.rt.paced" {
                        summary.spawn.push((label.clone(), q));
                    }
                }
                Err(failure) => {
                    // Any failure may mean a stuck worker: do not risk joining it.
                    hung = true;
                    println!("{name:<17} {label:<16} {failure}");
                    summary
                        .warnings
                        .push(format!("{name} on {label}: {failure}"));
                }
            }
        }
        finish_loop(lp, hung);
    }
    Ok(())
}

/// Runs `f` guarded unless the previous step failed (a stuck worker stays stuck).
fn guarded_after<P, T, F>(
    previous: &Result<P, guard::Failure>,
    limit: Duration,
    f: F,
) -> Result<T, guard::Failure>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Box<dyn Error>> + Send + 'static,
{
    match previous {
        Err(_) => Err(guard::Failure::Error(
            "skipped after the previous failure".into(),
        )),
        Ok(_) => guard::guarded(limit, f),
    }
}

/// Shuts a loop down, or, after a failure (a worker may be stuck), leaves it behind: joining
/// a stuck worker would hang the benchmark. Its threads end with the process.
fn finish_loop(lp: Loop, hung: bool) {
    if hung {
        std::mem::forget(lp);
    } else {
        lp.shutdown();
    }
}

fn part2(
    settings: &Settings,
    configs: &[LoopConfig],
    summary: &mut Summary,
) -> Result<(), Box<dyn Error>> {
    let server = echo::EchoProcess::start()?;
    println!();
    println!(
        "## 2. round trip per request: worker 0 -> byte-echo process (pid {}, {}), \
         {} ms warm-up + {} ms window, {REPS} reps (rep-major order), batch {}",
        server.pid(),
        server.addr(),
        settings.warmup.as_millis(),
        settings.window.as_millis(),
        pipeline::BATCH
    );
    println!(
        "# cpu ns/req: thread = client worker thread (RUSAGE_THREAD), proc = client process \
         (RUSAGE_SELF), server = echo process (/proc, 10 ms ticks); stats = batches direct/bridged"
    );
    part2_blocking(settings, &server, summary);
    for config in configs {
        let lp = config.start()?;
        let worker = lp.workers().first().ok_or("loop without workers")?.clone();
        println!("# loop {}", config.describe(&lp));
        let label = config.label();
        let limit = settings.warmup + settings.window + Duration::from_secs(30);
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); Mode::ALL.len()];
        let mut hung = false;
        'reps: for rep in 0..REPS {
            for (mode, reps) in Mode::ALL.iter().zip(samples.iter_mut()) {
                let (w, addr, pid, mode) = (worker.clone(), server.addr(), server.pid(), *mode);
                let (warmup, window) = (settings.warmup, settings.window);
                let result = guard::guarded(limit, move || {
                    pipeline::measure(&w, addr, pid, mode, warmup, window)
                });
                match result {
                    Ok(s) => reps.push(s),
                    Err(failure) => {
                        hung = true;
                        println!("{:<16} {label:<16} rep {} {failure}", mode.name(), rep + 1);
                        summary.warnings.push(format!(
                            "{} on {label} rep {}: {failure}{}",
                            mode.name(),
                            rep + 1,
                            if hung {
                                hang_diagnosis(addr)
                            } else {
                                String::new()
                            }
                        ));
                        break 'reps;
                    }
                }
            }
        }
        for (mode, reps) in Mode::ALL.iter().zip(samples.iter()) {
            report_mode(&label, *mode, reps, summary);
        }
        finish_loop(lp, hung);
    }
    Ok(())
}

/// The baseline of `c1.direct`: sequential requests from a plain thread on a blocking socket
/// (see `blocking.rs`), reported in the same format.
fn part2_blocking(settings: &Settings, server: &echo::EchoProcess, summary: &mut Summary) {
    let limit = settings.warmup + settings.window + Duration::from_secs(30);
    let mut reps = Vec::new();
    for rep in 0..REPS {
        let (addr, pid) = (server.addr(), server.pid());
        let (warmup, window) = (settings.warmup, settings.window);
        match guard::guarded(limit, move || {
            blocking::measure_c1(addr, pid, warmup, window)
        }) {
            Ok(s) => reps.push(s),
            Err(failure) => {
                println!(
                    "c1.blocking      thread/blocking  rep {} {failure}",
                    rep + 1
                );
                summary
                    .warnings
                    .push(format!("c1.blocking rep {}: {failure}", rep + 1));
                return;
            }
        }
    }
    let Some((med, thread)) = print_row("c1.blocking", "thread/blocking", &reps, |_| String::new())
    else {
        return;
    };
    summary.blocking_c1 = Some((med, thread));
}

/// The client side of connections to `server` as the kernel sees them: unread bytes in a
/// client's receive queue while its worker sleeps mean the reply arrived and nobody read it.
fn hang_diagnosis(server: std::net::SocketAddr) -> String {
    let port = format!(":{:04X}", server.port());
    let Ok(table) = std::fs::read_to_string("/proc/self/net/tcp") else {
        return String::new();
    };
    let mut out = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // local, remote, state, tx_queue:rx_queue
        if let (Some(remote), Some(state), Some(queues)) = (f.get(2), f.get(3), f.get(4)) {
            if remote.ends_with(&port) && *state == "01" {
                let mut q = queues.split(':');
                let tx = q
                    .next()
                    .and_then(|x| u64::from_str_radix(x, 16).ok())
                    .unwrap_or(0);
                let rx = q
                    .next()
                    .and_then(|x| u64::from_str_radix(x, 16).ok())
                    .unwrap_or(0);
                out.push(format!("client socket send-q {tx} B, recv-q {rx} B"));
            }
        }
    }
    if out.is_empty() {
        String::new()
    } else {
        format!(" [{}]", out.join("; "))
    }
}

/// Prints one row: every repetition's ns/req, their median, and the CPU numbers of the
/// repetition whose wall time is the median, then `suffix` of that repetition. Returns the
/// median ns/req and that repetition's thread CPU ns/req (`None` without repetitions).
fn print_row(
    name: &str,
    label: &str,
    reps: &[Sample],
    suffix: impl Fn(&Sample) -> String,
) -> Option<(f64, f64)> {
    let ns: Vec<f64> = reps.iter().map(Sample::ns_per_req).collect();
    let med = median(ns.clone());
    let mid = reps.iter().min_by(|a, b| {
        (a.ns_per_req() - med)
            .abs()
            .total_cmp(&(b.ns_per_req() - med).abs())
    })?;
    let runs: Vec<String> = ns.iter().map(|x| format!("{x:>6.0}")).collect();
    let thread = pipeline::per_req(mid.thread_cpu, mid.requests);
    let process = pipeline::per_req(mid.process_cpu, mid.requests);
    let server = mid.server_cpu.map_or("?".to_owned(), |d| {
        format!("{:.0}", pipeline::per_req(d, mid.requests))
    });
    println!(
        "{name:<16} {label:<16} ns/req {}  median {med:>6.0}  {:>7} req/s  cpu ns/req thread {thread:>5.0} \
         proc {process:>5.0} server {server:>5}{}",
        runs.join(" "),
        si(1e9 / med),
        suffix(mid)
    );
    Some((med, thread))
}

fn report_mode(label: &str, mode: Mode, reps: &[Sample], summary: &mut Summary) {
    let stats = |mid: &Sample| format!("  stats {}/{}", mid.stats.direct, mid.stats.bridged);
    let Some((med, thread)) = print_row(mode.name(), label, reps, stats) else {
        return;
    };
    for (i, s) in reps.iter().enumerate() {
        let ok = match mode {
            Mode::Direct64 | Mode::C1Direct => s.stats.bridged == 0 && s.stats.direct > 0,
            Mode::BridgeBatch64 => s.stats.direct == 0 && s.stats.bridged > 0,
            Mode::BridgeCalls64 => s.stats.bridged > 0,
            // send_remote is not counted as a batch.
            Mode::C1Bridge => s.stats.direct == 0,
        };
        if !ok {
            summary.warnings.push(format!(
                "{} on {label} rep {}: unexpected path, stats direct {} bridged {}",
                mode.name(),
                i + 1,
                s.stats.direct,
                s.stats.bridged
            ));
        }
    }
    summary.pipeline.push((label.to_owned(), mode, med, thread));
}

fn print_summary(summary: &Summary) {
    println!();
    println!("## summary");
    for (label, w) in &summary.wake {
        let spawn = summary
            .spawn
            .iter()
            .find(|(l, _)| l == label)
            .map_or("?".to_owned(), |(_, s)| {
                format!("p50 {:>6} p99 {:>7}", us(s.p50), us(s.p99))
            });
        println!(
            "{:<17} {label:<16} submit->start p50 {:>6} p99 {:>7} max {:>8} us | spawn rt {spawn} us",
            "foreign wake",
            us(w.p50),
            us(w.p99),
            us(w.max),
        );
    }
    let find = |label: &str, mode: Mode| {
        summary
            .pipeline
            .iter()
            .find(|(l, m, _, _)| l == label && *m == mode)
            .map(|&(_, _, ns, cpu)| (ns, cpu))
    };
    let mut labels: Vec<&str> = Vec::new();
    for (label, _, _, _) in &summary.pipeline {
        if !labels.contains(&label.as_str()) {
            labels.push(label);
        }
    }
    for label in labels {
        let ratio = |a: Mode, b: Mode| match (find(label, a), find(label, b)) {
            (Some((x, xc)), Some((y, yc))) => format!("{:.2}x wall {:.2}x cpu", x / y, xc / yc),
            _ => "?".to_owned(),
        };
        let ns = |m: Mode| find(label, m).map_or("?".to_owned(), |(ns, _)| format!("{ns:.0}"));
        println!(
            "{:<17} {label:<16} ns/req direct.batch64 {} bridge.calls64 {} bridge.batch64 {} c1.direct {} c1.bridge {}",
            "per request",
            ns(Mode::Direct64),
            ns(Mode::BridgeCalls64),
            ns(Mode::BridgeBatch64),
            ns(Mode::C1Direct),
            ns(Mode::C1Bridge)
        );
        println!(
            "{:<17} {label:<16} bridge.calls64/direct {} | bridge.batch64/direct {} | c1.bridge/c1.direct {}",
            "ratios",
            ratio(Mode::BridgeCalls64, Mode::Direct64),
            ratio(Mode::BridgeBatch64, Mode::Direct64),
            ratio(Mode::C1Bridge, Mode::C1Direct)
        );
        if let (Some((ns, cpu)), Some((bns, bcpu))) =
            (find(label, Mode::C1Direct), summary.blocking_c1)
        {
            println!(
                "{:<17} {label:<16} c1.direct/c1.blocking {:.2}x wall {:.2}x cpu",
                "ratios",
                ns / bns,
                cpu / bcpu
            );
        }
    }
    if summary.warnings.is_empty() {
        println!("no warnings");
    }
    for w in &summary.warnings {
        println!("WARNING: {w}");
    }
}

/// Part 3: the off-loop handoff alone (see `handoff.rs`), on one worker and on two.
fn part3(settings: &Settings) -> Result<(), Box<dyn Error>> {
    println!("# part 3: off-loop handoff, {} tokio tasks (2 threads) awaiting worker.spawn(|| async {{ 1 }})", 64);
    for workers in [1, WORKERS] {
        let h = handoff::measure(workers, settings.window)?;
        println!(
            "handoff workers={}  {} calls/s  cpu {:.2} us/call",
            h.workers,
            si(h.calls_per_sec),
            h.cpu_us_per_call
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == echo::ARG) {
        return echo::serve();
    }
    let mut quick = false;
    for arg in &args {
        match arg.as_str() {
            "--quick" => quick = true,
            // `cargo bench` style harness flags are accepted and ignored.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?} (known: --quick)").into()),
        }
    }
    let settings = Settings {
        quick,
        wake_n: if quick { 2_000 } else { 20_000 },
        warmup: Duration::from_millis(if quick { 50 } else { 200 }),
        window: Duration::from_millis(if quick { 300 } else { 2_000 }),
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "# corelane runtime_bench  mode={}  workers={WORKERS}  cpus={cpus} ({})  kernel={}  date={}",
        if settings.quick { "quick" } else { "full" },
        sys::cpu_model(),
        sys::kernel(),
        sys::utc_now()
    );
    println!(
        "# part 1 loops: {}, {}, {}, {}; part 2 loops: {}, {}",
        PARK_UNBOUND.label(),
        PARK_AUTO.label(),
        SPIN_UNBOUND.label(),
        SPIN_AUTO.label(),
        PARK_UNBOUND.label(),
        SPIN_UNBOUND.label()
    );
    let mut summary = Summary::default();
    part1(
        &settings,
        &[PARK_UNBOUND, PARK_AUTO, SPIN_UNBOUND, SPIN_AUTO],
        &mut summary,
    )?;
    part2(&settings, &[PARK_UNBOUND, SPIN_UNBOUND], &mut summary)?;
    print_summary(&summary);
    part3(&settings)?;
    Ok(())
}
