//! TLS between a plain transport and the connection: rustls' connection as a sans-IO state
//! machine, fed the records the socket reads and drained of the records it must send.
//!
//! No task of its own: the connection's reader task decrypts when it reads, its writer task
//! (or the caller writing inline) encrypts when it writes.

use std::cell::RefCell;
use std::io::{self, BufRead, Write};

use bytes::BytesMut;
use std::task::{Context, Poll, Waker};

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::{TlsConfig, TlsError, TlsInfo};
use crate::conn::plain::Plain;

/// How many ciphertext bytes one socket read takes (a socket read happens only when no
/// plaintext is buffered and no ciphertext is pending).
const RAW_READ: usize = 16 * 1024 + 512;

/// rustls refuses more ciphertext (`read_tls` fails with "received plaintext buffer full")
/// once more than this much decrypted plaintext waits to be read. A record begun in an earlier
/// read and completed in this one can bring up to 16 KiB at once, so what a socket read
/// brings is handed over only while less than this waits; the rest is kept in `pending`.
const PLAINTEXT_LIMIT: usize = 16 * 1024;

thread_local! {
    static RAW: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; RAW_READ].into_boxed_slice());
}

/// A plain transport with TLS on top.
pub(crate) struct TlsStream {
    io: Plain,
    conn: ClientConnection,
    server_name: String,
    /// Ciphertext read from the socket that rustls could not take yet (its plaintext buffer
    /// was full), from `pending_from` on: handed over before the socket is read again.
    pending: Vec<u8>,
    pending_from: usize,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("io", &self.io)
            .field("server_name", &self.server_name)
            .field("protocol", &self.conn.protocol_version())
            .finish_non_exhaustive()
    }
}

/// `io::Write` over a non-blocking `poll_write`: `WouldBlock` when the socket is full (the
/// waker in `cx` is then registered for writability).
struct PollWriter<'a, 'b> {
    io: &'a mut Plain,
    cx: &'a mut Context<'b>,
}

