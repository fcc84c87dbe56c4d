//! The per-connection statement cache under failures: what one caller's failed statement does
//! to the server's prepared statements and to the other callers sharing the connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use corelane_postgres::Client;
use support::{client_for, guard, on_worker, shared_server};

/// Prepared statements the server holds for worker 0's connection.
async fn server_statements(client: &Client) -> Vec<String> {
    client
        .query(
            "SELECT name::text || ': ' || statement FROM pg_prepared_statements ORDER BY name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String>(0).unwrap())
        .collect()
}

/// Statements whose execution fails (not their Parse) must not pile up on the server: each
/// failing call of a statement that was parsed in the same request forgets the statement's
/// name without closing it, and the next call parses it again under a new name.
#[test]
fn failing_executions_do_not_leak_prepared_statements() {
    let server = shared_server();
    let client = client_for(&server, |c| c);
    guard("leak", move || {
        on_worker(0, move || async move {
            for _ in 0..20 {
                let e = client
                    .query("SELECT 1 / $1::int4", &[&0i32])
                    .await
                    .unwrap_err();
                assert_eq!(e.code().map(|c| c.code()), Some("22012"), "{e}");
            }
            for _ in 0..20 {
                let items: [(&str, &[&(dyn corelane_postgres::ToSql + Sync)]); 2] = [
                    ("SELECT 10 / $1::int4", &[&0i32]),
                    ("SELECT 20 / $1::int4", &[&1i32]),
                ];
                let out = client.pipeline(&items).await.unwrap();
                assert!(out[0].is_err() && out[1].as_ref().unwrap_err().is_skipped());
            }
            let statements = server_statements(&client).await;
            // The listing query itself, plus at most one per distinct SQL text.
            assert!(
                statements.len() <= 4,
                "{} prepared statements on the server after 40 failing calls of 3 SQL texts: \
                 {statements:#?}",
                statements.len()
            );
        })
    });
}

/// Two callers pipelining on one connection: the first one's batch fails before it reaches the
/// statement it parses; the second one's batch, sent right behind it, binds that statement by
/// the cached name. The second caller did nothing wrong and must get its results.
#[test]
fn a_failed_pipeline_does_not_break_a_concurrent_pipeline() {
    let server = shared_server();
    let client = client_for(&server, |c| c);
    guard("cross-pipeline", move || {
        on_worker(0, move || async move {
            const FAIL: &str = "SELECT 1 / $1::int4";
            const ADD: &str = "SELECT $1::int4 + 100";
            // Described by the client (not yet prepared on the connection); connection open.
            client.prepare(FAIL).await.unwrap();
            client.prepare(ADD).await.unwrap();
            client.query("SELECT 1", &[]).await.unwrap();

            let first = client.pipeline(&[(FAIL, &[&0i32]), (ADD, &[&1i32])]);
            let second = client.pipeline(&[(ADD, &[&2i32]), (ADD, &[&3i32])]);
            let (first, second) = futures_lite::future::zip(first, second).await;
            let first = first.unwrap();
            assert_eq!(
                first[0].as_ref().unwrap_err().code().map(|c| c.code()),
                Some("22012")
            );
            assert!(first[1].as_ref().unwrap_err().is_skipped());
            let second = second.unwrap();
            for (k, want) in [(0, 102), (1, 103)] {
                match &second[k] {
                    Ok(o) => assert_eq!(o.rows[0].get::<i32>(0).unwrap(), want),
                    Err(e) => panic!("second pipeline, slot {k}: {e} (code {:?})", e.code()),
                }
            }
        })
    });
}

/// The single-statement path re-prepares on 26000: the same interleaving with a plain query as
/// the second caller works.
#[test]
fn a_failed_pipeline_does_not_break_a_concurrent_query() {
    let server = shared_server();
    let client = client_for(&server, |c| c);
    guard("cross-query", move || {
        on_worker(0, move || async move {
            const FAIL: &str = "SELECT 2 / $1::int4";
            const ADD: &str = "SELECT $1::int4 + 200";
            client.prepare(FAIL).await.unwrap();
            client.prepare(ADD).await.unwrap();
            client.query("SELECT 1", &[]).await.unwrap();

            let first = client.pipeline(&[(FAIL, &[&0i32]), (ADD, &[&1i32])]);
            let second = client.query_one(ADD, &[&2i32]);
            let (first, second) = futures_lite::future::zip(first, second).await;
            assert!(first.unwrap()[1].as_ref().unwrap_err().is_skipped());
            assert_eq!(second.unwrap().get::<i32>(0).unwrap(), 202);
            // And the connection is fine after.
            assert_eq!(
                client
                    .query_one(ADD, &[&3i32])
                    .await
                    .unwrap()
                    .get::<i32>(0)
                    .unwrap(),
                203
            );
        })
    });
}
