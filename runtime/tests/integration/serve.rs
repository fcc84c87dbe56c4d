//! Serving HTTP/1.1 on the workers with hyper: every worker listens on the same port
//! (SO_REUSEPORT), keep-alive and pipelining, graceful drain, the deadline, panics in handlers,
//! and the loop shutting down under a running server. The client is a plain blocking
//! `std::net::TcpStream` speaking raw HTTP/1.1.

use crate::support;

use std::convert::Infallible;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::test_loop;
use bytes::Bytes;
use corelane_runtime::serve::{serve_http, ShutdownReport};
use corelane_runtime::{task, EventLoopProvider, SubmitError, WorkerLoop};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

const HANG: Duration = Duration::from_secs(60);

/// What the test handlers share with the test thread.
#[derive(Default)]
struct Gates {
    slow_started: AtomicUsize,
    release_slow: AtomicBool,
    stuck_started: AtomicUsize,
}

/// `/slow` waits for `release_slow`; `/stuck` never answers; `/panic` panics; anything else
/// answers its own path. Every answer names the worker in `x-worker`.
async fn route(
    req: Request<Incoming>,
    gates: Arc<Gates>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let worker = WorkerLoop::current().map_or(usize::MAX, |w| w.id());
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/slow" => {
            gates.slow_started.fetch_add(1, Ordering::SeqCst);
            while !gates.release_slow.load(Ordering::SeqCst) {
                task::sleep(Duration::from_millis(5)).await;
            }
        }
        "/stuck" => {
            gates.stuck_started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        "/panic" if std::hint::black_box(true) => panic!("handler panicked on purpose"),
        "/digest" => {
            use http_body_util::BodyExt;
            let body = req.into_body().collect().await.unwrap().to_bytes();
            return Ok(Response::new(Full::new(Bytes::from(digest(&body)))));
        }
        _ => {}
    }
    Ok(Response::builder()
        .header("x-worker", worker.to_string())
        .body(Full::new(Bytes::from(path)))
        .unwrap())
}

/// A body's length and an order-sensitive checksum (FNV-1a), as `/digest` answers them.
fn digest(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}:{hash:x}", body.len())
}

fn start(
    workers: usize,
) -> (
    corelane_runtime::Loop,
    corelane_runtime::serve::Serving,
    Arc<Gates>,
) {
    let lp = test_loop(workers);
    let gates = Arc::new(Gates::default());
    let shared = gates.clone();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = futures_lite::future::block_on(serve_http(&lp, addr, move || {
        let gates = shared.clone();
        move |req| route(req, gates.clone())
    }))
    .unwrap();
    (lp, server, gates)
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn worker(&self) -> usize {
        self.header("x-worker").unwrap().parse().unwrap()
    }
}

/// A raw HTTP/1.1 client connection.
struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(HANG)).unwrap();
        Client {
            sock,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, paths: &[&str]) {
        let mut out = String::new();
        for path in paths {
            out.push_str(&format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"));
        }
        // One write: the requests arrive pipelined.
        self.sock.write_all(out.as_bytes()).unwrap();
    }

    fn get(&mut self, path: &str) -> Reply {
        self.send(&[path]);
        self.reply().expect("the connection closed before a reply")
    }

    /// The next reply, or `None` when the server closed the connection first.
    fn reply(&mut self) -> Option<Reply> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("a content-length");
        while self.buf.len() < head_end + 4 + len {
            assert!(self.fill(), "the connection closed mid-body");
        }
        let body = String::from_utf8(self.buf[head_end + 4..head_end + 4 + len].to_vec()).unwrap();
        self.buf.drain(..head_end + 4 + len);
        Some(Reply {
            status,
            headers,
            body,
        })
    }

    /// Reads more; false at end of stream or on a reset.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            return match self.sock.read(&mut chunk) {
                Ok(0) => false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    true
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
                Err(e) => panic!("read failed: {e}"),
            };
        }
    }

    /// True when the server has closed this connection (and sent nothing more).
    fn closed_by_server(&mut self) -> bool {
        !self.fill() && self.buf.is_empty()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < HANG, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A shutdown running on a thread of its own.
struct Shutdown {
    rx: std::sync::mpsc::Receiver<ShutdownReport>,
    done: Option<ShutdownReport>,
}

impl Shutdown {
    fn is_finished(&mut self) -> bool {
        if self.done.is_none() {
            self.done = self.rx.try_recv().ok();
        }
        self.done.is_some()
    }

    /// Its report; fails the test rather than hang.
    fn join(self) -> ShutdownReport {
        match self.done {
            Some(report) => report,
            None => self.rx.recv_timeout(HANG).expect("the shutdown hung"),
        }
    }
}

fn shutdown_in_background(
    server: corelane_runtime::serve::Serving,
    deadline: Duration,
) -> Shutdown {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(futures_lite::future::block_on(server.shutdown(deadline)));
    });
    Shutdown { rx, done: None }
}

