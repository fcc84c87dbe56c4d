//! The generic session loop (`corelane_runtime::session`) over real loopback TCP, against a
//! tiny line server scripted in this test (the runtime has no database): it confirms
//! `SUB x` with `OK x`, pushes `MSG m` lines, can leave a request unanswered and can drop a
//! connection. Checks resubscription after a lost connection, waiters carried across it, and
//! that dropping the consumer ends the task and closes the socket.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::support::test_loop;
use bytes::BytesMut;
use corelane_runtime::pool::Backoff;
use corelane_runtime::session::{
    self, Connect, Connection, Link, Pending, Shared, Spec, Waiter, Wanted,
};
use corelane_runtime::{CloseCause, Handler, Limits, Registered, Stream};

/// A hang guard, not a timing assertion.
const WAIT: Duration = Duration::from_secs(60);

// ---- the session's driver side: a line protocol

#[derive(Debug, Clone, PartialEq, Eq)]
struct TestError(String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Sub(String),
    Unsub(String),
}

#[derive(Debug, Clone, Default)]
struct Names(BTreeSet<String>);

impl Wanted for Names {
    type Request = Req;

    fn apply(&mut self, request: Req) -> Option<Req> {
        match &request {
            Req::Sub(n) => self.0.insert(n.clone()),
            Req::Unsub(n) => self.0.remove(n),
        };
        Some(request)
    }

    fn subscribes(request: &Req) -> bool {
        matches!(request, Req::Sub(_))
    }

    fn resubscribe(&self) -> Vec<Req> {
        self.0.iter().cloned().map(Req::Sub).collect()
    }
}

struct Lines;

impl Spec for Lines {
    type Message = String;
    type Wanted = Names;
    type Error = TestError;

    fn closed_error(cause: CloseCause) -> TestError {
        TestError(cause.to_string())
    }

    fn ended_error() -> TestError {
        TestError("ended".into())
    }
}

struct LineHandler {
    shared: Arc<Shared<Lines>>,
    local: Rc<Link<String, TestError>>,
}

impl Handler for LineHandler {
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        let mut batch = Vec::new();
        while let Some(end) = input.iter().position(|&b| b == b'\n') {
            let line = input.split_to(end + 1);
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            if let Some(message) = line.strip_prefix("MSG ") {
                batch.push(message.to_owned());
            } else if let Some(name) = line.strip_prefix("OK ") {
                let head = self.local.pending().pop_front();
                match head {
                    Some(head) if head.detail == name => head.succeed(),
                    _ => return Err(CloseCause::protocol("a confirmation nobody waits for")),
                }
            } else {
                return Err(CloseCause::protocol("an unknown line"));
            }
        }
        self.shared.inbox().deliver(&mut batch);
        Ok(())
    }

    fn on_close(&mut self, cause: &CloseCause) {
        self.local.on_close(cause, &self.shared);
    }
}

struct LineConn {
    conn: Registered<LineHandler>,
    local: Rc<Link<String, TestError>>,
}

impl Connection<Lines> for LineConn {
    type Handler = LineHandler;
    type Detail = String;

    fn registered(&self) -> &Registered<LineHandler> {
        &self.conn
    }

    fn send(&self, request: Req, waiters: Vec<Waiter<TestError>>) {
        let (line, name) = match request {
            Req::Sub(n) => (format!("SUB {n}\n"), n),
            Req::Unsub(n) => (format!("UNSUB {n}\n"), n),
        };
        let entry = Pending {
            detail: name,
            waiters,
        };
        if let Some((refused, e)) = self
            .local
            .pending()
            .push_then_write(entry, || self.conn.write(line.as_bytes()))
        {
            refused.fail(&TestError(e.to_string()));
        }
    }

    fn link(&self) -> &Link<String, TestError> {
        &self.local
    }
}

struct Connector {
    addr: SocketAddr,
}

impl Connect<Lines> for Connector {
    type Conn = LineConn;

    async fn open(&mut self, shared: &Arc<Shared<Lines>>) -> Result<LineConn, TestError> {
        let stream = Stream::connect_tcp(self.addr)
            .await
            .map_err(|e| TestError(e.to_string()))?;
        let local = Rc::new(Link::default());
        let handler = LineHandler {
            shared: shared.clone(),
            local: local.clone(),
        };
        let conn = Registered::register(stream, handler, Limits::default())
            .map_err(|e| TestError(e.to_string()))?;
        Ok(LineConn { conn, local })
    }
}

// ---- the scripted server

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Connection `n` (1-based) sent this line.
    Line(usize, String),
    /// Connection `n` reached end of input.
    Eof(usize),
}

