//! `compare`: corelane's Redis and PostgreSQL clients side by side with the peer clients, on
//! the same workloads against the same live servers, in one run.
//!
//! ```text
//! cargo run --release -p corelane-benches --bin compare [-- --quick] [--only a,b] [--spin-us N]
//! ```
//!
//! Servers: throwaway ones from corelane-testkit, or `REDIS_URL` / `DATABASE_URL` when set.
//! `redis_get_c64_tls` always uses a throwaway redis-server with a TLS port (testkit
//! certificates; every client trusts the test CA and verifies the server fully).
//! `redis_cluster_get_c64` and `redis_cluster_pipe_p64` always use a throwaway Redis Cluster
//! (the testkit's `RedisCluster`: three masters, a replica each); they are left out of a
//! `--quick` run unless named in `--only`, since forming the cluster takes seconds.
//! Peers: redis-rs (multiplexed async, its async cluster connection, and its blocking
//! `Connection` on the single-caller rows), fred, tokio-postgres and xitca-postgres, each on
//! a current-thread and a 2-worker tokio runtime, with one connection and (c64 rows) two;
//! the ratio is against the fastest peer of the row.
//! Each line is `WORKLOAD CLIENT ops_per_sec p50_us p99_us client_cpu_us_per_op`, followed by
//! allocations per op (counting global allocator, whole process) and the server processes' CPU
//! per op; after each workload, the ratio of corelane to the best peer. corelane runs its tasks
//! on the loop's own workers; `corelane-offloop` runs the same calls from a tokio runtime
//! (mailbox path). C tools (redis-benchmark, pgbench) are a ceiling, not peers.
//!
//! `--only web` (or names such as `web_db`) runs the HTTP stacks of `examples/web` instead:
//! their release binaries (built with cargo first) as child processes under `wrk` (Debian
//! package `wrk`; without it the web rows are skipped). See `compare/web_side.rs`. They are
//! not part of a run without `--only`.

#[path = "compare/alloc.rs"]
mod alloc;
#[path = "compare/ceiling.rs"]
mod ceiling;
#[path = "compare/chart.rs"]
mod chart;
#[path = "runtime_bench/guard.rs"]
mod guard;
#[path = "compare/measure.rs"]
mod measure;
#[path = "compare/memcached_side.rs"]
mod memcached_side;
#[path = "compare/observe.rs"]
mod observe;
#[path = "compare/pg_side.rs"]
mod pg_side;
#[path = "compare/redis_side.rs"]
mod redis_side;
#[path = "runtime_bench/sys.rs"]
#[allow(dead_code)]
mod sys;
#[path = "compare/web_side.rs"]
mod web_side;
#[path = "compare/web_stacks.rs"]
mod web_stacks;
#[path = "compare/web_wrk.rs"]
mod web_wrk;

use std::error::Error;
use std::time::Duration;

use corelane_runtime::{Loop, Placement, Provider, WorkerSet};

use measure::{Sample, Timing};
use memcached_side::MemcachedClient;
use pg_side::PgClient;
use redis_side::RedisClient;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// The workloads of issue 5, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    RedisGetC1,
    RedisGetC64,
    RedisPipeP64,
    RedisSet1kC64,
    RedisGetC64Tls,
    RedisClusterGetC64,
    RedisClusterPipeP64,
    PgSelect1C1,
    PgSelect1C64,
    PgPipeP64,
    PgRows1k,
    PgSelect1C64Tls,
    MemcachedGetC64,
    MemcachedPipeP64,
    WebPlaintext,
    WebJson,
    WebDb,
    WebQueries20,
    WebUpdates20,
    WebFortunes,
    WebCached20,
}

impl Workload {
    /// Every client row; the cluster rows are left out of a `--quick` run without `--only`
    /// (forming a six-node cluster takes seconds), see [`Workload::is_cluster`].
    const ALL: [Workload; 14] = [
        Workload::RedisGetC1,
        Workload::RedisGetC64,
        Workload::RedisPipeP64,
        Workload::RedisSet1kC64,
        Workload::RedisGetC64Tls,
        Workload::RedisClusterGetC64,
        Workload::RedisClusterPipeP64,
        Workload::PgSelect1C1,
        Workload::PgSelect1C64,
        Workload::PgPipeP64,
        Workload::PgRows1k,
        Workload::PgSelect1C64Tls,
        Workload::MemcachedGetC64,
        Workload::MemcachedPipeP64,
    ];