/// LISTEN sockets on `port` in /proc/net/tcp (one per worker under SO_REUSEPORT).
fn listeners_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols[1].rsplit(':').next().unwrap();
            u16::from_str_radix(local_port, 16).unwrap() == port && cols[3] == "0A"
        })
        .count()
}

#[test]
fn every_worker_listens_on_the_port_and_the_kernel_spreads_connections() {
    let (lp, server, _gates) = start(2);
    let addr = server.local_addr();
    assert_eq!(
        listeners_on(addr.port()),
        2,
        "one SO_REUSEPORT listener per worker"
    );
    let mut by_worker = [0usize; 2];
    for i in 0..200 {
        let mut client = Client::connect(addr);
        let reply = client.get(&format!("/n{i}"));
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, format!("/n{i}"));
        by_worker[reply.worker()] += 1;
    }
    // 200 fresh connections, hashed on their source ports: both workers answer (all on one
    // worker would have odds of 2^-199).
    assert!(
        by_worker.iter().all(|&n| n > 0),
        "answers per worker: {by_worker:?}"
    );
    let report = shutdown_in_background(server, Duration::from_secs(5)).join();
    assert_eq!(report.cut, 0);
    assert_eq!(
        listeners_on(addr.port()),
        0,
        "shutdown closed every listener"
    );
    drop(lp);
}

#[test]
fn keep_alive_and_pipelined_requests_are_answered_in_order_on_one_worker() {
    let (_lp, server, _gates) = start(2);
    let mut client = Client::connect(server.local_addr());
    let first = client.get("/first");
    for i in 0..5 {
        let reply = client.get(&format!("/again{i}"));
        assert_eq!(reply.body, format!("/again{i}"));
        assert_eq!(
            reply.worker(),
            first.worker(),
            "a connection stays on its worker"
        );
    }
    let paths: Vec<String> = (0..16).map(|i| format!("/pipelined/{i}")).collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    client.send(&refs);
    for path in &paths {
        let reply = client.reply().expect("a reply per pipelined request");
        assert_eq!(reply.status, 200);
        assert_eq!(&reply.body, path, "replies come back in request order");
        assert!(reply.header("date").is_some());
    }
    assert_eq!(server.stats().accepted, 1, "all of it over one connection");
}

#[test]
fn shutdown_drains_a_slow_request_refuses_new_connections_and_closes_idle_ones() {
    let (_lp, server, gates) = start(2);
    let addr = server.local_addr();
    let mut idle = Client::connect(addr);
    assert_eq!(idle.get("/warm").status, 200);
    let mut slow = Client::connect(addr);
    slow.send(&["/slow"]);
    wait_until("the slow request runs", || {
        gates.slow_started.load(Ordering::SeqCst) == 1
    });

    let mut shutdown = shutdown_in_background(server, HANG);
    // Once the listeners are closed, connecting is refused, while the slow request still runs.
    wait_until("new connections are refused", || {
        match TcpStream::connect(addr) {
            Ok(_) => false,
            Err(e) => e.kind() == ErrorKind::ConnectionRefused,
        }
    });
    assert!(!gates.release_slow.load(Ordering::SeqCst));
    assert!(
        idle.closed_by_server(),
        "an idle keep-alive connection closes on drain"
    );
    assert!(
        !shutdown.is_finished(),
        "the slow request holds the shutdown open"
    );

    gates.release_slow.store(true, Ordering::SeqCst);
    let reply = slow.reply().expect("the slow request is answered");
    assert_eq!((reply.status, reply.body.as_str()), (200, "/slow"));
    assert!(slow.closed_by_server(), "then its connection closes");
    let report = shutdown.join();
    assert_eq!(report.cut, 0, "{report:?}");
    // The slow and the idle connection, and any probe that got in before the listeners closed
    // (each closes at once: no request).
    assert!(report.drained >= 2, "{report:?}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "still refused after the shutdown"
    );
}

