//! One error type: the server's (with every field and the SQLSTATE), or ours.

use corelane_pg_proto::message::backend::ErrorFields;
use corelane_pg_proto::SqlState;
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::CloseCause;

/// An error the server reported (`ErrorResponse`), with all its fields.
pub type DbError = ErrorFields;

/// What went wrong. Use [`Error::code`] / [`Error::as_db_error`] rather than matching text.
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
    #[error("no suitable host (target_session_attrs={attrs}); tried {}", tried_list(.tried))]
    NoSuitableHost {
        attrs: &'static str,
        tried: Vec<HostRejection>,
    },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("{} {}: {}", .0.severity, .0.code.code(), .0.message)]
    Db(Box<DbError>),
    #[error("connection closed: {0}")]
    Closed(CloseCause),
    #[error("the connection's outbound buffer is full; the query was not sent")]
    QueueFull,
    #[error("no worker is available (the event loop shut down)")]
    WorkerClosed,
    #[error("type conversion: {0}")]
    Type(String, Option<corelane_pg_proto::types::TypeError>),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("query returned {0} rows, expected exactly one")]
    RowCount(usize),
    #[error(
        "the result is larger than the client's cap of {0} bytes (Config::max_result_bytes); \
         its rows were read and dropped: stream big results with Client::query_stream"
    )]
    ResultTooLarge(usize),
    #[error("no column {0}")]
    Column(String),
    #[error("skipped: an earlier statement of the same pipeline failed")]
    Skipped,
    #[error("rolled back: a later statement of the same pipeline failed ({0})")]
    RolledBack(#[source] Box<Error>),
    #[error("{0}")]
    Runtime(String),
    #[error("COMMIT failed, the transaction was rolled back: {}", commit_cause(.0))]
    Commit(Option<Box<DbError>>),
    #[error("query timed out after {0:?}")]
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
    #[error("COPY aborted, nothing of it was kept: {0}")]
    CopyAborted(String),
    #[error("refused: {}", .0.message())]
    SessionChange(crate::session::Change),
    #[error("{0}")]
    Panicked(corelane_runtime::Panicked),
    #[error("TLS: {context}: {source}")]
    Tls {
        context: &'static str,
        #[source]
        source: std::sync::Arc<corelane_runtime::conn::TlsError>,
    },
    #[error("TLS: {0}")]
    TlsOther(String),
    #[error("the server does not support SSL (sslmode={0})")]
    SslNotSupported(&'static str),
    #[error("channel binding: {0}")]
    ChannelBinding(String),
}

/// A host a new connection tried and did not use, and why (for
/// [`Error::host_rejections`]). Holds no secrets: the host as written and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRejection {
    host: String,
    reason: String,
}

