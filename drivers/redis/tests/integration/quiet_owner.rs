//! A call left alive but unpolled must not block its connection (issue 9 A1), against a real
//! redis-server: the `select!` shape (a GET polled once, then the same task awaits other GETs
//! on the same worker's connection) and a `join` polling a call at a slower pace than others.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::support::{client, guard, on_worker, PROTOCOLS};
use corelane_redis::Client;
use corelane_runtime::task::timeout;
use corelane_testkit::RedisServer;
use futures_lite::future::poll_once;

/// Far longer than any GET takes: past it, the call is stuck behind a reader that never runs.
const STUCK: Duration = Duration::from_secs(20);

async fn get(c: &Client, key: &str) -> String {
    match timeout(STUCK, c.get::<String>(key)).await {
        Some(v) => v.unwrap(),
        None => panic!("GET {key} hung behind a call that is not polled"),
    }
}

async fn set_keys(c: &Client, n: usize) {
    for i in 0..n {
        c.set::<()>(format!("quiet:{i}"), format!("v{i}"))
            .await
            .unwrap();
    }
}

#[test]
fn a_get_left_unpolled_by_select_does_not_block_the_next_gets() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let url = server.url();
        guard("select shape", move || {
            on_worker(0, move || async move {
                let c = Client::new(
                    corelane_redis::Config::from_url(&url)
                        .unwrap()
                        .protocol(protocol),
                )
                .unwrap();
                set_keys(&c, 10).await;
                for round in 0..40 {
                    let mut held = Box::pin(c.get::<String>(format!("quiet:{}", round % 10)));
                    if round % 2 == 0 {
                        assert!(poll_once(&mut held).await.is_none());
                    } else {
                        let lost =
                            futures_lite::future::or(async { Some((&mut held).await) }, async {
                                corelane_runtime::task::yield_now().await;
                                None
                            })
                            .await;
                        if lost.is_some() {
                            continue;
                        }
                    }
                    for k in 0..3 {
                        let i = (round + k + 1) % 10;
                        assert_eq!(get(&c, &format!("quiet:{i}")).await, format!("v{i}"));
                    }
                    if round % 3 == 0 {
                        drop(held);
                    } else {
                        let v = timeout(STUCK, held).await.expect("the held GET hung");
                        assert_eq!(v.unwrap(), format!("v{}", round % 10));
                    }
                }
                // Still in step.
                for i in 0..10 {
                    assert_eq!(get(&c, &format!("quiet:{i}")).await, format!("v{i}"));
                }
            })
        });
    }
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
fn join_of_a_slow_paced_get_and_other_gets_completes() {
    let server = RedisServer::start().unwrap();
    let url = server.url();
    guard("join shape", move || {
        on_worker(0, move || async move {
            let c = client(&url);
            set_keys(&c, 10).await;
            for round in 0..40 {
                let open = Rc::new(Cell::new(false));
                let slow = Gated {
                    inner: Box::pin(c.get::<String>(format!("quiet:{}", round % 10))),
                    open: open.clone(),
                    polled: false,
                };
                let others = async {
                    let (a, b) =
                        futures_lite::future::zip(get(&c, "quiet:1"), get(&c, "quiet:2")).await;
                    assert_eq!((a.as_str(), b.as_str()), ("v1", "v2"));
                    assert_eq!(get(&c, "quiet:3").await, "v3");
                    open.set(true);
                    corelane_runtime::task::yield_now().await;
                };
                let (v, ()) = timeout(STUCK, futures_lite::future::zip(slow, others))
                    .await
                    .expect("the join hung");
                assert_eq!(v.unwrap(), format!("v{}", round % 10));
            }
        })
    });
}
