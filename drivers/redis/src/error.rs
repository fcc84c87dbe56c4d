//! One error type for everything the client can report.

use corelane_runtime::client::Outcome;
use corelane_runtime::conn::TlsError;
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::CloseCause;
use std::sync::Arc;

pub use corelane_redis_proto::ServerError;

/// What went wrong. Use the `is_*` helpers and [`Error::server_error`] rather than matching
/// on text.
#[derive(Debug, Clone)]
pub struct Error {
    kind: Kind,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            // The error given to `Error::custom` itself (not the `Arc` around it), so that
            // `downcast_ref` finds its type.
            Kind::Convert { cause, .. } => Some(&**cause),
            other => std::error::Error::source(other),
        }
    }
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
    #[error(
        "no {pool} connection within the acquire timeout ({}): the worker's {pool} pool stayed \
         full (see Config::max_connections) or opening a connection took too long",
        timeout_text(.after)
    )]
    PoolTimeout {
        pool: corelane_runtime::pool::PoolKind,
        after: Option<std::time::Duration>,
    },
    #[error("the connection's outbound buffer is full; the command was not sent")]
    QueueFull,
    #[error("no worker is available (the event loop shut down)")]
    WorkerClosed,
    #[error("unexpected reply: {0}")]
    Type(String),
    #[error("unexpected reply: {message}")]
    Convert {
        message: String,
        // Not a `#[source]` (nor named `source`): `Error::source` hands out the error inside
        // the `Arc`.
        cause: Arc<dyn std::error::Error + Send + Sync>,
    },
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
    #[error("the keys of `{command}` hash to different slots ({first} and {second}); use hash tags (`{{user1}}.a`, `{{user1}}.b`) to keep them in one slot")]
    CrossSlot {
        command: String,
        first: u16,
        second: u16,
    },
    #[error("`{command}` cannot be routed in a cluster: {why}")]
    Unroutable { command: String, why: &'static str },
    #[error("cluster: {0}")]
    Cluster(String),
}

fn timeout_text(after: &Option<std::time::Duration>) -> String {
    after.map_or_else(|| "none".to_owned(), |d| format!("{d:?}"))
}

impl Error {
    pub(crate) fn pool_timed_out(
        pool: corelane_runtime::pool::PoolKind,
        after: Option<std::time::Duration>,
    ) -> Self {
        Kind::PoolTimeout { pool, after }.into()
    }

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

    /// A reply that does not have the shape or content a conversion wants: what a
    /// [`FromValue`](crate::FromValue) implementation returns for a mismatch.
    /// [`is_type_mismatch`](Self::is_type_mismatch) is true for it.
    ///
    /// ```
    /// use corelane_redis::Error;
    ///
    /// let e = Error::type_mismatch("expected a point as `x,y`");
    /// assert!(e.is_type_mismatch());
    /// assert_eq!(e.to_string(), "unexpected reply: expected a point as `x,y`");
    /// ```
    pub fn type_mismatch(message: impl Into<String>) -> Self {
        Kind::Type(message.into()).into()
    }

    /// A reply a conversion could not parse, with the parser's error as the
    /// [`source`](std::error::Error::source) (a `serde_json::Error`, a `ParseIntError`, a
    /// user type's own error). [`is_type_mismatch`](Self::is_type_mismatch) is true for it, and
    /// [`custom_source`](Self::custom_source) gives the error back.
    ///
    /// ```
    /// use corelane_redis::Error;
    ///
    /// let parse = "x".parse::<u8>().unwrap_err();
    /// let e = Error::custom(parse.clone());
    /// assert!(e.is_type_mismatch());
    /// assert_eq!(e.to_string(), format!("unexpected reply: {parse}"));
    /// assert!(e.custom_source().is_some_and(|s| s.is::<std::num::ParseIntError>()));
    /// ```
    pub fn custom(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Kind::Convert {
            message: source.to_string(),
            cause: Arc::new(source),
        }
        .into()
    }

    /// The error given to [`Error::custom`], when this is one (downcast it to its type).
    pub fn custom_source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.kind {
            Kind::Convert { cause, .. } => Some(&**cause),
            _ => None,
        }
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

    /// The keys of `command` hash to different slots: not sent.
    pub(crate) fn cross_slot(command: &[u8], first: u16, second: u16) -> Self {
        Kind::CrossSlot {
            command: String::from_utf8_lossy(command).to_ascii_uppercase(),
            first,
            second,
        }
        .into()
    }

    /// `command` has no single node to go to in a cluster: not sent.
    pub(crate) fn unroutable(command: &[u8], why: &'static str) -> Self {
        Kind::Unroutable {
            command: String::from_utf8_lossy(command).to_ascii_uppercase(),
            why,
        }
        .into()
    }

