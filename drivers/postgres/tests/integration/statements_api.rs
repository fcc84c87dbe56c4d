//! The application APIs over a real throwaway server: statements given as SQL or `&Statement`
//! (used on another worker and off the loop), `prepare_typed`, `simple_query`,
//! `GenericClient` over a `Client`, a `Transaction` and a `TransactionHandle`, and
//! `Client::begin` (commit, rollback, rollback on drop — on a worker, off the loop, mid
//! statement — and a clean connection for the next user).

use std::time::Duration;

use crate::support::{block_on, client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{
    oid, Client, Error, GenericClient, SimpleQueryMessage, Statement, TransactionHandle,
    TransactionOptions,
};
use futures_lite::StreamExt;

/// A fresh client (its own pools) on the shared server, with `table` (re)created empty.
fn setup(table: &str) -> (std::sync::Arc<corelane_testkit::PgServer>, Client) {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    block_on(client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, name text)"
    )))
    .unwrap();
    (server, client)
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
fn a_statement_prepared_on_one_worker_runs_on_another_and_off_the_loop() {
    let (_server, client) = setup("stmt_moves");
    let c = client.clone();
    guard("statements across threads", move || {
        // Declared int8: described as text, `$1` would not take an i64. Only a statement used
        // as prepared (not re-described from its SQL on the other thread) gets this right.
        let (typed, untyped): (Statement, Statement) = on_worker(0, {
            let c = c.clone();
            move || async move {
                let typed = c
                    .prepare_typed("SELECT $1 AS n", &[oid::INT8])
                    .await
                    .unwrap();
                let untyped = c
                    .prepare("INSERT INTO stmt_moves (id, name) VALUES ($1, $2)")
                    .await
                    .unwrap();
                (typed, untyped)
            }
        });
        assert_eq!(typed.params(), &[oid::INT8]);
        assert_eq!(typed.columns()[0].type_oid(), oid::INT8);
        for n in 0..2 {
            let (c, typed, untyped) = (c.clone(), typed.clone(), untyped.clone());
            let (got, inserted) = on_worker(n, move || async move {
                let got: i64 = c
                    .query_one(&typed, &[&(40i64 + n as i64)])
                    .await
                    .unwrap()
                    .get(0)
                    .unwrap();
                let inserted = c.execute(&untyped, &[&(n as i32), &"w"]).await.unwrap();
                (got, inserted)
            });
            assert_eq!((got, inserted), (40 + n as i64, 1));
        }
        // Off the loop: this thread never described either statement.
        let got: i64 = block_on(c.query_one(&typed, &[&7i64]))
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(got, 7);
        assert_eq!(block_on(c.execute(&untyped, &[&10i32, &"off"])).unwrap(), 1);
        let opt = block_on(c.query_opt(&typed, &[&8i64])).unwrap().unwrap();
        assert_eq!(opt.get::<i64>("n").unwrap(), 8);
        // query and query_stream take a statement too.
        let all = block_on(c.prepare("SELECT id FROM stmt_moves ORDER BY id")).unwrap();
        let ids: Vec<i32> = block_on(c.query(&all, &[]))
            .unwrap()
            .iter()
            .map(|r| r.get(0).unwrap())
            .collect();
        assert_eq!(ids, vec![0, 1, 10]);
        let streamed: Vec<i32> = block_on(async {
            let mut rows = c.query_stream(&all, &[]).await.unwrap();
            let mut out = Vec::new();
            while let Some(row) = rows.next().await {
                out.push(row.unwrap().get(0).unwrap());
            }
            out
        });
        assert_eq!(streamed, ids);
    });
}

#[test]
fn prepare_typed_declares_types_apart_from_the_same_sql_untyped() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    let out = guard("prepare_typed", move || {
        on_worker(0, move || async move {
            let typed = client
                .prepare_typed("SELECT $1 AS v", &[oid::INT4])
                .await
                .unwrap();
            let a: i32 = client
                .query_one(&typed, &[&5i32])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            // The same SQL untyped is another server-side statement ($1 text).
            let b: String = client
                .query_one("SELECT $1 AS v", &[&"five"])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            let c: i32 = client
                .query_one(&typed, &[&6i32])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            // A wrong Rust type for the declared one is refused before sending.
            let wrong = client
                .query_one(&typed, &[&"x"])
                .await
                .unwrap_err()
                .is_type();
            // 0 leaves a parameter to the server; later ones are inferred too.
            let mixed = client
                .prepare_typed("SELECT $1::int8 + $2 AS s", &[0, oid::INT8])
                .await
                .unwrap();
            let params = mixed.params().to_vec();
            let s: i64 = client
                .query_one(&mixed, &[&1i64, &2i64])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            (a, b, c, wrong, params, s)
        })
    });
    assert_eq!(
        out,
        (
            5,
            "five".to_owned(),
            6,
            true,
            vec![corelane_postgres::Type::INT8, corelane_postgres::Type::INT8],
            3
        )
    );
}

