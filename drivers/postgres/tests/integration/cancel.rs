//! Query timeouts and server-side cancellation against a real PostgreSQL.
//!
//! Checked: a timed-out `pg_sleep(10)` returns a timeout error at once and is cancelled on the
//! server (the connection's next statement, behind it on the same backend, answers within
//! seconds); the connection serves on with the same backend; a timed-out statement never gets
//! another caller's statement cancelled (no 57014 anywhere but on the orphan, whose reply is
//! discarded); a dropped call is cancelled the same way; the same from tokio.
//!
//! Durations asserted below are hang guards (seconds), not performance assertions.

use std::time::{Duration, Instant};

use crate::support::{client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, Error};
use corelane_runtime::task;

const TIMEOUT: Duration = Duration::from_millis(100);
/// Far above what any step below should take; far below the 10 s of the sleeps.
const BOUND: Duration = Duration::from_secs(5);

async fn pid(client: &Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

async fn echo(client: &Client, v: i32) -> Result<i32, Error> {
    client.query_one("SELECT $1::int4", &[&v]).await?.get(0)
}

fn assert_timeout<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(e) => assert!(e.is_timeout(), "expected a timeout, got {e}"),
        Ok(v) => panic!("expected a timeout, got {v:?}"),
    }
}

fn assert_not_cancelled(e: &Error) {
    assert_ne!(
        e.code().map(|c| c.code()),
        Some("57014"),
        "ANOTHER CALLER'S STATEMENT WAS CANCELLED: {e}"
    );
}

#[test]
fn timeout_cancels_the_statement_and_the_connection_serves_on() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c.query_timeout(Some(TIMEOUT)));
    assert_eq!(client.query_timeout(), Some(TIMEOUT));
    guard("timeout on worker 0", move || {
        on_worker(0, move || async move {
            // Follow-up checks use a handle without a timeout (same connections), so a slow
            // machine cannot make them flaky; the bounds below are the hang guards.
            let patient = client.with_query_timeout(None);
            let before = pid(&patient).await;

            let start = Instant::now();
            assert_timeout(client.query("SELECT pg_sleep(10)", &[]).await);
            let took = start.elapsed();
            assert!(took < BOUND, "the timed-out call took {took:?}");

            // The next statements go to the same connection, behind the orphan: they answer
            // within the bound only if the server stopped the sleep.
            assert_eq!(echo(&patient, 7).await.unwrap(), 7);
            let took = start.elapsed();
            assert!(took < BOUND, "the next query answered after {took:?}");
            // Returned to service after a verified cancel: the same backend.
            assert_eq!(pid(&patient).await, before);

            for round in 0..3 {
                assert_timeout(client.execute("SELECT pg_sleep(10)", &[]).await);
                assert_timeout(client.batch_execute("SELECT pg_sleep(10)").await);
                assert_timeout(
                    client
                        .pipeline(&[("SELECT 1", &[]), ("SELECT pg_sleep(10)", &[])])
                        .await,
                );
                let outcomes = patient
                    .pipeline(&[("SELECT $1::int4", &[&round]), ("SELECT 2", &[])])
                    .await
                    .unwrap();
                let got: i32 = outcomes[0].as_ref().unwrap().rows[0].get(0).unwrap();
                assert_eq!(got, round);
            }
            assert!(start.elapsed() < BOUND * 4, "{:?}", start.elapsed());
            assert_eq!(pid(&patient).await, before);

            // A handle without a timeout on the same connections waits as long as it takes.
            let rows = patient.query("SELECT pg_sleep(0.3), 5", &[]).await.unwrap();
            assert_eq!(rows[0].get::<i32>(1).unwrap(), 5);
        })
    });
}