#[test]
fn the_deadline_cuts_a_request_that_does_not_finish() {
    let (_lp, server, gates) = start(2);
    let mut stuck = Client::connect(server.local_addr());
    stuck.send(&["/stuck"]);
    wait_until("the stuck request runs", || {
        gates.stuck_started.load(Ordering::SeqCst) == 1
    });
    let mut done = Client::connect(server.local_addr());
    assert_eq!(done.get("/quick").status, 200);

    let report = shutdown_in_background(server, Duration::from_millis(200)).join();
    assert_eq!(
        report,
        expected(1, 1),
        "the idle one drained, the stuck one was cut"
    );
    assert!(
        stuck.closed_by_server(),
        "the cut connection is closed without a reply"
    );
}

fn expected(drained: u64, cut: u64) -> ShutdownReport {
    let mut report = ShutdownReport::default();
    report.drained = drained;
    report.cut = cut;
    report
}

#[test]
fn a_panicking_handler_ends_its_connection_and_the_workers_serve_on() {
    let (lp, server, _gates) = start(2);
    let addr = server.local_addr();
    for _ in 0..20 {
        let mut client = Client::connect(addr);
        client.send(&["/panic"]);
        assert!(
            client.closed_by_server(),
            "no reply from a panicked handler"
        );
    }
    wait_until("every panic is counted", || server.stats().panics == 20);
    let mut by_worker = [0usize; 2];
    for _ in 0..100 {
        let reply = Client::connect(addr).get("/after");
        assert_eq!(reply.status, 200);
        by_worker[reply.worker()] += 1;
    }
    assert!(by_worker.iter().all(|&n| n > 0), "{by_worker:?}");
    for worker in lp.workers() {
        assert_eq!(worker.restarts(), 0, "no executor died");
    }
    let panics: u64 = lp.workers().iter().map(WorkerLoop::panics).sum();
    assert!(
        panics >= 20,
        "the workers counted the caught panics too: {panics}"
    );
}

#[test]
fn the_loop_shuts_down_under_a_running_server_with_clients_holding_its_workers() {
    let (lp, server, gates) = start(2);
    let addr = server.local_addr();
    // What a driver's client would hold: the server's workers.
    let held = server.workers();
    let mut idle = Client::connect(addr);
    assert_eq!(idle.get("/warm").status, 200);
    let mut stuck = Client::connect(addr);
    stuck.send(&["/stuck"]);
    wait_until("the stuck request runs", || {
        gates.stuck_started.load(Ordering::SeqCst) == 1
    });

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        lp.shutdown();
        let _ = tx.send(());
    });
    rx.recv_timeout(HANG)
        .expect("Loop::shutdown hung under a running server");
    assert!(idle.closed_by_server());
    assert!(stuck.closed_by_server());
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listeners are closed"
    );
    assert!(matches!(
        held.worker(0).unwrap().submit(|| {}),
        Err(SubmitError::WorkerClosed)
    ));
    // The handle outlived its loop: shutting it down now finds nothing to do.
    let report = shutdown_in_background(server, Duration::from_secs(1)).join();
    assert_eq!(report, ShutdownReport::default());
}

#[test]
fn an_address_taken_without_reuseport_is_a_bind_error_and_nothing_keeps_serving() {
    let lp = test_loop(2);
    // A std listener does not set SO_REUSEPORT: no worker may join it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = futures_lite::future::block_on(serve_http(&lp, addr, || {
        |_req: Request<Incoming>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    }));
    match out {
        Err(corelane_runtime::serve::ServeError::Bind { worker: 0, .. }) => {}
        other => panic!("expected a bind error on worker 0, got {other:?}"),
    }
    assert_eq!(listeners_on(addr.port()), 1, "only the std listener");
}

