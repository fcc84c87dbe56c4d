//! A query started on a worker and then moved to another thread (only a hand-rolled executor
//! or a manual `poll` of a boxed future can do that: glommio's tasks never move) ends with a
//! clear error there, is dropped there without aborting the process, and leaves its worker and
//! connection working: the statement it left running is cancelled and drained like any other
//! abandoned one.
// Calls are returned unawaited on purpose: to move them to another thread.
#![allow(clippy::async_yields_async)]

use std::future::Future;
use std::pin::Pin;

use crate::support::{block_on, client_for, guard, on_worker, shared_server};
use futures_lite::future::poll_once;

type Moved = Pin<
    Box<dyn Future<Output = Result<Vec<corelane_postgres::Row>, corelane_postgres::Error>> + Send>,
>;

#[test]
fn a_query_moved_off_its_worker_fails_there_and_the_worker_goes_on() {
    guard("moved query", || {
        let server = shared_server();
        let client = client_for(&server, |c| c);

        // A prepared statement in flight on the worker's connection. (Its `Execute` runs in a
        // movable dispatch; an operation whose work is an `async` block — describing, a
        // transaction — cannot be moved once started: see `corelane_runtime::dispatch`.)
        let c = client.clone();
        let mut moved: Moved = on_worker(0, move || async move {
            let stmt = c.prepare("SELECT pg_sleep(0.2)").await.unwrap();
            let mut query: Moved = Box::pin(async move { c.query(&stmt, &[]).await });
            assert!(
                poll_once(&mut query).await.is_none(),
                "pg_sleep runs 200 ms"
            );
            query
        });
        let e = block_on(&mut moved).expect_err("a query polled off its worker must fail");
        assert!(e.to_string().contains("another thread"), "{e}");
        drop(moved);

        // The worker, its connection and every later reply stay in step.
        let c = client.clone();
        on_worker(0, move || async move {
            for i in 0..100i32 {
                let row = c.query_one("SELECT $1::int4", &[&i]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), i);
            }
        });
        for i in 0..100i32 {
            let row = block_on(client.query_one("SELECT $1::int4", &[&i])).unwrap();
            assert_eq!(row.get::<i32>(0).unwrap(), i);
        }
    });
}
