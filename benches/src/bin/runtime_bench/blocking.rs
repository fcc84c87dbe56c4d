//! The baseline of the one-caller rows: the same sequential requests to the same echo server
//! from a plain thread with a blocking `std::net::TcpStream` (one `write`, then `read`s that
//! sleep in the socket until the line is back), as a blocking client such as redis-rs's sync
//! connection does. Set against `c1.direct`, it shows what a worker's sleep and wake per reply
//! (io_uring's wait, the readiness poll it arms) cost beyond the socket's own.

use std::error::Error;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::pipeline::{Meter, Sample, BATCH};

/// Sends one line and reads until its echo is whole; checks it.
fn round_trip(sock: &mut TcpStream, line: &[u8], buf: &mut [u8]) -> Result<(), Box<dyn Error>> {
    sock.write_all(line)?;
    let mut got = 0;
    loop {
        let n = sock.read(buf.get_mut(got..).ok_or("reply longer than the buffer")?)?;
        if n == 0 {
            return Err("the echo server closed the connection".into());
        }
        got += n;
        if buf.get(..got).is_some_and(|b| b.ends_with(b"\n")) {
            break;
        }
    }
    if buf.get(..got) != Some(line) {
        return Err("a reply that is not its request's echo".into());
    }
    Ok(())
}

/// Sequential blocking requests on this thread for `window` after `warmup`.
pub fn measure_c1(
    addr: SocketAddr,
    server_pid: u32,
    warmup: Duration,
    window: Duration,
) -> Result<Sample, Box<dyn Error>> {
    let mut sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let lines: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| format!("GET bench:key:{i:06}\n").into_bytes())
        .collect();
    let mut buf = vec![0u8; 256];
    let mut next = 0usize;
    let mut one = |sock: &mut TcpStream| {
        next = (next + 1) % BATCH;
        round_trip(sock, lines.get(next).map_or(&[][..], |l| &l[..]), &mut buf)
    };
    let deadline = Instant::now() + warmup;
    while Instant::now() < deadline {
        one(&mut sock)?;
    }
    let meter = Meter::start(server_pid);
    let start = Instant::now();
    let mut requests = 0u64;
    let wall = loop {
        one(&mut sock)?;
        requests += 1;
        if requests % 32 == 0 {
            let elapsed = start.elapsed();
            if elapsed >= window {
                break elapsed;
            }
        }
    };
    Ok(meter.finish(requests, wall))
}
