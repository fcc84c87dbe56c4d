//! The echo server, run as a separate process (this binary re-executed with `--echo-server`)
//! so that the client's `RUSAGE_SELF` counts the client alone.
//!
//! A byte echo is a line echo: the replies are the request bytes, in order. Echoing whatever
//! one `read` returns with one `write` answers a pipelined batch in one send, which is as
//! fast as a line server can be.

use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The argument that turns this binary into the echo server.
pub const ARG: &str = "--echo-server";

/// Runs the echo server: prints its port on stdout, serves until stdin closes.
pub fn serve() -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{port}")?;
        out.flush()?;
    }
    // The parent holds our stdin: when it exits (or drops us), stdin ends and so do we.
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        std::process::exit(0);
    });
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        std::thread::spawn(move || echo(conn));
    }
    Ok(())
}

fn echo(mut conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let Some(chunk) = buf.get(..n) else { return };
        if conn.write_all(chunk).is_err() {
            return;
        }
    }
}

/// A running echo-server process; killed and reaped on drop.
pub struct EchoProcess {
    child: Child,
    addr: SocketAddr,
}

impl EchoProcess {
    /// Starts the server process and waits for its port.
    pub fn start() -> Result<EchoProcess, Box<dyn Error>> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg(ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let port = match child.stdout.take() {
            Some(out) => {
                let mut line = String::new();
                BufReader::new(out).read_line(&mut line)?;
                line.trim().parse::<u16>().ok()
            }
            None => None,
        };
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the echo server did not report its port".into());
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // Wait until it accepts (it printed after binding, so this is immediate).
        TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        Ok(EchoProcess { child, addr })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
