//! Transactions and savepoints against a real throwaway PostgreSQL server.
//!
//! Transaction closures (and `on_worker` bodies) run on a loop worker, where a panic kills the
//! worker's executor: they return what they saw, and the asserts run on the test thread.

use std::future::Future;
use std::time::{Duration, Instant};

use corelane_postgres::{Client, Error, IsolationLevel, TransactionOptions};
use corelane_testkit::PgServer;
use futures_lite::future::block_on;

fn setup(sql: &str) -> (PgServer, Client) {
    let server = PgServer::start().unwrap();
    let client = Client::connect(&server.url()).unwrap();
    block_on(client.batch_execute(sql)).unwrap();
    (server, client)
}

/// Runs `make()` on worker 0 of the standalone loop (so consecutive transactions use the same
/// worker's exclusive pool) and waits for it.
fn on_worker<T, F, Fut>(make: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let workers = corelane_runtime::resolve(None).unwrap();
    block_on(workers.worker(0).unwrap().spawn(make)).unwrap()
}

async fn count(client: &Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

/// What the next user of an exclusive connection sees: its backend pid, the transaction id if
/// one is assigned (none in a fresh transaction), the isolation level, and the session's
/// default isolation.
async fn session_probe(client: &Client) -> (i32, Option<String>, String, String) {
    client
        .transaction(TransactionOptions::new(), |tx| async move {
            let row = tx
                .query_one(
                    "SELECT pg_backend_pid(), pg_current_xact_id_if_assigned()::text, \
                     current_setting('transaction_isolation'), \
                     current_setting('default_transaction_isolation')",
                    &[],
                )
                .await?;
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .await
        .unwrap()
}

#[test]
fn commit_persists_and_err_rolls_back() {
    let (_server, client) = setup("CREATE TABLE t (id int4 PRIMARY KEY, v text)");
    block_on(async {
        let (n, inside) = client
            .transaction(TransactionOptions::new(), |tx| async move {
                let mut n = 0;
                for i in 0..3i32 {
                    n += tx
                        .execute("INSERT INTO t VALUES ($1, $2)", &[&i, &format!("v{i}")])
                        .await?;
                }
                let inside: i64 = tx.query_one("SELECT count(*) FROM t", &[]).await?.get(0)?;
                Ok((n, inside))
            })
            .await
            .unwrap();
        assert_eq!((n, inside), (3, 3));
        assert_eq!(count(&client, "t").await, 3);

        let e = client
            .transaction(TransactionOptions::new(), |tx| async move {
                tx.execute("INSERT INTO t VALUES (10, 'x')", &[]).await?;
                tx.execute("DELETE FROM t WHERE id = 0", &[]).await?;
                tx.query_one("SELECT 1 WHERE false", &[]).await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(!e.is_commit_failed(), "{e}");
        assert!(e.to_string().contains("0 rows"), "{e}");
        assert_eq!(count(&client, "t").await, 3);

        // A server error propagated with `?` rolls back too.
        let e = client
            .transaction(TransactionOptions::new(), |tx| async move {
                tx.execute("INSERT INTO t VALUES (11, 'y')", &[]).await?;
                tx.execute("INSERT INTO t VALUES (0, 'dup')", &[]).await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(e.code().unwrap().code(), "23505", "{e}");
        assert_eq!(count(&client, "t").await, 3);

        // Rows, query_opt, batch_execute, and a statement on a table made in the transaction.
        let seen = client
            .transaction(TransactionOptions::new(), |tx| async move {
                tx.batch_execute(
                    "CREATE TABLE made_here (a int4); INSERT INTO made_here VALUES (1)",
                )
                .await?;
                tx.execute("INSERT INTO made_here VALUES ($1)", &[&2i32])
                    .await?;
                let rows = tx.query("SELECT a FROM made_here ORDER BY a", &[]).await?;
                let none = tx
                    .query_opt("SELECT a FROM made_here WHERE a = $1", &[&3i32])
                    .await?;
                Ok((rows.len(), none.is_none()))
            })
            .await
            .unwrap();
        assert_eq!(seen, (2, true));
        assert_eq!(count(&client, "made_here").await, 2);
    });
}

#[test]
fn isolation_read_only_and_deferrable() {
    let (_server, client) = setup("CREATE TABLE t (id int4)");
    block_on(async {
        let options = TransactionOptions::new()
            .isolation(IsolationLevel::Serializable)
            .read_only(true)
            .deferrable(true);
        let (iso, ro, def) = client
            .transaction(options, |tx| async move {
                let iso: String = tx
                    .query_one("SHOW transaction_isolation", &[])
                    .await?
                    .get(0)?;
                let ro: String = tx
                    .query_one("SHOW transaction_read_only", &[])
                    .await?
                    .get(0)?;
                let def: String = tx
                    .query_one("SHOW transaction_deferrable", &[])
                    .await?
                    .get(0)?;
                Ok((iso, ro, def))
            })
            .await
            .unwrap();
        assert_eq!(
            (iso.as_str(), ro.as_str(), def.as_str()),
            ("serializable", "on", "on")
        );

        let e = client
            .transaction(TransactionOptions::new().read_only(true), |tx| async move {
                tx.execute("INSERT INTO t VALUES (1)", &[]).await
            })
            .await
            .unwrap_err();
        assert_eq!(e.code().unwrap().code(), "25006", "{e}");
        assert_eq!(count(&client, "t").await, 0);

        let iso: String = client
            .transaction(
                TransactionOptions::new().isolation(IsolationLevel::RepeatableRead),
                |tx| async move {
                    tx.query_one("SHOW transaction_isolation", &[])
                        .await?
                        .get(0)
                },
            )
            .await
            .unwrap();
        assert_eq!(iso, "repeatable read");
        // The next transaction is back to the default.
        let (_, _, iso, default) = session_probe(&client).await;
        assert_eq!(
            (iso.as_str(), default.as_str()),
            ("read committed", "read committed")
        );
    });
}

#[test]
fn savepoints_nest_and_roll_back_alone() {
    let (_server, client) = setup("CREATE TABLE t (id int4 PRIMARY KEY)");
    block_on(async {
        let (first, second, depths, stale_failed, ids) = client
            .transaction(TransactionOptions::new(), |mut tx| async move {
                tx.execute("INSERT INTO t VALUES (1)", &[]).await?;
                // Rolled back by Err: its insert goes, the outer one stays.
                let first = tx
                    .savepoint(|sp| async move {
                        sp.execute("INSERT INTO t VALUES (2)", &[]).await?;
                        sp.query_one("SELECT 1 WHERE false", &[]).await?;
                        Ok(())
                    })
                    .await;
                // A failed statement inside a savepoint does not abort the transaction.
                let second = tx
                    .savepoint(|sp| async move {
                        sp.execute("INSERT INTO t VALUES (1)", &[]).await?;
                        Ok(())
                    })
                    .await;
                // Released: kept; nested two deep, the inner one rolled back.
                let depths = tx
                    .savepoint(|mut sp| async move {
                        sp.execute("INSERT INTO t VALUES (3)", &[]).await?;
                        let failed = sp
                            .savepoint(|sp2| async move {
                                sp2.execute("INSERT INTO t VALUES (4)", &[]).await?;
                                sp2.query_one("SELECT 1/0", &[]).await?;
                                Ok(())
                            })
                            .await;
                        let d2 = sp
                            .savepoint(|sp2| async move {
                                sp2.execute("INSERT INTO t VALUES (5)", &[]).await?;
                                Ok(sp2.depth())
                            })
                            .await?;
                        Ok((sp.depth(), d2, failed.is_err()))
                    })
                    .await?;
                // A savepoint's handle stops working when it ends.
                let stale = tx.savepoint(|sp| async move { Ok(sp) }).await?;
                let stale_failed = stale
                    .execute("INSERT INTO t VALUES (99)", &[])
                    .await
                    .is_err();
                let rows = tx.query("SELECT id FROM t ORDER BY id", &[]).await?;
                let ids = rows
                    .iter()
                    .map(|r| r.get::<i32>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((first, second, depths, stale_failed, ids))
            })
            .await
            .unwrap();
        let first = first.unwrap_err();
        assert!(first.to_string().contains("0 rows"), "{first}");
        assert!(!first.is_commit_failed());
        assert_eq!(second.unwrap_err().code().unwrap().code(), "23505");
        assert_eq!(depths, (1, 2, true));
        assert!(stale_failed);
        assert_eq!(ids, vec![1, 3, 5]);
        assert_eq!(count(&client, "t").await, 3);

        // A savepoint whose future is dropped rolls back; the transaction carries on.
        let (timed_out, ids) = on_worker({
            let client = client.clone();
            move || async move {
                client
                    .transaction(TransactionOptions::new(), |mut tx| async move {
                        tx.execute("INSERT INTO t VALUES (10)", &[]).await?;
                        let dropped = corelane_runtime::task::timeout(
                            Duration::from_millis(100),
                            tx.savepoint(|sp| async move {
                                sp.execute("INSERT INTO t VALUES (11)", &[]).await?;
                                futures_lite::future::pending::<Result<(), Error>>().await
                            }),
                        )
                        .await;
                        tx.execute("INSERT INTO t VALUES (12)", &[]).await?;
                        let rows = tx
                            .query("SELECT id FROM t WHERE id >= 10 ORDER BY id", &[])
                            .await?;
                        let ids = rows
                            .iter()
                            .map(|r| r.get::<i32>(0))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok((dropped.is_none(), ids))
                    })
                    .await
            }
        })
        .unwrap();
        assert!(timed_out);
        assert_eq!(ids, vec![10, 12]);
        assert_eq!(count(&client, "t").await, 5);
    });
}

#[test]
fn a_failed_commit_is_reported_as_such() {
    let (_server, client) = setup(
        "CREATE TABLE parent (id int4 PRIMARY KEY);
         CREATE TABLE child (id int4 PRIMARY KEY,
             parent int4 REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
         CREATE TABLE u (v int4, CONSTRAINT u_v UNIQUE (v) DEFERRABLE INITIALLY DEFERRED);",
    );
    block_on(async {
        // Foreign key checked at COMMIT.
        let e = client
            .transaction(TransactionOptions::new(), |tx| async move {
                tx.execute("INSERT INTO child VALUES (1, 42)", &[]).await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(e.is_commit_failed(), "{e}");
        assert_eq!(e.code().unwrap().code(), "23503", "{e}");
        assert!(e.to_string().contains("COMMIT failed"), "{e}");
        assert_eq!(count(&client, "child").await, 0);

        // Unique constraint checked at COMMIT.
        let e = client
            .transaction(TransactionOptions::new(), |tx| async move {
                tx.execute("INSERT INTO u VALUES (1)", &[]).await?;
                tx.execute("INSERT INTO u VALUES (1)", &[]).await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(e.is_commit_failed(), "{e}");
        assert_eq!(e.code().unwrap().code(), "23505", "{e}");
        assert_eq!(count(&client, "u").await, 0);

        // An error swallowed inside the closure: the server answers COMMIT with ROLLBACK.
        let e = client
            .transaction(TransactionOptions::new(), |tx| async move {
                tx.execute("INSERT INTO parent VALUES (1)", &[]).await?;
                let _ = tx.query("SELECT 1/0", &[]).await;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(e.is_commit_failed(), "{e}");
        assert!(e.code().is_none(), "{e}");
        assert_eq!(count(&client, "parent").await, 0);

        // And the connection is fine after all that.
        let (_, xid, iso, _) = session_probe(&client).await;
        assert_eq!((xid, iso.as_str()), (None, "read committed"));
    });
}

/// What [`a_dropped_transaction_rolls_back_and_the_connection_comes_back_clean`] saw on the
/// worker.
#[derive(Debug)]
struct DropReport {
    pid: i32,
    first_dropped: bool,
    /// The shared-connection update of the row the dropped transaction had locked.
    update: Option<Result<u64, Error>>,
    update_took: Duration,
    after_first: (i32, Option<String>, String, String),
    second_dropped: bool,
    after_second: (i32, Option<String>, String, String),
}

#[test]
fn a_dropped_transaction_rolls_back_and_the_connection_comes_back_clean() {
    let (_server, client) = setup("CREATE TABLE t (id int4 PRIMARY KEY, n int4)");
    block_on(client.execute("INSERT INTO t VALUES (1, 0)", &[])).unwrap();
    let c = client.clone();
    let report = on_worker(move || async move {
        let client = c;
        let (pid, ..) = session_probe(&client).await;
        // Cancelled while the closure waits, holding a row lock and an inserted row.
        let first = corelane_runtime::task::timeout(
            Duration::from_millis(200),
            client.transaction(
                TransactionOptions::new().isolation(IsolationLevel::Serializable),
                |tx| async move {
                    tx.execute("UPDATE t SET n = n + 1 WHERE id = 1", &[])
                        .await?;
                    tx.execute("INSERT INTO t VALUES (2, 0)", &[]).await?;
                    futures_lite::future::pending::<Result<(), Error>>().await
                },
            ),
        )
        .await;
        // The lock is released at once (ROLLBACK was queued on drop), not at the next checkout:
        // a shared-connection update of the same row does not wait.
        let started = Instant::now();
        let update = corelane_runtime::task::timeout(
            Duration::from_secs(5),
            client.execute("UPDATE t SET n = n + 10 WHERE id = 1", &[]),
        )
        .await;
        let update_took = started.elapsed();
        // The next exclusive user gets the same connection, outside any transaction, at the
        // default isolation level.
        let after_first = session_probe(&client).await;
        // Cancelled mid-statement: the statement's reply is drained, the rollback follows it.
        let second = corelane_runtime::task::timeout(
            Duration::from_millis(100),
            client.transaction(TransactionOptions::new(), |tx| async move {
                tx.execute("INSERT INTO t VALUES (3, 0)", &[]).await?;
                tx.query("SELECT pg_sleep(0.5)", &[]).await?;
                Ok(())
            }),
        )
        .await;
        let after_second = session_probe(&client).await;
        DropReport {
            pid,
            first_dropped: first.is_none(),
            update,
            update_took,
            after_first,
            second_dropped: second.is_none(),
            after_second,
        }
    });
    let r = report;
    assert!(r.first_dropped && r.second_dropped, "{r:?}");
    assert_eq!(
        r.update.as_ref().map(|u| u.as_ref().ok()),
        Some(Some(&1)),
        "{r:?}"
    );
    assert!(r.update_took < Duration::from_secs(2), "{r:?}");
    let clean = |pid| {
        (
            pid,
            None,
            "read committed".to_owned(),
            "read committed".to_owned(),
        )
    };
    assert_eq!(r.after_first, clean(r.pid), "{r:?}");
    assert_eq!(r.after_second, clean(r.pid), "{r:?}");
    block_on(async {
        assert_eq!(count(&client, "t").await, 1);
        let n: i32 = client
            .query_one("SELECT n FROM t WHERE id = 1", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 10);
    });
}

#[test]
fn a_committed_session_change_does_not_reach_the_next_transaction() {
    let (_server, client) = setup("SELECT 1");
    let c = client.clone();
    let (pid, next) = on_worker(move || async move {
        let client = c;
        let pid = client
            .transaction(TransactionOptions::new(), |tx| async move {
                tx.batch_execute(
                    "SET default_transaction_isolation = 'serializable';
                     SET application_name = 'dirty';
                     CREATE TEMP TABLE scratch (a int4);
                     LISTEN some_channel;
                     SELECT pg_advisory_lock(7);",
                )
                .await?;
                // A statement prepared (and cached) on this connection before the reset.
                tx.query_one("SELECT $1::int4", &[&1i32]).await?;
                tx.query_one("SELECT pg_backend_pid()", &[])
                    .await?
                    .get::<i32>(0)
            })
            .await;
        let next = client
            .transaction(TransactionOptions::new(), |tx| async move {
                let row = tx
                    .query_one(
                        "SELECT pg_backend_pid(), \
                         current_setting('default_transaction_isolation') || ',' || \
                         current_setting('application_name') || ',' || \
                         (to_regclass('pg_temp.scratch') IS NULL)::text || ',' || \
                         (SELECT count(*) FROM pg_listening_channels())::text || ',' || \
                         (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                             AND pid = pg_backend_pid())::text",
                        &[],
                    )
                    .await?;
                // The cached statement was deallocated by DISCARD ALL; it is prepared again.
                let one: i32 = tx.query_one("SELECT $1::int4", &[&1i32]).await?.get(0)?;
                Ok((row.get::<i32>(0)?, row.get::<String>(1)?, one))
            })
            .await;
        (pid, next)
    });
    let (pid2, state, one) = next.unwrap();
    assert_eq!(pid2, pid.unwrap());
    assert_eq!(state, "read committed,,true,0,0");
    assert_eq!(one, 1);
}

#[test]
fn a_transaction_abandoned_by_a_tokio_caller_rolls_back() {
    let (_server, client) = setup("CREATE TABLE t (id int4)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = client.clone();
    rt.block_on(async move {
        let r = tokio::time::timeout(
            Duration::from_millis(100),
            c.transaction(TransactionOptions::new(), |tx| async move {
                tx.execute("INSERT INTO t VALUES (1)", &[]).await?;
                corelane_runtime::task::sleep(Duration::from_millis(400)).await;
                tx.execute("INSERT INTO t VALUES (2)", &[]).await?;
                Ok(())
            }),
        )
        .await;
        assert!(r.is_err());
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(count(&c, "t").await, 0);
        // Another transaction from tokio works.
        c.transaction(TransactionOptions::new(), |tx| async move {
            tx.execute("INSERT INTO t VALUES (3)", &[]).await
        })
        .await
        .unwrap();
        assert_eq!(count(&c, "t").await, 1);
    });
}

#[test]
fn twenty_serializable_increments_from_tokio_end_exact() {
    let (_server, client) = setup(
        "CREATE TABLE counter (id int4 PRIMARY KEY, n int8); INSERT INTO counter VALUES (1, 0)",
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let c = client.clone();
    let retries = rt.block_on(async move {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    let mut retries = 0u32;
                    loop {
                        let options =
                            TransactionOptions::new().isolation(IsolationLevel::Serializable);
                        let r = c
                            .transaction(options, |tx| async move {
                                let n: i64 = tx
                                    .query_one("SELECT n FROM counter WHERE id = 1", &[])
                                    .await?
                                    .get(0)?;
                                tx.execute("UPDATE counter SET n = $1 WHERE id = 1", &[&(n + 1)])
                                    .await?;
                                Ok(())
                            })
                            .await;
                        match r {
                            Ok(()) => return retries,
                            Err(e) if e.code().is_some_and(|c| c.code() == "40001") => {
                                retries += 1;
                                assert!(retries < 1000, "no progress");
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        let mut retries = 0;
        for t in tasks {
            retries += t.await.unwrap();
        }
        let n: i64 = c
            .query_one("SELECT n FROM counter", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 20);
        retries
    });
    eprintln!("serializable increments: {retries} retries on 40001");
}
