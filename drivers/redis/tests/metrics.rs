//! The `metrics` feature (issue 15): what a small workload publishes through the `metrics`
//! facade — calls by outcome (a timeout included), latencies, pipeline sizes, connects, and
//! the per-worker gauges — read back from a recorder that keeps everything.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use corelane_redis::{Client, Config, Pipeline};
use corelane_testkit::{FaultProxy, Mode, RedisServer};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use support::{block_on, guard, on_worker};

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
    let mut pairs = vec![("db_system", "redis"), ("worker", "0")];
    pairs.extend_from_slice(extra);
    match seen.get(&(MetricKind::Counter, name.to_owned(), labels(&pairs))) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{name}: {other:?}"),
    }
}

fn histogram_len(seen: &Seen, name: &str) -> usize {
    let pairs = [("db_system", "redis"), ("worker", "0")];
    match seen.get(&(MetricKind::Histogram, name.to_owned(), labels(&pairs))) {
        Some(DebugValue::Histogram(values)) => values.len(),
        None => 0,
        other => panic!("{name}: {other:?}"),
    }
}

fn gauge(seen: &Seen, name: &str, extra: &[(&str, &str)]) -> Option<f64> {
    let mut pairs = vec![("db_system", "redis"), ("worker", "0")];
    pairs.extend_from_slice(extra);
    match seen.get(&(MetricKind::Gauge, name.to_owned(), labels(&pairs))) {
        Some(DebugValue::Gauge(v)) => Some(v.into_inner()),
        None => None,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn a_small_workload_publishes_calls_latencies_pipelines_connects_and_gauges() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    guard("metrics", move || {
        let server = RedisServer::start().unwrap();
        let proxy = FaultProxy::start(server.addr()).unwrap();
        let config = Config::from_url(&format!("redis://{}", proxy.addr()))
            .unwrap()
            .command_timeout(Some(Duration::from_millis(200)));
        let client = Client::new(config).unwrap();

        let c = client.clone();
        on_worker(0, move || async move {
            for i in 0..5 {
                c.set::<()>(format!("m{i}"), i).await.unwrap();
            }
            c.set::<()>("text", "x").await.unwrap();
            assert!(c.incr::<i64>("text").await.is_err());
            let mut pipe = Pipeline::new();
            pipe.get("m0").get("m1").get("m2");
            let got: (i64, i64, i64) = c.pipeline(&pipe).await.unwrap();
            assert_eq!(got, (0, 1, 2));
        });
        proxy.set_mode(Mode::Stall);
        let c = client.clone();
        let e = on_worker(
            0,
            move || async move { c.ping::<String>().await.unwrap_err() },
        );
        assert!(e.is_timeout(), "{e}");
        proxy.set_mode(Mode::PassThrough);
        // Refreshes the gauges (they are also published every second).
        let stats = block_on(client.stats());

        let seen = read(&snapshotter);
        let calls = |outcome| counter(&seen, "corelane_calls_total", &[("outcome", outcome)]);
        assert_eq!(calls("ok"), 7, "6 SETs and the pipeline: {seen:#?}");
        assert_eq!(calls("server_error"), 1);
        assert_eq!(calls("timeout"), 1);
        assert_eq!(calls("cancelled"), 0);
        assert_eq!(histogram_len(&seen, "corelane_call_duration_seconds"), 9);
        assert_eq!(histogram_len(&seen, "corelane_pipeline_size"), 1);
        // The stalled connection was closed by its timeout; the next call reconnects.
        assert!(counter(&seen, "corelane_connects_total", &[]) >= 1);
        let direct = counter(&seen, "corelane_round_trips_total", &[("path", "direct")]);
        let bridged = counter(&seen, "corelane_round_trips_total", &[("path", "bridged")]);
        assert_eq!(direct + bridged, stats.workers[0].calls, "{seen:#?}");
        assert_eq!(
            gauge(&seen, "corelane_in_flight", &[]),
            Some(0.0),
            "{seen:#?}"
        );
        assert!(gauge(&seen, "corelane_connections", &[("state", "shared_open")]).is_some());
        // Bounded label sets: nothing carries a key or a command's arguments.
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
