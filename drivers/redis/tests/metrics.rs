//! The `metrics` feature (issue 15): what a small workload publishes through the `metrics`
//! facade — calls by outcome (a timeout included), latencies, pipeline sizes, connects, and
//! the per-worker gauges — read back from a recorder that keeps everything.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use corelane_redis::{Client, Config, Pipeline};
use corelane_testkit::{install_metrics_recorder, FaultProxy, Mode, RedisServer};
use support::{block_on, guard, on_worker};

#[test]
fn a_small_workload_publishes_calls_latencies_pipelines_connects_and_gauges() {
    let recorder = install_metrics_recorder().expect("the only recorder of this test binary");

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

        let seen = recorder.snapshot(&[("db_system", "redis"), ("worker", "0")]);
        let calls = |outcome| seen.counter("corelane_calls_total", &[("outcome", outcome)]);
        assert_eq!(calls("ok"), 7, "6 SETs and the pipeline: {seen:#?}");
        assert_eq!(calls("server_error"), 1);
        assert_eq!(calls("timeout"), 1);
        assert_eq!(calls("cancelled"), 0);
        assert_eq!(seen.histogram_len("corelane_call_duration_seconds"), 9);
        assert_eq!(seen.histogram_len("corelane_pipeline_size"), 1);
        // The stalled connection was closed by its timeout; the next call reconnects.
        assert!(seen.counter("corelane_connects_total", &[]) >= 1);
        let direct = seen.counter("corelane_round_trips_total", &[("path", "direct")]);
        let bridged = seen.counter("corelane_round_trips_total", &[("path", "bridged")]);
        assert_eq!(direct + bridged, stats.workers[0].calls, "{seen:#?}");
        assert_eq!(
            seen.gauge("corelane_in_flight", &[]),
            Some(0.0),
            "{seen:#?}"
        );
        assert!(seen
            .gauge("corelane_connections", &[("state", "shared_open")])
            .is_some());
        // Bounded label sets: nothing carries a key or a command's arguments.
        for (name, keys) in seen.names_and_label_keys() {
            assert!(name.starts_with("corelane_"), "{name}");
            for k in keys {
                assert!(
                    ["db_system", "worker", "outcome", "path", "state"].contains(&k.as_str()),
                    "{name} has label {k}"
                );
            }
        }
    });
}
