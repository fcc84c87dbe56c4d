//! A savepoint whose future is dropped at each point of its life (issue 9 B7): while its
//! `SAVEPOINT` is in flight, while its closure runs, and while its end (`RELEASE`, or the
//! rollback after an error) is in flight. The enclosing transaction must carry on and commit
//! its own work every time.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use crate::support::{block_on, client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, Error, Transaction, TransactionOptions};

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

/// One savepoint of the test: its id, whether its closure failed, where it was to be dropped,
/// and whether it was dropped while pending.
type Record = (i32, bool, DropAt, bool);

/// Tries to drop each kind of savepoint while pending: a few attempts each, since on a loaded
/// machine the reply can (rarely) arrive within the poll that sent the request; each attempt is
/// recorded, and the transaction is used after each.
async fn scenarios(tx: &mut Transaction) -> Result<Vec<Record>, Error> {
    let mut records = Vec::new();
    let mut id = 10;
    for (fail, at) in [
        (false, DropAt::End),
        (true, DropAt::End),
        (false, DropAt::Start),
        (false, DropAt::End),
        (true, DropAt::End),
    ] {
        for _attempt in 0..20 {
            id += 1;
            let dropped = dropped_savepoint(tx, id, fail, at).await;
            records.push((id, fail, at, dropped));
            // The transaction still works after each.
            tx.execute("INSERT INTO sp_drop VALUES ($1)", &[&(1000 + id)])
                .await?;
            if dropped {
                break;
            }
        }
    }
    Ok(records)
}

#[test]
fn a_savepoint_dropped_at_any_point_leaves_the_transaction_whole() {
    let (_server, client) = client();
    let c = client.clone();
    let (committed, records, ids) = guard("dropped savepoints", move || {
        on_worker(0, move || async move {
            let out = c
                .transaction(TransactionOptions::new(), |mut tx| async move {
                    tx.execute("INSERT INTO sp_drop VALUES (1)", &[]).await?;
                    let records = scenarios(&mut tx).await?;
                    tx.execute("INSERT INTO sp_drop VALUES (2)", &[]).await?;
                    Ok(records)
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
    let records = records.unwrap();
    // Each kind was dropped while pending at least once.
    for kind in [
        (false, DropAt::End),
        (true, DropAt::End),
        (false, DropAt::Start),
    ] {
        assert!(
            records
                .iter()
                .any(|&(_, fail, at, dropped)| (fail, at) == kind && dropped),
            "never dropped while pending: {kind:?} in {records:?}"
        );
    }
    // A savepoint whose closure succeeded keeps its row (released, dropped or not); a failed
    // one does not (rolled back); one dropped before its closure ran did nothing. The
    // transaction's own rows are all in.
    let mut expect = vec![1, 2];
    for &(id, fail, at, dropped) in &records {
        expect.push(1000 + id);
        let ran = !(at == DropAt::Start && dropped);
        if ran && !fail {
            expect.push(id);
        }
    }
    expect.sort();
    assert_eq!(ids, expect);
}
