//! The per-connection statement cache under failures: what one caller's failed statement does
//! to the server's prepared statements and to the other callers sharing the connection.

use crate::support::{client_for, guard, on_worker, shared_server};
use corelane_postgres::Client;

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

/// `statement_cache_size(0)` means no named statements at all (the setting for pgbouncer in
/// transaction mode): every query uses the unnamed statement and none is left on the server.
#[test]
fn cache_size_zero_uses_the_unnamed_statement() {
    let server = shared_server();
    let client = client_for(&server, |c| {
        c.statement_cache_size(0).connections_per_worker(1)
    });
    guard("unnamed", move || {
        on_worker(0, move || async move {
            for i in 0..300i32 {
                let sql = format!("SELECT $1::int4 + {}", i % 7);
                let row = client.query_one(&sql, &[&i]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), i + i % 7);
            }
            let items: [(&str, &[&(dyn corelane_postgres::ToSql + Sync)]); 3] = [
                ("SELECT $1::int4 * 2", &[&1i32]),
                ("SELECT $1::int8 * 3", &[&2i64]),
                ("SELECT $1::int4 * 2", &[&3i32]),
            ];
            let out = client.pipeline(&items).await.unwrap();
            let values: Vec<i64> = out
                .iter()
                .map(|o| {
                    let row = &o.as_ref().unwrap().rows[0];
                    row.get::<i64>(0)
                        .or_else(|_| row.get::<i32>(0).map(i64::from))
                        .unwrap()
                })
                .collect();
            assert_eq!(values, [2, 6, 6]);
            let statements = server_statements(&client).await;
            assert!(
                statements.is_empty(),
                "{} prepared statements on the server with statement_cache_size(0): {:#?}",
                statements.len(),
                &statements[..statements.len().min(5)]
            );
        })
    });
}