impl HostRejection {
    pub(crate) fn new(host: String, reason: String) -> Self {
        HostRejection { host, reason }
    }
    /// The host as `host:port`, `hostaddr:port` or the socket path.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// Why it was not used: it could not be reached (or timed out), or it is not what
    /// `target_session_attrs` asks for (`session is read-only`, `server is in hot standby
    /// mode`, …).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

fn tried_list(tried: &[HostRejection]) -> String {
    let each: Vec<String> = tried
        .iter()
        .map(|t| format!("{}: {}", t.host, t.reason))
        .collect();
    each.join("; ")
}

fn timeout_text(after: &Option<std::time::Duration>) -> String {
    after.map_or_else(|| "none".to_owned(), |d| format!("{d:?}"))
}

fn commit_cause(e: &Option<Box<DbError>>) -> String {
    match e {
        Some(e) => format!("{} {}: {}", e.severity, e.code.code(), e.message),
        None => "an earlier statement of the transaction had failed".to_owned(),
    }
}

impl Error {
    /// How a call that failed with this error ended, for the client's counters.
    pub(crate) fn outcome(&self) -> corelane_runtime::client::Outcome {
        use corelane_runtime::client::Outcome;
        match &self.kind {
            Kind::Db(_)
            | Kind::Skipped
            | Kind::RolledBack(_)
            | Kind::Commit(_)
            | Kind::CopyAborted(_) => Outcome::ServerError,
            Kind::Timeout(_) | Kind::PoolTimeout { .. } => Outcome::Timeout,
            Kind::Protocol(_) | Kind::Closed(CloseCause::Protocol(_)) => Outcome::Protocol,
            Kind::Closed(_)
            | Kind::Connect { .. }
            | Kind::NoSuitableHost { .. }
            | Kind::Auth(_)
            | Kind::Tls { .. }
            | Kind::TlsOther(_)
            | Kind::SslNotSupported(_)
            | Kind::ChannelBinding(_) => Outcome::Connection,
            Kind::Config(_)
            | Kind::QueueFull
            | Kind::WorkerClosed
            | Kind::Type(..)
            | Kind::RowCount(_)
            | Kind::ResultTooLarge(_)
            | Kind::Column(_)
            | Kind::Runtime(_)
            | Kind::SessionChange(_)
            | Kind::Panicked(_) => Outcome::Other,
        }
    }
}

impl From<Kind> for Error {
    fn from(kind: Kind) -> Self {
        Error { kind }
    }
}

impl Error {
    pub(crate) fn config(m: impl Into<String>) -> Self {
        Kind::Config(m.into()).into()
    }
    /// A configuration error's message prefixed with `context` (other errors unchanged).
    pub(crate) fn with_context(self, context: &str) -> Self {
        match self.kind {
            Kind::Config(m) => Kind::Config(format!("{context}: {m}")).into(),
            kind => kind.into(),
        }
    }
    pub(crate) fn connect(addr: impl std::fmt::Display, m: impl std::fmt::Display) -> Self {
        Kind::Connect {
            addr: addr.to_string(),
            message: m.to_string(),
        }
        .into()
    }
    /// No host of a multi-host configuration could be used; `tried` says why, host by host.
    pub(crate) fn no_suitable_host(
        attrs: crate::TargetSessionAttrs,
        tried: Vec<HostRejection>,
    ) -> Self {
        Kind::NoSuitableHost {
            attrs: attrs.as_str(),
            tried,
        }
        .into()
    }
    pub(crate) fn auth(m: impl Into<String>) -> Self {
        Kind::Auth(m.into()).into()
    }
    pub(crate) fn db(e: Box<DbError>) -> Self {
        Kind::Db(e).into()
    }
    pub(crate) fn type_error(m: impl std::fmt::Display) -> Self {
        Kind::Type(m.to_string(), None).into()
    }