#[test]
fn simple_query_reports_columns_rows_as_text_and_counts() {
    let (_server, client) = setup("simple_q");
    let c = client.clone();
    let messages = guard("simple_query", move || {
        block_on(c.simple_query(
            "INSERT INTO simple_q VALUES (1, 'a'), (2, NULL); \
             SELECT id, name, id * 10 AS ten FROM simple_q ORDER BY id; \
             UPDATE simple_q SET name = 'b' WHERE id = 2",
        ))
        .unwrap()
    });
    let mut seen = Vec::new();
    for m in &messages {
        seen.push(match m {
            SimpleQueryMessage::RowDescription(cols) => {
                format!(
                    "cols {}",
                    cols.iter().map(|c| c.name()).collect::<Vec<_>>().join(",")
                )
            }
            SimpleQueryMessage::Row(row) => format!(
                "row {:?} {:?} {:?} {}",
                row.get(0).unwrap(),
                row.get("name").unwrap(),
                row.get("ten").unwrap(),
                row.get("missing").is_err()
            ),
            SimpleQueryMessage::CommandComplete(n) => format!("done {n}"),
            _ => "other".to_owned(),
        });
    }
    assert_eq!(
        seen,
        vec![
            "done 2",
            "cols id,name,ten",
            "row Some(\"1\") Some(\"a\") Some(\"10\") true",
            "row Some(\"2\") None Some(\"20\") true",
            "done 2",
            "done 1",
        ]
    );
    // Session changes are refused as batch_execute refuses them; server errors are errors.
    let c = client.clone();
    let (set, begin, err) = guard("simple_query refusals", move || {
        block_on(async {
            let set = c.simple_query("SET work_mem = '8MB'").await.unwrap_err();
            let begin = c.simple_query("SELECT 1; BEGIN").await.unwrap_err();
            let err = c.simple_query("SELECT 1/0").await.unwrap_err();
            (set, begin, err)
        })
    });
    assert!(
        set.is_session_change() && begin.is_session_change(),
        "{set} / {begin}"
    );
    assert_eq!(
        err.code().map(|c| c.code().to_owned()).as_deref(),
        Some("22012")
    );
    // Inside a transaction a SET LOCAL is fine.
    let c = client.clone();
    let shown = guard("simple_query in a transaction", move || {
        block_on(c.transaction(TransactionOptions::new(), |tx| async move {
            let out = tx
                .simple_query("SET LOCAL work_mem = '3MB'; SHOW work_mem")
                .await?;
            Ok(out
                .iter()
                .find_map(|m| match m {
                    SimpleQueryMessage::Row(r) => r.get(0).ok().flatten().map(str::to_owned),
                    _ => None,
                })
                .unwrap_or_default())
        }))
        .unwrap()
    });
    assert_eq!(shown, "3MB");
}

/// Application code written once against the façade.
async fn add(db: &impl GenericClient, id: i32, name: &str) -> Result<String, Error> {
    db.execute(
        "INSERT INTO generic_t (id, name) VALUES ($1, $2)",
        &[&id, &name],
    )
    .await?;
    let stmt = db
        .prepare("SELECT name FROM generic_t WHERE id = $1")
        .await?;
    let row = db.query_one(&stmt, &[&id]).await?;
    let none = db
        .query_opt("SELECT name FROM generic_t WHERE id = -1", &[])
        .await?;
    let all = db.query("SELECT id FROM generic_t", &[]).await?;
    db.batch_execute("SELECT 1").await?;
    let simple = db.simple_query("SELECT 1").await?;
    let typed = db.prepare_typed("SELECT $1 AS x", &[oid::INT4]).await?;
    let x: i32 = db.query_one(&typed, &[&id]).await?.get(0)?;
    assert!(none.is_none() && !all.is_empty() && !simple.is_empty() && x == id);
    row.get(0)
}

