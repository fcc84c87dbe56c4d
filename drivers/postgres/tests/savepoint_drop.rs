//! A savepoint whose future is dropped at each point of its life (issue 9 B7): while its
//! `SAVEPOINT` is in flight, while its closure runs, and while its end (`RELEASE`, or the
//! rollback after an error) is in flight. The enclosing transaction must carry on and commit
//! its own work every time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use corelane_postgres::{Client, Error, Transaction, TransactionOptions};
use support::{block_on, client_for, guard, on_worker, shared_server, two_workers};

/// When to drop the savepoint's future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropAt {
    /// After its first poll: `SAVEPOINT` sent, its reply not read.
    Start,
    /// As soon as its closure has finished: its end is in flight.
    End,
}

/// Runs a savepoint whose closure inserts `id` (and then fails when `fail`), dropping its
/// future at `at`. Returns whether it was dropped while pending (false: it completed first).
async fn dropped_savepoint(tx: &mut Transaction, id: i32, fail: bool, at: DropAt) -> bool {
    let ran = Rc::new(Cell::new(false));
    let done = ran.clone();
    let mut polls = 0;
    let mut sp = pin!(tx.savepoint(move |sp| async move {
        sp.execute("INSERT INTO sp_drop VALUES ($1)", &[&id])
            .await?;
        let failed: Result<(), Error> = match fail {
            true => sp.batch_execute("SELECT 1/0").await,
            false => Ok(()),
        };
        done.set(true);
        failed
    }));
    futures_lite::future::poll_fn(|cx| {
        polls += 1;
        match sp.as_mut().poll(cx) {
            Poll::Ready(_) => Poll::Ready(false),
            Poll::Pending if at == DropAt::Start && polls == 1 => Poll::Ready(true),
            // The closure finished in this poll and the savepoint's end was sent.
            Poll::Pending if at == DropAt::End && ran.get() => Poll::Ready(true),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

fn client() -> (std::sync::Arc<corelane_testkit::PgServer>, Client) {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    block_on(
        client.batch_execute(
            "DROP TABLE IF EXISTS sp_drop; CREATE TABLE sp_drop (id int4 PRIMARY KEY)",
        ),
    )
    .unwrap();
    (server, client)
}

#[test]
fn a_savepoint_dropped_at_any_point_leaves_the_transaction_whole() {
    let (_server, client) = client();
    let c = client.clone();
    let (committed, drops, ids) = guard("dropped savepoints", move || {
        on_worker(0, move || async move {
            let out = c
                .transaction(TransactionOptions::new(), |mut tx| async move {
                    tx.execute("INSERT INTO sp_drop VALUES (1)", &[]).await?;
                    let mut drops = Vec::new();
                    for (k, (fail, at)) in [
                        (false, DropAt::End),
                        (true, DropAt::End),
                        (false, DropAt::Start),
                        (false, DropAt::End),
                        (true, DropAt::End),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        let id = 10 + k as i32;
                        drops.push(dropped_savepoint(&mut tx, id, fail, at).await);
                        // The transaction still works after each.
                        tx.execute("INSERT INTO sp_drop VALUES ($1)", &[&(100 + k as i32)])
                            .await?;
                    }
                    tx.execute("INSERT INTO sp_drop VALUES (2)", &[]).await?;
                    Ok(drops)
                })
                .await;
            let ids: Vec<i32> = c
                .query("SELECT id FROM sp_drop ORDER BY id", &[])
                .await
                .map(|rows| rows.iter().map(|r| r.get(0).unwrap()).collect())
                .unwrap_or_default();
            (
                out.as_ref().map(|_| ()).map_err(|e| e.to_string()),
                out.ok(),
                ids,
            )
        })
    });
    committed.unwrap();
    let drops = drops.unwrap();
    // Every savepoint whose end was in flight was dropped while pending (the reply to its end
    // cannot have arrived within the poll that sent it); the one dropped at its start too.
    assert_eq!(
        drops,
        vec![true; 5],
        "which savepoints were dropped while pending"
    );
    // Released savepoints keep their work (10, 13); rolled-back ones do not (11, 14); the one
    // dropped before its closure ran did nothing (12). The transaction's own rows are all in.
    assert_eq!(ids, vec![1, 2, 10, 13, 100, 101, 102, 103, 104]);
}
