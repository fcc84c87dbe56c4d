//! A transport without TLS: TCP, a Unix socket, or any [`Transport`] (a leaf: the stream and
//! the TLS stream that wraps one both use it).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

/// A byte stream a connection can run over besides TCP and Unix sockets: an in-memory pipe in
/// tests, a tunnel, a socket type of the caller's. Reads and writes must not block the thread;
/// `Pending` must register the waker like any async I/O object.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + 'static> Transport for T {}

/// A transport without TLS.
pub(crate) enum Plain {
    Tcp(glommio::net::TcpStream),
    Unix(glommio::net::UnixStream),
    Io(Box<dyn Transport>),
}

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plain::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            Plain::Unix(s) => f.debug_tuple("Unix").field(s).finish(),
            Plain::Io(_) => f.write_str("Io(..)"),
        }
    }
}

impl Plain {
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Plain::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Plain::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Plain::Io(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }

    pub(crate) fn read_now(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Plain::Tcp(s) => s.as_raw_fd(),
            Plain::Unix(_) | Plain::Io(_) => return None,
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
        match self {
            Plain::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Plain::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Plain::Io(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    pub(crate) fn shutdown_how(&mut self, how: std::net::Shutdown) {
        let noop = &mut Context::from_waker(std::task::Waker::noop());
        match self {
            Plain::Tcp(s) => {
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
            Plain::Unix(s) => {
                // glommio's Unix shutdown is a synchronous syscall behind an async signature:
                // one poll completes it.
                let fut = s.shutdown(how);
                let mut fut = std::pin::pin!(fut);
                let _ = fut.as_mut().poll(noop);
            }
            Plain::Io(s) => {
                // A transport's close may need more than one poll; this is a best effort, the
                // transport is dropped with the connection anyway.
                let _ = Pin::new(s.as_mut()).poll_close(noop);
            }
        }
    }
}