#[test]
fn generic_client_runs_the_same_code_on_a_client_a_transaction_and_a_handle() {
    let (_server, client) = setup("generic_t");
    let c = client.clone();
    let names = guard("generic client", move || {
        // The Client's futures stay Send through the generic code (usable from tokio).
        fn assert_send<F: Send>(f: F) -> F {
            f
        }
        let a = block_on(assert_send(add(&c, 1, "client"))).unwrap();
        let b = block_on(c.transaction(TransactionOptions::new(), |tx| async move {
            add(&tx, 2, "transaction").await
        }))
        .unwrap();
        let handle = block_on(c.begin()).unwrap();
        let d = block_on(assert_send(add(&handle, 3, "handle"))).unwrap();
        block_on(handle.commit()).unwrap();
        let rolled = block_on(c.transaction(TransactionOptions::new(), |tx| async move {
            add(&tx, 4, "rolled back").await?;
            tx.execute("SELECT 1/0", &[]).await?;
            Ok(())
        }));
        assert!(rolled.is_err());
        (a, b, d, block_on(count(&c, "generic_t")))
    });
    assert_eq!(
        names,
        (
            "client".to_owned(),
            "transaction".to_owned(),
            "handle".to_owned(),
            3
        )
    );
}

/// What the next user of the connection sees: backend pid, advisory locks held by this
/// session, work_mem, and whether a transaction id was assigned already (a leftover
/// transaction) — read in a fresh transaction begun by a handle.
async fn probe(tx: &TransactionHandle) -> (i32, i64, String, Option<String>) {
    let row = tx
        .query_one(
            "SELECT pg_backend_pid(), \
             (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), \
             current_setting('work_mem'), pg_current_xact_id_if_assigned()::text",
            &[],
        )
        .await
        .unwrap();
    (
        row.get(0).unwrap(),
        row.get(1).unwrap(),
        row.get(2).unwrap(),
        row.get(3).unwrap(),
    )
}

/// Leaves session state that a rollback does not undo (a session advisory lock, a plain SET
/// kept by a commit) plus a row; returns the backend pid.
async fn dirty(tx: &TransactionHandle, id: i32) -> i32 {
    tx.execute("INSERT INTO handle_t (id, name) VALUES ($1, 'x')", &[&id])
        .await
        .unwrap();
    tx.batch_execute("SET work_mem = '7MB'; SELECT pg_advisory_lock(4242)")
        .await
        .unwrap();
    tx.query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

#[test]
fn begin_on_a_worker_commit_rollback_and_drop() {
    let (_server, client) = setup("handle_t");
    let c = client.clone();
    let out = guard("transaction handle on a worker", move || {
        on_worker(0, move || async move {
            let default_mem = c
                .query_one("SELECT current_setting('work_mem')", &[])
                .await
                .unwrap()
                .get::<String>(0)
                .unwrap();
            // Commit persists; the next user finds the connection reset.
            let tx = c.begin().await.unwrap();
            let pid = dirty(&tx, 1).await;
            tx.commit().await.unwrap();
            let after_commit = count(&c, "handle_t").await;
            let tx = c.begin().await.unwrap();
            let probe_commit = probe(&tx).await;
            // Rollback undoes.
            let pid2 = dirty(&tx, 2).await;
            tx.rollback().await.unwrap();
            let after_rollback = count(&c, "handle_t").await;
            // Dropped without commit: rolled back, and the connection reset for the next user.
            let tx = c
                .begin_with(TransactionOptions::new().read_only(false))
                .await
                .unwrap();
            let pid3 = dirty(&tx, 3).await;
            drop(tx);
            let tx = c.begin().await.unwrap();
            let probe_drop = probe(&tx).await;
            tx.commit().await.unwrap();
            let after_drop = count(&c, "handle_t").await;
            // A failed statement aborts the transaction: COMMIT reports it.
            let tx = c.begin().await.unwrap();
            let failed = tx.execute("SELECT 1/0", &[]).await.unwrap_err();
            let commit = tx.commit().await.unwrap_err();
            (
                default_mem,
                [pid, pid2, pid3],
                after_commit,
                probe_commit,
                after_rollback,
                probe_drop,
                after_drop,
                failed.code().map(|c| c.code().to_owned()),
                commit.is_commit_failed(),
            )
        })
    });
    let (
        default_mem,
        pids,
        after_commit,
        probe_commit,
        after_rollback,
        probe_drop,
        after_drop,
        failed,
        commit_failed,
    ) = out;
    assert_eq!(after_commit, 1);
    assert_eq!(after_rollback, 1);
    assert_eq!(after_drop, 1);
    // The same connection each time (one exclusive connection in use at a time on the worker),
    // with no lock, no SET and no transaction left over.
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[1], pids[2]);
    assert_eq!(probe_commit, (pids[0], 0, default_mem.clone(), None));
    assert_eq!(probe_drop, (pids[0], 0, default_mem, None));
    assert_eq!(failed.as_deref(), Some("22012"));
    assert!(commit_failed);
}

