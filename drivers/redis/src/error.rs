//! One error type for everything the client can report.

use corelane_runtime::conn::TlsError;
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::CloseCause;
use std::sync::Arc;

pub use corelane_redis_proto::ServerError;

/// What went wrong. Use the `is_*` helpers and [`Error::server_error`] rather than matching
/// on text.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug, Clone, thiserror::Error)]
enum Kind {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("TLS with {addr} failed: {error}")]
    Tls { addr: String, error: Arc<TlsError> },
    #[error("invalid TLS configuration: {0}")]
    TlsConfig(Arc<TlsError>),
    #[error("authentication failed: {0}")]
    Auth(ServerError),
    #[error("server error: {0}")]
    Server(ServerError),
    #[error("connection closed: {0}")]
    Closed(CloseCause),
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("the connection's outbound buffer is full; the command was not sent")]
    QueueFull,
    #[error("no worker is available (the event loop shut down)")]
    WorkerClosed,
    #[error("unexpected reply: {0}")]
    Type(String),
    #[error("transaction aborted: a WATCHed key changed (EXEC returned null)")]
    ExecAborted,
    #[error("runtime error: {0}")]
    Runtime(String),
    #[error("{0}")]
    Panicked(corelane_runtime::Panicked),
    #[error("`{command}` would change the state of a connection other callers share; {advice}")]
    Refused {
        command: String,
        advice: &'static str,
    },
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Kind::Config(message.into()).into()
    }

    pub(crate) fn connect(addr: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Kind::Connect {
            addr: addr.to_string(),
            message: message.to_string(),
        }
        .into()
    }

    /// The TLS handshake with `addr` failed (or the server refused the connection's TLS right
    /// after it, as under TLS 1.3 when it wants a client certificate).
    pub(crate) fn tls(addr: impl std::fmt::Display, error: TlsError) -> Self {
        Kind::Tls {
            addr: addr.to_string(),
            error: Arc::new(error),
        }
        .into()
    }

    /// The TLS settings could not be turned into a configuration (an unreadable CA file, a key
    /// that is not one, nothing trusted).
    pub(crate) fn tls_config(error: TlsError) -> Self {
        Kind::TlsConfig(Arc::new(error)).into()
    }

    pub(crate) fn auth(e: ServerError) -> Self {
        Kind::Auth(e).into()
    }

    pub(crate) fn server(e: ServerError) -> Self {
        Kind::Server(e).into()
    }

    pub(crate) fn timeout(after: std::time::Duration) -> Self {
        Kind::Timeout(after).into()
    }

    pub(crate) fn type_mismatch(message: impl Into<String>) -> Self {
        Kind::Type(message.into()).into()
    }

    pub(crate) fn exec_aborted() -> Self {
        Kind::ExecAborted.into()
    }

    pub(crate) fn runtime(e: impl std::fmt::Display) -> Self {
        Kind::Runtime(e.to_string()).into()
    }

    /// `command` was not sent: it would change a shared connection's state (see classify.rs).
    pub(crate) fn refused(command: &[u8], advice: &'static str) -> Self {
        Kind::Refused {
            command: String::from_utf8_lossy(command).to_ascii_uppercase(),
            advice,
        }
        .into()
    }

    pub(crate) fn worker_closed() -> Self {
        Kind::WorkerClosed.into()
    }

    /// The server's error reply, when this is one (including a failed AUTH).
    pub fn server_error(&self) -> Option<&ServerError> {
        match &self.kind {
            Kind::Server(e) | Kind::Auth(e) => Some(e),
            _ => None,
        }
    }

    /// The server's error code (`WRONGTYPE`, `MOVED`, …), when this is a server error.
    pub fn code(&self) -> Option<&str> {
        self.server_error().and_then(ServerError::code)
    }

    /// True when the connection is gone (closed, reset, killed server, loop shut down):
    /// retrying on a new connection may succeed.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed(_) | Kind::WorkerClosed)
    }

    /// True when connecting failed, including its TLS handshake ([`is_tls`](Self::is_tls)).
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, Kind::Connect { .. } | Kind::Tls { .. })
    }

    /// True for a TLS failure: a handshake the server or the client refused (a certificate
    /// that is expired, for another host or from an untrusted issuer; a client certificate the
    /// server wants or does not accept; a port that does not speak TLS), or TLS settings that
    /// cannot be used (then [`is_config`](Self::is_config) is true too).
    /// [`tls_error`](Self::tls_error) says which.
    pub fn is_tls(&self) -> bool {
        matches!(self.kind, Kind::Tls { .. } | Kind::TlsConfig(_))
    }

    /// The TLS error, for a TLS failure: match on it to tell an expired certificate
    /// ([`TlsError::CertificateExpired`]) from a name mismatch, an unknown issuer, a refusal by
    /// the server, …
    pub fn tls_error(&self) -> Option<&TlsError> {
        match &self.kind {
            Kind::Tls { error, .. } | Kind::TlsConfig(error) => Some(error),
            _ => None,
        }
    }

    /// True when authentication was refused.
    pub fn is_auth(&self) -> bool {
        matches!(self.kind, Kind::Auth(_))
    }

    /// True when a deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout(_))
    }

    /// True when the reply did not have the type asked for.
    pub fn is_type_mismatch(&self) -> bool {
        matches!(self.kind, Kind::Type(_))
    }

    /// True when `EXEC` was aborted because a watched key changed.
    pub fn is_exec_aborted(&self) -> bool {
        matches!(self.kind, Kind::ExecAborted)
    }

    /// True for configuration errors (bad URL, unsupported option, unusable TLS settings).
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_) | Kind::TlsConfig(_))
    }

    /// True when the command was not sent because it would change the state of a connection
    /// other callers share (`SELECT`, `MULTI`, `CLIENT REPLY`, `SUBSCRIBE`, …); the message
    /// names the API to use instead.
    pub fn is_refused(&self) -> bool {
        matches!(self.kind, Kind::Refused { .. })
    }

    /// For a connection closed because its TLS layer failed (an alert from the server, a bad
    /// record): the runtime's message.
    pub(crate) fn tls_refusal_message(&self) -> Option<String> {
        match &self.kind {
            Kind::Closed(CloseCause::Io {
                kind: std::io::ErrorKind::InvalidData,
                message,
            }) => Some(message.to_string()),
            _ => None,
        }
    }

    /// True when the server sent bytes that are not valid RESP (the connection was closed).
    pub fn is_protocol(&self) -> bool {
        matches!(self.kind, Kind::Closed(CloseCause::Protocol(_)))
    }

    /// True when code run for this call on a worker (a `transaction` or `with_connection`
    /// closure, say) panicked. The panic was caught there and its message is in this error;
    /// the worker and its other connections live on.
    pub fn is_panicked(&self) -> bool {
        matches!(self.kind, Kind::Panicked(_))
    }
}

impl From<Kind> for Error {
    fn from(kind: Kind) -> Self {
        Error { kind }
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Closed(cause) => Kind::Closed(cause).into(),
            RequestError::QueueFull { .. } => Kind::QueueFull.into(),
            RequestError::WorkerClosed => Kind::WorkerClosed.into(),
            other => Kind::Runtime(other.to_string()).into(),
        }
    }
}

impl From<corelane_runtime::SubmitError> for Error {
    fn from(e: corelane_runtime::SubmitError) -> Self {
        match e {
            corelane_runtime::SubmitError::Panicked(panicked) => Kind::Panicked(panicked).into(),
            _ => Kind::WorkerClosed.into(),
        }
    }
}