#[test]
fn the_hyper_timer_sleeps_on_the_worker_and_is_send_and_sync() {
    use hyper::rt::Timer;
    fn send_sync<T: Send + Sync + ?Sized>(_: &T) {}
    let lp = test_loop(1);
    let slept = support::run_on(&lp.workers()[0], || async {
        let timer = corelane_runtime::serve::hyper::WorkerTimer;
        let start = Instant::now();
        let sleep = timer.sleep(Duration::from_millis(30));
        send_sync(&*sleep);
        sleep.await;
        let first = start.elapsed();
        // `sleep_until` and `reset` (hyper re-arms its header timer with it).
        let mut again = timer.sleep_until(Instant::now() + Duration::from_secs(3600));
        let before = &*again as *const dyn hyper::rt::Sleep as *const u8;
        timer.reset(&mut again, Instant::now() + Duration::from_millis(10));
        let after = &*again as *const dyn hyper::rt::Sleep as *const u8;
        assert_eq!(before, after, "reset re-armed the same timer");
        again.await;
        first
    });
    assert!(slept >= Duration::from_millis(30), "woke after {slept:?}");
    // Off a worker there is no timer to arm: it completes at once instead of never.
    let timer = corelane_runtime::serve::hyper::WorkerTimer;
    futures_lite::future::block_on(timer.sleep(Duration::from_secs(3600)));
}

/// The protocol-agnostic `serve`: a line-echo server whose handler watches its `Drain`.
#[test]
fn a_plain_tcp_server_sees_the_drain_and_finishes_its_line() {
    use corelane_runtime::serve::{serve, Drain};
    use corelane_runtime::Stream;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::io::{BufRead, BufReader};

    async fn echo_lines(mut stream: Stream, drain: Drain) {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            // Between lines, a draining server stops reading: the connection ends.
            if line.is_empty() && drain.is_draining() {
                let _ = stream.write_all(b"bye\n").await;
                return;
            }
            let read =
                futures_lite::future::or(async { Some(stream.read(&mut byte).await) }, async {
                    if line.is_empty() {
                        drain.draining().await;
                        None
                    } else {
                        std::future::pending().await
                    }
                })
                .await;
            match read {
                None => continue,
                Some(Ok(1)) => {
                    line.push(byte[0]);
                    if byte[0] == b'\n' {
                        if stream.write_all(&line).await.is_err() {
                            return;
                        }
                        line.clear();
                    }
                }
                Some(_) => return,
            }
        }
    }

    let lp = test_loop(2);
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = futures_lite::future::block_on(serve(&lp, addr, || echo_lines)).unwrap();
    let mut idle = TcpStream::connect(server.local_addr()).unwrap();
    let mut half = TcpStream::connect(server.local_addr()).unwrap();
    idle.set_read_timeout(Some(HANG)).unwrap();
    half.set_read_timeout(Some(HANG)).unwrap();
    idle.write_all(b"ping\n").unwrap();
    let mut idle_reader = BufReader::new(idle.try_clone().unwrap());
    let mut got = String::new();
    idle_reader.read_line(&mut got).unwrap();
    assert_eq!(got, "ping\n");
    half.write_all(b"half a li").unwrap();
    wait_until("both connections are open", || server.stats().open == 2);

    let shutdown = shutdown_in_background(server, HANG);
    got.clear();
    idle_reader.read_line(&mut got).unwrap();
    assert_eq!(got, "bye\n", "the idle connection is told and closed");
    // The half-written line is still served: finish it.
    half.write_all(b"ne\n").unwrap();
    let mut half_reader = BufReader::new(half);
    got.clear();
    half_reader.read_line(&mut got).unwrap();
    assert_eq!(got, "half a line\n");
    got.clear();
    half_reader.read_line(&mut got).unwrap();
    assert_eq!(got, "bye\n");
    assert_eq!(shutdown.join(), expected(2, 0));
}

#[test]
fn the_local_executor_runs_hyper_futures_on_the_worker() {
    use hyper::rt::Executor;
    let lp = test_loop(1);
    let ran_on = support::run_on(&lp.workers()[0], || async {
        let (tx, rx) = std::sync::mpsc::channel();
        corelane_runtime::serve::hyper::LocalExec.execute(async move {
            // A `!Send` future is fine: it stays on this worker.
            let local = std::rc::Rc::new(WorkerLoop::current().map(|w| w.id()));
            task::yield_now().await;
            let _ = tx.send(*local);
        });
        for _ in 0..100 {
            if let Ok(id) = rx.try_recv() {
                return id;
            }
            task::yield_now().await;
        }
        None
    });
    assert_eq!(ran_on, Some(0));
}

#[test]
fn serve_http_with_applies_the_connection_settings() {
    let lp = test_loop(2);
    let mut settings = hyper::server::conn::http1::Builder::new();
    settings.keep_alive(false);
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let gates = Arc::new(Gates::default());
    let server = futures_lite::future::block_on(corelane_runtime::serve::serve_http_with(
        &lp,
        addr,
        settings,
        move || {
            let gates = gates.clone();
            move |req| route(req, gates.clone())
        },
    ))
    .unwrap();
    let mut client = Client::connect(server.local_addr());
    let reply = client.get("/once");
    assert_eq!(reply.body, "/once");
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(
        client.closed_by_server(),
        "no keep-alive: closed after one reply"
    );
}