    /// The HTTP stacks under wrk (`--only web`): run only when selected, since they build and
    /// start the release binaries of examples/web and take minutes.
    const WEB: [Workload; 7] = [
        Workload::WebPlaintext,
        Workload::WebJson,
        Workload::WebDb,
        Workload::WebQueries20,
        Workload::WebUpdates20,
        Workload::WebFortunes,
        Workload::WebCached20,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::RedisGetC1 => "redis_get_c1",
            Workload::RedisGetC64 => "redis_get_c64",
            Workload::RedisPipeP64 => "redis_pipe_p64",
            Workload::RedisSet1kC64 => "redis_set_1k_c64",
            Workload::RedisGetC64Tls => "redis_get_c64_tls",
            Workload::RedisClusterGetC64 => "redis_cluster_get_c64",
            Workload::RedisClusterPipeP64 => "redis_cluster_pipe_p64",
            Workload::PgSelect1C1 => "pg_select1_c1",
            Workload::PgSelect1C64 => "pg_select1_c64",
            Workload::PgPipeP64 => "pg_pipe_p64",
            Workload::PgRows1k => "pg_rows_1k",
            Workload::PgSelect1C64Tls => "pg_select1_c64_tls",
            Workload::MemcachedGetC64 => "memcached_get_c64",
            Workload::MemcachedPipeP64 => "memcached_pipe_p64",
            Workload::WebPlaintext => "web_plaintext",
            Workload::WebJson => "web_json",
            Workload::WebDb => "web_db",
            Workload::WebQueries20 => "web_queries20",
            Workload::WebUpdates20 => "web_updates20",
            Workload::WebFortunes => "web_fortunes",
            Workload::WebCached20 => "web_cached20",
        }
    }

    /// Concurrent tasks issuing ops back to back.
    pub(crate) fn tasks(self) -> usize {
        match self {
            Workload::RedisGetC64
            | Workload::RedisSet1kC64
            | Workload::RedisGetC64Tls
            | Workload::RedisClusterGetC64
            | Workload::PgSelect1C64
            | Workload::PgSelect1C64Tls
            | Workload::MemcachedGetC64 => 64,
            _ => 1,
        }
    }

    fn is_redis(self) -> bool {
        matches!(
            self,
            Workload::RedisGetC1
                | Workload::RedisGetC64
                | Workload::RedisPipeP64
                | Workload::RedisSet1kC64
                | Workload::RedisGetC64Tls
                | Workload::RedisClusterGetC64
                | Workload::RedisClusterPipeP64
        )
    }

    /// Runs against a throwaway Redis Cluster (the testkit's: three masters with a replica
    /// each), not the single redis-server.
    pub(crate) fn is_cluster(self) -> bool {
        matches!(
            self,
            Workload::RedisClusterGetC64 | Workload::RedisClusterPipeP64
        )
    }

    /// Runs against a throwaway memcached (corelane's example driver against its peer).
    fn is_memcached(self) -> bool {
        matches!(self, Workload::MemcachedGetC64 | Workload::MemcachedPipeP64)
    }

    /// An HTTP stack's endpoint under wrk (see `web_side`).
    fn is_web(self) -> bool {
        Workload::WEB.contains(&self)
    }

    /// Runs against the TLS port of a throwaway redis-server (every client verifying it
    /// against the test CA).
    pub(crate) fn is_tls(self) -> bool {
        matches!(self, Workload::RedisGetC64Tls)
    }
}

/// A TLS redis-server's addresses for the clients.
#[derive(Clone)]
pub(crate) struct RedisTls {
    /// `rediss://127.0.0.1:PORT` (peers; they are given the CA separately).
    pub(crate) url: String,
    /// The same with `?ca_file=` (corelane).
    pub(crate) corelane_url: String,
    /// The CA certificate, PEM.
    pub(crate) ca_pem: String,
}

/// What every measurement needs (cheap to clone into a guarded thread).
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) redis_url: String,
    /// For TLS workloads: the TLS server, and the CA its certificate chains to.
    pub(crate) redis_tls: Option<RedisTls>,
    /// The cluster rows' `redis+cluster://` URL for corelane (empty when not run).
    pub(crate) redis_cluster_url: String,
    /// The same cluster's `redis://127.0.0.1:PORT` of every node, the peers' seeds.
    pub(crate) redis_cluster_seeds: Vec<String>,
    pub(crate) database_url: String,
    /// The TLS server of `pg_select1_c64_tls` (empty when not run).
    pub(crate) tls: PgTls,
    pub(crate) timing: Timing,
    pub(crate) workers: Provider,
    /// A second loop of one worker, when the main loop has more (`corelane-1w`).
    pub(crate) one_worker: Option<WorkerSet>,
    /// `127.0.0.1:PORT` of the throwaway memcached (empty when not run).
    pub(crate) memcached_addr: String,
}

/// The TLS server's URLs: corelane's and pgbench's verify the full certificate against the
/// CA file (`sslmode=verify-full&sslrootcert=`); tokio-postgres' says `sslmode=require` and
/// its rustls connector verifies the full certificate against the same CA.
#[derive(Clone, Default)]
pub(crate) struct PgTls {
    pub(crate) url: String,
    pub(crate) tokio_url: String,
    pub(crate) ca_file: std::path::PathBuf,
}

