//! The connection budget (issue 13): `Config::max_connections` bounds what the server sees of
//! one client (counted in `pg_stat_activity` by application name), transactions past a
//! worker's share wait (and show in `stats().waiting`) until one ends, and a wait past
//! `acquire_timeout` fails with a typed error naming the pool.

use std::time::Duration;

use crate::support::{
    block_on, client_for, guard, num_workers, on_worker, shared_server, two_workers,
};
use corelane_postgres::{Client, Config, PoolKind, TransactionHandle, TransactionOptions};

/// Backends the server has for `application_name`, counted through `observer`.
fn backends(observer: &Client, app: &str) -> i64 {
    block_on(observer.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
        &[&app],
    ))
    .unwrap()
    .get(0)
    .unwrap()
}

/// Begins a transaction on worker `w` and returns its handle.
fn begin_on(client: &Client, w: usize) -> TransactionHandle {
    let c = client.clone();
    on_worker(w, move || async move { c.begin().await }).unwrap()
}

/// Waits (bounded by the test's hang guard) until worker `w` of `client` reports `n` callers
/// waiting for a connection.
fn wait_for_waiting(client: &Client, w: usize, n: usize) {
    loop {
        let stats = block_on(client.stats());
        if stats.workers[w].connections.waiting == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn transactions_past_the_budget_wait_and_the_server_never_sees_more() {
    two_workers();
    guard("budget wait", || {
        let server = shared_server();
        let workers = num_workers();
        let budget = 2 * workers;
        let app = "corelane-budget-wait";
        let client = client_for(&server, |c| c.application_name(app).max_connections(budget));
        let observer = client_for(&server, |c| c.application_name("corelane-budget-observer"));

        // Each worker: its one shared connection, then its one exclusive one.
        for w in 0..workers {
            let c = client.clone();
            let one: i32 = on_worker(w, move || async move {
                c.query_one("SELECT 1", &[]).await?.get(0)
            })
            .unwrap();
            assert_eq!(one, 1);
        }
        let held: Vec<TransactionHandle> = (0..workers).map(|w| begin_on(&client, w)).collect();
        assert_eq!(backends(&observer, app), budget as i64);

        // A second transaction on worker 0 has no room: it waits.
        let c = client.clone();
        let workers_of_loop = corelane_runtime::resolve(None).unwrap();
        let second = workers_of_loop
            .worker(0)
            .unwrap()
            .spawn(move || async move { c.begin().await });
        wait_for_waiting(&client, 0, 1);
        let stats = block_on(client.stats());
        let w0 = stats.workers[0].connections;
        assert_eq!(
            (w0.shared_open, w0.exclusive_open, w0.exclusive_in_use),
            (1, 1, 1),
            "{w0:?}"
        );
        let total = stats.total().connections;
        assert_eq!(total.total(), budget, "{total:?}");
        assert_eq!(total.waiting, 1, "{total:?}");
        assert_eq!(backends(&observer, app), budget as i64);

        // Worker 0's transaction ends: the waiter gets its connection (the same one).
        let mut held = held.into_iter();
        let first = held.next().unwrap();
        block_on(first.execute("CREATE TEMP TABLE budget_probe (x int)", &[])).unwrap();
        block_on(first.commit()).unwrap();
        let second = block_on(second).unwrap().unwrap();
        // The connection was reset for it (DISCARD ALL dropped the temp table).
        let row = block_on(second.query_one(
            "SELECT count(*) FROM pg_class WHERE relname = 'budget_probe'",
            &[],
        ))
        .unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 0);
        let stats = block_on(client.stats()).total().connections;
        assert_eq!(stats.waiting, 0, "{stats:?}");
        assert_eq!(stats.total(), budget, "{stats:?}");
        assert_eq!(backends(&observer, app), budget as i64);

        block_on(second.commit()).unwrap();
        for tx in held {
            block_on(tx.rollback()).unwrap();
        }
        // Many more transactions than the budget at once, from threads (each through a
        // worker's mailbox, round-robin): they take turns, and the server sees the budget.
        let threads: Vec<_> = (0..4 * budget as i32)
            .map(|i| {
                let c = client.clone();
                std::thread::spawn(move || {
                    block_on(
                        c.transaction(TransactionOptions::new(), move |tx| async move {
                            tx.execute("SELECT pg_sleep(0.02)", &[]).await?;
                            tx.query_one("SELECT $1::int4 + 1", &[&i])
                                .await?
                                .get::<i32>(0)
                        }),
                    )
                })
            })
            .collect();
        let sums: Vec<i32> = threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        assert_eq!(sums, (1..=4 * budget as i32).collect::<Vec<_>>());
        assert_eq!(backends(&observer, app), budget as i64);
        assert_eq!(block_on(client.stats()).total().connections.total(), budget);
    });
}

#[test]
fn a_wait_past_the_acquire_timeout_fails_naming_the_exclusive_pool() {
    two_workers();
    guard("budget timeout", || {
        let server = shared_server();
        let workers = num_workers();
        let client = client_for(&server, |c| {
            c.application_name("corelane-budget-timeout")
                .max_connections(2 * workers)
                .acquire_timeout(Some(Duration::from_millis(200)))
        });
        let held = begin_on(&client, 0);
        let c = client.clone();
        let e = on_worker(0, move || async move { c.begin().await }).unwrap_err();
        assert!(e.is_pool_timeout(), "{e}");
        assert!(!e.is_timeout() && !e.is_connect(), "{e}");
        assert_eq!(e.pool_timeout(), Some(PoolKind::Exclusive));
        assert!(e.to_string().contains("exclusive"), "{e}");
        let c = client.clone();
        let e = on_worker(0, move || async move {
            c.transaction(TransactionOptions::new(), |_tx| async move { Ok(()) })
                .await
        })
        .unwrap_err();
        assert_eq!(e.pool_timeout(), Some(PoolKind::Exclusive), "{e}");
        // The shared pool has its own share: queries still run on worker 0.
        let c = client.clone();
        let one: i32 = on_worker(0, move || async move {
            c.query_one("SELECT 1", &[]).await?.get(0)
        })
        .unwrap();
        assert_eq!(one, 1);
        // Once the held transaction ends, worker 0 begins again.
        block_on(held.rollback()).unwrap();
        let again = begin_on(&client, 0);
        block_on(again.commit()).unwrap();
    });
}

#[test]
fn a_budget_below_two_per_worker_is_refused_when_the_client_is_made() {
    two_workers();
    let server = shared_server();
    let workers = num_workers();
    let config = Config::parse(&server.url())
        .unwrap()
        .max_connections(2 * workers - 1);
    let e = Client::new(config).unwrap_err();
    assert!(e.is_config(), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("max_connections ({})", 2 * workers - 1)),
        "{text}"
    );
    // The same from a connection string.
    let url = server.url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let e = Client::connect(&format!("{url}{sep}max_connections=1")).unwrap_err();
    assert!(e.is_config(), "{e}");
    // Exactly two per worker is enough.
    let client = Client::connect(&format!("{url}{sep}max_connections={}", 2 * workers)).unwrap();
    assert_eq!(client.config().get_max_connections(), Some(2 * workers));
    assert_eq!(client.config().max_connections_for(workers), 2 * workers);
}
