//! A throwaway `memcached`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::port::free_port;
use crate::process::{find_on_path, kill_and_reap, log_tail, POLL};
use crate::tempdir::TempDir;

/// How many fresh ports startup tries before giving up.
const START_ATTEMPTS: usize = 5;
/// Time allowed for the server to answer `version`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A `memcached -l 127.0.0.1 -p PORT -U 0` child process (TCP only), its log in a temp dir.
///
/// Dropping it kills the process and removes the directory.
#[derive(Debug)]
pub struct MemcachedServer {
    dir: TempDir,
    log: PathBuf,
    binary: PathBuf,
    extra: Vec<String>,
    port: u16,
    child: Option<Child>,
}

impl MemcachedServer {
    /// Starts a server with default options on a free loopback port.
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line arguments (e.g. `["-I", "2m"]`).
    pub fn start_with(extra: &[&str]) -> Result<Self> {
        let binary = find_on_path("memcached").ok_or_else(|| Error::MissingBinary {
            binary: "memcached".into(),
            searched: "PATH".into(),
            install: "apt-get install memcached",
        })?;
        let dir = TempDir::new("memcached")?;
        let mut server = MemcachedServer {
            log: dir.path().join("memcached.log"),
            dir,
            binary,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            port: 0,
            child: None,
        };
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            server.port = free_port()?;
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                // Most likely the port was taken between picking and binding: try another one.
                Err(e @ Error::Exited { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("memcached never started".into())))
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file (stdout and stderr).
    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// The server's `stats` as `(name, value)` pairs, read over a connection of its own.
    pub fn stats(&self) -> Result<Vec<(String, String)>> {
        let io = |e| Error::io("reading memcached stats", e);
        let mut stream =
            TcpStream::connect_timeout(&self.addr(), Duration::from_secs(2)).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io)?;
        stream.write_all(b"stats\r\n").map_err(io)?;
        let text = read_until(&mut stream, b"END\r\n").map_err(io)?;
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix("STAT "))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// One `stats` counter as a number (`curr_connections`, `total_connections`, …).
    pub fn stat(&self, name: &str) -> Result<u64> {
        self.stats()?
            .into_iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| Error::Config(format!("no numeric stat {name}")))
    }

    /// Kills the server now with SIGKILL, as a crash would. A no-op if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(format!("opening {}", self.log.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("duplicating the log handle", e))?;
        let mut cmd = Command::new(&self.binary);
        cmd.args(["-l", "127.0.0.1", "-U", "0", "-p"])
            .arg(self.port.to_string())
            .args(&self.extra)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // memcached refuses to run as root unless told which user to be.
        if is_root() {
            cmd.args(["-u", "root"]);
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("spawning {}", self.binary.display()), e))?;
        self.child = Some(child);
        let result = self.wait_ready();
        if result.is_err() {
            self.kill();
        }
        result
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            self.check_alive()?;
            if version(self.addr()).is_ok() {
                // The reply could come from a stranger who grabbed the port first; ours would
                // then have exited on its bind failure.
                std::thread::sleep(Duration::from_millis(10));
                return self.check_alive();
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    server: "memcached",
                    port: self.port,
                    timeout: STARTUP_TIMEOUT,
                    log_tail: log_tail(&self.log, 20),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    fn check_alive(&mut self) -> Result<()> {
        crate::process::check_running(&mut self.child, "memcached", self.port, &self.log)
    }
}

impl Drop for MemcachedServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn is_root() -> bool {
    // The effective uid, from /proc: this crate has no libc dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn read_until(stream: &mut TcpStream, end: &[u8]) -> std::io::Result<String> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.ends_with(end) {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        reply.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Sends `version` and waits for its reply line.
fn version(addr: SocketAddr) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(250))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"version\r\n")?;
    let reply = read_until(&mut stream, b"\r\n")?;
    if reply.starts_with("VERSION ") {
        Ok(())
    } else {
        Err(std::io::ErrorKind::InvalidData.into())
    }
}