    /// A codec error `e` about `context` (`column 2`, `parameter $1`), kept typed.
    pub(crate) fn type_error_in(
        context: impl std::fmt::Display,
        e: corelane_pg_proto::types::TypeError,
    ) -> Self {
        Kind::Type(format!("{context}: {e}"), Some(e)).into()
    }
    pub(crate) fn protocol(m: impl std::fmt::Display) -> Self {
        Kind::Protocol(m.to_string()).into()
    }
    pub(crate) fn row_count(n: usize) -> Self {
        Kind::RowCount(n).into()
    }
    pub(crate) fn result_too_large(limit: usize) -> Self {
        Kind::ResultTooLarge(limit).into()
    }
    pub(crate) fn column(name: impl Into<String>) -> Self {
        Kind::Column(name.into()).into()
    }
    pub(crate) fn runtime(m: impl std::fmt::Display) -> Self {
        Kind::Runtime(m.to_string()).into()
    }
    /// A TLS handshake (or TLS configuration) failure; `context` says which step.
    pub(crate) fn tls(context: &'static str, e: corelane_runtime::conn::TlsError) -> Self {
        Kind::Tls {
            context,
            source: std::sync::Arc::new(e),
        }
        .into()
    }
    /// The TLS configuration could not be built (unreadable root or client certificate).
    pub(crate) fn tls_config(e: corelane_runtime::conn::TlsError) -> Self {
        Self::tls("configuration", e)
    }
    /// A TLS failure that is not the runtime's (e.g. direct TLS without ALPN `postgresql`).
    pub(crate) fn tls_other(m: impl Into<String>) -> Self {
        Kind::TlsOther(m.into()).into()
    }
    /// The server answered `N` to `SSLRequest` under a mode that requires TLS.
    pub(crate) fn ssl_not_supported(mode: &'static str) -> Self {
        Kind::SslNotSupported(mode).into()
    }
    /// `channel_binding=require` could not be met.
    pub(crate) fn channel_binding(m: impl Into<String>) -> Self {
        Kind::ChannelBinding(m.into()).into()
    }
    pub(crate) fn skipped() -> Self {
        Kind::Skipped.into()
    }
    /// A pipelined statement that ran, but was rolled back with its batch because `cause`
    /// (a later statement's error) failed the batch's transaction.
    pub(crate) fn rolled_back(cause: Error) -> Self {
        Kind::RolledBack(Box::new(cause)).into()
    }
    pub(crate) fn worker_closed() -> Self {
        Kind::WorkerClosed.into()
    }
    pub(crate) fn timeout(after: std::time::Duration) -> Self {
        Kind::Timeout(after).into()
    }
    /// A COPY IN was aborted with `CopyFail` (its source failed, or its caller went away).
    pub(crate) fn pool_timed_out(
        pool: corelane_runtime::pool::PoolKind,
        after: Option<std::time::Duration>,
    ) -> Self {
        Kind::PoolTimeout { pool, after }.into()
    }
    pub(crate) fn copy_aborted(why: impl Into<String>) -> Self {
        Kind::CopyAborted(why.into()).into()
    }
    /// A statement would change (or changed) the session of a shared connection.
    pub(crate) fn session_change(change: crate::session::Change) -> Self {
        Kind::SessionChange(change).into()
    }
    /// COMMIT was refused (`Some`: the server's error, e.g. a deferred constraint or a
    /// serialization failure) or answered `ROLLBACK` (`None`: the transaction had failed).
    pub(crate) fn commit_failed(e: Option<Box<DbError>>) -> Self {
        Kind::Commit(e).into()
    }

    /// The server's error, with every field, when this is one (also when it made a COMMIT
    /// fail, see [`is_commit_failed`](Self::is_commit_failed)).
    pub fn as_db_error(&self) -> Option<&DbError> {
        match &self.kind {
            Kind::Db(e) | Kind::Commit(Some(e)) => Some(e),
            _ => None,
        }
    }

    /// The SQLSTATE code, when the server reported the error.
    pub fn code(&self) -> Option<&SqlState> {
        self.as_db_error().map(|e| &e.code)
    }

    /// True when the connection is gone; a retry on a new connection may succeed.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed(_) | Kind::WorkerClosed)
    }

    /// True when authentication was refused.
    pub fn is_auth(&self) -> bool {
        matches!(self.kind, Kind::Auth(_))
            || self.code().is_some_and(|c| c.code().starts_with("28"))
    }

    /// For a connect error, what went wrong without the address (the host rejection list
    /// names the host already).
    pub(crate) fn connect_reason(&self) -> Option<&str> {
        match &self.kind {
            Kind::Connect { message, .. } => Some(message),
            _ => None,
        }
    }

    /// True when connecting failed (including [`is_no_suitable_host`](Self::is_no_suitable_host)).
    pub fn is_connect(&self) -> bool {
        matches!(
            self.kind,
            Kind::Connect { .. } | Kind::NoSuitableHost { .. }
        )
    }

