//! A loopback TCP proxy that injects faults between a client and a server.

mod pump;
mod state;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use state::{Conn, Flow, Shared};

/// How long the accept loop sleeps when no client is waiting; bounds how long `drop` waits.
const ACCEPT_POLL: Duration = Duration::from_millis(2);
/// Time allowed to connect to the upstream server for each accepted client.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the proxy does to bytes flowing in one direction.
///
/// One-shot modes ([`Mode::CutAfter`], [`Mode::Corrupt`]) count bytes from the moment they are
/// set, across all connections in that direction, and switch back to [`Mode::PassThrough`]
/// once they have fired.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Forward bytes unchanged.
    #[default]
    PassThrough,
    /// Wait this long before forwarding each chunk read from the socket.
    Delay(Duration),
    /// Hold bytes and forward nothing until the mode changes (then the held bytes flow).
    Stall,
    /// Forward this many more bytes, then close both sides of every current connection.
    /// `CutAfter(0)` closes them at once.
    CutAfter(u64),
    /// Flip every bit of the byte at this offset from now (counted in this direction), once.
    Corrupt {
        /// Offset of the byte to corrupt, counted from when the mode was set.
        after: u64,
    },
    /// Forward in writes of at most this many bytes (0 is treated as 1), with `TCP_NODELAY`, so
    /// each write leaves as its own segment. The receiver can still coalesce them if it reads
    /// slowly.
    Fragment(usize),
}

/// Which direction a [`Mode`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// Requests: client → server.
    ClientToServer,
    /// Replies: server → client.
    ServerToClient,
    /// Both directions.
    Both,
}

impl Direction {
    fn flows(self) -> &'static [Flow] {
        match self {
            Direction::ClientToServer => &[Flow::ClientToServer],
            Direction::ServerToClient => &[Flow::ServerToClient],
            Direction::Both => &[Flow::ClientToServer, Flow::ServerToClient],
        }
    }
}

/// A TCP proxy on `127.0.0.1` forwarding each accepted connection to `upstream`, with
/// [`Mode`]s switchable while it runs.
///
/// Each connection is served by two std threads (one per direction). Dropping the proxy stops
/// accepting, closes every connection and joins all threads; nothing it does can block the
/// drop for longer than one upstream connect attempt (2 s).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::io("binding the proxy listener", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("making the proxy listener non-blocking", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the proxy address", e))?;
        let shared = Arc::new(Shared::new(upstream));
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("fault-proxy-accept-{}", addr.port()))
                .spawn(move || accept_loop(listener, &shared))
                .map_err(|e| Error::io("spawning the proxy accept thread", e))?
        };
        Ok(FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server this proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Sets the mode of both directions.
    pub fn set_mode(&self, mode: Mode) {
        self.set_mode_on(Direction::Both, mode);
    }

    /// Sets the mode of one direction (or both). Takes effect for bytes not yet forwarded,
    /// on current and future connections.
    pub fn set_mode_on(&self, direction: Direction, mode: Mode) {
        self.shared.set_mode(direction.flows(), mode);
    }

    /// The current mode of `direction`; for [`Direction::Both`], `None` if the two differ.
    pub fn mode(&self, direction: Direction) -> Option<Mode> {
        let modes: Vec<Mode> = direction
            .flows()
            .iter()
            .map(|flow| self.shared.mode(*flow))
            .collect();
        match modes.split_first() {
            Some((first, rest)) if rest.iter().all(|m| m == first) => Some(first.clone()),
            _ => None,
        }
    }

    /// Closes both sides of every current connection now. New connections are still accepted.
    pub fn cut_all(&self) {
        self.shared.cut_all();
    }

    /// How many client connections are open (a connection counts until both directions ended).
    pub fn connections(&self) -> usize {
        self.shared.connections()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.shared.cut_all();
        for worker in self.shared.take_workers() {
            let _ = worker.join();
        }
    }
}

/// Accepts clients until shutdown, polling the non-blocking listener so the loop always sees
/// the shutdown flag within [`ACCEPT_POLL`].
fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => serve(client, shared),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // WouldBlock, or a transient error such as EMFILE: back off briefly either way.
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
        shared.reap_workers();
    }
}

/// Connects `client` to the upstream server and starts its two pump threads.
fn serve(client: TcpStream, shared: &Arc<Shared>) {
    let Ok(server) = TcpStream::connect_timeout(&shared.upstream, UPSTREAM_CONNECT_TIMEOUT) else {
        // Closing the client tells it the upstream is unreachable.
        return;
    };
    let Ok(conn) = Conn::new(client, server) else {
        return;
    };
    let conn = Arc::new(conn);
    shared.register(Arc::clone(&conn));
    for flow in [Flow::ClientToServer, Flow::ServerToClient] {
        let (shared2, conn2) = (Arc::clone(shared), Arc::clone(&conn));
        let spawned = std::thread::Builder::new()
            .name(format!("fault-proxy-{flow:?}"))
            .spawn(move || pump::run(&shared2, &conn2, flow));
        match spawned {
            Ok(handle) => shared.add_worker(handle),
            Err(_) => {
                // The other pump (if any) sees the cut and exits; this one never started.
                conn.cut();
                shared.pump_finished(&conn);
            }
        }
    }
}
