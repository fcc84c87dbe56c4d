//! The round-trip toolkit over a real socket with a line-echo protocol: direct index, the
//! bridge queue, the handoff on drop, peer close mid-batch, and backpressure.

use std::rc::Rc;

use crate::support::{
    lines, run_checked, run_on, test_loop, Cancellable, DeafServer, EchoServer, Lines,
};
use corelane_runtime::roundtrip::{Batch, Pipe, RequestError};
use corelane_runtime::{CloseCause, Limits, Stream};

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

#[test]
fn batch_of_1000_completes_by_direct_index() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    let stats = run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        run_checked(&pipe, &lines("direct", 1000)).await;
        pipe.stats()
    });
    assert_eq!(stats.direct, 1, "{stats:?}");
    assert_eq!(stats.bridged, 0, "{stats:?}");
}

#[test]
fn single_calls_on_an_idle_connection_read_their_own_replies() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    let stats = run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        for r in lines("one", 200) {
            let reply = pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await;
            assert_eq!(reply.unwrap(), r.as_bytes());
        }
        pipe.stats()
    });
    assert_eq!(stats.direct, 200, "{stats:?}");
}

#[test]
fn dropped_batch_leaves_the_connection_in_step() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    let handoffs = run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        for polls in 1..40 {
            let reqs = lines(&format!("dropped{polls}"), 1000);
            let mut batch = batch_of(&reqs);
            let run = Box::pin(pipe.run(&mut batch));
            let outcome = Cancellable {
                fut: run,
                polls_left: polls,
            }
            .await;
            if let Some(done) = outcome {
                done.unwrap();
            }
            drop(batch);
            // The next 1000 requests, as one batch and as single calls, get their own replies.
            run_checked(&pipe, &lines(&format!("after{polls}"), 1000)).await;
            for r in lines(&format!("single{polls}"), 20) {
                let reply = pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await;
                assert_eq!(reply.unwrap(), r.as_bytes());
            }
        }
        assert!(!pipe.is_closed());
        pipe.stats().handoffs
    });
    assert!(handoffs > 0, "no drop landed mid-batch");
}

#[test]
fn callers_issuing_mid_batch_get_their_own_replies() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        let batch_pipe = pipe.clone();
        let big = corelane_runtime::task::spawn(async move {
            run_checked(&batch_pipe, &lines("big", 5000)).await;
        })
        .unwrap();
        let mut others = Vec::new();
        for t in 0..50 {
            let pipe = pipe.clone();
            others.push(
                corelane_runtime::task::spawn(async move {
                    for r in lines(&format!("task{t}"), 20) {
                        let reply = pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await;
                        assert_eq!(reply.unwrap(), r.as_bytes());
                    }
                })
                .unwrap(),
            );
        }
        big.await;
        for o in others {
            o.await;
        }
        let stats = pipe.stats();
        assert!(stats.direct >= 1, "{stats:?}");
        assert!(stats.bridged > 0, "{stats:?}");
    });
}

#[test]
fn dropping_a_batch_while_others_are_queued_behind_it() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        for round in 0..20 {
            let reqs = lines(&format!("r{round}"), 2000);
            let mut batch = batch_of(&reqs);
            let run = Box::pin(pipe.run(&mut batch));
            // Start the batch (direct), then queue others behind it, then drop the batch.
            let mut cancellable = Cancellable {
                fut: run,
                polls_left: 1 + round % 3,
            };
            let first = futures_lite::future::poll_once(&mut cancellable).await;
            let mut others = Vec::new();
            for t in 0..10 {
                let pipe = pipe.clone();
                others.push(
                    corelane_runtime::task::spawn(async move {
                        let r = format!("queued-{round}-{t}\n");
                        let reply = pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await;
                        assert_eq!(reply.unwrap(), r.as_bytes());
                    })
                    .unwrap(),
                );
            }
            if first.is_none() {
                let _ = cancellable.await;
            }
            for o in others {
                o.await;
            }
        }
        run_checked(&pipe, &lines("final", 100)).await;
    });
}

#[test]
fn peer_closing_mid_batch_ends_every_request_once() {
    let server = EchoServer::start_with(Some(500));
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        // Bridge callers queued behind the batch must end too.
        let reqs = lines("closing", 1000);
        let mut batch = batch_of(&reqs);
        let run = pipe.run(&mut batch);
        let mut others = Vec::new();
        let mut run = Box::pin(run);
        let _ = futures_lite::future::poll_once(&mut run).await;
        for t in 0..10 {
            let pipe = pipe.clone();
            others.push(
                corelane_runtime::task::spawn(async move {
                    pipe.call((), |b| b.extend_from_slice(format!("late{t}\n").as_bytes()))
                        .await
                })
                .unwrap(),
            );
        }
        run.await.unwrap();
        let results = batch.take_all();
        assert_eq!(results.len(), 1000);
        let mut ok = 0;
        for (k, r) in results.into_iter().enumerate() {
            match r {
                Ok(line) => {
                    assert_eq!(line, reqs[k].as_bytes());
                    assert!(k < 500, "reply {k} after the server closed");
                    ok += 1;
                }
                Err(RequestError::Closed(cause)) => {
                    assert!(k >= 500, "request {k} failed: {cause}");
                    assert!(
                        matches!(cause, CloseCause::PeerClosed | CloseCause::Io { .. }),
                        "{cause:?}"
                    );
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 500);
        for o in others {
            assert!(matches!(o.await, Err(RequestError::Closed(_))));
        }
        assert!(pipe.is_closed());
        // After close: new requests fail at once with the cause.
        let after = pipe.call((), |b| b.extend_from_slice(b"x\n")).await;
        assert!(matches!(after, Err(RequestError::Closed(_))), "{after:?}");
    });
}