    /// True when a new connection tried every host and none could be used: unreachable,
    /// timed out, refusing connections for now (SQLSTATE 57P03), or not what
    /// [`target_session_attrs`](crate::Config::target_session_attrs) asks for.
    /// [`host_rejections`](Self::host_rejections) says why, host by host.
    pub fn is_no_suitable_host(&self) -> bool {
        matches!(self.kind, Kind::NoSuitableHost { .. })
    }

    /// For [`is_no_suitable_host`](Self::is_no_suitable_host): each host tried, in order
    /// (a host appears twice with `prefer-standby`, once per pass), and why it was not used.
    /// Empty for other errors.
    pub fn host_rejections(&self) -> &[HostRejection] {
        match &self.kind {
            Kind::NoSuitableHost { tried, .. } => tried,
            _ => &[],
        }
    }

    /// True when a pipelined statement did not run because an earlier one failed.
    pub fn is_skipped(&self) -> bool {
        matches!(self.kind, Kind::Skipped)
    }

    /// True when a pipelined statement ran but its work was undone: a later statement of the
    /// same batch failed, and the server rolled back the transaction they shared (see
    /// [`Client::pipeline`](crate::Client::pipeline)). [`rolled_back_by`](Self::rolled_back_by)
    /// (and [`std::error::Error::source`]) give that statement's error.
    pub fn is_rolled_back(&self) -> bool {
        matches!(self.kind, Kind::RolledBack(_))
    }

    /// For an error with [`is_rolled_back`](Self::is_rolled_back): the error of the statement
    /// whose failure rolled this one back.
    pub fn rolled_back_by(&self) -> Option<&Error> {
        match &self.kind {
            Kind::RolledBack(cause) => Some(cause),
            _ => None,
        }
    }