#[test]
fn handles_and_statements_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TransactionHandle>();
    send_sync::<Statement>();
    send_sync::<corelane_postgres::SimpleQueryMessage>();
}

#[test]
fn begin_off_the_loop_commit_rollback_and_drop() {
    let (_server, client) = setup("handle_t2");
    let c = client.clone();
    guard("transaction handle off the loop", move || {
        block_on(async {
            let tx = c.begin().await.unwrap();
            tx.execute("INSERT INTO handle_t2 VALUES (1, 'a')", &[])
                .await
                .unwrap();
            // Concurrent statements through one handle are pipelined in order.
            let (a, b) = futures_lite::future::zip(
                tx.execute("INSERT INTO handle_t2 VALUES (2, 'b')", &[]),
                tx.query_one("SELECT count(*) FROM handle_t2", &[]),
            )
            .await;
            assert_eq!(a.unwrap(), 1);
            assert_eq!(b.unwrap().get::<i64>(0).unwrap(), 2);
            // Not visible outside before commit.
            assert_eq!(count(&c, "handle_t2").await, 0);
            tx.commit().await.unwrap();
            assert_eq!(count(&c, "handle_t2").await, 2);

            let tx = c.begin().await.unwrap();
            tx.execute("DELETE FROM handle_t2", &[]).await.unwrap();
            tx.rollback().await.unwrap();
            assert_eq!(count(&c, "handle_t2").await, 2);

            let tx = c.begin().await.unwrap();
            tx.execute("DELETE FROM handle_t2", &[]).await.unwrap();
            drop(tx);
            assert_eq!(count(&c, "handle_t2").await, 2);
        });
        // Sent to another thread and used there (the handle is Send).
        let tx = block_on(c.begin()).unwrap();
        let c2 = c.clone();
        std::thread::spawn(move || {
            block_on(async {
                tx.execute("INSERT INTO handle_t2 VALUES (3, 'c')", &[])
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                assert_eq!(count(&c2, "handle_t2").await, 3);
            })
        })
        .join()
        .unwrap();
    });
}

#[test]
fn a_handle_dropped_off_the_loop_mid_statement_rolls_back_and_the_connection_is_reset() {
    let (_server, client) = setup("handle_mid");
    let c = client.clone();
    let (first_pid, probes, rows) = guard("handle dropped mid statement", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let tx = c.begin().await.unwrap();
            let pid: i32 = tx
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            tx.execute("INSERT INTO handle_mid VALUES (1, 'gone')", &[])
                .await
                .unwrap();
            tx.batch_execute("SET work_mem = '9MB'; SELECT pg_advisory_lock(77)")
                .await
                .unwrap();
            // The statement is running on the server when its call, then the handle, go.
            let slow = tokio::time::timeout(
                Duration::from_millis(300),
                tx.query("SELECT pg_sleep(1)", &[]),
            )
            .await;
            assert!(slow.is_err(), "the sleep should still be running");
            drop(tx);
            // The next users: a handle on each worker (one of them reuses the connection,
            // reset first). Begun from the workers, so each worker's pool is asked.
            let mut probes = Vec::new();
            for n in 0..2 {
                let c = c.clone();
                probes.push(
                    on_worker_async(n, move || async move {
                        let tx = c.begin().await.unwrap();
                        let p = probe(&tx).await;
                        tx.rollback().await.unwrap();
                        p
                    })
                    .await,
                );
            }
            (pid, probes, count(&c, "handle_mid").await)
        })
    });
    assert_eq!(rows, 0, "the dropped handle's insert was rolled back");
    assert!(
        probes.iter().any(|p| p.0 == first_pid),
        "one worker reused the connection: {probes:?} (pid {first_pid})"
    );
    for p in &probes {
        assert_eq!((p.1, p.3.as_deref()), (0, None), "{probes:?}");
        assert_ne!(p.2, "9MB", "{probes:?}");
    }
}