/// Where a corelane row runs its calls.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum At {
    /// On the main loop's workers (`corelane`).
    Loop,
    /// On the one-worker loop (`corelane-1w`).
    OneWorker,
    /// From a tokio runtime, through the main loop's mailboxes (`corelane-offloop`).
    Offloop,
    /// From a tokio runtime, through the one-worker loop's mailbox (`corelane-offloop-1w`).
    OffloopOneWorker,
}

impl Ctx {
    /// The one-worker loop's worker (see [`At::OneWorker`]).
    pub(crate) fn one_worker(&self) -> Result<&WorkerSet, String> {
        self.one_worker
            .as_ref()
            .ok_or_else(|| "no one-worker loop (the main loop has one worker)".to_owned())
    }

    /// The URL corelane (and pgbench) use for `workload`.
    pub(crate) fn pg_url(&self, workload: Workload) -> &str {
        if workload == Workload::PgSelect1C64Tls {
            &self.tls.url
        } else {
            &self.database_url
        }
    }
}

struct Args {
    quick: bool,
    only: Option<Vec<Workload>>,
    spin_us: u64,
    /// Only these clients (names as printed; `ceiling` for the C tools), for profiling one.
    clients: Option<Vec<String>>,
    /// Measured window in ms (overrides the mode's).
    window_ms: Option<u64>,
    /// Rounds over the clients (overrides the mode's).
    rounds: Option<usize>,
    /// Where corelane's workers run.
    placement: Placement,
    /// How many workers corelane's loop has (default: one per CPU).
    workers: Option<usize>,
    /// Write the ratios as an SVG chart here (`--svg`).
    svg: Option<std::path::PathBuf>,
}

const USAGE: &str =
    "usage: compare [--quick] [--only WORKLOAD,...|web] [--clients NAME,...|ceiling] [--rounds N] [--window-ms N] [--placement auto|pinned|unbound] [--workers N] [--svg FILE (the ratios as a chart)] [--spin-us N (0: park at once, the default; spinning took CPU from the servers on a 2-vCPU machine)]";

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        quick: false,
        only: None,
        spin_us: 0,
        clients: None,
        window_ms: None,
        rounds: None,
        placement: Placement::Auto,
        workers: None,
        svg: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--bench" => {}
            "--only" => {
                let list = it.next().ok_or(USAGE)?;
                let mut picked = Vec::new();
                for name in list.split(',').filter(|s| !s.is_empty()) {
                    if name == "web" {
                        picked.extend(Workload::WEB);
                        continue;
                    }
                    let w = Workload::ALL
                        .iter()
                        .chain(&Workload::WEB)
                        .find(|w| w.name() == name)
                        .ok_or_else(|| {
                            let known: Vec<&str> = Workload::ALL
                                .iter()
                                .chain(&Workload::WEB)
                                .map(|w| w.name())
                                .collect();
                            format!("unknown workload {name:?} (known: {})", known.join(", "))
                        })?;
                    picked.push(*w);
                }
                args.only = Some(picked);
            }
            "--spin-us" => {
                args.spin_us = it.next().ok_or(USAGE)?.parse()?;
            }
            "--clients" => {
                let list = it.next().ok_or(USAGE)?;
                args.clients = Some(list.split(',').map(str::to_owned).collect());
            }
            "--workers" => {
                args.workers = Some(it.next().ok_or(USAGE)?.parse::<usize>()?.max(1));
            }
            "--placement" => {
                args.placement = match it.next().ok_or(USAGE)?.as_str() {
                    "auto" => Placement::Auto,
                    "pinned" => Placement::Pinned,
                    "unbound" => Placement::Unbound,
                    other => return Err(format!("unknown placement {other:?}; {USAGE}").into()),
                };
            }
            "--rounds" => {
                args.rounds = Some(it.next().ok_or(USAGE)?.parse::<usize>()?.max(1));
            }
            "--svg" => {
                args.svg = Some(it.next().ok_or(USAGE)?.into());
            }
            "--window-ms" => {
                args.window_ms = Some(it.next().ok_or(USAGE)?.parse()?);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
    Ok(args)
}

/// One printed result.
#[derive(Clone)]
struct Line {
    client: String,
    kind: Kind,
    ops_per_sec: f64,
    cpu_us_per_op: Option<f64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Corelane,
    Offloop,
    Peer,
    Ceiling,
    /// Another way of corelane's on the same workload: printed, not in the ratios.
    Variant,
}

fn fmt_opt(x: Option<f64>, width: usize, prec: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:>width$.prec$}"),
        _ => format!("{:>width$}", "-"),
    }
}

