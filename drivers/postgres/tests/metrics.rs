//! The `metrics` feature (issue 15): what a small workload publishes through the `metrics`
//! facade — statements by outcome (a timeout included), latencies, pipeline sizes, connects,
//! and the per-worker gauges — read back from a recorder that keeps everything.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use corelane_testkit::{FaultProxy, Mode, PgServer};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use support::{block_on, client_at, guard, on_worker, two_workers};

/// `(kind, name, sorted labels)` → value, summed where several keys collapse.
type Seen = HashMap<(MetricKind, String, Vec<(String, String)>), DebugValue>;

fn read(snapshotter: &Snapshotter) -> Seen {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            ((kind, key.name().to_owned(), labels), value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    v.sort();
    v
}

fn counter(seen: &Seen, name: &str, extra: &[(&str, &str)]) -> u64 {
    let mut pairs = vec![("db_system", "postgresql"), ("worker", "0")];
    pairs.extend_from_slice(extra);
    match seen.get(&(MetricKind::Counter, name.to_owned(), labels(&pairs))) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{name}: {other:?}"),
    }
}

fn histogram_len(seen: &Seen, name: &str) -> usize {
    let pairs = [("db_system", "postgresql"), ("worker", "0")];
    match seen.get(&(MetricKind::Histogram, name.to_owned(), labels(&pairs))) {
        Some(DebugValue::Histogram(values)) => values.len(),
        None => 0,
        other => panic!("{name}: {other:?}"),
    }
}

fn gauge(seen: &Seen, name: &str, extra: &[(&str, &str)]) -> Option<f64> {
    let mut pairs = vec![("db_system", "postgresql"), ("worker", "0")];
    pairs.extend_from_slice(extra);
    match seen.get(&(MetricKind::Gauge, name.to_owned(), labels(&pairs))) {
        Some(DebugValue::Gauge(v)) => Some(v.into_inner()),
        None => None,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn a_small_workload_publishes_calls_latencies_pipelines_connects_and_gauges() {
    two_workers();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    guard("metrics", move || {
        let server = PgServer::start().unwrap();
        let proxy = FaultProxy::start(server.addr()).unwrap();
        let client = client_at(proxy.addr(), |c| {
            c.query_timeout(Some(Duration::from_millis(300)))
        });
        let c = client.clone();
        on_worker(0, move || async move {
            for i in 0..5i32 {
                let row = c.query_one("SELECT $1::int4", &[&i]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), i);
            }
            assert!(c.execute("SELECT 1/0", &[]).await.is_err());
            let one = 1i32;
            let items: [(&str, &[&(dyn corelane_postgres::ToSql + Sync)]); 2] =
                [("SELECT $1::int4", &[&one]), ("SELECT 2", &[])];
            let outcomes = c.pipeline(&items).await.unwrap();
            assert!(outcomes.iter().all(|o| o.is_ok()));
        });
        proxy.set_mode(Mode::Stall);
        let c = client.clone();
        let e = on_worker(0, move || async move {
            c.execute("SELECT 3", &[]).await.unwrap_err()
        });
        assert!(e.is_timeout(), "{e}");
        proxy.set_mode(Mode::PassThrough);
        let stats = block_on(client.stats());

        let seen = read(&snapshotter);
        let calls = |outcome| counter(&seen, "corelane_calls_total", &[("outcome", outcome)]);
        let w0 = &stats.workers[0];
        assert_eq!(calls("ok"), w0.ok, "{seen:#?}");
        assert!(calls("ok") >= 6, "5 queries and the pipeline: {seen:#?}");
        assert_eq!(calls("server_error"), 1);
        assert_eq!(calls("timeout"), 1);
        assert_eq!(
            histogram_len(&seen, "corelane_call_duration_seconds") as u64,
            w0.calls
        );
        assert_eq!(histogram_len(&seen, "corelane_pipeline_size"), 1);
        assert!(counter(&seen, "corelane_connects_total", &[]) >= 1);
        assert_eq!(
            gauge(&seen, "corelane_in_flight", &[]),
            Some(0.0),
            "{seen:#?}"
        );
        assert!(gauge(&seen, "corelane_connections", &[("state", "shared_open")]).is_some());
        for (_, name, labels) in seen.keys() {
            assert!(name.starts_with("corelane_"), "{name}");
            for (k, _) in labels {
                assert!(
                    ["db_system", "worker", "outcome", "path", "state"].contains(&k.as_str()),
                    "{name} has label {k}"
                );
            }
        }
    });
}
