//! Why a connection closed, and why a write was refused.

use std::sync::Arc;

/// Why a registered connection closed. Cheap to clone: every pending request gets a copy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer closed the connection (read returned end of stream).
    #[error("connection closed by the peer")]
    PeerClosed,
    /// A read or write failed.
    #[error("I/O error on the connection: {message}")]
    Io {
        /// The error kind the OS reported.
        kind: std::io::ErrorKind,
        /// The OS error text.
        message: Arc<str>,
    },
    /// The peer ended TLS with an alert after the handshake looked done: under TLS 1.3 a server
    /// that refuses the client's certificate says so only then, at the first read. The text
    /// says why (see [`TlsError::PeerAlert`](crate::conn::TlsError::PeerAlert)).
    #[error("the server refused the TLS connection: {0}")]
    TlsAlert(Arc<str>),
    /// The peer sent bytes the protocol does not allow; nothing after them can be trusted.
    #[error("protocol error: {0}")]
    Protocol(Arc<str>),
    /// The connection was closed locally ([`Registered::unregister`](crate::Registered::unregister)
    /// or its last handle dropped).
    #[error("connection closed locally")]
    Unregistered,
    /// The worker that owned the connection shut down.
    #[error("the worker's loop shut down")]
    LoopClosed,
    /// Bytes the client had to send from its read path (an answer the protocol requires, such
    /// as NATS' `PONG`; see [`WriteBack`](crate::conn::WriteBack)) were refused: the outbound
    /// buffer was full, the peer is not reading. Leaving the peer unanswered would break the
    /// protocol, so the connection closes.
    #[error(
        "could not answer the peer: outbound buffer full ({queued} bytes queued, limit {limit})"
    )]
    OutboundFull {
        /// Bytes queued and not yet sent.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl CloseCause {
    /// A cause from an I/O error.
    pub fn io(err: &std::io::Error) -> Self {
        // The TLS layer reports an alert as an I/O error carrying its `TlsError`: keep the
        // alert as such, so drivers need not read it back out of a message.
        if let Some(crate::conn::TlsError::PeerAlert(why)) = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<crate::conn::TlsError>())
        {
            return CloseCause::TlsAlert(why.as_str().into());
        }
        CloseCause::Io {
            kind: err.kind(),
            message: err.to_string().into(),
        }
    }

    /// A protocol violation with a message.
    pub fn protocol(message: impl std::fmt::Display) -> Self {
        CloseCause::Protocol(message.to_string().into())
    }
}

/// A write-back the connection refused, as the cause to close it with: a full buffer is
/// [`CloseCause::OutboundFull`]; a closed connection keeps its own cause. (The runtime ignores
/// the latter when it is the cause of a failed write: the connection then still reads until end
/// of stream, so replies already on their way are delivered.)
impl From<WriteError> for CloseCause {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::QueueFull { queued, limit } => CloseCause::OutboundFull { queued, limit },
            WriteError::Closed(cause) => cause,
        }
    }
}

/// Why [`Registered::write`](crate::Registered::write) refused bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The outbound buffer is full: the peer is not reading fast enough. Nothing was queued.
    #[error("outbound buffer full ({queued} bytes queued, limit {limit})")]
    QueueFull {
        /// Bytes queued and not yet sent.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The connection is closed.
    #[error("connection closed: {0}")]
    Closed(CloseCause),
}
