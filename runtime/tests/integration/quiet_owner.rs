//! A direct run whose owner stops polling it (keeping it alive) must not block its connection:
//! the `select!` shape (a call polled once, then the other branch wins and the task awaits
//! another call on the same connection) and a `join` of futures polled at different paces.
//! The read lease is revocable: the quiet run's requests move to the bridge queue and its
//! replies wait in its slots until it is polled again (or are discarded if it is dropped).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::support::{lines, run_on, test_loop, EchoServer, Lines};
use corelane_runtime::roundtrip::{Batch, Pipe};
use corelane_runtime::task::timeout;
use corelane_runtime::{Limits, Stream};
use futures_lite::future::poll_once;

/// Far longer than any echo takes: past it, the call is stuck behind a reader that never runs.
const STUCK: Duration = Duration::from_secs(20);

async fn connect(addr: std::net::SocketAddr) -> Pipe<Lines> {
    let stream = Stream::connect_tcp(addr).await.unwrap();
    Pipe::new(stream, Lines, Limits::default()).unwrap()
}

fn batch_of(reqs: &[String]) -> Batch<Lines> {
    let mut batch = Batch::new();
    for r in reqs {
        batch.push_bytes((), r.as_bytes());
    }
    batch
}

async fn call(pipe: &Pipe<Lines>, req: &str) -> bytes::Bytes {
    let fut = pipe.call((), |b| b.extend_from_slice(req.as_bytes()));
    match timeout(STUCK, fut).await {
        Some(reply) => reply.unwrap(),
        None => panic!("call {req:?} hung behind a direct run that is not polled"),
    }
}

/// `select!`: the first call is polled once (it takes the direct path and writes), the other
/// branch wins, and the same task then awaits more calls on the same connection while the
/// first stays alive; afterwards the first completes with its own reply, or is dropped.
#[test]
fn a_call_left_unpolled_by_select_does_not_block_the_next_calls() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    let stats = run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        for round in 0..50 {
            let first = format!("first-{round}\n");
            let mut held = Box::pin(pipe.call((), |b| b.extend_from_slice(first.as_bytes())));
            if round % 2 == 0 {
                // A hand-rolled select: one poll, and the "other branch" is ready.
                assert!(poll_once(&mut held).await.is_none());
            } else {
                // futures_lite's `or`: the other branch (a short sleep) wins; `held` lives on.
                let lost = futures_lite::future::or(async { Some((&mut held).await) }, async {
                    corelane_runtime::task::yield_now().await;
                    None
                })
                .await;
                if lost.is_some() {
                    // The echo won the race: nothing was left unpolled this round.
                    continue;
                }
            }
            for k in 0..3 {
                let req = format!("next-{round}-{k}\n");
                assert_eq!(call(&pipe, &req).await, req.as_bytes());
            }
            if round % 3 == 0 {
                drop(held);
            } else {
                let reply = timeout(STUCK, held).await.expect("the held call hung");
                assert_eq!(reply.unwrap(), first.as_bytes());
            }
        }
        // Still in step.
        for req in lines("after", 20) {
            assert_eq!(call(&pipe, &req).await, req.as_bytes());
        }
        assert_eq!(pipe.in_flight(), 0);
        pipe.stats()
    });
    assert!(stats.revoked > 0, "no lease was taken over: {stats:?}");
}

/// The same with a whole batch held (replies must land in the right slots after the move).
#[test]
fn a_batch_left_unpolled_keeps_its_replies_in_order() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        for round in 0..20 {
            let reqs = lines(&format!("held{round}"), 500);
            let mut held = pipe.run_owned(batch_of(&reqs));
            // A few polls: some replies read directly, most not yet.
            for _ in 0..(round % 3 + 1) {
                let _ = poll_once(&mut held).await;
            }
            let others = lines(&format!("other{round}"), 5);
            for req in &others {
                assert_eq!(call(&pipe, req).await, req.as_bytes());
            }
            timeout(STUCK, &mut held)
                .await
                .expect("the held batch hung")
                .unwrap();
            let mut batch = held.into_batch();
            for (k, reply) in batch.take_all().into_iter().enumerate() {
                assert_eq!(reply.unwrap(), reqs[k].as_bytes(), "reply {k}");
            }
        }
    });
}

/// Polls `inner` once, then only after `open` is set: a future of a `join` that its
/// combinator polls at a different pace from the others.
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

/// `join` of a direct call (polled once, then not until the others finish) and bridged calls.
#[test]
fn join_of_a_direct_call_and_bridged_calls_completes() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        for round in 0..50 {
            let open = Rc::new(Cell::new(false));
            let first = format!("direct-{round}\n");
            let direct = Gated {
                inner: Box::pin(pipe.call((), |b| b.extend_from_slice(first.as_bytes()))),
                open: open.clone(),
                polled: false,
            };
            let others = async {
                let reqs = lines(&format!("bridged{round}"), 4);
                let (a, b) = futures_lite::future::zip(call(&pipe, &reqs[0]), async {
                    let b = call(&pipe, &reqs[1]).await;
                    let c = call(&pipe, &reqs[2]).await;
                    (b, c)
                })
                .await;
                assert_eq!(a, reqs[0].as_bytes());
                assert_eq!(b.0, reqs[1].as_bytes());
                assert_eq!(b.1, reqs[2].as_bytes());
                assert_eq!(call(&pipe, &reqs[3]).await, reqs[3].as_bytes());
                open.set(true);
                // Let the join poll the gated call again.
                corelane_runtime::task::yield_now().await;
            };
            let (reply, ()) = timeout(STUCK, futures_lite::future::zip(direct, others))
                .await
                .expect("the join hung");
            assert_eq!(reply.unwrap(), first.as_bytes());
        }
    });
}
