//! Requests without a reply (`Pipe::send_no_reply`, `Batch::push_no_reply`) between requests
//! with one, over a real socket: the replies around them stay matched to their own requests,
//! their bytes reach the server in order, and a dropped batch around them hands off correctly.
//!
//! The server answers a line `x` with `x|<quiet lines seen so far>|<last quiet line>` and a line
//! `q:y` with nothing: every reply proves both that it is its own request's and how many
//! no-reply requests the server had read before it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;

use crate::support::{run_on, test_loop, Cancellable, Lines};
use corelane_runtime::roundtrip::{Batch, Pipe, RequestError};
use corelane_runtime::{Limits, Stream};

/// The quiet-echo server: one thread per connection.
fn quiet_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    addr
}

fn serve(conn: TcpStream) {
    conn.set_nodelay(true).unwrap();
    let mut writer = std::io::BufWriter::new(conn.try_clone().unwrap());
    let mut reader = BufReader::new(conn);
    let (mut quiet, mut last) = (0u64, String::new());
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let body = line.trim_end_matches('\n');
        if let Some(q) = body.strip_prefix("q:") {
            quiet += 1;
            last = q.to_owned();
        } else if writer
            .write_all(format!("{body}|{quiet}|{last}\n").as_bytes())
            .is_err()
        {
            return;
        }
        if reader.buffer().is_empty() && writer.flush().is_err() {
            return;
        }
    }
}

async fn connect(addr: SocketAddr) -> Pipe<Lines> {
    let stream = Stream::connect_tcp(addr).await.unwrap();
    Pipe::new(stream, Lines, Limits::default()).unwrap()
}

async fn call(pipe: &Pipe<Lines>, body: impl std::fmt::Display) -> String {
    let line = format!("{body}\n");
    let reply = pipe
        .call((), |b| b.extend_from_slice(line.as_bytes()))
        .await
        .unwrap();
    String::from_utf8(reply.to_vec()).unwrap()
}

fn quiet(pipe: &Pipe<Lines>, q: &str) {
    pipe.send_no_reply(|b| b.extend_from_slice(format!("q:{q}\n").as_bytes()))
        .unwrap();
}

#[test]
fn a_no_reply_request_between_two_calls() {
    let addr = quiet_server();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        assert_eq!(call(&pipe, "a").await, "a|0|\n");
        quiet(&pipe, "n1");
        assert_eq!(call(&pipe, "b").await, "b|1|n1\n");
        assert_eq!(pipe.in_flight(), 0);

        // The same while the first call reads its own replies (direct) and the second one
        // queues behind it: the no-reply request is written between them and neither the
        // reader nor the queue sees it.
        let first_line = "c\n".to_owned();
        let mut first = Box::pin(pipe.call((), |b| b.extend_from_slice(first_line.as_bytes())));
        let early = futures_lite::future::poll_once(&mut first).await;
        quiet(&pipe, "n2");
        let second = call(&pipe, "d");
        let (first, second) = match early {
            Some(first) => (first, second.await),
            None => futures_lite::future::zip(first, second).await,
        };
        assert_eq!(first.unwrap(), "c|1|n1\n".as_bytes());
        assert_eq!(second, "d|2|n2\n");
        assert!(!pipe.is_closed());
    });
}

#[test]
fn a_batch_with_no_reply_requests_numbers_slots_over_the_replies() {
    let addr = quiet_server();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        let mut batch: Batch<Lines> = Batch::new();
        for k in 0..1000 {
            batch.push_bytes((), format!("r{k}\n").as_bytes());
            batch.push_no_reply(|b| b.extend_from_slice(format!("q:{k}\n").as_bytes()));
        }
        assert_eq!(batch.len(), 1000);
        pipe.run(&mut batch).await.unwrap();
        let replies = batch.take_all();
        assert_eq!(replies.len(), 1000);
        for (k, reply) in replies.into_iter().enumerate() {
            let want = match k {
                0 => "r0|0|\n".to_owned(),
                k => format!("r{k}|{k}|{}\n", k - 1),
            };
            assert_eq!(reply.unwrap(), want.as_bytes(), "reply {k}");
        }
        // A batch of only no-reply requests completes at once; its bytes still go out.
        let mut only: Batch<Lines> = Batch::new();
        only.push_no_reply(|b| b.extend_from_slice(b"q:last\n"));
        assert!(!only.is_empty());
        pipe.run(&mut only).await.unwrap();
        assert_eq!(only.replies(), 0);
        assert!(only.is_empty());
        assert_eq!(call(&pipe, "end").await, "end|1001|last\n");
        let stats = pipe.stats();
        assert_eq!(pipe.in_flight(), 0, "{stats:?}");
    });
}

#[test]
fn dropped_batches_around_no_reply_requests_leave_the_connection_in_step() {
    let addr = quiet_server();
    let lp = test_loop(1);
    let handoffs = run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        let mut sent_quiet = 0u64;
        for polls in 1..40 {
            let mut batch: Batch<Lines> = Batch::new();
            for k in 0..500 {
                batch.push_bytes((), format!("d{polls}-{k}\n").as_bytes());
                if k % 3 == 0 {
                    batch.push_no_reply(|b| {
                        b.extend_from_slice(format!("q:{polls}-{k}\n").as_bytes())
                    });
                    sent_quiet += 1;
                }
            }
            let outcome = Cancellable {
                fut: Box::pin(pipe.run(&mut batch)),
                polls_left: polls % 7 + 1,
            }
            .await;
            if let Some(done) = outcome {
                done.unwrap();
            }
            // Others queued right behind the dropped batch, with a no-reply request among them.
            let mut before = Box::pin(call(&pipe, format!("after{polls}")));
            // Polled once: its request is written (queued behind the dropped batch's
            // placeholders, or read directly) before the no-reply request.
            let early = futures_lite::future::poll_once(&mut before).await;
            quiet(&pipe, &format!("between{polls}"));
            sent_quiet += 1;
            let between = call(&pipe, format!("next{polls}"));
            let (before, between) = match early {
                Some(before) => (before, between.await),
                None => futures_lite::future::zip(before, between).await,
            };
            assert_eq!(
                before,
                format!("after{polls}|{}|{polls}-498\n", sent_quiet - 1),
                "the dropped batch's no-reply requests all went out before the next call"
            );
            assert_eq!(
                between,
                format!("next{polls}|{sent_quiet}|between{polls}\n")
            );
        }
        assert!(!pipe.is_closed());
        assert_eq!(pipe.in_flight(), 0);
        pipe.stats().handoffs
    });
    assert!(handoffs > 0, "no drop landed mid-batch");
}

#[test]
fn a_no_reply_request_on_a_closed_connection_is_refused() {
    let addr = quiet_server();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let pipe = connect(addr).await;
        pipe.close();
        let refused = pipe.send_no_reply(|b| b.extend_from_slice(b"q:x\n"));
        assert!(
            matches!(refused, Err(RequestError::Closed(_))),
            "{refused:?}"
        );
        let mut batch: Batch<Lines> = Batch::new();
        batch.push_no_reply(|b| b.extend_from_slice(b"q:y\n"));
        assert!(matches!(
            pipe.run(&mut batch).await,
            Err(RequestError::Closed(_))
        ));
    });
}
