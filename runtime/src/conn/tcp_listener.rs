//! A TCP listener on the current worker, one of many on the same port.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};

use super::stream::{on_worker, Stream};

/// How many connections the kernel queues for `accept` per listener.
const BACKLOG: i32 = 1024;

/// A TCP listener on the current worker, for thread-per-core servers built on corelane.
///
/// It sets `SO_REUSEPORT`: every worker may bind the same address, and the kernel spreads
/// incoming connections across them (by a hash of each connection's addresses and ports).
#[derive(Debug)]
pub struct TcpListener {
    inner: glommio::net::TcpListener,
    /// The socket's descriptor (owned by `inner`), for [`TcpListener::stop`].
    fd: RawFd,
}

impl TcpListener {
    /// Binds and listens on `addr` (port 0 picks a free port), with `SO_REUSEPORT` and
    /// `SO_REUSEADDR` (a restarted server can bind while old connections sit in TIME_WAIT).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        on_worker()?;
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_port(true)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        let fd = socket.into_raw_fd();
        // SAFETY: `fd` is an open, listening TCP socket whose ownership we just took; the
        // glommio listener becomes its only owner and closes it on drop.
        let inner = unsafe { glommio::net::TcpListener::from_raw_fd(fd) };
        Ok(TcpListener { inner, fd })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr().map_err(io::Error::from)
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<Stream> {
        let stream = self.inner.accept().await.map_err(io::Error::from)?;
        Stream::from_accepted(stream)
    }

    /// Stops listening now: the socket leaves the port's `SO_REUSEPORT` group (new connections
    /// go to the other listeners, or are refused when none is left), connections queued for
    /// `accept` are reset, and a pending `accept` fails.
    ///
    /// Dropping the listener alone is not enough: an `accept` submitted to io_uring holds the
    /// socket open until its cancellation is processed, which on an idle worker may be much
    /// later, and meanwhile the kernel keeps queueing connections on it that nobody accepts.
    pub fn stop(&self) {
        // SAFETY: `fd` is owned by `inner` and open while `self` lives. On a listening TCP
        // socket, shutdown(SHUT_RD) stops the listen (Linux: `inet_shutdown` disconnects it);
        // it does not close the descriptor.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RD) };
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}
