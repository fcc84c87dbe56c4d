//! `Client::stats` and `Client::health` (issue 15): the counters a small workload leaves on
//! every path (answered, server error, timeout, cancelled, off the loop), and health against a
//! live, a stalled and a dead server.

use crate::support;

use std::time::Duration;

use crate::support::{
    block_on, client_at, client_for, guard, on_worker, shared_server, two_workers,
};
use corelane_testkit::{poll_once_then_drop, FaultProxy, Mode, PgServer};

#[test]
fn stats_count_every_outcome_on_the_worker_that_ran_the_call() {
    two_workers();
    guard("stats outcomes", || {
        let server = shared_server();
        let client = client_for(&server, |c| c);
        let workers = support::num_workers();

        let before = block_on(client.stats());
        assert_eq!(before.workers.len(), workers);
        assert_eq!(before.unanswered, 0);
        assert_eq!(before.total().calls, 0);

        let c = client.clone();
        on_worker(0, move || async move {
            // Warm: the statement is described (one call) and the connection open.
            let row = c.query_one("SELECT $1::int4 + 1", &[&1i32]).await.unwrap();
            assert_eq!(row.get::<i32>(0).unwrap(), 2);
            for i in 0..9i32 {
                let row = c.query_one("SELECT $1::int4 + 1", &[&i]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), i + 1);
            }
            let e = c.query("SELECT 1/0", &[]).await.unwrap_err();
            assert!(e.as_db_error().is_some(), "{e}");
            // Sent (on the warm fast path) and dropped: cancelled.
            poll_once_then_drop(Box::pin(c.query("SELECT $1::int4 + 1", &[&5i32])));
        });
        for i in 0..4i32 {
            let row = block_on(client.query_one("SELECT $1::int4 + 1", &[&i])).unwrap();
            assert_eq!(row.get::<i32>(0).unwrap(), i + 1);
        }

        let stats = block_on(client.stats());
        let w0 = &stats.workers[0];
        assert_eq!(w0.worker, Some(0));
        assert_eq!(w0.cancelled, 1, "{w0:?}");
        assert_eq!(w0.in_flight, 0, "{w0:?}");
        assert!(w0.connects >= 1, "{w0:?}");
        assert!(w0.connections.shared_open >= 1, "{w0:?}");
        let total = stats.total();
        assert_eq!(total.worker, None);
        assert_eq!(total.server_errors, 1, "{total:?}");
        assert_eq!(total.cancelled, 1, "{total:?}");
        assert_eq!(total.errors(), 1, "{total:?}");
        // 10 + 4 answered queries, plus the describes (prepare) each worker needed.
        assert!(total.ok >= 14, "{total:?}");
        assert_eq!(total.in_flight, 0, "{total:?}");
        assert_eq!(total.connect_failures, 0);
    });
}

#[test]
fn a_timeout_and_a_dead_server_are_counted_and_kept_as_the_last_error() {
    two_workers();
    guard("stats timeout", || {
        let server = PgServer::start().unwrap();
        let proxy = FaultProxy::start(server.addr()).unwrap();
        let client = client_at(proxy.addr(), |c| {
            c.query_timeout(Some(Duration::from_millis(300)))
                .connect_timeout(Duration::from_secs(1))
        });
        let c = client.clone();
        on_worker(1, move || async move {
            c.execute("SELECT 1", &[]).await.unwrap()
        });

        proxy.set_mode(Mode::Stall);
        let c = client.clone();
        let e = on_worker(1, move || async move {
            c.execute("SELECT 1", &[]).await.unwrap_err()
        });
        assert!(e.is_timeout(), "{e}");
        let health = block_on(client.health());
        let w1 = &health.workers[1 % support::num_workers()];
        assert!(w1.alive, "{w1:?}");
        assert!(
            !w1.server_reachable,
            "a stalled server is not reachable: {w1:?}"
        );
        assert!(!health.is_healthy());
        proxy.set_mode(Mode::PassThrough);
        let total = block_on(client.stats()).total();
        assert!(total.timeouts >= 1, "{total:?}");
        assert_eq!(total.in_flight, 0, "{total:?}");

        // The server goes away: connects fail and health says so on every worker.
        drop(proxy);
        drop(server);
        let health = block_on(client.health());
        assert!(!health.is_healthy());
        for w in &health.workers {
            assert!(w.alive, "{w:?}");
            assert!(!w.server_reachable, "{w:?}");
            assert!(w.last_error.is_some(), "{w:?}");
        }
    });
}

#[test]
fn health_is_good_with_a_live_server_on_and_off_the_loop() {
    two_workers();
    guard("health", || {
        let server = shared_server();
        let client = client_for(&server, |c| c);
        let health = block_on(client.health());
        assert!(health.is_healthy(), "{health:?}");
        assert_eq!(health.workers.len(), support::num_workers());
        for (n, w) in health.workers.iter().enumerate() {
            assert_eq!(w.worker, n);
            assert!(w.connections >= 1, "the probe opened a connection: {w:?}");
        }
        let c = client.clone();
        let on_loop = on_worker(0, move || async move { c.health().await });
        assert!(on_loop.is_healthy(), "{on_loop:?}");
        // The probes are not application calls.
        let stats = block_on(client.stats());
        assert_eq!(stats.total().calls, 0, "{stats:?}");
    });
}