#[test]
fn a_timeout_never_cancels_another_callers_statement() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    guard("20 concurrent on worker 0", move || {
        on_worker(0, move || async move {
            let slow = client.with_query_timeout(Some(TIMEOUT));
            let start = Instant::now();
            // Rounds: a statement that times out (a long sleep, or one that ends right about
            // when its timeout fires) with 19 quick ones from other tasks before and behind
            // it on the same connection.
            for round in 0..12 {
                let sleep = if round % 3 == 0 { "2" } else { "0.1" };
                let sql = format!("SELECT pg_sleep({sleep})");
                let mut tasks = Vec::new();
                for i in 0..19i32 {
                    if i == 5 {
                        let slow = slow.clone();
                        let sql = sql.clone();
                        tasks.push(task::spawn(async move {
                            let r = slow.query(&sql, &[]).await;
                            (None, r.map(|_| 0))
                        }));
                    }
                    let client = client.clone();
                    let v = round * 100 + i;
                    tasks.push(task::spawn(async move {
                        if i % 2 == 1 {
                            // Let the slow one get ahead of this one.
                            task::sleep(Duration::from_millis(5 + (i as u64 % 4) * 20)).await;
                        }
                        (Some(v), echo(&client, v).await)
                    }));
                }
                let tasks: Vec<_> = tasks.into_iter().map(Result::unwrap).collect();
                assert_eq!(tasks.len(), 20);
                for t in tasks {
                    match t.await {
                        (Some(v), Ok(got)) => assert_eq!(got, v, "a result went to another query"),
                        (Some(v), Err(e)) => {
                            assert_not_cancelled(&e);
                            panic!("quick query {v} failed: {e}");
                        }
                        // The slow one: a timeout, or (the 0.1 s sleep) done just in time.
                        (None, Err(e)) => assert!(e.is_timeout(), "slow one: {e}"),
                        (None, Ok(_)) => assert_eq!(sleep, "0.1"),
                    }
                }
            }
            assert!(start.elapsed() < BOUND * 6, "{:?}", start.elapsed());
            for v in 0..20 {
                assert_eq!(echo(&client, v).await.unwrap(), v);
            }
        })
    });
}

#[test]
fn a_dropped_call_is_cancelled_and_later_calls_are_fine() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    guard("dropped call on worker 0", move || {
        on_worker(0, move || async move {
            let before = pid(&client).await;
            let start = Instant::now();
            // Dropped by the caller (no query timeout configured).
            let dropped = task::timeout(
                Duration::from_millis(150),
                client.query("SELECT pg_sleep(10)", &[]),
            )
            .await;
            assert!(dropped.is_none());
            assert_eq!(echo(&client, 11).await.unwrap(), 11);
            let took = start.elapsed();
            assert!(took < BOUND, "the next query answered after {took:?}");
            assert_eq!(pid(&client).await, before);

            // Dropped while other callers share the connection: nothing of theirs is hit.
            let long = {
                let client = client.clone();
                task::spawn(async move {
                    let _ = task::timeout(
                        Duration::from_millis(100),
                        client.query("SELECT pg_sleep(0.5)", &[]),
                    )
                    .await;
                })
                .unwrap()
            };
            let quick: Vec<_> = (0..10)
                .map(|v| {
                    let client = client.clone();
                    task::spawn(async move { (v, echo(&client, v).await) }).unwrap()
                })
                .collect();
            long.await;
            for t in quick {
                let (v, r) = t.await;
                match r {
                    Ok(got) => assert_eq!(got, v),
                    Err(e) => {
                        assert_not_cancelled(&e);
                        panic!("{v}: {e}");
                    }
                }
            }
            assert_eq!(echo(&client, 12).await.unwrap(), 12);
        })
    });
}

#[test]
fn timeout_from_tokio() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c).with_query_timeout(Some(TIMEOUT));
    guard("timeout from tokio", move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let start = Instant::now();
            assert_timeout(client.query("SELECT pg_sleep(10)", &[]).await);
            assert!(start.elapsed() < BOUND, "{:?}", start.elapsed());
            let tasks: Vec<_> = (0..20)
                .map(|v| {
                    let client = client.clone();
                    tokio::spawn(async move { (v, echo(&client, v).await) })
                })
                .collect();
            for t in tasks {
                let (v, r) = t.await.unwrap();
                assert_eq!(r.unwrap(), v);
            }
            assert!(start.elapsed() < BOUND, "{:?}", start.elapsed());
            // Dropped from tokio: cancelled on the worker as a dropped call is there (see
            // tests/dropped_off_loop.rs); later calls are fine.
            let dropped = tokio::time::timeout(
                Duration::from_millis(20),
                client.query("SELECT pg_sleep(10)", &[]),
            )
            .await;
            assert!(dropped.is_err());
            assert_eq!(echo(&client, 3).await.unwrap(), 3);
        });
    });
}
