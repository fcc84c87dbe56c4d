//! Adversarial review tests: each one reproduces a defect found in review (a panicking encoder
//! desyncing `send_remote`, busy submitters holding a shutdown open, >32k pending calls of one
//! task overflowing glommio's waker count, socket constructors panicking off a worker) or
//! guards a tricky path (lease/reader handoff, close mid-batch, write failure, shutdown).

use std::cell::RefCell;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::Duration;

use crate::support::{lines, run_on, test_loop, DeafServer, EchoServer, Lines};
use bytes::{Bytes, BytesMut};
use corelane_runtime::oneshot;
use corelane_runtime::roundtrip::{Batch, Pipe, RequestError};
use corelane_runtime::{CloseCause, Handler, Limits, Registered, Stream};

type Reply = Result<Bytes, RequestError>;

async fn connect(addr: SocketAddr) -> Pipe<Lines> {
    let stream = Stream::connect_tcp(addr).await.unwrap();
    Pipe::new(stream, Lines, Limits::default()).unwrap()
}

/// Runs `fut` to completion on a helper thread; `None` when it did not finish in `secs`.
fn within<T: Send + 'static>(
    secs: u64,
    fut: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(futures_lite::future::block_on(fut));
    });
    rx.recv_timeout(Duration::from_secs(secs)).ok()
}

thread_local! {
    /// A pipe kept on a worker between jobs (the off-worker `send_remote` path).
    static PIPE: RefCell<Option<Pipe<Lines>>> = const { RefCell::new(None) };
}

fn with_pipe<T>(f: impl FnOnce(&Pipe<Lines>) -> T) -> T {
    PIPE.with(|p| f(p.borrow().as_ref().expect("no pipe on this worker")))
}

