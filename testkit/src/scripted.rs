//! Scripted fake servers: for faults a real server cannot produce (random bytes, a length the
//! peer merely claims, a frame cut short). Never a stand-in for the database itself.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{Error, Result};

/// A loopback server that runs a script per accepted connection, each on its own thread.
/// Dropping it stops accepting (connections already handed to scripts run on).
#[derive(Debug)]
pub struct ScriptedServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl ScriptedServer {
    /// Listens on a free loopback port. Each connection gets `read_timeout` (a guard against a
    /// script waiting forever) and `TCP_NODELAY`, then `script(index, stream)` runs, `index`
    /// counting connections from 0.
    pub fn start(
        read_timeout: Duration,
        script: impl Fn(usize, TcpStream) + Send + Sync + 'static,
    ) -> Result<ScriptedServer> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| Error::Io {
            context: "binding a scripted server".into(),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            context: "reading a scripted server's address".into(),
            source,
        })?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let (count, stopped) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let index = count.fetch_add(1, Ordering::AcqRel);
                let script = script.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(read_timeout));
                    let _ = stream.set_nodelay(true);
                    script(index, stream);
                });
            }
        });
        Ok(ScriptedServer {
            addr,
            accepted,
            stop,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Acquire)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads and discards until the peer closes `stream`. True when it closed; false when the
/// stream's read timeout passed first.
pub fn wait_for_close(stream: &mut impl Read) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// This process's resident set size in KiB (`VmRSS` of `/proc/self/status`), for tests that
/// check a hostile peer did not make the client allocate.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
