//! Shared pieces of the postgres driver's integration tests: one throwaway server per test
//! binary, hang guards, running futures on a loop worker, a small deterministic RNG, a
//! drop-after-k-polls wrapper, reading the process RSS, and a scripted fake PostgreSQL server
//! on std threads.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod types;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use corelane_postgres::{Client, Config};
use corelane_runtime::{configure_standalone, Loop, Placement};
use corelane_testkit::PgServer;
use futures_lite::FutureExt;

/// How long anything in these tests may take before it counts as a hang. Generous on purpose:
/// this is a guard against hangs, not a timing assertion.
pub const HANG: Duration = Duration::from_secs(120);

/// The server shared by the tests of one binary: started by the first test that needs it,
/// stopped (and its directory removed) when the last test holding it finishes.
pub fn shared_server() -> Arc<PgServer> {
    static SLOT: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
    let mut slot = SLOT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(server) = slot.upgrade() {
        return server;
    }
    let server = Arc::new(PgServer::start().expect("start postgres"));
    *slot = Arc::downgrade(&server);
    server
}

/// Asks for a standalone loop of two unbound workers (when none runs yet).
pub fn two_workers() {
    let _ = configure_standalone(
        Loop::builder()
            .workers(2)
            .placement(Placement::Unbound)
            .name("pg-tests"),
    );
}

/// A client for `server` with `tweak` applied to its config.
pub fn client_for(server: &PgServer, tweak: impl FnOnce(Config) -> Config) -> Client {
    Client::new(tweak(Config::parse(&server.url()).expect("url"))).expect("client")
}

/// A client for a fake server at `addr` (user `postgres`, database `test`).
pub fn client_at(addr: SocketAddr, tweak: impl FnOnce(Config) -> Config) -> Client {
    let config = Config::default()
        .host("127.0.0.1", addr.port())
        .user("postgres")
        .dbname("test")
        .connect_timeout(Duration::from_secs(20));
    Client::new(tweak(config)).expect("client")
}

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
/// count) and waits for its output. A panic inside the future is caught on the worker (so its
/// executor survives) and re-raised here.
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

/// The resident set size of this process, in KiB (`VmRSS` in `/proc/self/status`).
pub fn rss_kib() -> u64 {
    corelane_testkit::rss_kib().expect("VmRSS in /proc/self/status")
}

/// xorshift64*: small, deterministic, good enough to pick test actions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn i32(&mut self) -> i32 {
        self.next_u64() as i32
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// A future that gives up (and drops its inner future at once) after `polls` polls unless the
/// inner one finished first. `polls == 0` drops it without polling it at all.
pub struct DropAfter<'a, T> {
    inner: Option<Pin<Box<dyn Future<Output = T> + 'a>>>,
    polls_left: usize,
}

impl<'a, T> DropAfter<'a, T> {
    pub fn new(fut: impl Future<Output = T> + 'a, polls: usize) -> Self {
        DropAfter {
            inner: Some(Box::pin(fut)),
            polls_left: polls,
        }
    }
}

impl<T> Future for DropAfter<'_, T> {
    type Output = Option<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.polls_left == 0 {
            self.inner = None;
            return Poll::Ready(None);
        }
        self.polls_left -= 1;
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.as_mut().poll(cx) {
            Poll::Ready(v) => {
                self.inner = None;
                Poll::Ready(Some(v))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A scripted fake PostgreSQL server.
// ---------------------------------------------------------------------------------------------

/// A backend message: tag, length (counting itself), body.
pub fn backend(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// `AuthenticationOk`.
pub fn auth_ok() -> Vec<u8> {
    backend(b'R', &0i32.to_be_bytes())
}

/// `ReadyForQuery` (idle).
pub fn ready() -> Vec<u8> {
    backend(b'Z', b"I")
}

/// An `Authentication` message with request code `code` and `data`.
pub fn auth(code: i32, data: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(data);
    backend(b'R', &body)
}

/// Standard base64 with padding (enough for the SCRAM messages of the fake server).
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One client connection to a [`FakePg`], driven by the test's script.
pub struct Session {
    /// 0 for the first connection the server accepted, 1 for the next, …
    pub index: usize,
    stream: TcpStream,
}

impl Session {
    fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        self.stream.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    /// Reads the startup packet (answering an SSLRequest with `N` first); its body.
    pub fn read_startup(&mut self) -> Option<Vec<u8>> {
        loop {
            let len = i32::from_be_bytes(self.read_exact(4)?.try_into().ok()?);
            let body = self.read_exact(usize::try_from(len).ok()?.checked_sub(4)?)?;
            if body.get(..4) == Some(&80_877_103i32.to_be_bytes()[..]) {
                self.write(b"N");
                continue;
            }
            return Some(body);
        }
    }

    /// Reads one frontend message: tag and body.
    pub fn read_message(&mut self) -> Option<(u8, Vec<u8>)> {
        let head = self.read_exact(5)?;
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let body = self.read_exact(usize::try_from(len).ok()?.checked_sub(4)?)?;
        Some((head[0], body))
    }

    /// Reads frontend messages up to and including the next `Sync` (or simple `Query`).
    pub fn read_until_sync(&mut self) -> Option<Vec<(u8, Vec<u8>)>> {
        let mut got = Vec::new();
        loop {
            let (tag, body) = self.read_message()?;
            got.push((tag, body));
            if tag == b'S' || tag == b'Q' {
                return Some(got);
            }
        }
    }

    /// Startup with no password: AuthenticationOk, then ReadyForQuery.
    pub fn handshake(&mut self) -> Option<()> {
        self.read_startup()?;
        let mut out = auth_ok();
        out.extend_from_slice(&ready());
        self.write(&out);
        Some(())
    }

    /// Writes `bytes` in one write; errors (the client went away) are ignored.
    pub fn write(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Blocks until the client closes the connection (or [`HANG`] passes), discarding what it
    /// sends. True when the client closed it.
    pub fn wait_for_close(&mut self) -> bool {
        corelane_testkit::wait_for_close(&mut self.stream)
    }

    /// Closes both directions now.
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A scripted PostgreSQL impostor: each accepted connection runs `script` on its own thread.
pub struct FakePg {
    pub addr: SocketAddr,
    server: corelane_testkit::ScriptedServer,
}

impl FakePg {
    pub fn start(script: impl Fn(Session) + Send + Sync + 'static) -> FakePg {
        let server = corelane_testkit::ScriptedServer::start(HANG, move |index, stream| {
            script(Session { index, stream })
        })
        .unwrap();
        FakePg {
            addr: server.addr(),
            server,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.server.accepted()
    }
}