/// The numbers of one printed line (`None` prints `-`).
struct Numbers {
    ops: f64,
    p50: Option<f64>,
    p99: Option<f64>,
    cpu: Option<f64>,
    allocs: Option<f64>,
    server: Option<f64>,
    /// Server CPU over the window as a share of one core, in %.
    server_util: Option<f64>,
}

fn print_row(workload: Workload, client: &str, n: Numbers) {
    let Numbers {
        ops,
        p50,
        p99,
        cpu,
        allocs,
        server,
        server_util,
    } = n;
    println!(
        "{:<22} {:<34} {:>12.0} {} {} {} {} {} {}",
        workload.name(),
        client,
        ops,
        fmt_opt(p50, 8, 1),
        fmt_opt(p99, 8, 1),
        fmt_opt(cpu, 8, 2),
        fmt_opt(allocs, 8, 2),
        fmt_opt(server, 8, 2),
        fmt_opt(server_util, 6, 0),
    );
}

fn report_sample(workload: Workload, client: &str, kind: Kind, s: &Sample) -> Line {
    let ops = s.ops.max(1) as f64;
    let cpu = s.cpu.as_secs_f64() * 1e6 / ops;
    let server = s.server_cpu.map(|d| d.as_secs_f64() * 1e6 / ops);
    print_row(
        workload,
        client,
        Numbers {
            ops: s.ops_per_sec(),
            p50: Some(s.hist.value_at_quantile(0.5) as f64 / 1000.0),
            p99: Some(s.hist.value_at_quantile(0.99) as f64 / 1000.0),
            cpu: Some(cpu),
            allocs: Some(s.allocs as f64 / ops),
            server,
            server_util: s
                .server_cpu
                .map(|d| d.as_secs_f64() * 100.0 / s.window.as_secs_f64()),
        },
    );
    Line {
        client: client.to_owned(),
        kind,
        ops_per_sec: s.ops_per_sec(),
        cpu_us_per_op: Some(cpu),
    }
}

/// The outcome of the whole run so far.
#[derive(Default)]
struct Run {
    hung: bool,
    ratios: Vec<String>,
    /// Every workload's medians, for `--svg`.
    charts: Vec<chart::Chart>,
    failures: Vec<String>,
}

impl Run {
    /// Prints and keeps `workload`'s ratio line, and keeps its rows for the chart.
    fn record(&mut self, workload: Workload, lines: Vec<Line>) {
        let ratio = ratio_line(workload, &lines);
        println!("{ratio}");
        self.ratios.push(ratio);
        self.charts.push(chart::Chart {
            workload: workload.name().to_owned(),
            lines,
        });
    }
}

/// One client of a workload: its printed name and how to run it.
#[derive(Clone, Copy)]
enum Which {
    Redis(RedisClient),
    Pg(PgClient),
    Memcached(MemcachedClient),
}

/// The middle element by `key` (the upper middle for an even count).
fn median_by<T>(mut items: Vec<T>, key: impl Fn(&T) -> f64) -> Option<T> {
    items.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let mid = items.len() / 2;
    items.into_iter().nth(mid)
}