impl Write for PollWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.io.poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// Runs the client handshake over `io`.
    pub(crate) async fn handshake(
        io: Plain,
        config: &TlsConfig,
        server_name: &str,
    ) -> Result<TlsStream, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::InvalidServerName(server_name.to_owned()))?;
        let conn = ClientConnection::new(config.rustls.clone(), name)
            .map_err(|e| TlsError::from_rustls(e, server_name))?;
        let mut stream = TlsStream {
            io,
            conn,
            server_name: server_name.to_owned(),
            pending: Vec::new(),
            pending_from: 0,
        };
        futures_lite::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TlsError>> {
        loop {
            match self.poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(TlsError::Io(e))),
                Poll::Pending => return Poll::Pending,
            }
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            match self.poll_read_tls(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(TlsError::ClosedDuringHandshake)),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    // Tell the server why, if the socket takes it now (rustls queued an alert).
                    let _ = self.poll_flush(&mut Context::from_waker(Waker::noop()));
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// What was negotiated, and the server's certificate chain.
    pub(crate) fn info(&self) -> TlsInfo {
        TlsInfo {
            peer_certificates: self
                .conn
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
            alpn_protocol: self.conn.alpn_protocol().map(<[u8]>::to_vec),
            protocol_version: self
                .conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
        }
    }

    pub(crate) fn plain(&self) -> &Plain {
        &self.io
    }

    /// Reads ciphertext once and processes it: `Ok(0)` at end of stream (rustls is told).
    /// Ciphertext kept from an earlier read goes first, without touching the socket.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, TlsError>> {
        if self.has_pending() {
            return Poll::Ready(self.feed_pending());
        }
        RAW.with(|raw| {
            let mut raw = raw.borrow_mut();
            match self.io.poll_read(cx, &mut raw[..]) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(TlsError::Io(e))),
                Poll::Ready(Ok(n)) => Poll::Ready(self.feed(raw.get(..n).unwrap_or_default())),
            }
        })
    }

    fn has_pending(&self) -> bool {
        self.pending_from < self.pending.len()
    }

    /// Hands rustls what it can take of the kept ciphertext: how many bytes it took (never 0
    /// while some is kept, so callers do not mistake it for an end of stream).
    fn feed_pending(&mut self) -> Result<usize, TlsError> {
        let pending = std::mem::take(&mut self.pending);
        let mut rest = pending.get(self.pending_from..).unwrap_or_default();
        let before = rest.len();
        let outcome = self.feed_some(&mut rest);
        let taken = before - rest.len();
        self.pending = pending;
        self.pending_from += taken;
        if !self.has_pending() {
            self.pending.clear();
            self.pending_from = 0;
        }
        outcome?;
        if taken == 0 {
            return Err(TlsError::Handshake(
                "rustls took none of the buffered records".to_owned(),
            ));
        }
        Ok(taken)
    }

    /// Hands ciphertext to rustls and decrypts it; what rustls cannot take yet is kept. An
    /// empty slice means end of stream.
    fn feed(&mut self, bytes: &[u8]) -> Result<usize, TlsError> {
        let n = bytes.len();
        let mut rest = bytes;
        if n == 0 {
            self.conn.read_tls(&mut rest)?;
            return Ok(0);
        }
        self.feed_some(&mut rest)?;
        self.pending.extend_from_slice(rest);
        Ok(n)
    }

    /// Hands rustls ciphertext from the front of `bytes` while less than
    /// [`PLAINTEXT_LIMIT`] plaintext waits, decrypting each time; advances `bytes`.
    fn feed_some(&mut self, bytes: &mut &[u8]) -> Result<(), TlsError> {
        let mut state = self
            .conn
            .process_new_packets()
            .map_err(|e| TlsError::from_rustls(e, &self.server_name))?;
        while !bytes.is_empty() && state.plaintext_bytes_to_read() < PLAINTEXT_LIMIT {
            if self.conn.read_tls(bytes)? == 0 {
                // After the peer's close_notify rustls takes nothing more: what follows it
                // is not part of the stream.
                *bytes = &[];
                break;
            }
            state = self
                .conn
                .process_new_packets()
                .map_err(|e| TlsError::from_rustls(e, &self.server_name))?;
        }
        Ok(())
    }

    /// Moves decrypted bytes into `sink`: `Some(n)` (0 after the peer's `close_notify`, or at
    /// an end of stream without one: the protocols above frame their own messages, so a cut
    /// cannot pass for a complete reply), `None` when none are buffered.
    fn take_plaintext(&mut self, sink: &mut Sink<'_>) -> Option<io::Result<usize>> {
        let mut reader = self.conn.reader();
        let mut total = 0;
        loop {
            let room = sink.room();
            if room == 0 {
                return Some(Ok(total));
            }
            let taken = match reader.fill_buf() {
                Ok([]) => return Some(Ok(total)),
                Ok(chunk) => sink.put(chunk.get(..room).unwrap_or(chunk)),
                // Report what was taken; the condition shows again on the next call.
                Err(_) if total > 0 => return Some(Ok(total)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Some(Ok(0)),
                Err(e) => return Some(Err(e)),
            };
            reader.consume(taken);
            total += taken;
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_sink(cx, &mut Sink::Slice { buf, at: 0 })
    }

    /// Reads decrypted bytes straight onto the end of `out` (at most `max`): one copy out of
    /// rustls' buffer, where [`poll_read`](Self::poll_read) into a scratch buffer would make
    /// two.
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        self.poll_read_sink(cx, &mut Sink::Bytes { out, left: max })
    }

    fn poll_read_sink(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut Sink<'_>,
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Some(result) = self.take_plaintext(sink) {
                return Poll::Ready(result);
            }
            match self.poll_read_tls(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(into_io(e))),
            }
        }
    }

    /// One non-blocking read of what the socket holds right now, decrypted onto the end of
    /// `out` (at most `max`; see `Stream::read_now`): `None` when no plaintext is there
    /// (records that carry none, such as session tickets, are consumed).
    pub(crate) fn read_now_into(
        &mut self,
        out: &mut BytesMut,
        max: usize,
    ) -> Option<io::Result<usize>> {
        let sink = &mut Sink::Bytes { out, left: max };
        if let Some(result) = self.take_plaintext(sink) {
            return Some(result);
        }
        if self.has_pending() {
            if let Err(e) = self.feed_pending() {
                return Some(Err(into_io(e)));
            }
            if let Some(result) = self.take_plaintext(sink) {
                return Some(result);
            }
        }
        let fed = RAW.with(|raw| {
            let mut raw = raw.borrow_mut();
            match self.io.read_now(&mut raw[..])? {
                Ok(n) => Some(self.feed(raw.get(..n).unwrap_or_default()).map_err(into_io)),
                Err(e) => Some(Err(e)),
            }
        })?;
        match fed {
            Err(e) => Some(Err(e)),
            Ok(_) => self.take_plaintext(sink),
        }
    }

    /// Encrypts what rustls' send buffer takes of `buf` after sending earlier records.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|()| 0)),
        }
        let n = self.conn.writer().write(buf)?;
        // Send at once; what the socket does not take goes with the next write or flush.
        if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    /// Sends every record rustls holds; `Pending` (with the waker registered for writability)
    /// while the socket is full.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut writer = PollWriter {
                io: &mut self.io,
                cx,
            };
            match self.conn.write_tls(&mut writer) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Records are waiting to be sent (after a write the socket did not take whole, or a
    /// record rustls produced while reading).
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Sends `close_notify` if the socket takes it now, then shuts the socket down.
    pub(crate) fn shutdown_how(&mut self, how: std::net::Shutdown) {
        if how != std::net::Shutdown::Read {
            self.conn.send_close_notify();
            let _ = self.poll_flush(&mut Context::from_waker(Waker::noop()));
        }
        self.io.shutdown_how(how);
    }
}

/// Where decrypted bytes go: a caller's slice, or the end of a connection's input buffer.
enum Sink<'a> {
    Slice { buf: &'a mut [u8], at: usize },
    Bytes { out: &'a mut BytesMut, left: usize },
}

impl Sink<'_> {
    fn room(&self) -> usize {
        match self {
            Sink::Slice { buf, at } => buf.len() - *at,
            Sink::Bytes { left, .. } => *left,
        }
    }

    /// Takes `bytes` (no more than [`room`](Self::room)); returns how many.
    fn put(&mut self, bytes: &[u8]) -> usize {
        match self {
            Sink::Slice { buf, at } => {
                let n = bytes.len().min(buf.len() - *at);
                if let (Some(dst), Some(src)) = (buf.get_mut(*at..*at + n), bytes.get(..n)) {
                    dst.copy_from_slice(src);
                }
                *at += n;
                n
            }
            Sink::Bytes { out, left } => {
                let n = bytes.len().min(*left);
                out.extend_from_slice(bytes.get(..n).unwrap_or_default());
                *left -= n;
                n
            }
        }
    }
}

fn into_io(e: TlsError) -> io::Error {
    match e {
        TlsError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}
