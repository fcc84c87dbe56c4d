//! The `metrics` feature (issue 15): what a small workload publishes through the `metrics`
//! facade — statements by outcome (a timeout included), latencies, pipeline sizes, connects,
//! and the per-worker gauges — read back from a recorder that keeps everything.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use corelane_testkit::{install_metrics_recorder, FaultProxy, Mode, PgServer};
use support::{block_on, client_at, guard, on_worker, two_workers};

#[test]
fn a_small_workload_publishes_calls_latencies_pipelines_connects_and_gauges() {
    two_workers();
    let recorder = install_metrics_recorder().expect("the only recorder of this test binary");

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

        let seen = recorder.snapshot(&[("db_system", "postgresql"), ("worker", "0")]);
        let calls = |outcome| seen.counter("corelane_calls_total", &[("outcome", outcome)]);
        let w0 = &stats.workers[0];
        assert_eq!(calls("ok"), w0.ok, "{seen:#?}");
        assert!(calls("ok") >= 6, "5 queries and the pipeline: {seen:#?}");
        assert_eq!(calls("server_error"), 1);
        assert_eq!(calls("timeout"), 1);
        assert_eq!(
            seen.histogram_len("corelane_call_duration_seconds") as u64,
            w0.calls
        );
        assert_eq!(seen.histogram_len("corelane_pipeline_size"), 1);
        assert!(seen.counter("corelane_connects_total", &[]) >= 1);
        assert_eq!(
            seen.gauge("corelane_in_flight", &[]),
            Some(0.0),
            "{seen:#?}"
        );
        assert!(seen
            .gauge("corelane_connections", &[("state", "shared_open")])
            .is_some());
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
