//! Statement descriptions after DDL: a table whose columns change under a client that has
//! described (and prepared) a query on it. Every later call must see the new columns — on
//! every worker, on connections that prepared the statement before the change and on ones
//! that never did, and from threads off the loop — and no value may be decoded with a stale
//! type.

use crate::support::{
    block_on, client_for, guard, num_workers, on_worker, shared_server, two_workers,
};
use corelane_postgres::{Client, ToSql};

/// Runs `check` with `client` on every worker, and twice per worker from this thread (off the
/// loop, round-robin over the workers).
fn everywhere(
    client: &Client,
    check: fn(Client) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    // The last worker first: in the tests, the one whose connection never prepared the query.
    for n in (0..num_workers()).rev() {
        let c = client.clone();
        on_worker(n, move || check(c));
    }
    for _ in 0..2 * num_workers() {
        let c = client.clone();
        block_on(check_off_loop(c, check));
    }
}

/// `check`'s body run off the loop: its calls go through the workers' mailboxes. (The boxed
/// future is not `Send`, so it is awaited right here.)
async fn check_off_loop(
    client: Client,
    check: fn(Client) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    check(client).await
}

/// `SELECT *` over a table that gains a column: every call after the change returns the three
/// columns (before the fix: 0A000 "cached plan must not change result type" on connections
/// that had prepared it, 08P01 "bind message has 2 result formats" on the others, for the life
/// of the client).
#[test]
fn select_star_after_add_column() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c.connections_per_worker(2));
    guard("add column", move || {
        block_on(client.batch_execute(
            "CREATE TABLE st_add (a int4, b int4); INSERT INTO st_add VALUES (1, 2)",
        ))
        .unwrap();
        everywhere(&client, |client| {
            Box::pin(async move {
                let row = client.query_one("SELECT * FROM st_add", &[]).await.unwrap();
                assert_eq!(row.len(), 2);
            })
        });
        block_on(
            client.batch_execute("ALTER TABLE st_add ADD COLUMN c int8; UPDATE st_add SET c = 3"),
        )
        .unwrap();
        everywhere(&client, |client| {
            Box::pin(async move {
                for _ in 0..2 {
                    let row = match client.query_one("SELECT * FROM st_add", &[]).await {
                        Ok(row) => row,
                        Err(e) => panic!("SELECT * after ADD COLUMN: {e} (code {:?})", e.code()),
                    };
                    assert_eq!(row.len(), 3);
                    assert_eq!(row.get::<i64>("c").unwrap(), 3);
                    let rows = client.query("SELECT * FROM st_add", &[]).await.unwrap();
                    assert_eq!(rows[0].len(), 3);
                    let items: [(&str, &[&(dyn ToSql + Sync)]); 2] =
                        [("SELECT * FROM st_add", &[]), ("SELECT 1", &[])];
                    let out = client.pipeline(&items).await.unwrap();
                    match &out[0] {
                        Ok(o) => assert_eq!(o.rows[0].get::<i64>(2).unwrap(), 3),
                        Err(e) => panic!("pipelined SELECT * after ADD COLUMN: {e}"),
                    }
                }
            })
        });
    });
}

/// A float8 column becomes int8: the bits of an int8 must never be read as a float8. Every
/// call after the change reads the new type (before the fix: a connection that had never
/// prepared the statement bound it with the old description and the value came back
/// mis-typed; one that had prepared it failed with 0A000 for good).
#[test]
fn a_column_type_change_is_never_decoded_with_the_old_type() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c.connections_per_worker(2));
    guard("type change", move || {
        block_on(
            client
                .batch_execute("CREATE TABLE st_type (v float8); INSERT INTO st_type VALUES (1.5)"),
        )
        .unwrap();
        // Described on every thread, prepared on some connections only: worker 0 runs it;
        // worker 1 and this thread only describe it.
        on_worker(0, {
            let client = client.clone();
            move || async move {
                let row = client
                    .query_one("SELECT v FROM st_type", &[])
                    .await
                    .unwrap();
                assert_eq!(row.get::<f64>(0).unwrap(), 1.5);
            }
        });
        on_worker(1, {
            let client = client.clone();
            move || async move {
                client.prepare("SELECT v FROM st_type").await.unwrap();
            }
        });
        block_on(client.prepare("SELECT v FROM st_type")).unwrap();
        block_on(client.batch_execute("ALTER TABLE st_type ALTER COLUMN v TYPE int8 USING 7"))
            .unwrap();
        everywhere(&client, |client| {
            Box::pin(async move {
                for _ in 0..2 {
                    let row = match client.query_one("SELECT v FROM st_type", &[]).await {
                        Ok(row) => row,
                        Err(e) => panic!("after ALTER COLUMN TYPE: {e} (code {:?})", e.code()),
                    };
                    assert_eq!(row.columns()[0].type_oid(), corelane_postgres::oid::INT8);
                    match row.get::<i64>(0) {
                        Ok(v) => assert_eq!(v, 7),
                        Err(e) => panic!("read as int8: {e}; as float8: {:?}", row.get::<f64>(0)),
                    }
                }
            })
        });
    });
}

/// In a transaction a stale statement cannot be retried (its failure aborted the
/// transaction), but it is described afresh: the next transaction sees the new columns.
#[test]
fn a_transaction_after_add_column_sees_the_new_columns_next_time() {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    guard("transaction", move || {
        on_worker(0, move || async move {
            client
                .batch_execute(
                    "CREATE TABLE st_tx (a int4, b int4); INSERT INTO st_tx VALUES (1, 2)",
                )
                .await
                .unwrap();
            assert_eq!(width(&client).await.unwrap(), 2);
            client
                .batch_execute("ALTER TABLE st_tx ADD COLUMN c int4")
                .await
                .unwrap();
            if let Err(e) = width(&client).await {
                let code = e.code().map(|c| c.code().to_owned());
                assert!(matches!(code.as_deref(), Some("08P01" | "0A000")), "{e}");
            }
            for _ in 0..3 {
                match width(&client).await {
                    Ok(n) => assert_eq!(n, 3),
                    Err(e) => panic!("a later transaction: {e}"),
                }
            }
        })
    });
}

/// The number of columns of `SELECT * FROM st_tx`, read in a transaction.
async fn width(client: &Client) -> Result<usize, corelane_postgres::Error> {
    client
        .transaction(
            corelane_postgres::TransactionOptions::new(),
            |tx| async move { Ok(tx.query_one("SELECT * FROM st_tx", &[]).await?.len()) },
        )
        .await
}
