//! The web rows: the four HTTP stacks of `examples/web` (corelane on its workers, axum with
//! corelane's clients off the loop, axum + tokio-postgres + redis-rs, xitca-web +
//! xitca-postgres + redis-rs thread-per-core on tokio) under wrk, endpoint by
//! endpoint, rounds interleaved over stacks × endpoints.

use std::time::Duration;

use crate::web_stacks::{self, Stack};
use crate::web_wrk::{self, WrkSample};
use crate::{kind_of, median_by, print_row, Ctx, Line, Numbers, Run, Workload};

/// The request path of a web workload.
pub fn path(workload: Workload) -> &'static str {
    match workload {
        Workload::WebPlaintext => "/plaintext",
        Workload::WebJson => "/json",
        Workload::WebDb => "/db",
        Workload::WebQueries20 => "/queries?q=20",
        Workload::WebUpdates20 => "/updates?q=20",
        Workload::WebFortunes => "/fortunes",
        _ => "/cached-queries?q=20",
    }
}

/// How the web rows run.
pub struct WebOpts<'a> {
    pub rounds: usize,
    /// wrk's `-d`, whole seconds (wrk's unit).
    pub seconds: u64,
    pub clients: Option<&'a [String]>,
}

/// Runs `workloads` (all web) on every wanted stack and prints their rows and ratios.
pub fn run(
    ctx: &Ctx,
    workloads: &[Workload],
    opts: &WebOpts<'_>,
    run: &mut Run,
) -> Result<(), String> {
    if !web_wrk::installed() {
        println!("# web rows skipped: wrk is not installed (apt-get install -y wrk)");
        return Ok(());
    }
    let dir = web_stacks::build()?;
    // Tables created and filled once, by the same code the stacks run at start (which then
    // find them filled).
    let pg = corelane_postgres::Client::connect(&ctx.database_url).map_err(|e| e.to_string())?;
    let redis = corelane_redis::Client::open(&ctx.redis_url).map_err(|e| e.to_string())?;
    futures_lite::future::block_on(async {
        corelane_web::setup::create_tables(&pg).await?;
        corelane_web::setup::fill_cache(&pg, &redis).await
    })
    .map_err(|e| e.to_string())?;
    let mut stacks = Vec::new();
    for kind in web_stacks::STACKS {
        if opts
            .clients
            .is_none_or(|c| c.iter().any(|n| n == kind.client))
        {
            for workers in worker_counts() {
                stacks.push(Stack::start(
                    kind,
                    workers,
                    &dir,
                    &ctx.database_url,
                    &ctx.redis_url,
                )?);
            }
        }
    }
    println!(
        "# web: wrk -t{} -c{} -d{}s --latency (no Lua, no pipelining) per endpoint and stack; 1 s warm-up per pair in round 1; stacks: {}",
        web_wrk::THREADS,
        web_wrk::CONNECTIONS,
        opts.seconds,
        stacks
            .iter()
            .map(|s| format!(
                "{} x{} (bin {}, :{})",
                s.kind.client, s.workers, s.kind.binary, s.port
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("# web columns: ops_per_sec = requests/s; cpu_us/op = stack process + wrk CPU per request; srv_us/op, srv% = postgres + redis-server; each stack's row is its faster worker count (xN: N worker threads)");
    let mut samples: Vec<Vec<Vec<WrkSample>>> = workloads
        .iter()
        .map(|_| stacks.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 0..opts.rounds {
        for (w, workload) in workloads.iter().enumerate() {
            for (s, stack) in stacks.iter().enumerate() {
                if *workload == Workload::WebCached20 {
                    // /updates dropped cache entries: every stack starts its cached run warm.
                    futures_lite::future::block_on(corelane_web::setup::fill_cache(&pg, &redis))
                        .map_err(|e| e.to_string())?;
                }
                let url = format!("http://127.0.0.1:{}{}", stack.port, path(*workload));
                if round == 0 {
                    // Connections opened, statements prepared, caches and pools filled.
                    let _ = web_wrk::run(&url, 1, stack.pid());
                }
                match web_wrk::run(&url, opts.seconds, stack.pid()) {
                    Ok(sample) => samples[w][s].push(sample),
                    Err(e) => {
                        println!("{:<22} {:<34} {e}", workload.name(), stack.kind.client);
                        run.failures.push(format!(
                            "{} {}: {e}",
                            workload.name(),
                            stack.kind.client
                        ));
                    }
                }
            }
        }
    }
    for (workload, per_stack) in workloads.iter().zip(samples) {
        let medians: Vec<(&Stack, WrkSample)> = stacks
            .iter()
            .zip(per_stack)
            .filter_map(|(stack, list)| Some((stack, median_by(list, |s| s.req_per_sec)?)))
            .collect();
        let mut lines = Vec::new();
        for kind in web_stacks::STACKS {
            let mine: Vec<&(&Stack, WrkSample)> = medians
                .iter()
                .filter(|(stack, _)| stack.kind.client == kind.client)
                .collect();
            for (stack, sample) in &mine {
                println!(
                    "#   {} {} x{}: {:.0} req/s, p50 {} us, p99 {} us, {:.1} us/req (stack + wrk)",
                    workload.name(),
                    kind.client,
                    stack.workers,
                    sample.req_per_sec,
                    micros(sample.p50_us),
                    micros(sample.p99_us),
                    per_request(sample.stack_cpu + sample.wrk_cpu, sample.requests)
                );
            }
            let best = mine
                .into_iter()
                .max_by(|a, b| a.1.req_per_sec.total_cmp(&b.1.req_per_sec));
            if let Some((stack, sample)) = best {
                lines.push(report(*workload, kind.client, stack.workers, sample));
            }
        }
        run.record(*workload, lines);
    }
    // `stacks` drop here: SIGTERM, drained, stopped.
    Ok(())
}

fn per_request(d: Duration, requests: u64) -> f64 {
    d.as_secs_f64() * 1e6 / requests.max(1) as f64
}

fn micros(us: Option<f64>) -> String {
    us.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

/// The worker counts every stack runs with: one, and one per CPU.
fn worker_counts() -> Vec<usize> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus > 1 {
        vec![1, cpus]
    } else {
        vec![1]
    }
}

fn report(workload: Workload, client: &str, workers: usize, s: &WrkSample) -> Line {
    let cpu = per_request(s.stack_cpu + s.wrk_cpu, s.requests);
    print_row(
        workload,
        client,
        Numbers {
            ops: s.req_per_sec,
            p50: s.p50_us,
            p99: s.p99_us,
            cpu: Some(cpu),
            allocs: None,
            server: s.db_cpu.map(|d| per_request(d, s.requests)),
            server_util: s
                .db_cpu
                .map(|d| d.as_secs_f64() * 100.0 / s.elapsed.as_secs_f64()),
        },
    );
    println!(
        "#   {} {client} (best: x{workers}): stack {:.1} us/req, wrk {:.1} us/req{}",
        workload.name(),
        per_request(s.stack_cpu, s.requests),
        per_request(s.wrk_cpu, s.requests),
        s.socket_errors
            .as_ref()
            .map(|e| format!(", {e}"))
            .unwrap_or_default()
    );
    Line {
        client: client.to_owned(),
        kind: kind_of(client),
        ops_per_sec: s.req_per_sec,
        cpu_us_per_op: Some(cpu),
    }
}
