//! The streams a connection can be registered with: TCP, Unix sockets, any transport, and TLS
//! over each.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncWrite};

use super::plain::{Plain, Transport};
use super::tls::stream::TlsStream;
use super::tls::{TlsConfig, TlsError, TlsInfo};

/// A connected stream on the current worker: TCP, a Unix socket or any [`Transport`], with
/// or without TLS on top. Codecs and the round trip see the same bytes either way.
#[derive(Debug)]
pub struct Stream(Inner);

#[derive(Debug)]
enum Inner {
    Plain(Plain),
    Tls(Box<TlsStream>),
}

/// glommio's sockets panic when created off an executor; ours say so instead.
pub(crate) fn on_worker() -> io::Result<()> {
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
        Ok(Stream(Inner::Plain(Plain::Tcp(stream))))
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
        Ok(Stream(Inner::Plain(Plain::Unix(stream))))
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
        Ok(Stream(Inner::Plain(Plain::Tcp(stream))))
    }

    /// Wraps a TCP stream accepted on this worker.
    pub(crate) fn from_accepted(stream: glommio::net::TcpStream) -> io::Result<Stream> {
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(Stream(Inner::Plain(Plain::Tcp(stream))))
    }

    /// Wraps any connected [`Transport`] (an in-memory pipe, a tunnel). It is read and written
    /// from the worker it is registered on.
    pub fn from_transport(transport: impl Transport) -> Stream {
        Stream(Inner::Plain(Plain::Io(Box::new(transport))))
    }

    /// Runs a TLS client handshake over this stream and returns the encrypted stream.
    /// `server_name` is the host name (or IP address) the certificate must name — and what
    /// SNI sends — unless `config` verifies less. The caller bounds the handshake's time
    /// (`task::timeout`): a server that never answers is not detected here.
    ///
    /// Fails with a [`TlsError`] saying why: not TLS on that port, a certificate that is
    /// expired, for another host or from an unknown issuer, an alert from the server.
    pub async fn start_tls(
        self,
        config: &TlsConfig,
        server_name: &str,
    ) -> Result<Stream, TlsError> {
        let plain = match self.0 {
            Inner::Plain(plain) => plain,
            Inner::Tls(_) => {
                return Err(TlsError::Handshake(
                    "the stream already runs TLS".to_owned(),
                ))
            }
        };
        let tls = TlsStream::handshake(plain, config, server_name).await?;
        Ok(Stream(Inner::Tls(Box::new(tls))))
    }

    /// What TLS negotiated, for a TLS stream.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        match &self.0 {
            Inner::Plain(_) => None,
            Inner::Tls(tls) => Some(tls.info()),
        }
    }

    /// True for a stream with TLS on top.
    pub fn is_tls(&self) -> bool {
        matches!(self.0, Inner::Tls(_))
    }

    /// Turns TCP keepalive on with `settings` (its `None` fields keep the system defaults), or
    /// off with `None`. For a TCP stream (under TLS too); a Unix socket or a [`Transport`] has
    /// no keepalive, and this does nothing there.
    pub fn set_tcp_keepalive(&self, settings: Option<super::TcpKeepalive>) -> io::Result<()> {
        match self.tcp_fd() {
            Some(fd) => super::keepalive::set(fd, settings),
            None => Ok(()),
        }
    }

    /// The TCP keepalive in effect: `Ok(None)` when it is off or the stream is not TCP.
    pub fn tcp_keepalive(&self) -> io::Result<Option<super::TcpKeepalive>> {
        match self.tcp_fd() {
            Some(fd) => super::keepalive::get(fd),
            None => Ok(None),
        }
    }

    fn tcp_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        let plain = match &self.0 {
            Inner::Plain(plain) => plain,
            Inner::Tls(tls) => tls.plain(),
        };
        match plain {
            Plain::Tcp(s) => Some(s.as_raw_fd()),
            Plain::Unix(_) | Plain::Io(_) => None,
        }
    }

    /// The peer's address, for TCP streams.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        let plain = match &self.0 {
            Inner::Plain(plain) => plain,
            Inner::Tls(tls) => tls.plain(),
        };
        match plain {
            Plain::Tcp(s) => s.peer_addr().ok(),
            Plain::Unix(_) | Plain::Io(_) => None,
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.0 {
            Inner::Plain(plain) => plain.poll_read(cx, buf),
            Inner::Tls(tls) => tls.poll_read(cx, buf),
        }
    }

    /// Reads once onto the end of `out` (at most `scratch.len()` bytes). A plain stream reads
    /// into `scratch` and copies what came; TLS decrypts straight onto `out`.
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut BytesMut,
        scratch: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.0 {
            Inner::Plain(plain) => {
                let polled = plain.poll_read(cx, scratch);
                if let Poll::Ready(Ok(n)) = polled {
                    out.extend_from_slice(scratch.get(..n).unwrap_or_default());
                }
                polled
            }
            Inner::Tls(tls) => tls.poll_read_into(cx, out, scratch.len()),
        }
    }

    /// One non-blocking read straight from the socket onto the end of `out`, whatever the
    /// reactor knows: `None` when nothing is there (`EAGAIN`), `Some(Ok(0))` at end of stream.
    /// Over TLS, the bytes are decrypted, and records without application data count as
    /// nothing.
    ///
    /// TCP only: glommio's Unix stream does not expose its descriptor, and a [`Transport`] has
    /// no such call, so for those this reports nothing (bytes there are seen once the reader
    /// task reads them).
    pub(crate) fn read_now_into(
        &mut self,
        out: &mut BytesMut,
        scratch: &mut [u8],
    ) -> Option<io::Result<usize>> {
        match &mut self.0 {
            Inner::Plain(plain) => {
                let read = plain.read_now(scratch);
                if let Some(Ok(n)) = read {
                    out.extend_from_slice(scratch.get(..n).unwrap_or_default());
                }
                read
            }
            Inner::Tls(tls) => tls.read_now_into(out, scratch.len()),
        }
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.0 {
            Inner::Plain(plain) => plain.poll_write(cx, buf),
            Inner::Tls(tls) => tls.poll_write(cx, buf),
        }
    }

    /// Sends what the transport holds back (TLS records not yet on the socket).
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.0 {
            Inner::Plain(_) => Poll::Ready(Ok(())),
            Inner::Tls(tls) => tls.poll_flush(cx),
        }
    }

    /// Bytes wait in the transport for the socket (see [`Stream::poll_flush`]).
    pub(crate) fn wants_flush(&self) -> bool {
        match &self.0 {
            Inner::Plain(_) => false,
            Inner::Tls(tls) => tls.wants_write(),
        }
    }

    /// Shuts both directions down so pending reads and writes end at once.
    pub(crate) fn shutdown(&mut self) {
        self.shutdown_how(std::net::Shutdown::Both);
    }

    /// Shuts the write direction down; reads go on.
    pub(crate) fn shutdown_write(&mut self) {
        self.shutdown_how(std::net::Shutdown::Write);
    }

    fn shutdown_how(&mut self, how: std::net::Shutdown) {
        match &mut self.0 {
            Inner::Plain(plain) => plain.shutdown_how(how),
            Inner::Tls(tls) => tls.shutdown_how(how),
        }
    }
}

/// The futures I/O traits, for using a stream before (or instead of) registering it: a
/// protocol's pre-TLS negotiation, a server's own request loop.
impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Stream::poll_read(self.get_mut(), cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Stream::poll_write(self.get_mut(), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Stream::poll_flush(self.get_mut(), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Stream::poll_flush(this, cx) {
            Poll::Ready(Ok(())) => {
                this.shutdown_write();
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}