/// `on_worker` for an async caller (tokio): awaits the worker's task instead of blocking.
async fn on_worker_async<F, Fut, T>(n: usize, make: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    let workers = corelane_runtime::resolve(None).unwrap();
    let worker = workers.worker(n % workers.num_workers()).unwrap().clone();
    worker.spawn(make).await.unwrap()
}

#[test]
fn handle_savepoints_release_rollback_and_drop() {
    let (_server, client) = setup("sp_t");
    let c = client.clone();
    let off_loop = guard("handle savepoints off the loop", move || {
        block_on(async {
            let mut tx = c.begin().await.unwrap();
            tx.execute("INSERT INTO sp_t VALUES (1, 'kept')", &[])
                .await
                .unwrap();
            // Released: kept.
            let sp = tx.savepoint().await.unwrap();
            sp.execute("INSERT INTO sp_t VALUES (2, 'released')", &[])
                .await
                .unwrap();
            sp.release().await.unwrap();
            // A failed statement in a savepoint, rolled back: the transaction carries on.
            let sp = tx.savepoint().await.unwrap();
            sp.execute("INSERT INTO sp_t VALUES (3, 'undone')", &[])
                .await
                .unwrap();
            let dup = sp
                .execute("INSERT INTO sp_t VALUES (1, 'dup')", &[])
                .await
                .unwrap_err();
            sp.rollback().await.unwrap();
            // Dropped: rolled back; nested savepoints too.
            {
                let mut sp = tx.savepoint().await.unwrap();
                sp.execute("INSERT INTO sp_t VALUES (4, 'dropped')", &[])
                    .await
                    .unwrap();
                let inner = sp.savepoint().await.unwrap();
                inner
                    .execute("INSERT INTO sp_t VALUES (5, 'inner')", &[])
                    .await
                    .unwrap();
                inner.release().await.unwrap();
            }
            // GenericClient over a savepoint.
            let sp = tx.savepoint().await.unwrap();
            let n: i64 = GenericClient::query_one(&sp, "SELECT count(*) FROM sp_t", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            sp.release().await.unwrap();
            tx.commit().await.unwrap();
            let ids: Vec<i32> = c
                .query("SELECT id FROM sp_t ORDER BY id", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0).unwrap())
                .collect();
            (dup.code().map(|c| c.code().to_owned()), n, ids)
        })
    });
    assert_eq!(off_loop, (Some("23505".to_owned()), 2, vec![1, 2]));
    // The same on a worker (the drop's rollback is queued at once there).
    let c = client.clone();
    let on_loop = guard("handle savepoints on a worker", move || {
        on_worker(1, move || async move {
            let mut tx = c.begin().await.unwrap();
            {
                let sp = tx.savepoint().await.unwrap();
                sp.execute("INSERT INTO sp_t VALUES (6, 'dropped')", &[])
                    .await
                    .unwrap();
            }
            let sp = tx.savepoint().await.unwrap();
            sp.execute("INSERT INTO sp_t VALUES (7, 'kept')", &[])
                .await
                .unwrap();
            sp.release().await.unwrap();
            tx.commit().await.unwrap();
            count(&c, "sp_t").await
        })
    });
    assert_eq!(on_loop, 3);
}

#[test]
fn a_prepared_statement_is_described_again_after_its_columns_change() {
    let (_server, client) = setup("stale_p");
    let c = client.clone();
    let (before, after, typed_after) = guard("stale prepared statement", move || {
        block_on(async {
            c.execute("INSERT INTO stale_p VALUES (1, 'a')", &[])
                .await
                .unwrap();
            let stmt = c.prepare("SELECT * FROM stale_p").await.unwrap();
            let typed = c
                .prepare_typed("SELECT *, $1 AS p FROM stale_p", &[oid::INT4])
                .await
                .unwrap();
            let before = c.query_one(&stmt, &[]).await.unwrap().len();
            c.query_one(&typed, &[&1i32]).await.unwrap();
            c.batch_execute("ALTER TABLE stale_p ADD COLUMN extra int DEFAULT 5")
                .await
                .unwrap();
            let row = c.query_one(&stmt, &[]).await.unwrap();
            let extra: i32 = row.get("extra").unwrap();
            let typed_row = c.query_one(&typed, &[&2i32]).await.unwrap();
            let p: i32 = typed_row.get("p").unwrap();
            (before, (row.len(), extra), (typed_row.len(), p))
        })
    });
    assert_eq!(before, 2);
    assert_eq!(after, (3, 5));
    assert_eq!(typed_after, (4, 2));
}
