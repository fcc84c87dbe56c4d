//! The web stacks as child processes: the release binaries of `examples/web` (built with
//! cargo when the run starts), each on a free loopback port, stopped (SIGTERM, then SIGKILL)
//! when dropped so a failed run leaks none.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One stack: its printed client name, its binary, and the variable that sets its worker
/// threads.
#[derive(Debug, Clone, Copy)]
pub struct StackKind {
    pub client: &'static str,
    pub binary: &'static str,
    /// corelane's workers (`corelane`, and the loop under `corelane-offloop`, whose tokio
    /// runtime keeps its default of one thread per CPU), or the peers' threads (tokio's for axum,
    /// xitca-server's workers for xitca-web).
    pub workers_env: &'static str,
}

/// The four stacks, in run order: thread-per-core, off-loop, the axum peer, the xitca peer.
pub const STACKS: [StackKind; 4] = [
    StackKind {
        client: "corelane",
        binary: "corelane-web",
        workers_env: "WEB_WORKERS",
    },
    StackKind {
        client: "corelane-offloop",
        binary: "corelane-offloop",
        workers_env: "WEB_LOOP_WORKERS",
    },
    StackKind {
        client: "axum-tokio-postgres",
        binary: "peer",
        workers_env: "WEB_WORKERS",
    },
    StackKind {
        client: "xitca-web",
        binary: "xitca",
        workers_env: "WEB_WORKERS",
    },
];

/// Where cargo puts release binaries of this workspace.
fn release_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    target.join("release")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Builds the stacks' release binaries (a no-op when they are fresh) and returns their
/// folder. Without cargo on PATH, binaries already built there are used as they are.
pub fn build() -> Result<PathBuf, String> {
    let dir = release_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!(
        "# web: cargo build --release -p corelane-web --bins --no-default-features (the stacks run as release binaries; the drivers' metrics compiled out, as in the client rows: the peers have none)"
    );
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "corelane-web",
            "--bins",
            "--no-default-features",
        ])
        .current_dir(workspace())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => return Err(format!("building the web stacks failed ({s})")),
        Err(e) => println!(
            "# web: cargo not runnable ({e}); using the binaries in {}",
            dir.display()
        ),
    }
    for stack in STACKS {
        if !dir.join(stack.binary).is_file() {
            return Err(format!(
                "{} missing: run `cargo build --release -p corelane-web --bins --no-default-features`",
                dir.join(stack.binary).display()
            ));
        }
    }
    Ok(dir)
}

/// A running stack.
pub struct Stack {
    pub kind: StackKind,
    /// Its worker threads (see [`StackKind::workers_env`]).
    pub workers: usize,
    pub port: u16,
    child: Child,
}

impl Stack {
    /// Starts `kind` with `workers` worker threads from `dir` against the given servers and
    /// waits until `/plaintext` answers 200 (at most 60 s).
    pub fn start(
        kind: StackKind,
        workers: usize,
        dir: &Path,
        database_url: &str,
        redis_url: &str,
    ) -> Result<Stack, String> {
        let port = free_port()?;
        let child = Command::new(dir.join(kind.binary))
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url)
            .env("WEB_ADDR", format!("127.0.0.1:{port}"))
            .env(kind.workers_env, workers.to_string())
            // The peers export no metrics: neither does corelane-web while measured.
            // (WEB_PLACEMENT, when set for the compare run, passes through to it.)
            .env("WEB_METRICS", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", kind.binary))?;
        let mut stack = Stack {
            kind,
            workers,
            port,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = stack.child.try_wait() {
                return Err(format!("{} exited at start ({status})", kind.binary));
            }
            if answers(port) {
                return Ok(stack);
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not answer within 60 s", kind.binary));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id (for its CPU time in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory effects; the pid is our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Whether `GET /plaintext` answers 200.
fn answers(port: u16) -> bool {
    let Ok(mut sock) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    if sock
        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    sock.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
