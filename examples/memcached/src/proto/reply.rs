//! Replies, the server's error replies, and protocol violations.

use bytes::Bytes;

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// The values found by a `get`/`gets` (misses are simply absent), in request order.
    Values(Vec<Item>),
    /// `STORED`.
    Stored,
    /// `NOT_STORED`: the condition of `add`/`replace` was not met.
    NotStored,
    /// `EXISTS`: a `cas` whose item changed since it was read.
    Exists,
    /// `NOT_FOUND`.
    NotFound,
    /// `DELETED`.
    Deleted,
    /// `TOUCHED`.
    Touched,
    /// `OK`.
    Ok,
    /// The new value after `incr`/`decr`.
    Number(u64),
    /// `VERSION <text>`.
    Version(String),
    /// `ERROR`, `CLIENT_ERROR …` or `SERVER_ERROR …`: the server refused this request (the
    /// connection stays usable).
    Error(ServerError),
}

/// One value of a `get`/`gets` reply. Key and value are slices of the received bytes (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The key.
    pub key: Bytes,
    /// The opaque flags stored with the value.
    pub flags: u32,
    /// The CAS unique (`gets` only).
    pub cas: Option<u64>,
    /// The value.
    pub value: Bytes,
}

/// Which error line the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `ERROR`: a command the server does not know.
    Error,
    /// `CLIENT_ERROR`: the request was malformed (or, e.g., `incr` of a non-number).
    Client,
    /// `SERVER_ERROR`: the server could not do it (out of memory, object too large).
    Server,
}

/// An error reply of the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {message}", match .kind { ErrorKind::Error => "ERROR", ErrorKind::Client => "CLIENT_ERROR", ErrorKind::Server => "SERVER_ERROR" })]
pub struct ServerError {
    /// Which error line.
    pub kind: ErrorKind,
    /// The server's text after the keyword (empty for `ERROR`).
    pub message: String,
}

/// Bytes from the server that the protocol does not allow; the connection cannot be trusted
/// after them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// No line end within [`MAX_LINE`](super::MAX_LINE) bytes.
    #[error("a reply line longer than {0} bytes")]
    LineTooLong(usize),
    /// A `VALUE` claims more bytes than the configured limit.
    #[error("a value of {claimed} bytes, over the limit of {limit}")]
    ValueTooLarge {
        /// What the server claimed.
        claimed: u64,
        /// The decoder's limit.
        limit: usize,
    },
    /// More values than keys requested, or a value for a key that was not requested.
    #[error("a value nobody asked for: {0}")]
    UnrequestedValue(String),
    /// A line that is not a reply to the request in front (or is not well formed).
    #[error("malformed or unexpected reply: {0}")]
    Malformed(String),
    /// Bytes arrived while no request waited for a reply.
    #[error("{0} bytes arrived while no request waited for a reply")]
    Unsolicited(usize),
}
