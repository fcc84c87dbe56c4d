//! A pipeline is one transaction: when a statement fails, the server rolls back the ones
//! before it, and their slots must say so; a retry after a lost statement (26000) runs the
//! whole batch again, never only its tail.

use crate::support::{client_for, guard, on_worker, shared_server};
use corelane_postgres::{Client, ToSql};

async fn count(client: &Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get::<i64>(0)
        .unwrap()
}

/// INSERT, INSERT, a failing statement: the two inserts ran, then the failure rolled them back.
/// Their slots report that (with the failure attached), and the table is empty.
#[test]
fn statements_before_a_failure_report_rolled_back() {
    let server = shared_server();
    let client = client_for(&server, |c| c);
    guard("rolled back", move || {
        on_worker(0, move || async move {
            client
                .batch_execute("CREATE TABLE rb_a (v int4 PRIMARY KEY)")
                .await
                .unwrap();
            let items: [(&str, &[&(dyn ToSql + Sync)]); 4] = [
                ("INSERT INTO rb_a VALUES ($1)", &[&1i32]),
                ("INSERT INTO rb_a VALUES ($1)", &[&2i32]),
                ("INSERT INTO rb_a VALUES ($1)", &[&1i32]), // duplicate key
                ("INSERT INTO rb_a VALUES ($1)", &[&3i32]),
            ];
            let out = client.pipeline(&items).await.unwrap();
            for (k, slot) in out.iter().take(2).enumerate() {
                let e = slot.as_ref().expect_err("rolled back, not Ok");
                assert!(e.is_rolled_back(), "slot {k}: {e}");
                let cause = e.rolled_back_by().expect("the failure attached");
                assert_eq!(cause.code().map(|c| c.code()), Some("23505"), "{cause}");
                assert!(std::error::Error::source(e).is_some());
            }
            let failed = out[2].as_ref().unwrap_err();
            assert_eq!(failed.code().map(|c| c.code()), Some("23505"), "{failed}");
            assert!(!failed.is_rolled_back());
            assert!(out[3].as_ref().unwrap_err().is_skipped());
            assert_eq!(count(&client, "rb_a").await, 0, "the server rolled back");

            // Transaction control in a batch on a shared connection is refused before anything
            // is sent (it would end or open a transaction around other callers' statements).
            let items: [(&str, &[&(dyn ToSql + Sync)]); 3] = [
                ("INSERT INTO rb_a VALUES ($1)", &[&10i32]),
                ("COMMIT", &[]),
                ("INSERT INTO rb_a VALUES ($1)", &[&11i32]),
            ];
            let refused = client.pipeline(&items).await.unwrap_err();
            assert!(refused.is_session_change(), "{refused}");
            assert_eq!(count(&client, "rb_a").await, 0, "nothing of it ran");

            // A batch that succeeds is untouched.
            let items: [(&str, &[&(dyn ToSql + Sync)]); 2] = [
                ("INSERT INTO rb_a VALUES ($1)", &[&20i32]),
                ("INSERT INTO rb_a VALUES ($1)", &[&21i32]),
            ];
            let out = client.pipeline(&items).await.unwrap();
            assert!(out.iter().all(|o| o.as_ref().unwrap().affected == Some(1)));
            assert_eq!(count(&client, "rb_a").await, 2);
        })
    });
}

/// The batch's second statement was prepared on the connection, then deallocated: it answers
/// 26000 after the first statement ran. The server rolled the first one back, so the retry
/// must run the whole batch again: the row is there exactly once and both slots are Ok.
#[test]
fn a_lost_statement_reruns_the_whole_batch() {
    let server = shared_server();
    let client = client_for(&server, |c| c.connections_per_worker(1));
    guard("26000", move || {
        on_worker(0, move || async move {
            client
                .batch_execute("CREATE TABLE rb_b (v int4)")
                .await
                .unwrap();
            const CHECK: &str = "SELECT count(*) FROM rb_b WHERE v >= $1";
            // Prepared on the connection (named), then gone from the server.
            client.query(CHECK, &[&0i32]).await.unwrap();
            client.batch_execute("DEALLOCATE ALL").await.unwrap();

            let items: [(&str, &[&(dyn ToSql + Sync)]); 2] = [
                ("INSERT INTO rb_b VALUES ($1)", &[&7i32]),
                (CHECK, &[&0i32]),
            ];
            let out = client.pipeline(&items).await.unwrap();
            match &out[0] {
                Ok(o) => assert_eq!(o.affected, Some(1)),
                Err(e) => panic!("slot 0: {e}"),
            }
            match &out[1] {
                Ok(o) => assert_eq!(o.rows[0].get::<i64>(0).unwrap(), 1, "sees the insert"),
                Err(e) => panic!("slot 1: {e}"),
            }
            assert_eq!(count(&client, "rb_b").await, 1, "inserted exactly once");
        })
    });
}
