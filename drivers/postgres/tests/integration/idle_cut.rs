//! Connections the server (or a proxy) closed while they sat idle: the next statement finds
//! its connection closed before anything of it was sent, and goes to a new connection instead
//! of failing. A statement that did go out is never sent twice.
//!
//! The cuts happen on the worker that owns the connections, with no `await` between the cut
//! and the next call: the worker's reader has not run since, so the call itself is what finds
//! the connection closed (the case a user meets as "the first query after the server dropped
//! an idle connection fails").

use std::sync::Arc;
use std::time::Duration;

use crate::support::{block_on, client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, ToSql, Transaction, TransactionOptions};
use corelane_testkit::{FaultProxy, PgServer};

/// A client whose connections go through a fault proxy in front of the shared server (kept
/// running while the test holds it), and the proxy.
fn proxied() -> (Arc<PgServer>, Arc<FaultProxy>, Client) {
    two_workers();
    let server = shared_server();
    let proxy = Arc::new(FaultProxy::start(server.addr()).unwrap());
    let port = proxy.addr().port();
    let client = client_for(&server, |c| c.host("127.0.0.1", port));
    (server, proxy, client)
}

#[test]
fn statements_on_a_connection_cut_while_idle_go_to_a_new_one() {
    let (_server, proxy, client) = proxied();
    let c = client.clone();
    let p = proxy.clone();
    guard("idle cut on a worker", move || {
        on_worker(0, move || async move {
            for i in 0..20i32 {
                // A prepared statement, the hot path.
                let _ = c.query_one("SELECT 1", &[]).await.unwrap();
                p.cut_all();
                let row = c.query_one("SELECT $1::int4", &[&i]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), i, "round {i}");
                // `execute`.
                p.cut_all();
                assert_eq!(c.execute("SELECT 1", &[]).await.unwrap(), 1);
                // A pipeline, a statement prepared anew and the simple protocol: these take
                // their connection from the pool, which probes an idle one first.
                p.cut_all();
                let items: [(&str, &[&(dyn ToSql + Sync)]); 2] =
                    [("SELECT $1::int4", &[&i]), ("SELECT 2", &[])];
                let out = c.pipeline(&items).await.unwrap();
                assert!(out.iter().all(Result::is_ok), "round {i}: {out:?}");
                p.cut_all();
                let stmt = c.prepare(&format!("SELECT {i}::int4 + 1")).await.unwrap();
                let row = c.query_one(&stmt, &[]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), i + 1);
                p.cut_all();
                c.batch_execute("SELECT 1").await.unwrap();
            }
        });
    });
    // Off the loop the worker's reader may or may not have seen the cut first: either way the
    // statement succeeds.
    guard("idle cut off the loop", move || {
        for i in 0..20i32 {
            let _ = block_on(client.query_one("SELECT 1", &[])).unwrap();
            proxy.cut_all();
            let row = block_on(client.query_one("SELECT $1::int4", &[&i])).unwrap();
            assert_eq!(row.get::<i32>(0).unwrap(), i);
        }
    });
}

#[test]
fn transactions_on_a_connection_cut_while_idle_get_a_new_one() {
    let (_server, proxy, client) = proxied();
    guard("idle cut of an exclusive connection", move || {
        on_worker(0, move || async move {
            for i in 0..10i32 {
                let tx = |i: i32| {
                    move |tx: Transaction| async move {
                        let row = tx.query_one("SELECT $1::int4", &[&i]).await?;
                        row.get::<i32>(0)
                    }
                };
                // Leaves an idle exclusive connection in the pool.
                let v = client
                    .transaction(TransactionOptions::new(), tx(i))
                    .await
                    .unwrap();
                assert_eq!(v, i);
                proxy.cut_all();
                // Its checkout probes it and finds it closed: a new one runs the transaction.
                let v = client
                    .transaction(TransactionOptions::new(), tx(i + 1))
                    .await
                    .unwrap();
                assert_eq!(v, i + 1, "round {i}");
            }
        });
    });
}

#[test]
fn a_statement_that_went_out_is_not_sent_again() {
    let (server, proxy, client) = proxied();
    let direct = client_for(&server, |c| c);
    guard("no resend", move || {
        block_on(direct.batch_execute(
            "CREATE TABLE IF NOT EXISTS idle_cut_runs (n int); TRUNCATE idle_cut_runs",
        ))
        .unwrap();
        let c = client.clone();
        let p = proxy.clone();
        let result = on_worker(0, move || async move {
            let _ = c.query_one("SELECT 1", &[]).await.unwrap();
            let cutter = corelane_runtime::task::spawn(async move {
                corelane_runtime::task::sleep(Duration::from_millis(100)).await;
                p.cut_all();
            })
            .unwrap();
            let result = c
                .execute("INSERT INTO idle_cut_runs SELECT 1 FROM pg_sleep(0.4)", &[])
                .await;
            cutter.await;
            result
        });
        let e = result.expect_err("the cut came while the statement ran");
        assert!(e.is_closed(), "{e}");
        // The server finishes (and commits) the insert it was sent once; a resend would add a
        // second row.
        let count = || -> i64 {
            block_on(direct.query_one("SELECT count(*) FROM idle_cut_runs", &[]))
                .unwrap()
                .get(0)
                .unwrap()
        };
        let started = std::time::Instant::now();
        while count() == 0 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(count(), 1, "the statement ran other than once");
        // And the client serves on.
        let row = block_on(client.query_one("SELECT 5::int4", &[])).unwrap();
        assert_eq!(row.get::<i32>(0).unwrap(), 5);
    });
}
