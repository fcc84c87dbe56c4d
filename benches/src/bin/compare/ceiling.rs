//! The C tools as a ceiling (not peers): redis-benchmark and pgbench, run as subprocesses on
//! the same queries, their ops/s parsed from their output.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::measure::{histogram, Timing};
use crate::{pg_side, redis_side, Workload};

/// One ceiling line.
pub struct Ceiling {
    pub name: String,
    pub ops_per_sec: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// CPU of the tool (RUSAGE_CHILDREN delta) per op, connection setup included.
    pub cpu_us_per_op: Option<f64>,
}

fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// CPU of this process's reaped children so far (wrk, the C tools).
pub fn children_cpu() -> Duration {
    // SAFETY: rusage is plain data; zeroed is valid and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid and writable.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs `cmd`, waits for it, and returns its stdout plus the CPU it used.
fn run(cmd: &mut Command) -> Result<(String, Duration), String> {
    let before = children_cpu();
    let out = cmd.output().map_err(|e| e.to_string())?;
    let cpu = children_cpu().saturating_sub(before);
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), cpu))
}

/// `host`, `port` and password of a `redis://[user:pass@]host[:port][/db]` URL.
fn redis_target(url: &str) -> (String, u16, Option<String>) {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .unwrap_or(url);
    let (auth, hostport) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let hostport = hostport.split('/').next().unwrap_or(hostport);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(6379)),
        None => (hostport.to_owned(), 6379),
    };
    let password = auth
        .map(|a| a.rsplit_once(':').map_or(a, |(_, p)| p).to_owned())
        .filter(|p| !p.is_empty());
    (host, port, password)
}

/// redis-benchmark on the same command as `workload`, or `None` when not installed / no match.
pub fn redis_benchmark(
    url: &str,
    workload: Workload,
    quick: bool,
) -> Option<Result<Ceiling, String>> {
    if !installed("redis-benchmark") {
        return None;
    }
    let (host, port, password) = redis_target(url);
    let scale = if quick { 10 } else { 1 };
    let value = "x".repeat(redis_side::SET_SIZE);
    let (clients, pipeline, requests, command): (u32, u32, u64, Vec<&str>) = match workload {
        Workload::RedisGetC1 => (1, 1, 150_000, vec!["GET", redis_side::KEY]),
        Workload::RedisGetC64 => (64, 1, 800_000, vec!["GET", redis_side::KEY]),
        Workload::RedisPipeP64 => (1, 64, 5_000_000, vec!["GET", redis_side::KEY]),
        Workload::RedisSet1kC64 => (64, 1, 600_000, vec!["SET", "key:__rand_int__", &value]),
        _ => return None,
    };
    let mut cmd = Command::new("redis-benchmark");
    cmd.args(["-h", &host, "-p", &port.to_string()])
        .args(["-c", &clients.to_string(), "-P", &pipeline.to_string()])
        .args(["-n", &(requests / scale).to_string(), "-r", "64", "--csv"]);
    if let Some(p) = &password {
        cmd.args(["-a", p]);
    }
    cmd.args(&command);
    let name = format!("redis-benchmark -c{clients} -P{pipeline}");
    Some(run(&mut cmd).and_then(|(out, cpu)| {
        // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
        let line = out
            .lines()
            .find(|l| !l.starts_with("\"test\""))
            .ok_or_else(|| format!("no result in {out:?}"))?;
        let fields: Vec<f64> = line
            .split("\",\"")
            .skip(1)
            .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
            .collect();
        let rps = fields.first().copied().ok_or("no rps")?;
        let ops = requests / scale;
        Ok(Ceiling {
            name,
            ops_per_sec: rps,
            p50_us: fields.get(3).map(|ms| ms * 1000.0),
            p99_us: fields.get(5).map(|ms| ms * 1000.0),
            cpu_us_per_op: Some(cpu.as_secs_f64() * 1e6 / ops as f64),
        })
    }))
}

/// pgbench with a script matching `workload`, or `None` when not installed / no match.
pub fn pgbench(
    url: &str,
    workload: Workload,
    timing: Timing,
    dir: &Path,
) -> Option<Result<Ceiling, String>> {
    if !installed("pgbench") {
        return None;
    }
    let select = "SELECT :x::int;\n";
    let (clients, per_tx, body) = match workload {
        Workload::PgSelect1C1 => (1, 1, select.to_owned()),
        Workload::PgSelect1C64 | Workload::PgSelect1C64Tls => (64, 1, select.to_owned()),
        Workload::PgPipeP64 => (
            1,
            pg_side::PIPE,
            format!(
                "\\startpipeline\n{}\\endpipeline\n",
                select.repeat(pg_side::PIPE)
            ),
        ),
        Workload::PgRows1k => (1, 1, format!("{};\n", pg_side::ROWS)),
        _ => return None,
    };
    Some(pgbench_run(
        url, workload, timing, dir, clients, per_tx, &body,
    ))
}

fn pgbench_run(
    url: &str,
    workload: Workload,
    timing: Timing,
    dir: &Path,
    clients: usize,
    per_tx: usize,
    body: &str,
) -> Result<Ceiling, String> {
    let script = dir.join(format!("{}.sql", workload.name()));
    std::fs::write(&script, format!("\\set x random(1, 1000000)\n{body}"))
        .map_err(|e| e.to_string())?;
    let prefix = dir.join(format!("log-{}", workload.name()));
    let secs = timing.window.as_secs().max(1);
    let mut cmd = Command::new("pgbench");
    cmd.args(["-n", "-M", "prepared", "-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string(), "-T", &secs.to_string()])
        .arg("-f")
        .arg(&script)
        .arg("-l")
        .arg("--log-prefix")
        .arg(&prefix)
        .arg(url);
    let (out, cpu) = run(&mut cmd)?;
    // "number of transactions actually processed: N" / "tps = X (without initial connection time)"
    let processed: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("no transaction count in {out:?}"))?;
    let tps: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no tps in {out:?}"))?;
    // Per-transaction log lines: client_id transaction_no time_us script_no epoch epoch_us.
    let mut hist = histogram()?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let is_log = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("log-{}", workload.name())));
            if !is_log {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                for line in text.lines() {
                    if let Some(us) = line
                        .split_whitespace()
                        .nth(2)
                        .and_then(|s| s.parse::<u64>().ok())
                    {
                        hist.saturating_record(us.max(1) * 1000);
                    }
                }
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    let ops = processed * per_tx as u64;
    let (p50, p99) = if hist.is_empty() {
        (None, None)
    } else {
        (
            Some(hist.value_at_quantile(0.5) as f64 / 1000.0),
            Some(hist.value_at_quantile(0.99) as f64 / 1000.0),
        )
    };
    Ok(Ceiling {
        name: format!(
            "pgbench -c{clients}{}",
            if clients > 1 { " (conns)" } else { "" }
        ),
        ops_per_sec: tps * per_tx as f64,
        p50_us: p50,
        p99_us: p99,
        cpu_us_per_op: Some(cpu.as_secs_f64() * 1e6 / ops.max(1) as f64),
    })
}