#[test]
fn a_burst_of_connections_is_accepted_and_every_one_served() {
    let (_lp, server, _gates) = start(2);
    // All connected before any request: they queue in the listeners' backlogs and the accept
    // loops take them in runs (yielding between runs to the connections already accepted).
    let mut clients: Vec<Client> = (0..300)
        .map(|_| Client::connect(server.local_addr()))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&[&format!("/burst/{i}")]);
    }
    let mut by_worker = [0usize; 2];
    for (i, client) in clients.iter_mut().enumerate() {
        let reply = client.reply().expect("every connection is served");
        assert_eq!(reply.body, format!("/burst/{i}"));
        by_worker[reply.worker()] += 1;
    }
    assert!(by_worker.iter().all(|&n| n > 0), "{by_worker:?}");
    assert_eq!(server.stats().accepted, 300);
    assert_eq!(server.stats().open, 300);
    let report = shutdown_in_background(server, Duration::from_secs(5)).join();
    assert_eq!(
        report,
        expected(300, 0),
        "idle keep-alive connections all drain"
    );
}

/// Request bodies larger than one read, from two connections of one worker whose bytes arrive
/// interleaved in small pieces: each read lands in the worker's shared scratch buffer before
/// it is copied into hyper's, so a byte lost, repeated or taken from the other connection's
/// read would change a digest.
#[test]
fn large_bodies_arriving_in_pieces_on_two_connections_of_one_worker_are_read_whole() {
    let (lp, server, _gates) = start(1);
    let bodies: Vec<Vec<u8>> = (0..2u8)
        .map(|c| {
            (0..300 * 1024u32)
                .map(|i| (i.wrapping_mul(31) as u8) ^ c.wrapping_mul(0x5a))
                .collect()
        })
        .collect();
    let mut clients: Vec<Client> = (0..2)
        .map(|_| Client::connect(server.local_addr()))
        .collect();
    for (client, body) in clients.iter_mut().zip(&bodies) {
        let head = format!(
            "POST /digest HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        client.sock.write_all(head.as_bytes()).unwrap();
    }
    for k in 0..bodies[0].len().div_ceil(7 * 1024) {
        for (client, body) in clients.iter_mut().zip(&bodies) {
            let piece = &body[(k * 7 * 1024).min(body.len())..((k + 1) * 7 * 1024).min(body.len())];
            client.sock.write_all(piece).unwrap();
        }
    }
    for (client, body) in clients.iter_mut().zip(&bodies) {
        let reply = client
            .reply()
            .expect("the connection closed before a reply");
        assert_eq!((reply.status, reply.body), (200, digest(body)));
    }
    drop(clients);
    futures_lite::future::block_on(server.shutdown(Duration::from_secs(5)));
    lp.shutdown();
}

/// Request heads that drip in one byte at a time, two connections of one worker interleaved:
/// every read returns a byte or two through the shared scratch buffer, and each head must
/// still parse whole and be answered on its own connection.
#[test]
fn request_heads_dripping_a_byte_at_a_time_on_two_connections_are_answered() {
    let (lp, server, _gates) = start(1);
    let mut clients: Vec<Client> = (0..2)
        .map(|_| Client::connect(server.local_addr()))
        .collect();
    for client in &clients {
        client.sock.set_nodelay(true).unwrap();
    }
    let heads: Vec<String> = (0..2)
        .map(|c| format!("GET /drip{c} HTTP/1.1\r\nHost: test\r\n\r\n"))
        .collect();
    for k in 0..heads.iter().map(String::len).max().unwrap() {
        for (client, head) in clients.iter_mut().zip(&heads) {
            if let Some(byte) = head.as_bytes().get(k) {
                client.sock.write_all(&[*byte]).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for (c, client) in clients.iter_mut().enumerate() {
        let reply = client
            .reply()
            .expect("the connection closed before a reply");
        assert_eq!((reply.status, reply.body), (200, format!("/drip{c}")));
    }
    drop(clients);
    futures_lite::future::block_on(server.shutdown(Duration::from_secs(5)));
    lp.shutdown();
}
