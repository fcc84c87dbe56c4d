//! A small statement cache inside pipelines that fail part-way, against a real PostgreSQL:
//! every statement the cache lets go of must be closed on the server.
//!
//! A pipeline's statements evict each other from a cache smaller than the pipeline. The
//! `Close` of an evicted statement must not ride behind a statement of the same batch: when
//! that statement fails — an error of its own, or a cancel that interrupts the batch after its
//! call was dropped — the server skips every message up to the `Sync`, the `Close` included,
//! and the statement stays prepared for the connection's lifetime. (The cancellation chaos
//! test found this: `worker 0: 7 prepared statements on the server, cache holds 4`.)

use std::time::Duration;

use crate::support::{client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, ToSql};

/// The statement cache of these tests' connections.
const CACHE: usize = 2;

/// How many times each test runs its pipeline: each run leaked two statements.
const ROUNDS: usize = 4;

/// The number of statements prepared on this worker's connection. The counting query runs
/// twice: the first run may evict a statement, which the second one's request closes before
/// it counts, so the second count is exact.
/// Fails the test when the server holds more prepared statements for this connection than its
/// cache does.
async fn assert_within_cache(client: &Client, when: &str) {
    let prepared = prepared_statements(client).await;
    assert!(
        prepared <= CACHE,
        "{when}: {prepared} prepared statements on the server, cache holds {CACHE}"
    );
}

async fn prepared_statements(client: &Client) -> usize {
    let mut count = 0;
    for _ in 0..2 {
        count = client
            .query_one("SELECT count(*)::int4 FROM pg_prepared_statements", &[])
            .await
            .unwrap()
            .get::<i32>(0)
            .unwrap();
    }
    usize::try_from(count).unwrap()
}

async fn backend_pid(client: &Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get::<i32>(0)
        .unwrap()
}

/// A pipeline of five SQL texts through a cache of two, whose third statement fails: its
/// statements evict each other, and the statements after the failure are skipped.
#[test]
fn a_failing_pipeline_closes_the_statements_it_evicts() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c.statement_cache_size(CACHE));
    guard("failing pipeline", move || {
        on_worker(0, move || async move {
            let pid = backend_pid(&client).await;
            for round in 0..ROUNDS {
                let items: [(&str, &[&(dyn ToSql + Sync)]); 5] = [
                    ("SELECT $1::int4 AS a", &[&1i32]),
                    ("SELECT $1::int4 AS b", &[&2i32]),
                    ("SELECT 1 / $1::int4 AS fails", &[&0i32]),
                    ("SELECT $1::int4 AS c", &[&3i32]),
                    ("SELECT $1::int4 AS d", &[&4i32]),
                ];
                let out = client.pipeline(&items).await.unwrap();
                let code = out[2].as_ref().unwrap_err().code().map(|c| c.code());
                assert_eq!(code, Some("22012"), "round {round}");
                assert!(out[3].as_ref().unwrap_err().is_skipped(), "round {round}");
                assert!(out[4].as_ref().unwrap_err().is_skipped(), "round {round}");
                assert_within_cache(&client, &format!("round {round}")).await;
            }
            assert_eq!(
                backend_pid(&client).await,
                pid,
                "the connection was replaced"
            );
        })
    });
}

/// The chaos test's case: a pipeline call dropped after its statements were written, while the
/// server runs its third one. The driver cancels the orphan, the server skips the rest of the
/// batch, and nobody reads the replies.
#[test]
fn a_dropped_pipeline_cancelled_midway_closes_the_statements_it_evicts() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c.statement_cache_size(CACHE));
    guard("dropped pipeline", move || {
        on_worker(1, move || async move {
            let pid = backend_pid(&client).await;
            for round in 0..ROUNDS {
                let items: [(&str, &[&(dyn ToSql + Sync)]); 5] = [
                    ("SELECT $1::int4 AS a", &[&1i32]),
                    ("SELECT $1::int4 AS b", &[&2i32]),
                    ("SELECT pg_sleep(60), $1::int4 AS sleeps", &[&0i32]),
                    ("SELECT $1::int4 AS c", &[&3i32]),
                    ("SELECT $1::int4 AS d", &[&4i32]),
                ];
                // Long enough for the batch to be written and the sleep to start; the drop
                // leaves the sleep an orphan, which the driver then cancels.
                let dropped = corelane_runtime::task::timeout(Duration::from_millis(300), async {
                    client.pipeline(&items).await
                })
                .await;
                assert!(dropped.is_none(), "round {round}: the pipeline completed");
                // Waits at the cancel's gate until the orphans are answered.
                assert_within_cache(&client, &format!("round {round}")).await;
            }
            // The cancel landed on the orphan: the same backend serves on.
            assert_eq!(
                backend_pid(&client).await,
                pid,
                "the connection was replaced"
            );
        })
    });
}

/// A long pipeline cycling through more SQL texts than the cache holds parses a statement for
/// nearly every slot: each one it evicts is closed within the batch, so the server does not
/// pile them up until the batch ends. Its last statement counts them mid-batch.
#[test]
fn a_long_pipeline_through_a_small_cache_does_not_pile_up_statements() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c.statement_cache_size(CACHE));
    guard("long pipeline", move || {
        on_worker(0, move || async move {
            const TEXTS: [&str; 5] = [
                "SELECT $1::int4 AS a",
                "SELECT $1::int4 AS b",
                "SELECT $1::int4 AS c",
                "SELECT $1::int4 AS d",
                "SELECT $1::int4 AS e",
            ];
            let values: Vec<i32> = (0..40).collect();
            let mut items: Vec<(&str, &[&(dyn ToSql + Sync)])> = Vec::new();
            let params: Vec<[&(dyn ToSql + Sync); 1]> = values.iter().map(|v| [v as _]).collect();
            for (k, p) in params.iter().enumerate() {
                items.push((TEXTS[k % TEXTS.len()], &p[..]));
            }
            items.push(("SELECT count(*)::int4 FROM pg_prepared_statements", &[]));
            let out = client.pipeline(&items).await.unwrap();
            for (k, slot) in out.iter().take(values.len()).enumerate() {
                let got: i32 = slot.as_ref().unwrap().rows[0].get(0).unwrap();
                assert_eq!(got, values[k]);
            }
            let mid_batch: i32 = out[values.len()].as_ref().unwrap().rows[0].get(0).unwrap();
            // The cache's statements, the counting one among them, and the one it evicted
            // (closed by the next statement).
            assert!(
                usize::try_from(mid_batch).unwrap() <= CACHE + 1,
                "{mid_batch} prepared statements on the server during a pipeline, cache holds \
                 {CACHE}"
            );
            let prepared = prepared_statements(&client).await;
            assert!(
                prepared <= CACHE,
                "{prepared} prepared statements after the pipeline, cache holds {CACHE}"
            );
        })
    });
}