    /// A cluster-level failure: no seed answered, no node serves a slot, too many redirects.
    pub(crate) fn cluster(message: impl Into<String>) -> Self {
        Kind::Cluster(message.into()).into()
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

    /// True when a call waited longer than [`Config::acquire_timeout`] for a connection of its
    /// worker: the pool it needed ([`pool_timeout`](Self::pool_timeout)) had none free and
    /// no room for another within the client's [`Config::max_connections`] budget, or opening
    /// one took that long. Nothing was sent. Distinct from [`is_timeout`](Self::is_timeout).
    ///
    /// [`Config::acquire_timeout`]: crate::Config::acquire_timeout
    /// [`Config::max_connections`]: crate::Config::max_connections
    pub fn is_pool_timeout(&self) -> bool {
        matches!(self.kind, Kind::PoolTimeout { .. })
    }

    /// For [`is_pool_timeout`](Self::is_pool_timeout): which pool the call waited on —
    /// [`PoolKind::Shared`](crate::PoolKind::Shared) for ordinary calls,
    /// [`PoolKind::Exclusive`](crate::PoolKind::Exclusive) for transactions,
    /// [`Client::with_connection`](crate::Client::with_connection) and blocking commands.
    pub fn pool_timeout(&self) -> Option<corelane_runtime::pool::PoolKind> {
        match self.kind {
            Kind::PoolTimeout { pool, .. } => Some(pool),
            _ => None,
        }
    }

    /// True when the reply did not have the type asked for, or could not be parsed as it
    /// (including errors made with [`Error::type_mismatch`] and [`Error::custom`]).
    pub fn is_type_mismatch(&self) -> bool {
        matches!(self.kind, Kind::Type(_) | Kind::Convert { .. })
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

    /// True when a cluster command was not sent because its keys hash to different slots
    /// (the server would answer `CROSSSLOT`); hash tags keep related keys in one slot.
    pub fn is_cross_slot(&self) -> bool {
        matches!(self.kind, Kind::CrossSlot { .. }) || self.code() == Some("CROSSSLOT")
    }

    /// True when a cluster client refused a command that has no one node to go to
    /// (`FLUSHALL`, `SCAN`, `CONFIG`, …); the message says why.
    pub fn is_unroutable(&self) -> bool {
        matches!(self.kind, Kind::Unroutable { .. })
    }

    /// True for a cluster-level failure: no seed node answered discovery, no node serves the
    /// slot, or a command was redirected more times than the bound allows.
    pub fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster(_))
    }

    /// For a connection the server closed with a TLS alert after the handshake (a refused
    /// client certificate under TLS 1.3): why.
    pub(crate) fn tls_alert(&self) -> Option<&str> {
        match &self.kind {
            Kind::Closed(CloseCause::TlsAlert(why)) => Some(why),
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

impl Error {
    /// How a call that failed with this error ended, for the client's counters.
    pub(crate) fn outcome(&self) -> Outcome {
        match &self.kind {
            Kind::Server(_) | Kind::ExecAborted => Outcome::ServerError,
            Kind::Timeout(_) | Kind::PoolTimeout { .. } => Outcome::Timeout,
            Kind::Closed(CloseCause::Protocol(_)) => Outcome::Protocol,
            Kind::Closed(_) | Kind::Connect { .. } | Kind::Tls { .. } | Kind::Auth(_) => {
                Outcome::Connection
            }
            Kind::QueueFull
            | Kind::WorkerClosed
            | Kind::Config(_)
            | Kind::TlsConfig(_)
            | Kind::Type(_)
            | Kind::Convert { .. }
            | Kind::Runtime(_)
            | Kind::Panicked(_)
            | Kind::Refused { .. }
            | Kind::CrossSlot { .. }
            | Kind::Unroutable { .. }
            | Kind::Cluster(_) => Outcome::Other,
        }
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
            wrong @ corelane_runtime::SubmitError::WrongThread => {
                Kind::Runtime(wrong.to_string()).into()
            }
            _ => Kind::WorkerClosed.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn user_constructors_are_type_mismatches() {
        let e = Error::type_mismatch("bad point");
        assert!(e.is_type_mismatch() && !e.is_closed() && e.code().is_none());
        assert!(e.custom_source().is_none() && e.source().is_none());

        let parse = "nope".parse::<i32>().unwrap_err();
        let e = Error::custom(parse.clone());
        assert!(e.is_type_mismatch());
        assert_eq!(e.to_string(), format!("unexpected reply: {parse}"));
        let source = e.source().unwrap();
        assert!(source.downcast_ref::<std::num::ParseIntError>().is_some());
        assert_eq!(
            e.custom_source()
                .unwrap()
                .downcast_ref::<std::num::ParseIntError>(),
            Some(&parse)
        );
        // Clone keeps the source.
        assert!(e.clone().custom_source().is_some());
    }
}