fn run_workload(
    ctx: &Ctx,
    workload: Workload,
    opts: &RunOpts<'_>,
    tmp: &std::path::Path,
    run: &mut Run,
) -> Result<(), Box<dyn Error>> {
    let wanted = |name: &str| {
        opts.clients
            .is_none_or(|names| names.iter().any(|n| n == name))
    };
    let clients: Vec<(&str, Which)> = if workload.is_memcached() {
        MemcachedClient::ALL
            .iter()
            .filter(|c| c.applies(workload))
            .map(|c| (c.name(), Which::Memcached(*c)))
            .collect()
    } else if workload.is_redis() {
        RedisClient::ALL
            .iter()
            .filter(|c| c.applies(workload))
            .map(|c| (c.name(), Which::Redis(*c)))
            .collect()
    } else {
        PgClient::ALL
            .iter()
            .filter(|c| c.applies(workload))
            .map(|c| (c.name(), Which::Pg(*c)))
            .collect()
    };
    let mut clients: Vec<(&str, Which)> = clients
        .into_iter()
        .filter(|(name, _)| wanted(name))
        .filter(|(name, _)| !name.ends_with("-1w") || ctx.one_worker.is_some())
        .collect();
    // Rounds interleave the clients, so a slow spell of a shared machine (seconds long on
    // a VM) hits them all alike; each client is reported by its median round.
    let mut samples: Vec<(&str, Vec<Sample>)> = clients
        .iter()
        .map(|(name, _)| (*name, Vec::new()))
        .collect();
    let mut ceilings: Vec<ceiling::Ceiling> = Vec::new();
    // redis-benchmark's TLS flags are not wired up: no ceiling for the TLS row.
    // No memcached load tool is installed: no ceiling for the memcached rows.
    // redis-benchmark's --cluster mode is not wired up: no ceiling for the cluster rows.
    let mut ceiling_state = if wanted("ceiling")
        && !workload.is_tls()
        && !workload.is_memcached()
        && !workload.is_cluster()
    {
        CeilingState::Wanted
    } else {
        CeilingState::Skipped
    };
    for _ in 0..opts.rounds {
        let mut failed: Vec<&str> = Vec::new();
        for (name, which) in &clients {
            let (name, which) = (*name, *which);
            let ctx2 = ctx.clone();
            let result = guard::guarded(ctx.timing.hang_limit(), move || {
                let sample = match which {
                    Which::Redis(c) => redis_side::run(&ctx2, workload, c),
                    Which::Pg(c) => pg_side::run(&ctx2, workload, c),
                    Which::Memcached(c) => memcached_side::run(&ctx2, workload, c),
                };
                sample.map_err(Into::into)
            });
            match result {
                Ok(sample) => {
                    if let Some((_, list)) = samples.iter_mut().find(|(n, _)| *n == name) {
                        list.push(sample);
                    }
                }
                Err(failure) => {
                    let text = failure.to_string();
                    println!("{:<22} {:<34} {text}", workload.name(), name);
                    if matches!(failure, guard::Failure::Hang(_)) {
                        run.hung = true;
                    }
                    if text.contains("wrong value") {
                        return Err(format!("{} {name}: {text}", workload.name()).into());
                    }
                    run.failures
                        .push(format!("{} {name}: {text}", workload.name()));
                    failed.push(name);
                }
            }
        }
        clients.retain(|(name, _)| !failed.contains(name));
        if ceiling_state == CeilingState::Wanted {
            let ceiling = if workload.is_redis() {
                ceiling::redis_benchmark(&ctx.redis_url, workload, opts.quick)
            } else {
                ceiling::pgbench(ctx.pg_url(workload), workload, ctx.timing, tmp)
            };
            match ceiling {
                Some(Ok(c)) => ceilings.push(c),
                Some(Err(e)) => {
                    println!("{:<22} {:<34} error: {e}", workload.name(), "[ceiling]");
                    run.failures
                        .push(format!("{} ceiling: {e}", workload.name()));
                    ceiling_state = CeilingState::Failed;
                }
                None => {
                    println!("{:<22} {:<34} not installed", workload.name(), "[ceiling]");
                    ceiling_state = CeilingState::Failed;
                }
            }
        }
    }
    let mut lines: Vec<Line> = Vec::new();
    for (name, list) in samples {
        if let Some(sample) = median_by(list, Sample::ops_per_sec) {
            lines.push(report_sample(workload, name, kind_of(name), &sample));
        }
    }
    if let Some(c) = median_by(ceilings, |c| c.ops_per_sec) {
        let name = format!("{} [ceiling]", c.name);
        print_row(
            workload,
            &name,
            Numbers {
                ops: c.ops_per_sec,
                p50: c.p50_us,
                p99: c.p99_us,
                cpu: c.cpu_us_per_op,
                allocs: None,
                server: None,
                server_util: None,
            },
        );
        lines.push(Line {
            client: name,
            kind: Kind::Ceiling,
            ops_per_sec: c.ops_per_sec,
            cpu_us_per_op: c.cpu_us_per_op,
        });
    }
    run.record(workload, lines);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CeilingState {
    Wanted,
    Skipped,
    Failed,
}

/// How each workload is run.
struct RunOpts<'a> {
    quick: bool,
    rounds: usize,
    clients: Option<&'a [String]>,
}

fn kind_of(name: &str) -> Kind {
    match name {
        "corelane" | "corelane-1w" => Kind::Corelane,
        "corelane-offloop" | "corelane-offloop-1w" => Kind::Offloop,
        "corelane-pipeline" => Kind::Variant,
        _ => Kind::Peer,
    }
}

/// corelane's fastest thread-per-core line (`corelane`, or `corelane-1w` when one worker
/// left the machine's other CPUs to the server and did better).
pub(crate) fn best_corelane(lines: &[Line]) -> Option<&Line> {
    lines
        .iter()
        .filter(|l| l.kind == Kind::Corelane)
        .max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec))
}

/// corelane's fastest off-loop line (`corelane-offloop`, or `corelane-offloop-1w` when one
/// worker left a CPU to the caller's tokio threads and did better).
pub(crate) fn best_offloop(lines: &[Line]) -> Option<&Line> {
    lines
        .iter()
        .filter(|l| l.kind == Kind::Offloop)
        .max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec))
}

