//! One wrk run against one stack's endpoint, and what it cost: wrk's own numbers (requests/s,
//! p50, p99 from `--latency`), plus the CPU of wrk (RUSAGE_CHILDREN), of the stack process and
//! of the database servers (/proc) over the run.

use std::process::Command;
use std::time::Duration;

use crate::{ceiling, measure, sys};

/// wrk's threads: one per vCPU of this 2-vCPU machine.
pub const THREADS: u32 = 2;
/// Open connections: enough to keep two cores busy (and to give the database clients
/// concurrent requests to pipeline) without measuring mostly queueing.
pub const CONNECTIONS: u32 = 64;

/// What one run measured.
pub struct WrkSample {
    pub requests: u64,
    pub req_per_sec: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub wrk_cpu: Duration,
    pub stack_cpu: Duration,
    /// postgres + redis-server processes, when local.
    pub db_cpu: Option<Duration>,
    pub elapsed: Duration,
    /// `Socket errors: …` when wrk reported any.
    pub socket_errors: Option<String>,
}

/// Whether wrk is on PATH.
pub fn installed() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// Runs `wrk -t2 -c64 -dNs --latency URL` and measures CPU around it.
pub fn run(url: &str, seconds: u64, stack_pid: u32) -> Result<WrkSample, String> {
    let stack0 = sys::other_process_cpu(stack_pid).unwrap_or_default();
    let pg0 = measure::server_snapshot("postgres");
    let redis0 = measure::server_snapshot("redis-server");
    let wrk0 = ceiling::children_cpu();
    let t0 = std::time::Instant::now();
    let out = Command::new("wrk")
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{seconds}s"))
        .args(["--timeout", "10s", "--latency", url])
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let elapsed = t0.elapsed();
    let wrk_cpu = ceiling::children_cpu().saturating_sub(wrk0);
    let stack_cpu = sys::other_process_cpu(stack_pid)
        .unwrap_or_default()
        .saturating_sub(stack0);
    let pg = measure::server_cpu_between(&pg0, &measure::server_snapshot("postgres"));
    let redis = measure::server_cpu_between(&redis0, &measure::server_snapshot("redis-server"));
    let db_cpu = match (pg, redis) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
    {
        // A stack answering 500s fast would otherwise look good.
        return Err(format!("error replies: {}", line.trim()));
    }
    let req_per_sec = field(&text, "Requests/sec:")
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output: {text:?}"))?;
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no request count in wrk's output: {text:?}"))?;
    Ok(WrkSample {
        requests,
        req_per_sec,
        p50_us: field(&text, "50%").and_then(duration_us),
        p99_us: field(&text, "99%").and_then(duration_us),
        wrk_cpu,
        stack_cpu,
        db_cpu,
        elapsed,
        socket_errors: text
            .lines()
            .find(|l| l.contains("Socket errors:"))
            .map(|l| l.trim().to_owned()),
    })
}

/// The first word after `label` at the start of a (trimmed) line.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
}

/// wrk's durations (`812.00us`, `1.23ms`, `2.01s`, `1.50m`) in µs.
fn duration_us(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = v.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_latency_units() {
        assert_eq!(duration_us("812.00us"), Some(812.0));
        assert_eq!(duration_us("1.50ms"), Some(1500.0));
        assert_eq!(duration_us("2.00s"), Some(2e6));
        assert_eq!(duration_us("7"), None);
    }
}
