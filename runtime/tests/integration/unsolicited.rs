//! A server that sends one reply too many (issue 9 C4): the extra reply arrives while nothing
//! is outstanding, so it answers nobody. The next request must fail with a protocol error (the
//! connection closes), never return the extra reply — on the direct path, on the bridge queue,
//! from off the loop, with the extra sent at once or after a delay, and whether or not the
//! connection's reader task had a chance to run since it arrived.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{run_on, test_loop, Lines};
use bytes::Bytes;
use corelane_runtime::oneshot;
use corelane_runtime::roundtrip::{Pipe, RequestError};
use corelane_runtime::{CloseCause, Limits, Stream, WorkerLoop};
use corelane_testkit::ScriptedServer;

/// Rounds per case; each round opens a connection, provokes the extra reply and checks.
const ROUNDS: usize = 12;
/// Delays between the reply and the extra one, cycled through the rounds.
const DELAYS_MS: [u64; 3] = [0, 1, 5];

/// Echoes lines; after echoing `extra-<ms>`, waits `<ms>` and sends `surprise\n`, then counts
/// it in `sent`.
fn server(sent: Arc<AtomicUsize>) -> ScriptedServer {
    ScriptedServer::start(Duration::from_secs(60), move |_, stream| {
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if writer.write_all(line.as_bytes()).is_err() {
                return;
            }
            if let Some(ms) = line.trim_end().strip_prefix("extra-") {
                std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
                let _ = writer.write_all(b"surprise\n");
                sent.fetch_add(1, Ordering::AcqRel);
            }
        }
    })
    .unwrap()
}

/// Blocks the calling thread (a worker, on purpose: its reader task cannot run meanwhile)
/// until the server has sent `n` extra replies, plus a little for loopback delivery.
fn wait_sent(sent: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while sent.load(Ordering::Acquire) < n {
        assert!(
            Instant::now() < deadline,
            "the server never sent its extra reply"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(Duration::from_millis(5));
}

fn assert_protocol_error(reply: Result<Bytes, RequestError>, what: &str) {
    match reply {
        Err(RequestError::Closed(CloseCause::Protocol(_))) => {}
        Ok(b) => panic!("{what}: got {b:?}: a reply nobody asked for was taken as this one's"),
        Err(e) => panic!("{what}: expected a protocol error, got {e}"),
    }
}

async fn connect(addr: std::net::SocketAddr) -> Pipe<Lines> {
    let stream = Stream::connect_tcp(addr).await.unwrap();
    Pipe::new(stream, Lines, Limits::default()).unwrap()
}

async fn call(pipe: &Pipe<Lines>, req: &str) -> Result<Bytes, RequestError> {
    pipe.call((), |b| b.extend_from_slice(req.as_bytes())).await
}

async fn remote(pipe: &Pipe<Lines>, req: &str) -> Result<Bytes, RequestError> {
    let (tx, rx) = oneshot::channel();
    pipe.send_remote((), |b| b.extend_from_slice(req.as_bytes()), tx);
    rx.await.unwrap()
}

/// Direct path: the next call on the idle connection reads its own reply. `block`: the worker
/// is blocked while the extra reply arrives (the reader task cannot see it first).
fn direct(block: bool) {
    let sent = Arc::new(AtomicUsize::new(0));
    let server = server(sent.clone());
    let addr = server.addr();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        for round in 0..ROUNDS {
            let pipe = connect(addr).await;
            let req = format!("extra-{}\n", DELAYS_MS[round % DELAYS_MS.len()]);
            assert_eq!(call(&pipe, &req).await.unwrap(), req.as_bytes());
            if block {
                wait_sent(&sent, round + 1);
            } else {
                while sent.load(Ordering::Acquire) < round + 1 {
                    corelane_runtime::task::sleep(Duration::from_millis(1)).await;
                }
                corelane_runtime::task::sleep(Duration::from_millis(5)).await;
            }
            assert_protocol_error(call(&pipe, "next\n").await, "direct call");
            assert!(pipe.is_closed());
        }
    });
}

#[test]
fn an_extra_reply_fails_the_next_direct_call_even_before_the_reader_saw_it() {
    direct(true);
}

#[test]
fn an_extra_reply_fails_the_next_direct_call() {
    direct(false);
}

/// Bridge queue, from a task on the worker (`send_remote` is the bridged path for one request
/// on an idle connection), the worker blocked while the extra reply arrives.
#[test]
fn an_extra_reply_fails_the_next_bridged_request() {
    let sent = Arc::new(AtomicUsize::new(0));
    let server = server(sent.clone());
    let addr = server.addr();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        for round in 0..ROUNDS {
            let pipe = connect(addr).await;
            let req = format!("extra-{}\n", DELAYS_MS[round % DELAYS_MS.len()]);
            assert_eq!(remote(&pipe, &req).await.unwrap(), req.as_bytes());
            wait_sent(&sent, round + 1);
            assert_protocol_error(remote(&pipe, "next\n").await, "bridged request");
        }
    });
}

thread_local! {
    static PIPE: RefCell<Option<Pipe<Lines>>> = const { RefCell::new(None) };
}

/// From off the loop: a plain thread sends through the worker's mailbox.
#[test]
fn an_extra_reply_fails_the_next_request_from_off_the_loop() {
    let sent = Arc::new(AtomicUsize::new(0));
    let server = server(sent.clone());
    let addr = server.addr();
    let lp = test_loop(1);
    let worker: WorkerLoop = lp.workers()[0].clone();
    let send = |req: String| {
        let (tx, rx) = oneshot::channel();
        worker
            .submit(move || {
                PIPE.with(|p| {
                    let p = p.borrow();
                    p.as_ref()
                        .unwrap()
                        .send_remote((), |b| b.extend_from_slice(req.as_bytes()), tx)
                })
            })
            .unwrap();
        rx
    };
    for round in 0..ROUNDS {
        run_on(&worker, move || async move {
            let pipe = connect(addr).await;
            PIPE.with(|p| *p.borrow_mut() = Some(pipe));
        });
        let req = format!("extra-{}\n", DELAYS_MS[round % DELAYS_MS.len()]);
        let reply = futures_lite::future::block_on(send(req.clone())).unwrap();
        assert_eq!(reply.unwrap(), req.as_bytes());
        // The worker is busy (a job blocks it) while the extra reply arrives, and the next
        // request is the job right behind.
        let sent2 = sent.clone();
        worker.submit(move || wait_sent(&sent2, round + 1)).unwrap();
        let next = futures_lite::future::block_on(send("next\n".into())).unwrap();
        assert_protocol_error(next, "request from off the loop");
    }
}
