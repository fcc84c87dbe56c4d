//! Statements that would change a shared connection's session (ARCHITECTURE.md invariant 7):
//! refused through `execute`/`query`/`batch_execute`/`pipeline` with a typed error naming the
//! API to use, and other callers of the same connection are never affected. A setting changed
//! in a way no check can see before sending (inside a `DO` block) retires the connection.
//!
//! Every call below runs on worker 0 with one shared connection per worker, so they all share
//! the same connection unless it was retired.

use std::time::Duration;

use crate::support::{client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, Error};
use corelane_runtime::task;

fn client() -> (std::sync::Arc<corelane_testkit::PgServer>, Client) {
    // The binary's usual loop (a loop of one worker here would be the one every other test
    // started meanwhile got): the calls below all run on worker 0 anyway.
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c.connections_per_worker(1));
    (server, client)
}

fn assert_refused<T: std::fmt::Debug>(r: Result<T, Error>, names: &str) {
    match r {
        Err(e) => {
            assert!(
                e.is_session_change(),
                "expected a session-change refusal: {e}"
            );
            assert!(e.to_string().contains(names), "{e} does not name {names}");
        }
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

async fn pid(client: &Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

async fn count(client: &Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

#[test]
fn begin_through_execute_never_takes_other_callers_writes() {
    let (server, client) = client();
    // Another client: other connections see only committed rows.
    let observer = client_for(&server, |c| c);
    guard("BEGIN through execute", move || {
        on_worker(0, move || async move {
            client
                .batch_execute("CREATE TABLE session_begin (id int4)")
                .await
                .unwrap();
            // A writer on the same worker (so the same shared connection), running meanwhile.
            let writer = {
                let client = client.clone();
                task::spawn(async move {
                    for i in 0..40i32 {
                        client
                            .execute("INSERT INTO session_begin VALUES ($1)", &[&i])
                            .await
                            .unwrap();
                        task::sleep(Duration::from_millis(1)).await;
                    }
                })
                .unwrap()
            };
            task::sleep(Duration::from_millis(5)).await;
            assert_refused(client.execute("BEGIN", &[]).await, "transaction()");
            assert_refused(
                client.batch_execute("SELECT 1; BEGIN").await,
                "transaction()",
            );
            assert_refused(
                client
                    .query("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", &[])
                    .await,
                "transaction()",
            );
            assert_refused(
                client.pipeline(&[("SELECT 1", &[]), ("BEGIN", &[])]).await,
                "transaction()",
            );
            writer.await;
            // More writes after the attempts, then the would-be ROLLBACK of the BEGIN caller.
            for i in 40..50i32 {
                client
                    .execute("INSERT INTO session_begin VALUES ($1)", &[&i])
                    .await
                    .unwrap();
            }
            assert_refused(client.batch_execute("ROLLBACK").await, "transaction()");
            // Every write committed: visible on another connection, and still there.
            assert_eq!(count(&observer, "session_begin").await, 50);
            assert_eq!(count(&client, "session_begin").await, 50);
        })
    });
}

#[test]
fn set_through_execute_is_refused_and_reaches_no_one() {
    let (_server, client) = client();
    guard("SET through execute", move || {
        on_worker(0, move || async move {
            let show = |client: Client| async move {
                let row = client
                    .query_one("SHOW statement_timeout", &[])
                    .await
                    .unwrap();
                row.get::<String>(0).unwrap()
            };
            let before = show(client.clone()).await;
            assert_refused(
                client.execute("SET statement_timeout = 1234", &[]).await,
                "transaction()",
            );
            assert_refused(
                client
                    .batch_execute("set session statement_timeout = 1234")
                    .await,
                "SET LOCAL",
            );
            assert_refused(client.batch_execute("RESET ALL").await, "SET LOCAL");
            assert_eq!(show(client.clone()).await, before);
            // SET LOCAL ends with the statement's own transaction: allowed, and gone after.
            client
                .batch_execute("SET LOCAL statement_timeout = 1234; SELECT 1")
                .await
                .unwrap();
            assert_eq!(show(client.clone()).await, before);
        })
    });
}

#[test]
fn listen_through_execute_is_refused_and_names_listen() {
    let (_server, client) = client();
    guard("LISTEN through execute", move || {
        on_worker(0, move || async move {
            assert_refused(client.execute("LISTEN session_chan", &[]).await, "listen()");
            assert_refused(
                client.batch_execute("/* x */ listen session_chan").await,
                "listen()",
            );
            let listening: i64 = client
                .query_one("SELECT count(*) FROM pg_listening_channels()", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(listening, 0);
        })
    });
}

#[test]
fn copy_through_execute_is_refused_and_others_in_flight_are_unaffected() {
    let (_server, client) = client();
    guard("COPY through execute", move || {
        on_worker(0, move || async move {
            client
                .batch_execute("CREATE TABLE session_copy (id int4)")
                .await
                .unwrap();
            let pid_before = pid(&client).await;
            let mut tasks = Vec::new();
            for v in 0..20i32 {
                let other = client.clone();
                tasks.push(
                    task::spawn(async move {
                        let got: i32 = other
                            .query_one("SELECT $1::int4 FROM pg_sleep(0.01)", &[&v])
                            .await?
                            .get(0)?;
                        Ok::<_, Error>((v, got))
                    })
                    .unwrap(),
                );
                if v == 10 {
                    assert_refused(
                        client.execute("COPY session_copy FROM STDIN", &[]).await,
                        "copy_in()",
                    );
                    assert_refused(
                        client.batch_execute("COPY session_copy TO STDOUT").await,
                        "copy_out()",
                    );
                }
            }
            for t in tasks {
                let (v, got) = t.await.unwrap();
                assert_eq!(v, got);
            }
            // The same connection serves on.
            assert_eq!(pid(&client).await, pid_before);
        })
    });
}

#[test]
fn a_setting_changed_unseen_retires_the_connection() {
    let (_server, client) = client();
    guard("set_config in a DO block", move || {
        on_worker(0, move || async move {
            let name = |client: Client| async move {
                let row = client
                    .query_one("SELECT current_setting('application_name')", &[])
                    .await
                    .unwrap();
                row.get::<String>(0).unwrap()
            };
            let before_pid = pid(&client).await;
            let before = name(client.clone()).await;
            // application_name is reported (ParameterStatus) when it changes.
            client
                .batch_execute(
                    "DO $$ BEGIN PERFORM set_config('application_name', 'leaked', false); END $$",
                )
                .await
                .unwrap();
            // The change reaches no later call: the connection was retired.
            assert_eq!(name(client.clone()).await, before);
            assert_ne!(pid(&client).await, before_pid);
        })
    });
}

#[test]
fn a_listen_unseen_retires_the_connection_at_its_first_notification() {
    let (server, client) = client();
    let notifier = client_for(&server, |c| c);
    guard("LISTEN in a DO block", move || {
        on_worker(0, move || async move {
            let before = pid(&client).await;
            client
                .batch_execute("DO $$ BEGIN EXECUTE 'LISTEN session_hidden'; END $$")
                .await
                .unwrap();
            notifier
                .batch_execute("NOTIFY session_hidden")
                .await
                .unwrap();
            // The notification arrives on its own time; the connection leaves the pool once it
            // did. A hang guard of ~60 s, not a timing assertion.
            let mut now = before;
            for _ in 0..600 {
                now = pid(&client).await;
                if now != before {
                    break;
                }
                task::sleep(Duration::from_millis(100)).await;
            }
            assert_ne!(now, before, "the listening connection stayed in the pool");
            let listening: i64 = client
                .query_one("SELECT count(*) FROM pg_listening_channels()", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(listening, 0);
        })
    });
}

/// A described statement carries its classification, so the shared path does not lex its
/// SQL on every call: one that a transaction described (and the client remembered) must be
/// refused on the shared connection all the same, by SQL text and as a prepared statement.
#[test]
fn a_session_change_a_transaction_described_is_still_refused_on_the_shared_connection() {
    let (_server, client) = client();
    guard("SET described in a transaction", move || {
        on_worker(0, move || async move {
            const SET: &str = "SET statement_timeout = 4321";
            let prepared = client
                .transaction(
                    corelane_postgres::TransactionOptions::new(),
                    |tx| async move {
                        // Allowed here: the transaction's connection is reset after it.
                        tx.execute(SET, &[]).await?;
                        tx.prepare(SET).await
                    },
                )
                .await
                .unwrap();
            assert_eq!(prepared.sql(), SET);
            assert_refused(client.execute(SET, &[]).await, "transaction()");
            assert_refused(client.query(SET, &[]).await, "transaction()");
            assert_refused(client.execute(&prepared, &[]).await, "transaction()");
            assert_refused(client.prepare(SET).await, "transaction()");
            // The shared connection never saw it.
            let row = client
                .query_one("SHOW statement_timeout", &[])
                .await
                .unwrap();
            assert_ne!(row.get::<String>(0).unwrap(), "4321ms");
        })
    });
}