    /// True for configuration errors.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_))
    }

    /// True when a transaction's `COMMIT` failed and the transaction was rolled back (nothing
    /// of it persists). [`code`](Self::code) gives the server's reason when it sent one, e.g.
    /// `40001` (serialization failure: retry) or a deferred constraint's `23505`/`23503`.
    pub fn is_commit_failed(&self) -> bool {
        matches!(self.kind, Kind::Commit(_))
    }

    /// True when a result's rows cost more than the client's cap
    /// ([`Config::max_result_bytes`](crate::Config::max_result_bytes)): the statement ran, its
    /// rows were read and dropped, and the connection serves on.
    /// [`Client::query_stream`](crate::Client::query_stream) takes results of any size.
    pub fn is_result_too_large(&self) -> bool {
        matches!(self.kind, Kind::ResultTooLarge(_))
    }

    /// True when a COPY IN was aborted (`CopyFail`) because its source yielded an error (whose
    /// message this error carries) or its caller stopped waiting: nothing of it was kept.
    pub fn is_copy_aborted(&self) -> bool {
        matches!(self.kind, Kind::CopyAborted(_))
    }

    /// True when the call ran past its query timeout ([`Config::query_timeout`],
    /// [`Client::with_query_timeout`]). Its server-side work was cancelled when that was safe
    /// (see [`Client::with_query_timeout`]); nothing else of the connection was affected.
    ///
    /// [`Config::query_timeout`]: crate::Config::query_timeout
    /// [`Client::with_query_timeout`]: crate::Client::with_query_timeout
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
    /// [`PoolKind::Shared`](crate::PoolKind::Shared) for queries,
    /// [`PoolKind::Exclusive`](crate::PoolKind::Exclusive) for transactions, COPY and row
    /// streams.
    pub fn pool_timeout(&self) -> Option<corelane_runtime::pool::PoolKind> {
        match self.kind {
            Kind::PoolTimeout { pool, .. } => Some(pool),
            _ => None,
        }
    }

    /// True when a statement was refused on a shared connection because it would change the
    /// session every caller of that connection shares (transaction control, `SET`/`RESET`,
    /// `LISTEN`, `COPY ... FROM STDIN`/`TO STDOUT` through `query`/`execute`/`pipeline`/
    /// `batch_execute`), or because the server reported a transaction left open by one. The
    /// message names the API to use instead: [`Client::transaction`], [`Client::listener`],
    /// [`Client::copy_in`] / [`Client::copy_out`]. Other callers' statements were not affected.
    ///
    /// [`Client::transaction`]: crate::Client::transaction
    /// [`Client::listener`]: crate::Client::listener
    /// [`Client::copy_in`]: crate::Client::copy_in
    /// [`Client::copy_out`]: crate::Client::copy_out
    pub fn is_session_change(&self) -> bool {
        matches!(self.kind, Kind::SessionChange(_))
    }

    /// True when TLS failed: the handshake (a certificate that is expired, for another host or
    /// from an untrusted issuer, a server that does not speak TLS there, an alert), the TLS
    /// configuration (an unreadable `sslrootcert`/`sslcert`/`sslkey`), or the server refusing
    /// TLS under `sslmode=require` or stricter (see also
    /// [`is_ssl_not_supported`](Self::is_ssl_not_supported)). [`tls_error`](Self::tls_error)
    /// gives the runtime's typed error when there is one.
    pub fn is_tls(&self) -> bool {
        matches!(
            self.kind,
            Kind::Tls { .. } | Kind::TlsOther(_) | Kind::SslNotSupported(_)
        )
    }

    /// The TLS failure, when this is a handshake or TLS configuration error.
    pub fn tls_error(&self) -> Option<&corelane_runtime::conn::TlsError> {
        match &self.kind {
            Kind::Tls { source, .. } => Some(source),
            _ => None,
        }
    }

    /// True when the server answered that it does not support SSL (`SSLRequest` refused)
    /// while `sslmode` was `require`, `verify-ca` or `verify-full`.
    pub fn is_ssl_not_supported(&self) -> bool {
        matches!(self.kind, Kind::SslNotSupported(_))
    }

    /// True when `channel_binding=require` could not be met: the connection is not TLS, the
    /// server did not offer `SCRAM-SHA-256-PLUS`, or it authenticated without SCRAM.
    pub fn is_channel_binding(&self) -> bool {
        matches!(self.kind, Kind::ChannelBinding(_))
    }

    /// True when the server sent an `ErrorResponse` (see [`as_db_error`](Self::as_db_error)).
    pub(crate) fn is_db(&self) -> bool {
        matches!(self.kind, Kind::Db(_))
    }

    /// True when a value could not be converted.
    pub fn is_type(&self) -> bool {
        matches!(self.kind, Kind::Type(..))
    }

    /// True for a [`TypeError::WrongType`](corelane_pg_proto::types::TypeError::WrongType):
    /// the Rust type does not map to the PostgreSQL type.
    pub(crate) fn is_wrong_type(&self) -> bool {
        matches!(
            self.kind,
            Kind::Type(
                _,
                Some(corelane_pg_proto::types::TypeError::WrongType { .. })
            )
        )
    }

    /// The codec's [`TypeError`](corelane_pg_proto::types::TypeError) when a value could not
    /// be encoded or decoded (a wrong type, `NaN` into a `Decimal`, `infinity` into a chrono
    /// date, …); `None` for other errors, including type errors the driver itself raised (a
    /// wrong parameter count, say).
    pub fn as_type_error(&self) -> Option<&corelane_pg_proto::types::TypeError> {
        match &self.kind {
            Kind::Type(_, e) => e.as_ref(),
            _ => None,
        }
    }

    /// True when code run for this call on a worker (a `transaction` or `with_connection`
    /// closure, say) panicked. The panic was caught there and its message is in this error;
    /// the worker and its other connections live on.
    pub fn is_panicked(&self) -> bool {
        matches!(self.kind, Kind::Panicked(_))
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

impl From<corelane_pg_proto::types::TypeError> for Error {
    fn from(e: corelane_pg_proto::types::TypeError) -> Self {
        Kind::Type(e.to_string(), Some(e)).into()
    }
}
