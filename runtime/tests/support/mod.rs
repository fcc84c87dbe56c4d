//! Shared pieces of the runtime's integration tests: a line protocol and real TCP servers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use corelane_runtime::roundtrip::Codec;
use corelane_runtime::{Loop, Placement, RemoteTask, WorkerLoop};

/// Replies are lines ending in `\n`. Lines longer than 1 MiB are a protocol error.
pub struct Lines;

impl Codec for Lines {
    type Reply = Bytes;
    type Expect = ();
    type Error = String;

    fn decode(&mut self, _: &(), input: &mut BytesMut) -> Result<Option<Bytes>, String> {
        match input.iter().position(|&b| b == b'\n') {
            Some(i) => Ok(Some(input.split_to(i + 1).freeze())),
            None if input.len() > 1 << 20 => Err("line too long".into()),
            None => Ok(None),
        }
    }

    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), String> {
        if input.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unsolicited bytes", input.len()))
        }
    }
}

/// A line-echo server on std threads: one thread per connection, echoing each line.
/// With `close_after`, each connection is closed after echoing that many lines.
pub struct EchoServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub accepted: Arc<AtomicUsize>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        Self::start_with(None)
    }

    pub fn start_with(close_after: Option<usize>) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                accepted2.fetch_add(1, Ordering::AcqRel);
                std::thread::spawn(move || echo_lines(conn, close_after));
            }
        });
        EchoServer {
            addr,
            stop,
            accepted,
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

fn echo_lines(conn: TcpStream, close_after: Option<usize>) {
    conn.set_nodelay(true).unwrap();
    let mut writer = std::io::BufWriter::new(conn.try_clone().unwrap());
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    let mut echoed = 0;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if writer.write_all(&line).is_err() {
            return;
        }
        echoed += 1;
        // Flush when no more input is buffered, so pipelined lines leave in big writes.
        if reader.buffer().is_empty() && writer.flush().is_err() {
            return;
        }
        if close_after == Some(echoed) {
            let _ = writer.flush();
            let _ = writer.get_ref().shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// A server that accepts connections and never reads them (to fill buffers).
pub struct DeafServer {
    pub addr: SocketAddr,
    _held: Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl DeafServer {
    pub fn start() -> DeafServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let held2 = held.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                held2.lock().unwrap().push(conn);
            }
        });
        DeafServer { addr, _held: held }
    }
}

pub mod framed;
pub mod stress;
pub mod tls_echo;

/// A loop of `n` unbound workers, for tests (the machine may have fewer CPUs than tests).
pub mod toy_server;

pub fn test_loop(n: usize) -> Loop {
    Loop::builder()
        .workers(n)
        .placement(Placement::Unbound)
        .name("test")
        .start()
        .unwrap()
}

/// Blocks the test thread on a task run on `worker`, failing the test if it hangs.
pub fn run_on<T: Send + 'static, Fut: std::future::Future<Output = T> + 'static>(
    worker: &WorkerLoop,
    make: impl FnOnce() -> Fut + Send + 'static,
) -> T {
    wait(worker.spawn(make))
}

/// Waits for a remote task with a generous hang guard (not a timing assertion).
pub fn wait<T: Send + 'static>(task: RemoteTask<T>) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(futures_lite::future::block_on(task));
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the task hung")
        .expect("the worker shut down")
}

/// A future that is dropped after `polls` polls unless it finished first.
pub struct Cancellable<F> {
    pub fut: F,
    pub polls_left: usize,
}

impl<F: std::future::Future + Unpin> std::future::Future for Cancellable<F> {
    type Output = Option<F::Output>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if self.polls_left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.polls_left -= 1;
        match std::pin::Pin::new(&mut self.fut).poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// Runs `reqs` as one batch on `pipe` (an echo server behind it) and checks every reply is its
/// own request's echo.
pub async fn run_checked(pipe: &corelane_runtime::roundtrip::Pipe<Lines>, reqs: &[String]) {
    let mut batch = corelane_runtime::roundtrip::Batch::new();
    for r in reqs {
        batch.push_bytes((), r.as_bytes());
    }
    pipe.run(&mut batch).await.unwrap();
    for (k, reply) in batch.take_all().into_iter().enumerate() {
        assert_eq!(reply.unwrap(), reqs[k].as_bytes(), "reply {k}");
    }
}

/// `n` requests `"{prefix}-{i}\n"`.
pub fn lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}\n")).collect()
}
