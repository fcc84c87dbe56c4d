//! Shared pieces of the redis driver's integration tests: hang guards, running futures on a
//! loop worker, reading the process RSS, and a scripted fake Redis server on std threads.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use corelane_redis::{Client, Config, Protocol};
use futures_lite::FutureExt;

/// How long anything in these tests may take before it counts as a hang. Generous on purpose:
/// this is a guard against hangs, not a timing assertion.
pub const HANG: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread and fails the test if it does not finish within [`HANG`].
/// A panic inside `f` is re-raised here.
pub fn guard<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    corelane_testkit::guard(what, HANG, f)
}

/// Awaits `fut` on the calling (non-worker) thread: calls go through a worker's mailbox.
pub fn block_on<T>(fut: impl Future<Output = T>) -> T {
    futures_lite::future::block_on(fut)
}

/// Runs the future made by `make` on worker `n` of the standalone loop (modulo the worker
/// count) and waits for its output. A panic inside the future is caught on the worker (so the
/// worker's executor survives) and re-raised on the calling thread.
pub fn on_worker<F, Fut, T>(n: usize, make: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let workers = corelane_runtime::resolve(None).expect("standalone loop");
    let worker = workers
        .worker(n % workers.num_workers())
        .expect("worker")
        .clone();
    let task = worker.spawn(move || AssertUnwindSafe(make()).catch_unwind());
    match block_on(task).expect("the worker refused the task") {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The number of workers of the standalone loop.
pub fn num_workers() -> usize {
    corelane_runtime::resolve(None)
        .expect("standalone loop")
        .num_workers()
}

/// A client for `url` on the standalone loop.
pub fn client(url: &str) -> Client {
    Client::new(Config::from_url(url).expect("url")).expect("client")
}

/// A client for `url` speaking `protocol`.
pub fn client_with(url: &str, protocol: Protocol) -> Client {
    Client::new(Config::from_url(url).expect("url").protocol(protocol)).expect("client")
}

/// Both protocols, for tests that run once per protocol.
pub const PROTOCOLS: [Protocol; 2] = [Protocol::Resp3, Protocol::Resp2];

/// The resident set size of this process, in KiB (`VmRSS` in `/proc/self/status`).
pub fn rss_kib() -> u64 {
    corelane_testkit::rss_kib().expect("VmRSS in /proc/self/status")
}

/// One client connection to a [`FakeServer`], driven by the test's script.
pub struct Session {
    /// 0 for the first connection the server accepted, 1 for the next, …
    pub index: usize,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    /// Reads one command (a RESP array of bulk strings). `None` at end of stream, on an error,
    /// or when the bytes are not a command.
    pub fn read_command(&mut self) -> Option<Vec<Vec<u8>>> {
        let header = self.line()?;
        let count: usize = header.strip_prefix('*')?.parse().ok()?;
        let mut args = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let len: usize = self.line()?.strip_prefix('$')?.parse().ok()?;
            let mut arg = vec![0u8; len + 2];
            self.reader.read_exact(&mut arg).ok()?;
            arg.truncate(len);
            args.push(arg);
        }
        Some(args)
    }

    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
        }
    }

    /// The next command that is not part of the handshake. `HELLO` is refused (as by a Redis
    /// older than 6, so the client falls back to RESP2); `AUTH`, `SELECT` and `CLIENT` get
    /// `+OK`.
    pub fn next_command(&mut self) -> Option<Vec<Vec<u8>>> {
        loop {
            let command = self.read_command()?;
            let name = command
                .first()
                .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
                .unwrap_or_default();
            match name.as_str() {
                "HELLO" => self.write(b"-ERR unknown command 'HELLO'\r\n"),
                "AUTH" | "SELECT" | "CLIENT" => self.write(b"+OK\r\n"),
                _ => return Some(command),
            }
        }
    }

    /// Writes `bytes` in one write; errors (the client went away) are ignored.
    pub fn write(&mut self, bytes: &[u8]) {
        let _ = self.writer.write_all(bytes);
        let _ = self.writer.flush();
    }

    /// Blocks until the client closes the connection (or the read guard of [`HANG`] passes),
    /// discarding whatever it sends. True when the client closed it.
    pub fn wait_for_close(&mut self) -> bool {
        corelane_testkit::wait_for_close(&mut self.reader)
    }

    /// Closes both directions now.
    pub fn close(self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}

/// A scripted Redis impostor: each accepted connection runs `script` on its own thread.
pub struct FakeServer {
    pub addr: SocketAddr,
    server: corelane_testkit::ScriptedServer,
}

impl FakeServer {
    pub fn start(script: impl Fn(Session) + Send + Sync + 'static) -> FakeServer {
        let server = corelane_testkit::ScriptedServer::start(HANG, move |index, stream| {
            let Ok(writer) = stream.try_clone() else {
                return;
            };
            script(Session {
                index,
                reader: BufReader::new(stream),
                writer,
            });
        })
        .unwrap();
        FakeServer {
            addr: server.addr(),
            server,
        }
    }

    /// `redis://` URL of the fake server.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.server.accepted()
    }
}

/// `$len\r\npayload\r\n`.
pub fn bulk(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out
}
