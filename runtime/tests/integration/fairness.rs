//! Fairness of a batch reading its own replies (issue 9 A7): one huge reply must not hold the
//! worker until the socket drains. The direct reader has the loop reader's per-wake budget, so
//! another task on the same worker runs between every few reads.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

use crate::support::{run_on, test_loop};
use bytes::{Bytes, BytesMut};
use corelane_runtime::roundtrip::{Codec, Pipe};
use corelane_runtime::{Limits, Stream};
use futures_lite::future::poll_once;

/// The runtime's read size (one `recv` of at most 64 KiB).
const READ_SIZE: usize = 64 << 10;

/// The reply to "go\n": this many bytes.
const BIG: usize = 64 << 20;

/// Replies are exactly `expect` bytes; it notes the most bytes it has seen buffered (there is
/// one reply in these tests: how far the read has got).
struct Sized {
    seen: Rc<Cell<usize>>,
}

impl Codec for Sized {
    type Reply = Bytes;
    type Expect = usize;
    type Error = String;

    fn decode(&mut self, n: &usize, input: &mut BytesMut) -> Result<Option<Bytes>, String> {
        self.seen.set(self.seen.get().max(input.len()));
        if input.len() >= *n {
            Ok(Some(input.split_to(*n).freeze()))
        } else {
            Ok(None)
        }
    }

    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), String> {
        if input.is_empty() {
            Ok(())
        } else {
            Err("unsolicited".into())
        }
    }
}

/// Socket buffers big enough that megabytes wait in the kernel for one poll to read.
const SOCKET_BUFFER: libc::c_int = 4 << 20;

fn set_buffer(fd: std::os::fd::RawFd, option: libc::c_int) {
    // SAFETY: `fd` is an open socket owned by the caller; the option value is a c_int.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&SOCKET_BUFFER as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// A TCP connection to `addr` whose receive buffer is set before connecting (so the window
/// scale allows it all).
fn connect_with_big_buffer(addr: std::net::SocketAddr) -> std::net::TcpStream {
    use std::os::fd::FromRawFd;
    let std::net::SocketAddr::V4(v4) = addr else {
        panic!("IPv4 loopback expected");
    };
    // SAFETY: plain socket calls on a descriptor we create and then hand to `TcpStream`.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        set_buffer(fd, libc::SO_RCVBUF);
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(v4.ip().octets()),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        std::net::TcpStream::from_raw_fd(fd)
    }
}

#[test]
fn a_huge_direct_reply_lets_other_tasks_run_between_reads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        set_buffer(std::os::fd::AsRawFd::as_raw_fd(&conn), libc::SO_SNDBUF);
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut conn = conn;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..BIG >> 20 {
            if conn.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let lp = test_loop(1);
    let (most, ticks) = run_on(&lp.workers()[0], move || async move {
        let seen = Rc::new(Cell::new(0));
        let stream = Stream::from_std_tcp(connect_with_big_buffer(addr)).unwrap();
        let pipe = Pipe::new(stream, Sized { seen: seen.clone() }, Limits::default()).unwrap();
        let mut call = Box::pin(pipe.call(BIG, |b| b.extend_from_slice(b"go\n")));
        // Sent, reading: now let the reply pile up in the socket buffers (the worker is
        // blocked on purpose), so that one poll could read megabytes without waiting.
        assert!(poll_once(&mut call).await.is_none());
        std::thread::sleep(Duration::from_millis(300));
        // A task on the same worker notes how many bytes the direct reader took between two of
        // its turns.
        let done = Rc::new(Cell::new(false));
        let (seen2, done2) = (seen.clone(), done.clone());
        let ticker = corelane_runtime::task::spawn(async move {
            let (mut most, mut ticks, mut last) = (0usize, 0u64, 0usize);
            while !done2.get() {
                let now = seen2.get();
                most = most.max(now.saturating_sub(last));
                last = now;
                ticks += 1;
                corelane_runtime::task::yield_now().await;
            }
            (most, ticks)
        })
        .unwrap();
        let reply = call.await.unwrap();
        assert_eq!(reply.len(), BIG);
        // One more turn for the ticker, to count what the last poll read.
        corelane_runtime::task::yield_now().await;
        done.set(true);
        ticker.await
    });
    eprintln!("most bytes read between two turns of another task: {most}; {ticks} turns");
    // The budget is READS_PER_WAKE reads of READ_BUFFER_SIZE (512 KiB); twice that leaves
    // room for a poll that starts with bytes already buffered.
    assert!(
        most <= 16 * READ_SIZE,
        "the direct reader read {most} bytes without letting another task run"
    );
}
