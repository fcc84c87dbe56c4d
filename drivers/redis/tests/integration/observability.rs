//! `Client::stats` and `Client::health` (issue 15): the counters a small workload leaves, on
//! every path — answered, server error, timeout, cancelled, off the loop — and health against a
//! live, a stalled and a dead server.

use crate::support;

use std::time::Duration;

use crate::support::{block_on, guard, on_worker};
use corelane_redis::{Client, Config};
use corelane_testkit::{poll_once_then_drop, FaultProxy, Mode, RedisServer};

#[test]
fn stats_count_every_outcome_on_the_worker_that_ran_the_call() {
    guard("stats outcomes", || {
        let server = RedisServer::start().unwrap();
        let client = Client::new(Config::from_url(&server.url()).unwrap()).unwrap();
        let workers = support::num_workers();

        // Nothing used yet: every worker answers, with zeros.
        let before = block_on(client.stats());
        assert_eq!(before.workers.len(), workers);
        assert_eq!(before.unanswered, 0);
        assert_eq!(before.total().calls, 0);

        // On worker 0: 10 answered calls, 1 server error, 1 cancelled.
        let c = client.clone();
        on_worker(0, move || async move {
            for i in 0..10 {
                c.set::<()>(format!("k{i}"), i).await.unwrap();
            }
            c.set::<()>("text", "not a number").await.unwrap();
            let e = c.incr::<i64>("text").await.unwrap_err();
            assert!(e.server_error().is_some(), "{e}");
            poll_once_then_drop(Box::pin(c.get::<Option<String>>("k1")));
        });
        // Off the loop: 4 calls, spread over the workers by the mailbox path.
        for i in 0..4 {
            let v: Option<i64> = block_on(client.get(format!("k{i}"))).unwrap();
            assert_eq!(v, Some(i));
        }

        let stats = block_on(client.stats());
        let w0 = &stats.workers[0];
        assert_eq!(w0.worker, Some(0));
        // 11 SETs + INCR + the dropped GET on worker 0, plus its share of the 4 off-loop GETs.
        assert!(w0.calls >= 13, "{w0:?}");
        assert_eq!(w0.server_errors, 1, "{w0:?}");
        assert_eq!(w0.cancelled, 1, "{w0:?}");
        assert_eq!(w0.in_flight, 0, "{w0:?}");
        assert!(w0.connects >= 1, "{w0:?}");
        assert!(w0.connections.shared_open >= 1, "{w0:?}");
        let total = stats.total();
        assert_eq!(total.worker, None);
        assert_eq!(total.calls, 13 + 4, "{total:?}");
        assert_eq!(total.ok, 11 + 4, "{total:?}");
        assert_eq!(total.errors(), 1, "{total:?}");
        assert_eq!(
            total.round_trips.direct + total.round_trips.bridged,
            total.calls,
            "every call is one round trip: {total:?}"
        );
        // The dropped GET's reply was read and thrown away: a handoff.
        assert_eq!(total.round_trips.handoffs, 1, "{total:?}");
        assert_eq!(total.connect_failures, 0);
    });
}

#[test]
fn a_timeout_and_a_dead_server_are_counted_and_kept_as_the_last_error() {
    guard("stats timeout", || {
        let server = RedisServer::start().unwrap();
        let proxy = FaultProxy::start(server.addr()).unwrap();
        let config = Config::from_url(&format!("redis://{}", proxy.addr()))
            .unwrap()
            .command_timeout(Some(Duration::from_millis(200)))
            .connect_timeout(Duration::from_millis(500));
        let client = Client::new(config).unwrap();
        let c = client.clone();
        on_worker(1, move || async move { c.ping::<String>().await.unwrap() });

        proxy.set_mode(Mode::Stall);
        let c = client.clone();
        let e = on_worker(
            1,
            move || async move { c.ping::<String>().await.unwrap_err() },
        );
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
        let stats = block_on(client.stats());
        let total = stats.total();
        assert!(total.timeouts >= 1, "{total:?}");
        assert_eq!(total.in_flight, 0, "{total:?}");

        // The server goes away: connects fail and health says so.
        drop(proxy);
        drop(server);
        let c = client.clone();
        let e = on_worker(
            1,
            move || async move { c.ping::<String>().await.unwrap_err() },
        );
        assert!(e.is_connect() || e.is_closed(), "{e}");
        let health = block_on(client.health());
        assert!(!health.is_healthy());
        for w in &health.workers {
            assert!(w.alive, "{w:?}");
            assert!(!w.server_reachable, "{w:?}");
            assert!(w.last_error.is_some(), "{w:?}");
        }
        let total = block_on(client.stats()).total();
        assert!(total.connect_failures >= 1, "{total:?}");
    });
}

#[test]
fn health_is_good_with_a_live_server_on_and_off_the_loop() {
    guard("health", || {
        let server = RedisServer::start().unwrap();
        let client = Client::new(Config::from_url(&server.url()).unwrap()).unwrap();
        let health = block_on(client.health());
        assert!(health.is_healthy(), "{health:?}");
        assert_eq!(health.workers.len(), support::num_workers());
        for (n, w) in health.workers.iter().enumerate() {
            assert_eq!(w.worker, n);
            assert!(w.connections >= 1, "the probe opened a connection: {w:?}");
            assert!(w.last_error.is_none(), "{w:?}");
        }
        // From a worker too (it waits for its own answer without blocking itself).
        let c = client.clone();
        let on_loop = on_worker(0, move || async move { c.health().await });
        assert!(on_loop.is_healthy(), "{on_loop:?}");
        let c = client.clone();
        let stats = on_worker(1, move || async move { c.stats().await });
        assert_eq!(stats.workers.len(), support::num_workers());
        // The probe's PINGs are not application calls: not counted as calls.
        assert_eq!(stats.total().calls, 0, "{stats:?}");
    });
}