fn ratio_line(workload: Workload, lines: &[Line]) -> String {
    let of = |k: Kind| lines.iter().find(|l| l.kind == k);
    let best_peer = lines
        .iter()
        .filter(|l| l.kind == Kind::Peer)
        .max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    let leanest_peer = lines
        .iter()
        .filter(|l| l.kind == Kind::Peer)
        .filter_map(|l| l.cpu_us_per_op.map(|c| (l, c)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    // corelane at its best worker count, as the peers at their best runtime.
    let corelane = best_corelane(lines);
    let mut parts = vec![format!("RATIO {:<22}", workload.name())];
    match (corelane, best_peer) {
        (Some(c), Some(p)) => parts.push(format!(
            "corelane/best-peer ops {:.2}x ({}{})",
            c.ops_per_sec / p.ops_per_sec,
            p.client,
            if c.client == "corelane" {
                String::new()
            } else {
                format!("; {}", c.client)
            }
        )),
        _ => parts.push("corelane/best-peer ops ?".to_owned()),
    }
    match (corelane.and_then(|c| c.cpu_us_per_op), leanest_peer) {
        (Some(c), Some((p, pc))) => {
            parts.push(format!("cpu/op {:.2}x (leanest peer {})", c / pc, p.client))
        }
        _ => parts.push("cpu/op ?".to_owned()),
    }
    if let (Some(o), Some(p)) = (best_offloop(lines), best_peer) {
        parts.push(format!(
            "offloop/best-peer {:.2}x{}",
            o.ops_per_sec / p.ops_per_sec,
            if o.client == "corelane-offloop" {
                ""
            } else {
                " (1w)"
            }
        ));
    }
    if let (Some(c), Some(x)) = (corelane, of(Kind::Ceiling)) {
        parts.push(format!(
            "corelane/ceiling {:.2}x",
            c.ops_per_sec / x.ops_per_sec
        ));
    }
    parts.join(" | ")
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let workloads: Vec<Workload> = args.only.clone().unwrap_or_else(|| {
        Workload::ALL
            .iter()
            .copied()
            .filter(|w| !(args.quick && w.is_cluster()))
            .collect()
    });
    let timing = if args.quick {
        Timing {
            warmup: Duration::from_millis(200),
            window: Duration::from_millis(500),
        }
    } else {
        Timing {
            warmup: Duration::from_millis(500),
            window: Duration::from_secs(2),
        }
    };
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 3 });
    let timing = match args.window_ms {
        Some(ms) => Timing {
            window: Duration::from_millis(ms),
            ..timing
        },
        None => timing,
    };

    // corelane's loop: configured before its first use.
    let mut builder = Loop::builder().placement(args.placement);
    if let Some(n) = args.workers {
        builder = builder.workers(n);
    }
    if args.spin_us > 0 {
        builder = builder.spin_before_park(Duration::from_micros(args.spin_us));
    }
    let configured = corelane_runtime::configure_standalone(builder);
    let workers = corelane_runtime::resolve(None)?;
    // `corelane-1w`: the same settings on one worker. Idle while the other rows run.
    let one_loop = if workers.num_workers() > 1 {
        let mut one = Loop::builder()
            .placement(args.placement)
            .workers(1)
            .name("corelane-1w");
        if args.spin_us > 0 {
            one = one.spin_before_park(Duration::from_micros(args.spin_us));
        }
        Some(one.start()?)
    } else {
        None
    };

    let needs_redis = workloads
        .iter()
        .any(|w| (w.is_redis() && !w.is_tls() && !w.is_cluster()) || w.is_web());
    // The cluster rows' throwaway cluster, kept alive until the end of the run.
    let cluster = if workloads.iter().any(|w| w.is_cluster()) {
        Some(corelane_testkit::RedisCluster::start()?)
    } else {
        None
    };
    let redis_cluster_url = cluster.as_ref().map(|c| c.url()).unwrap_or_default();
    let redis_cluster_seeds = cluster.as_ref().map(|c| c.seed_urls()).unwrap_or_default();
    let needs_redis_tls = workloads.iter().any(|w| w.is_tls());
    // Always a throwaway server for TLS (REDIS_URL is not used): the clients must trust its
    // certificate. Kept alive (with its certificates) until the end of the run.
    let tls_target = if needs_redis_tls {
        let certs = corelane_testkit::TestCerts::generate()?;
        let server = corelane_testkit::RedisServer::builder()
            .tls(certs.ca_pem(), certs.server())
            .start()?;
        Some((certs, server))
    } else {
        None
    };
    let redis_tls = match &tls_target {
        Some((certs, server)) => Some(RedisTls {
            url: format!(
                "rediss://127.0.0.1:{}",
                server.tls_port().ok_or("no TLS port")?
            ),
            corelane_url: server.tls_url().ok_or("no TLS URL")?,
            ca_pem: certs.ca_pem().to_owned(),
        }),
        None => None,
    };
    let needs_pg = workloads.iter().any(|w| !w.is_redis() && !w.is_memcached());
    let memcached = if workloads.iter().any(|w| w.is_memcached()) {
        Some(corelane_testkit::MemcachedServer::start()?)
    } else {
        None
    };
    let memcached_addr = memcached
        .as_ref()
        .map(|m| m.addr().to_string())
        .unwrap_or_default();
    let needs_tls = workloads.contains(&Workload::PgSelect1C64Tls);
    let redis_target = if needs_redis {
        Some(corelane_testkit::redis_url()?)
    } else {
        None
    };
    let pg_target = if needs_pg {
        Some(corelane_testkit::database_url()?)
    } else {
        None
    };
    let describe = |external: bool| {
        if external {
            "external"
        } else {
            "throwaway (testkit)"
        }
    };
    // A throwaway TLS server (trust auth, certificates from the testkit's CA) for the TLS row.
    let tls_certs = if needs_tls {
        Some(corelane_testkit::TestCerts::generate()?)
    } else {
        None
    };
    let tls_server = match &tls_certs {
        Some(certs) => Some(
            corelane_testkit::PgServer::builder()
                .tls(&certs.server().cert, &certs.server().key)
                .start()?,
        ),
        None => None,
    };
    let tls = match (&tls_certs, &tls_server) {
        (Some(certs), Some(server)) => PgTls {
            url: format!(
                "{}?sslmode=verify-full&sslrootcert={}",
                server.url(),
                certs.ca_file().display()
            ),
            tokio_url: format!("{}?sslmode=require", server.url()),
            ca_file: certs.ca_file().to_owned(),
        },
        _ => PgTls::default(),
    };
    let redis_url = redis_target.as_ref().map(|t| t.url()).unwrap_or_default();
    let database_url = pg_target.as_ref().map(|t| t.url()).unwrap_or_default();

    let observability = observe::install()?;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "# corelane compare  mode={}  date={}",
        if args.quick { "quick" } else { "full" },
        sys::utc_now()
    );
    println!(
        "# machine: {cpus} CPUs ({})  kernel {}",
        sys::cpu_model(),
        sys::kernel()
    );
    let worker_cpus: Vec<String> = (0..workers.num_workers())
        .map(|i| {
            workers
                .worker(i)
                .and_then(|w| w.cpu())
                .map_or("unbound".to_owned(), |c| format!("cpu{c}"))
        })
        .collect();
    println!(
        "# corelane: standalone loop, {} workers [{}], placement {:?}, {}{}",
        workers.num_workers(),
        worker_cpus.join(", "),
        args.placement,
        if args.spin_us > 0 {
            format!("spin_before_park {} us", args.spin_us)
        } else {
            "park at once (no spin)".to_owned()
        },
        if configured {
            ""
        } else {
            " (NOT applied: loop already running)"
        }
    );
    if one_loop.is_some() {
        println!(
            "# corelane-1w: the same calls on a second loop of one worker (same settings), leaving the other CPUs to the server; corelane's ratios use the faster of corelane and corelane-1w, as the peers' use their fastest runtime; likewise corelane-offloop-1w calls through that loop from the same tokio runtime (2 threads), and the off-loop ratio uses the faster of the two"
        );
    }
    println!("# observability: {observability}");
    // The web rows print their own (wrk's) method; these lines are about the client rows.
    let client_rows = workloads.iter().any(|w| !w.is_web());
    if client_rows {
        println!(
            "# window: {} ms warm-up + {} ms measured; an op counts if it starts and ends in the window",
            timing.warmup.as_millis(),
            timing.window.as_millis()
        );
    }
    println!(
        "# rounds: {rounds}, interleaving the clients; each row is that client's median round by ops/s"
    );
    if let Some(tls) = &redis_tls {
        println!(
            "# redis TLS: throwaway (testkit) {} (rustls/ring on every client; server certificate: testkit ECDSA P-256)",
            tls.url
        );
    }
    if cluster.is_some() {
        println!(
            "# redis cluster: throwaway (testkit) {redis_cluster_url} (3 masters, a replica each); corelane ClusterClient, redis-rs cluster-async ClusterConnection, fred clustered client (every node a seed); redis_cluster_get_c64: task i reads key {}:i (spread over the masters); redis_cluster_pipe_p64: 64 GETs of one key (redis-rs refuses a cross-slot pipeline)",
            redis_side::KEY
        );
    }
    if needs_redis {
        println!(
            "# redis: {} {}",
            describe(matches!(
                redis_target,
                Some(corelane_testkit::RedisTarget::External(_))
            )),
            redis_url
        );
    }
    if needs_pg {
        println!(
            "# postgres: {} {}",
            describe(matches!(
                pg_target,
                Some(corelane_testkit::PgTarget::External(_))
            )),
            database_url
        );
    }
    if needs_tls {
        println!(
            "# postgres TLS: throwaway (testkit) {} (TLS 1.3, ECDSA P-256 certificate, verified)",
            tls.url
        );
    }
    if memcached.is_some() {
        println!("# memcached: throwaway (testkit) {memcached_addr}; peer async-memcached 0.6, one connection per task (it does not multiplex); memcached_pipe_p64 is one 64-key get per op for corelane and the peer, corelane-pipeline 64 separate gets in one batch");
    }
    if client_rows {
        println!("# TLS peers: redis-rs tokio-rustls-comp, fred enable-rustls-ring");
        println!("# peers: redis-rs 1.8 MultiplexedConnection (tokio current-thread: -ct, 2-worker multi-thread: -mt2; cluster rows: its async ClusterConnection), redis-rs 1.8 blocking Connection on its own thread (-sync; single-caller rows of one server only); fred 10.1 (one client; pool of 2) on -mt2");
        println!("# peers: tokio-postgres 0.7 (1 conn on -ct and -mt2; 2 conns on -ct and -mt2 for c64 rows), prepared statements; xitca-postgres 0.4 (1 conn on -ct and -mt2; 2 conns on -ct and -mt2 for c64 rows; no TLS row: its tls feature is not enabled), prepared statements, pipelined by issuing queries before awaiting them");
        println!(
            "# pipelines: one op = one command of the 64-command batch; p50/p99 are of the whole batch"
        );
    }
    println!("# allocs_per_op: counting allocator, whole client process; srv_us/op and srv% (of one core): /proc CPU of every local redis-server/postgres process over the window (10 ms ticks)");
    println!(
        "{:<22} {:<34} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "WORKLOAD",
        "CLIENT",
        "ops_per_sec",
        "p50_us",
        "p99_us",
        "cpu_us/op",
        "alloc/op",
        "srv_us/op",
        "srv%"
    );

    if needs_redis {
        redis_side::prepare(&redis_url)?;
    }
    if memcached.is_some() {
        memcached_side::prepare(&memcached_addr)?;
    }
    if !redis_cluster_seeds.is_empty() {
        redis_side::prepare_cluster(&redis_cluster_seeds)?;
    }
    if let Some((_, server)) = &tls_target {
        // Through the plain port of the same server.
        redis_side::prepare(&server.url())?;
    }
    let tmp = corelane_testkit::TempDir::new("corelane-compare")?;
    let ctx = Ctx {
        redis_url,
        redis_tls,
        redis_cluster_url,
        redis_cluster_seeds,
        database_url,
        tls,
        timing,
        workers: workers.clone(),
        one_worker: one_loop.as_ref().map(Loop::worker_set),
        memcached_addr,
    };
    let opts = RunOpts {
        quick: args.quick,
        rounds,
        clients: args.clients.as_deref(),
    };
    let mut run = Run::default();
    let mut outcome = Ok(());
    for w in workloads.iter().filter(|w| !w.is_web()) {
        if let Err(e) = run_workload(&ctx, *w, &opts, tmp.path(), &mut run) {
            outcome = Err(e);
            break;
        }
    }
    let web: Vec<Workload> = workloads.iter().copied().filter(|w| w.is_web()).collect();
    if outcome.is_ok() && !web.is_empty() {
        let web_opts = web_side::WebOpts {
            // wrk counts in whole seconds.
            rounds,
            seconds: match args.window_ms {
                Some(ms) => ms.div_ceil(1000).max(1),
                None if args.quick => 1,
                None => 5,
            },
            clients: args.clients.as_deref(),
        };
        if let Err(e) = web_side::run(&ctx, &web, &web_opts, &mut run) {
            println!("web: {e}");
            run.failures.push(format!("web: {e}"));
        }
    }
    println!();
    println!("## ratios (targets: get_c64, select1_c1, get_c1 >= 1.5x; pipe_p64, set_1k_c64, select1_c64 >= 1.3x; pg_pipe_p64 >= 2.5x; rows_1k >= 1.2x; cpu/op <= 0.5x)");
    for r in &run.ratios {
        println!("{r}");
    }
    for f in &run.failures {
        println!("FAILED: {f}");
    }
    if let Some(path) = &args.svg {
        let title =
            format!("corelane vs the peers at their best: compare, {rounds} round(s), medians");
        match std::fs::write(path, chart::svg(&run.charts, &title)) {
            Ok(()) => println!("# chart written to {}", path.display()),
            Err(e) => println!("FAILED: writing the chart to {}: {e}", path.display()),
        }
    }
    if run.hung {
        // A stuck worker cannot be joined: leave the loop to die with the process.
        std::mem::forget(ctx);
        std::mem::forget(workers);
        std::mem::forget(one_loop);
    }
    outcome
}