/// A scripted server for one connection: reads until it has seen `expect` newline-terminated
/// requests, then runs `then` with the socket.
fn scripted_server(
    expect: usize,
    then: impl FnOnce(std::net::TcpStream) + Send + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut seen = 0;
        let mut buf = [0u8; 4096];
        while seen < expect {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            seen += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        then(conn);
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// 1. send_remote pushes its entry before running the caller's encoder.
// ---------------------------------------------------------------------------------------------

/// A job whose encoder panics is caught by the mailbox ("the worker and its connections live
/// on"), but `send_remote` already queued the entry: the connection is now one reply out of
/// step, the next caller's reply goes to the panicked caller and the next caller hangs.
#[test]

fn send_remote_with_a_panicking_encoder_keeps_the_connection_in_step() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let addr = server.addr;
    run_on(&worker, move || async move {
        let pipe = connect(addr).await;
        PIPE.with(|p| *p.borrow_mut() = Some(pipe));
    });
    let (tx1, rx1) = oneshot::channel::<Reply>();
    worker
        .submit(move || {
            with_pipe(|pipe| pipe.send_remote((), |_| panic!("the driver's encoder failed"), tx1))
        })
        .unwrap();
    let (tx2, rx2) = oneshot::channel::<Reply>();
    worker
        .submit(move || {
            with_pipe(|pipe| pipe.send_remote((), |b| b.extend_from_slice(b"second\n"), tx2))
        })
        .unwrap();
    let first = within(10, rx1).expect("the first request hung");
    assert!(
        !matches!(first, Ok(Ok(_))),
        "the panicked request got another request's reply: {first:?}"
    );
    let second = within(10, rx2).expect("the second request hung");
    assert_eq!(second.unwrap().unwrap(), &b"second\n"[..]);
}

/// The ordinary off-worker path: replies in order, then a clean failure after close.
#[test]
fn send_remote_replies_in_order_and_fails_after_close() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let addr = server.addr;
    run_on(&worker, move || async move {
        let pipe = connect(addr).await;
        PIPE.with(|p| *p.borrow_mut() = Some(pipe));
    });
    let reqs = lines("remote", 200);
    let mut rxs = Vec::new();
    for r in &reqs {
        let (tx, rx) = oneshot::channel::<Reply>();
        let r = r.clone();
        worker
            .submit(move || {
                with_pipe(|p| p.send_remote((), |b| b.extend_from_slice(r.as_bytes()), tx))
            })
            .unwrap();
        rxs.push(rx);
    }
    for (r, rx) in reqs.iter().zip(rxs) {
        let got = within(30, rx).expect("remote call hung").unwrap().unwrap();
        assert_eq!(got, r.as_bytes());
    }
    worker.submit(|| with_pipe(|p| p.close())).unwrap();
    let (tx, rx) = oneshot::channel::<Reply>();
    worker
        .submit(move || with_pipe(|p| p.send_remote((), |b| b.extend_from_slice(b"late\n"), tx)))
        .unwrap();
    let late = within(30, rx).expect("late call hung").unwrap();
    assert!(
        matches!(late, Err(RequestError::Closed(CloseCause::Unregistered))),
        "{late:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Loop shutdown: every request ends, none hangs.
// ---------------------------------------------------------------------------------------------

/// A remote task parked on a direct call and one parked on a bridged call (a deaf server never
/// answers) both end when the loop shuts down.
#[test]
fn shutdown_ends_callers_parked_on_direct_and_bridged_calls() {
    let server = DeafServer::start();
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let addr = server.addr;
    let (ready_tx, ready_rx) = mpsc::channel();
    let task = worker.spawn(move || async move {
        let pipe = Rc::new(connect(addr).await);
        let p2 = pipe.clone();
        let direct = corelane_runtime::task::spawn(async move {
            p2.call((), |b| b.extend_from_slice(b"direct\n")).await
        })
        .unwrap();
        let bridged = pipe.call((), |b| b.extend_from_slice(b"bridged\n"));
        let mut bridged = Box::pin(bridged);
        assert!(futures_lite::future::poll_once(&mut bridged)
            .await
            .is_none());
        assert_eq!(pipe.stats().direct, 1);
        assert_eq!(pipe.stats().bridged, 1);
        ready_tx.send(()).unwrap();
        (bridged.await, direct.await)
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    drop(lp);
    let outcome = within(10, task).expect("a caller hung across shutdown");
    match outcome {
        Ok((bridged, direct)) => {
            assert!(
                matches!(bridged, Err(RequestError::Closed(CloseCause::LoopClosed))),
                "{bridged:?}"
            );
            assert!(
                matches!(direct, Err(RequestError::Closed(CloseCause::LoopClosed))),
                "{direct:?}"
            );
        }
        Err(e) => assert_eq!(e, corelane_runtime::SubmitError::WorkerClosed),
    }
}

/// A remote request queued with `send_remote` ends when the loop shuts down.
#[test]
fn shutdown_ends_a_send_remote_request() {
    let server = DeafServer::start();
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let addr = server.addr;
    run_on(&worker, move || async move {
        let pipe = connect(addr).await;
        PIPE.with(|p| *p.borrow_mut() = Some(pipe));
    });
    let (tx, rx) = oneshot::channel::<Reply>();
    worker
        .submit(move || with_pipe(|p| p.send_remote((), |b| b.extend_from_slice(b"x\n"), tx)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(lp);
    let got = within(10, rx).expect("the remote request hung across shutdown");
    assert!(
        matches!(
            got,
            Ok(Err(RequestError::Closed(CloseCause::LoopClosed))) | Err(_)
        ),
        "{got:?}"
    );
}

/// A spawned future that never finishes is dropped at shutdown: its caller sees WorkerClosed.
#[test]
fn shutdown_ends_a_remote_task_that_never_finishes() {
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let task = worker.spawn(|| async {
        futures_lite::future::pending::<()>().await;
        7
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(lp);
    let got = within(10, task).expect("the remote task hung across shutdown");
    assert_eq!(got, Err(corelane_runtime::SubmitError::WorkerClosed));
}

/// During shutdown `submit` still accepts jobs (only `CLOSED` refuses) and the mailbox drains
/// until the queue is empty before it looks at the state, so producers that keep submitting
/// keep the worker alive: `Loop` drop (which joins) never returns while they run.
#[test]

fn shutdown_completes_while_other_threads_keep_submitting() {
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut producers = Vec::new();
    for _ in 0..4 {
        let worker = worker.clone();
        let stop = stop.clone();
        producers.push(std::thread::spawn(move || {
            let mut accepted = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Fire-and-forget work, as a busy client would issue.
                if worker.submit(|| std::hint::black_box(())).is_err() {
                    break;
                }
                accepted += 1;
            }
            accepted
        }));
    }
    std::thread::sleep(Duration::from_millis(100));
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(lp);
        let _ = done_tx.send(());
    });
    let finished = done_rx.recv_timeout(Duration::from_secs(10)).is_ok();
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().unwrap();
    }
    let _ = done_rx.recv_timeout(Duration::from_secs(30));
    assert!(
        finished,
        "Loop drop did not return while producers kept submitting"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Panics on a worker.
// ---------------------------------------------------------------------------------------------

/// glommio counts a task's wakers in an `i16` and `assert!`s on overflow. Every pending bridged
/// `Run` keeps its own clone of its task's waker, so one task that polls ~33k pending calls
/// (a naive join over a big fan-out) panics inside glommio; dropping the futures during the
/// unwind panics again and the whole process aborts (so run this one on its own).
#[test]

fn one_task_awaiting_40k_calls_does_not_kill_the_worker() {
    let server = DeafServer::start();
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let addr = server.addr;
    let task = worker.spawn(move || async move {
        let pipe = connect(addr).await;
        let mut calls: Vec<Pin<Box<dyn Future<Output = Reply> + '_>>> = Vec::new();
        for _ in 0..40_000 {
            calls.push(Box::pin(pipe.call((), |b| b.extend_from_slice(b"x\n"))));
        }
        // Poll every call once with this task's waker, as a simple join does.
        futures_lite::future::poll_fn(|cx| {
            for call in &mut calls {
                let _ = call.as_mut().poll(cx);
            }
            Poll::Ready(())
        })
        .await;
        drop(calls);
        pipe.close();
        42
    });
    let got = within(60, task).expect("hung");
    assert_eq!(got, Ok(42), "the worker died");
    // And the worker still serves jobs.
    let alive = within(10, worker.spawn(|| async { 1 })).expect("hung");
    assert_eq!(alive, Ok(1));
}

/// `Stream::from_std_tcp` returns `io::Result`, but off a worker glommio panics instead.
#[test]

fn from_std_tcp_off_a_worker_is_an_error_not_a_panic() {
    let server = EchoServer::start();
    let std_stream = std::net::TcpStream::connect(server.addr).unwrap();
    let outcome = std::panic::catch_unwind(move || Stream::from_std_tcp(std_stream).map(drop));
    assert!(
        matches!(outcome, Ok(Err(_))),
        "from_std_tcp off a worker panicked instead of returning an error"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Regression guards for the handoff, close and write-failure paths (these pass today).
// ---------------------------------------------------------------------------------------------

/// The direct batch reads a bridged caller's reply into the input together with its own (one
/// `recv`), then finishes: the lease's end must wake the reader so the bridged caller is not
/// left parked with its reply sitting in the buffer.
#[test]
fn reply_read_by_the_lease_for_a_bridged_caller_is_delivered() {
    let addr = scripted_server(2, |mut conn| {
        conn.write_all(b"direct\nbridged\n").unwrap();
        std::thread::sleep(Duration::from_secs(30));
    });
    let lp = test_loop(1);
    let (d, b, stats) = run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        let p2 = pipe.clone();
        let direct = corelane_runtime::task::spawn(async move {
            p2.call((), |b| b.extend_from_slice(b"direct\n")).await
        })
        .unwrap();
        let bridged = pipe.call((), |b| b.extend_from_slice(b"bridged\n")).await;
        (direct.await, bridged, pipe.stats())
    });
    assert_eq!(d.unwrap(), &b"direct\n"[..]);
    assert_eq!(b.unwrap(), &b"bridged\n"[..]);
    assert_eq!((stats.direct, stats.bridged), (1, 1), "{stats:?}");
}

/// `close` while a direct batch is parked reading and a bridged caller waits behind it: both
/// end once, with the local cause, and the connection refuses new work.
#[test]
fn close_while_a_direct_batch_reads_ends_everyone_once() {
    let server = DeafServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        let mut batch = Batch::<Lines>::new();
        for r in lines("deaf", 10) {
            batch.push_bytes((), r.as_bytes());
        }
        let p2 = pipe.clone();
        let bridged = corelane_runtime::task::spawn(async move {
            p2.call((), |b| b.extend_from_slice(b"behind\n")).await
        })
        .unwrap();
        let closer = pipe.clone();
        corelane_runtime::task::spawn_detached(async move {
            corelane_runtime::task::sleep(Duration::from_millis(50)).await;
            closer.close();
        })
        .unwrap();
        pipe.run(&mut batch).await.unwrap();
        let results = batch.take_all();
        assert_eq!(results.len(), 10);
        for r in results {
            assert!(
                matches!(r, Err(RequestError::Closed(CloseCause::Unregistered))),
                "{r:?}"
            );
        }
        let b = bridged.await;
        assert!(
            matches!(b, Err(RequestError::Closed(CloseCause::Unregistered))),
            "{b:?}"
        );
        assert_eq!(pipe.stats().direct, 1);
        let after = pipe.call((), |b| b.extend_from_slice(b"after\n")).await;
        assert!(
            matches!(after, Err(RequestError::Closed(CloseCause::Unregistered))),
            "{after:?}"
        );
        assert!(pipe.is_idle());
    });
}

/// A protocol error found by a direct batch closes the connection and fails the bridged
/// callers queued behind it with the same cause.
#[test]
fn protocol_error_in_a_direct_batch_fails_the_callers_behind_it() {
    let addr = scripted_server(2, |mut conn| {
        // A "line" longer than Lines allows: a protocol error for the direct reader.
        let junk = vec![b'x'; (1 << 20) + 4096];
        let _ = conn.write_all(&junk);
        std::thread::sleep(Duration::from_secs(5));
    });
    let lp = test_loop(1);
    let (d, b) = run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        let p2 = pipe.clone();
        let direct = corelane_runtime::task::spawn(async move {
            p2.call((), |b| b.extend_from_slice(b"direct\n")).await
        })
        .unwrap();
        let bridged = pipe.call((), |b| b.extend_from_slice(b"bridged\n")).await;
        (direct.await, bridged)
    });
    assert!(
        matches!(d, Err(RequestError::Closed(CloseCause::Protocol(_)))),
        "{d:?}"
    );
    assert!(
        matches!(b, Err(RequestError::Closed(CloseCause::Protocol(_)))),
        "{b:?}"
    );
}

/// The peer answers one request and resets the connection while requests keep coming: writes
/// fail (`fail_writes`), reading goes on to the end, and every request ends exactly once.
#[test]
fn write_failure_mid_pipeline_ends_every_request() {
    let addr = scripted_server(1, |mut conn| {
        conn.write_all(b"first\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // Unread bytes pending + close => RST: the client's writes fail, its reads end.
        let sock = socket_linger_zero(conn);
        drop(sock);
    });
    let lp = test_loop(1);
    let results = run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        let mut tasks = Vec::new();
        for t in 0..50 {
            let pipe = pipe.clone();
            tasks.push(
                corelane_runtime::task::spawn(async move {
                    let mut out = Vec::new();
                    for i in 0..40 {
                        let r = format!("t{t}-{i}-{}\n", "y".repeat(2000));
                        out.push(pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await);
                        if out.last().is_some_and(|r| r.is_err()) {
                            break;
                        }
                    }
                    out
                })
                .unwrap(),
            );
        }
        let first = pipe.call((), |b| b.extend_from_slice(b"first\n")).await;
        let mut all = vec![first];
        for t in tasks {
            all.extend(t.await);
        }
        assert!(pipe.is_closed());
        all
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(ok <= 1, "{ok} replies from a server that sent one");
    for reply in results.iter().flatten() {
        assert_eq!(reply, &b"first\n"[..]);
    }
}

fn socket_linger_zero(conn: std::net::TcpStream) -> std::net::TcpStream {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd and a properly sized linger struct.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    conn
}

/// A handler that unregisters its own connection from inside `on_recv`: `on_close` runs
/// once, after `on_recv` returns, and no `on_recv` follows.
#[test]
fn unregister_from_inside_on_recv_closes_once_after_it_returns() {
    struct SelfClosing {
        me: Rc<RefCell<Option<Registered<SelfClosing>>>>,
        in_recv: bool,
        events: Arc<std::sync::Mutex<Vec<String>>>,
    }
    impl Handler for SelfClosing {
        fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
            self.in_recv = true;
            self.events
                .lock()
                .unwrap()
                .push(format!("recv {}", input.len()));
            input.clear();
            if let Some(me) = self.me.borrow().as_ref() {
                me.unregister();
            }
            self.in_recv = false;
            Ok(())
        }
        fn on_close(&mut self, cause: &CloseCause) {
            assert!(!self.in_recv, "on_close ran inside on_recv");
            self.events.lock().unwrap().push(format!("close {cause:?}"));
            self.me.borrow_mut().take();
        }
    }
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let ev = events.clone();
    run_on(&lp.workers()[0], move || async move {
        let me = Rc::new(RefCell::new(None));
        let handler = SelfClosing {
            me: me.clone(),
            in_recv: false,
            events: ev,
        };
        let stream = Stream::connect_tcp(addr).await.unwrap();
        let conn = Registered::register(stream, handler, Limits::default()).unwrap();
        conn.write(b"hello\nworld\n").unwrap();
        *me.borrow_mut() = Some(conn);
        for _ in 0..200 {
            if me.borrow().is_none() {
                break;
            }
            corelane_runtime::task::sleep(Duration::from_millis(5)).await;
        }
    });
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].starts_with("recv"), "{events:?}");
    assert_eq!(events[1], "close Unregistered");
}

/// A batch bigger than the per-poll decode bound whose replies are all buffered completes
/// (the yield path re-wakes itself) and stays in step with a caller behind it.
#[test]
fn direct_batch_past_the_per_poll_bound_completes() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        let reqs = lines("bound", 20_000);
        let mut batch = Batch::<Lines>::new();
        for r in &reqs {
            batch.push_bytes((), r.as_bytes());
        }
        let p2 = pipe.clone();
        let behind = corelane_runtime::task::spawn(async move {
            p2.call((), |b| b.extend_from_slice(b"behind\n")).await
        })
        .unwrap();
        pipe.run(&mut batch).await.unwrap();
        for (k, r) in batch.take_all().into_iter().enumerate() {
            assert_eq!(r.unwrap(), reqs[k].as_bytes());
        }
        assert_eq!(behind.await.unwrap(), &b"behind\n"[..]);
    });
}
