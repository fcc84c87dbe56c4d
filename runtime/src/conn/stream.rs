//! The socket types a connection can be registered with.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

/// A connected TCP or Unix stream on the current worker.
#[derive(Debug)]
pub struct Stream(Inner);

#[derive(Debug)]
enum Inner {
    Tcp(glommio::net::TcpStream),
    Unix(glommio::net::UnixStream),
}

/// glommio's sockets panic when created off an executor; ours say so instead.
fn on_worker() -> io::Result<()> {
    if crate::WorkerLoop::current().is_some() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sockets can only be created on a corelane worker thread",
        ))
    }
}

impl Stream {
    /// Connects over TCP, with `TCP_NODELAY` set. Takes a resolved address: resolving a host
    /// name here would block the worker.
    pub async fn connect_tcp(addr: SocketAddr) -> io::Result<Stream> {
        on_worker()?;
        let stream = glommio::net::TcpStream::connect(addr)
            .await
            .map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(Stream(Inner::Tcp(stream)))
    }

    /// Connects over TCP, failing with `TimedOut` after `timeout`.
    pub async fn connect_tcp_timeout(
        addr: SocketAddr,
        timeout: std::time::Duration,
    ) -> io::Result<Stream> {
        on_worker()?;
        match crate::task::timeout(timeout, Self::connect_tcp(addr)).await {
            Some(result) => result,
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {addr} timed out after {timeout:?}"),
            )),
        }
    }

    /// Connects to a Unix domain socket.
    pub async fn connect_unix(path: impl AsRef<Path>) -> io::Result<Stream> {
        on_worker()?;
        let stream = glommio::net::UnixStream::connect(path)
            .await
            .map_err(io::Error::from)?;
        Ok(Stream(Inner::Unix(stream)))
    }

    /// Wraps an already connected std TCP stream (it is switched to non-blocking mode).
    pub fn from_std_tcp(stream: std::net::TcpStream) -> io::Result<Stream> {
        use std::os::fd::{FromRawFd, IntoRawFd};
        on_worker()?;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let fd = stream.into_raw_fd();
        // SAFETY: `fd` is an open, connected TCP socket whose ownership we just took from the
        // std stream; the glommio stream becomes its only owner and closes it on drop.
        let stream = unsafe { glommio::net::TcpStream::from_raw_fd(fd) };
        Ok(Stream(Inner::Tcp(stream)))
    }

    /// The peer's address, for TCP streams.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match &self.0 {
            Inner::Tcp(s) => s.peer_addr().ok(),
            Inner::Unix(_) => None,
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.0 {
            Inner::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }

    /// One non-blocking `recv` straight from the socket, whatever the reactor knows: `None`
    /// when nothing is there (`EAGAIN`), `Some(Ok(0))` at end of stream.
    ///
    /// TCP only: glommio's Unix stream does not expose its descriptor, so for a Unix socket
    /// this reports nothing (bytes there are seen once the reader task reads them).
    pub(crate) fn read_now(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let fd = match &self.0 {
            Inner::Tcp(s) => s.as_raw_fd(),
            Inner::Unix(_) => return None,
        };
        loop {
            // SAFETY: `fd` is open while `self` lives; `buf` is valid for `buf.len()` bytes.
            let n =
                unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n >= 0 {
                return Some(Ok(n.unsigned_abs()));
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => return None,
                io::ErrorKind::Interrupted => continue,
                _ => return Some(Err(err)),
            }
        }
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.0 {
            Inner::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    /// Shuts both directions down so pending reads and writes end at once.
    pub(crate) fn shutdown(&self) {
        self.shutdown_how(std::net::Shutdown::Both);
    }

    /// Shuts the write direction down; reads go on.
    pub(crate) fn shutdown_write(&self) {
        self.shutdown_how(std::net::Shutdown::Write);
    }

    fn shutdown_how(&self, how: std::net::Shutdown) {
        match &self.0 {
            Inner::Tcp(s) => {
                use std::os::fd::AsRawFd;
                let how = match how {
                    std::net::Shutdown::Read => libc::SHUT_RD,
                    std::net::Shutdown::Write => libc::SHUT_WR,
                    std::net::Shutdown::Both => libc::SHUT_RDWR,
                };
                // SAFETY: the fd is owned by this stream and open while `self` lives; shutdown
                // does not close or invalidate it.
                unsafe { libc::shutdown(s.as_raw_fd(), how) };
            }
            Inner::Unix(s) => {
                // glommio's Unix shutdown is a synchronous syscall behind an async signature:
                // one poll completes it.
                let fut = s.shutdown(how);
                let mut fut = std::pin::pin!(fut);
                let _ = fut
                    .as_mut()
                    .poll(&mut Context::from_waker(std::task::Waker::noop()));
            }
        }
    }
}

/// A TCP listener on the current worker, for thread-per-core servers built on corelane.
///
/// It sets `SO_REUSEPORT`: every worker may bind the same address, and the kernel spreads
/// incoming connections across them.
#[derive(Debug)]
pub struct Listener(glommio::net::TcpListener);

impl Listener {
    /// Binds and listens on `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Listener> {
        on_worker()?;
        glommio::net::TcpListener::bind(addr)
            .map(Listener)
            .map_err(io::Error::from)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr().map_err(io::Error::from)
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<Stream> {
        let stream = self.0.accept().await.map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(Stream(Inner::Tcp(stream)))
    }
}