#[test]
fn queue_full_is_reachable_and_queues_nothing() {
    let server = DeafServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let stream = Stream::connect_tcp(addr).await.unwrap();
        let pipe =
            Rc::new(Pipe::new(stream, Lines, Limits::with_max_outbound(256 * 1024)).unwrap());
        let payload = vec![b'x'; 64 * 1024];
        let mut full = None;
        let mut pending = Vec::new();
        for _ in 0..10_000 {
            let pipe2 = pipe.clone();
            let body = payload.clone();
            let task = corelane_runtime::task::spawn(async move {
                pipe2
                    .call((), |b| {
                        b.extend_from_slice(&body);
                        b.extend_from_slice(b"\n");
                    })
                    .await
            })
            .unwrap();
            // Let the writer push what the kernel takes.
            corelane_runtime::task::yield_now().await;
            let before = pipe.in_flight();
            let mut probe = Box::pin(pipe.call((), |b| b.extend_from_slice(&payload)));
            if let Some(Err(e @ RequestError::QueueFull { .. })) =
                futures_lite::future::poll_once(&mut probe).await
            {
                assert_eq!(pipe.in_flight(), before, "a refused request left an entry");
                full = Some(e);
                break;
            }
            drop(probe);
            pending.push(task);
        }
        let full = full.expect("QueueFull never reached");
        assert!(full.to_string().contains("outbound buffer full"), "{full}");
        pipe.close();
        for task in pending {
            assert!(task.await.is_err());
        }
    });
}

#[test]
fn owned_runs_complete_and_hand_off_when_dropped() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        for round in 0..30 {
            let reqs = lines(&format!("owned{round}"), 300);
            let run = pipe.run_owned(batch_of(&reqs));
            if round % 2 == 0 {
                let mut run = run;
                (&mut run).await.unwrap();
                let mut batch = run.into_batch();
                for (k, reply) in batch.take_all().into_iter().enumerate() {
                    assert_eq!(reply.unwrap(), reqs[k].as_bytes());
                }
                pipe.recycle_batch(batch);
            } else {
                // Dropped after a few polls: the rest become placeholders.
                let outcome = Cancellable {
                    fut: run,
                    polls_left: 1 + round % 4,
                }
                .await;
                if let Some(done) = outcome {
                    done.unwrap();
                }
            }
            run_checked(&pipe, &lines(&format!("check{round}"), 50)).await;
        }
    });
}

/// A caller alone on an idle connection sends its request at once, from its own poll. Once
/// callers have shared the connection, the next direct run leaves its bytes to the writer, so
/// the other requests of the same tick go out with them in one `send` (one packet for the
/// server to answer) instead of after them.
#[test]
fn a_lone_caller_sends_at_once_and_sharing_callers_send_together() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        let call = |pipe: &Pipe<Lines>, r: &str| {
            let (pipe, r) = (pipe.clone(), r.to_owned());
            Box::pin(async move { pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await })
        };

        // Alone: the first poll has sent the request.
        let mut lone = call(&pipe, "lone\n");
        assert!(futures_lite::future::poll_once(&mut lone).await.is_none());
        assert_eq!(pipe.outbound_len(), 0, "a lone caller's request waits");
        assert_eq!(&lone.await.unwrap()[..], b"lone\n");

        // Two callers at once: the second queues behind the first.
        let (a, b) = (call(&pipe, "a\n"), call(&pipe, "b\n"));
        let (a, b) = futures_lite::future::zip(a, b).await;
        assert_eq!(
            (&a.unwrap()[..], &b.unwrap()[..]),
            (&b"a\n"[..], &b"b\n"[..])
        );

        // Shared lately: the direct run's bytes wait for the tick's other writes...
        let mut first = call(&pipe, "first\n");
        let mut second = call(&pipe, "second\n");
        assert!(futures_lite::future::poll_once(&mut first).await.is_none());
        assert!(futures_lite::future::poll_once(&mut second).await.is_none());
        assert_eq!(
            pipe.outbound_len(),
            "first\nsecond\n".len(),
            "both requests wait for one send"
        );
        // ...and every reply still reaches its own caller.
        let (first, second) = futures_lite::future::zip(first, second).await;
        assert_eq!(
            (&first.unwrap()[..], &second.unwrap()[..]),
            (&b"first\n"[..], &b"second\n"[..])
        );

        // Shared lately, and the direct run is polled once and dropped (a `select!` that took
        // another branch) while its bytes still wait for the writer: they still go out, its
        // reply is discarded, and the calls after it get their own replies.
        let (c, d) = futures_lite::future::zip(call(&pipe, "c\n"), call(&pipe, "d\n")).await;
        assert_eq!(
            (&c.unwrap()[..], &d.unwrap()[..]),
            (&b"c\n"[..], &b"d\n"[..])
        );
        let mut abandoned = call(&pipe, "abandoned\n");
        assert!(futures_lite::future::poll_once(&mut abandoned)
            .await
            .is_none());
        assert_eq!(pipe.outbound_len(), "abandoned\n".len());
        drop(abandoned);
        assert_eq!(&call(&pipe, "after\n").await.unwrap()[..], b"after\n");

        // Alone again: one direct run without company, and the next lone call sends at once.
        assert_eq!(&call(&pipe, "x\n").await.unwrap()[..], b"x\n");
        let mut again = call(&pipe, "again\n");
        assert!(futures_lite::future::poll_once(&mut again).await.is_none());
        assert_eq!(pipe.outbound_len(), 0);
        assert_eq!(&again.await.unwrap()[..], b"again\n");
    });
}