struct Server {
    addr: SocketAddr,
    seen: mpsc::Receiver<Seen>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Server {
    /// Confirms every `SUB`/`UNSUB` line, except `SUB hold` on the first connection.
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::channel();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let conns2 = conns.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let n = {
                    let mut all = conns2.lock().unwrap();
                    all.push(conn.try_clone().unwrap());
                    all.len()
                };
                let tx = tx.clone();
                std::thread::spawn(move || serve(n, conn, tx));
            }
        });
        Server { addr, seen, conns }
    }

    fn next(&self) -> Seen {
        self.seen
            .recv_timeout(WAIT)
            .expect("the server saw nothing")
    }

    fn push(&self, n: usize, message: &str) {
        let mut conn = self.conns.lock().unwrap()[n - 1].try_clone().unwrap();
        conn.write_all(format!("MSG {message}\n").as_bytes())
            .unwrap();
    }

    /// Drops connection `n` from the server's side.
    fn kill(&self, n: usize) {
        let conn = &self.conns.lock().unwrap()[n - 1];
        conn.shutdown(std::net::Shutdown::Both).unwrap();
    }
}

fn serve(n: usize, conn: TcpStream, tx: mpsc::Sender<Seen>) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = tx.send(Seen::Eof(n));
                return;
            }
            Ok(_) => {}
        }
        let line = line.trim_end().to_owned();
        let name = line.split_once(' ').map(|(_, name)| name.to_owned());
        let _ = tx.send(Seen::Line(n, line.clone()));
        let held = n == 1 && line == "SUB hold";
        if let Some(name) = name.filter(|_| !held) {
            if writer.write_all(format!("OK {name}\n").as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// Runs `fut` to completion on a helper thread, failing the test if it hangs.
fn wait<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(futures_lite::future::block_on(fut));
    });
    rx.recv_timeout(WAIT).expect("the future hung")
}

fn next_message(shared: &Arc<Shared<Lines>>) -> impl Future<Output = Option<String>> + Send {
    let shared = shared.clone();
    async move { std::future::poll_fn(|cx| shared.poll_next(cx)).await }
}

#[test]
fn reconnects_resubscribes_carries_waiters_and_closes_on_drop() {
    let server = Server::start();
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let shared = Arc::new(Shared::<Lines>::new(worker, 16));
    let connector = Connector { addr: server.addr };
    let backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(20));
    session::start(&shared, connector, backoff).unwrap();

    // First connection: two subscriptions confirmed, a message pushed.
    wait(shared.request(Req::Sub("a".into()))).unwrap();
    wait(shared.request(Req::Sub("b".into()))).unwrap();
    assert_eq!(server.next(), Seen::Line(1, "SUB a".into()));
    assert_eq!(server.next(), Seen::Line(1, "SUB b".into()));
    server.push(1, "hello");
    assert_eq!(wait(next_message(&shared)).as_deref(), Some("hello"));
    assert_eq!(shared.status().connects(), 1);

    // A subscribe in flight (the server holds its confirmation) when the connection drops.
    let held = shared.request(Req::Sub("hold".into()));
    assert_eq!(server.next(), Seen::Line(1, "SUB hold".into()));
    server.kill(1);

    // The next connection subscribes everything wanted; its last confirmation completes the
    // carried waiter. (The first connection's end may be seen before or after.)
    let mut again = Vec::new();
    let mut first_ended = false;
    while again.len() < 3 || !first_ended {
        match server.next() {
            Seen::Line(2, line) => again.push(line),
            Seen::Eof(1) => first_ended = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(again, ["SUB a", "SUB b", "SUB hold"]);
    wait(held).unwrap();
    assert_eq!(shared.status().connects(), 2);
    assert!(shared.status().last_error().is_some());
    server.push(2, "again");
    assert_eq!(wait(next_message(&shared)).as_deref(), Some("again"));

    // An unsubscribe goes out and is forgotten.
    wait(shared.request(Req::Unsub("b".into()))).unwrap();
    assert_eq!(server.next(), Seen::Line(2, "UNSUB b".into()));
    let names: Vec<String> = shared.with_wanted(|w| w.0.iter().cloned().collect());
    assert_eq!(names, ["a", "hold"]);

    // The consumer is dropped: the task closes the socket and ends the stream.
    shared.close();
    assert_eq!(server.next(), Seen::Eof(2));
    assert_eq!(wait(next_message(&shared)), None);
    assert!(!shared.status().is_connected());
    let late = wait(shared.request(Req::Sub("late".into())));
    assert_eq!(late, Err(Lines::closed_error(CloseCause::Unregistered)));
}
