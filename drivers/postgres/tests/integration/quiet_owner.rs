//! A query left alive but unpolled must not block its connection (issue 9 A1), against a real
//! PostgreSQL: the `select!` shape (a query polled once, then the same task awaits other
//! queries on the same worker's connection) and a `join` polling a query at a slower pace.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::support::{client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::Client;
use corelane_runtime::task::timeout;
use futures_lite::future::poll_once;

/// Far longer than any query here takes: past it, the query is stuck behind a reader that
/// never runs.
const STUCK: Duration = Duration::from_secs(20);

async fn echo(c: &Client, v: i32) -> i32 {
    let params: [&(dyn corelane_postgres::ToSql + Sync); 1] = [&v];
    let fut = c.query_one("SELECT $1::int4", &params);
    match timeout(STUCK, fut).await {
        Some(row) => row.unwrap().get::<i32>(0).unwrap(),
        None => panic!("query {v} hung behind a query that is not polled"),
    }
}

#[test]
fn a_query_left_unpolled_by_select_does_not_block_the_next_queries() {
    two_workers();
    let server = shared_server();
    let c = client_for(&server, |c| c);
    guard("select shape", move || {
        on_worker(0, move || async move {
            assert_eq!(echo(&c, -1).await, -1);
            for round in 0..40 {
                let v = round * 10;
                let params: [&(dyn corelane_postgres::ToSql + Sync); 1] = [&v];
                let mut held = Box::pin(c.query_one("SELECT $1::int4", &params));
                if round % 2 == 0 {
                    assert!(poll_once(&mut held).await.is_none());
                } else {
                    let lost = futures_lite::future::or(async { Some((&mut held).await) }, async {
                        corelane_runtime::task::yield_now().await;
                        None
                    })
                    .await;
                    if lost.is_some() {
                        continue;
                    }
                }
                for k in 1..4 {
                    assert_eq!(echo(&c, v + k).await, v + k);
                }
                if round % 3 == 0 {
                    drop(held);
                } else {
                    let row = timeout(STUCK, held).await.expect("the held query hung");
                    assert_eq!(row.unwrap().get::<i32>(0).unwrap(), v);
                }
            }
            for k in 0..10 {
                assert_eq!(echo(&c, 1000 + k).await, 1000 + k);
            }
        })
    });
}

/// Polls `inner` once, then only after `open` is set.
struct Gated<F> {
    inner: Pin<Box<F>>,
    open: Rc<Cell<bool>>,
    polled: bool,
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.polled && !self.open.get() {
            return Poll::Pending;
        }
        self.polled = true;
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn join_of_a_slow_paced_query_and_other_queries_completes() {
    two_workers();
    let server = shared_server();
    let c = client_for(&server, |c| c);
    guard("join shape", move || {
        on_worker(1, move || async move {
            assert_eq!(echo(&c, -1).await, -1);
            for round in 0..40 {
                let v = round * 10;
                let open = Rc::new(Cell::new(false));
                let params: [&(dyn corelane_postgres::ToSql + Sync); 1] = [&v];
                let slow = Gated {
                    inner: Box::pin(c.query_one("SELECT $1::int4", &params)),
                    open: open.clone(),
                    polled: false,
                };
                let others = async {
                    let (a, b) = futures_lite::future::zip(echo(&c, v + 1), echo(&c, v + 2)).await;
                    assert_eq!((a, b), (v + 1, v + 2));
                    assert_eq!(echo(&c, v + 3).await, v + 3);
                    open.set(true);
                    corelane_runtime::task::yield_now().await;
                };
                let (row, ()) = timeout(STUCK, futures_lite::future::zip(slow, others))
                    .await
                    .expect("the join hung");
                assert_eq!(row.unwrap().get::<i32>(0).unwrap(), v);
            }
        })
    });
}
