//! The one error type of the client.

use std::time::Duration;

use corelane_runtime::pool::PoolError;
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::{CloseCause, SubmitError};

use crate::proto::encode::InvalidRequest;
use crate::proto::ServerError;

/// Why a request failed. `NOT_STORED`, `EXISTS` and `NOT_FOUND` are not errors: they are the
/// values of the calls that can get them ([`Stored`](crate::Stored), `bool`, `Option`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the request (`ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`); the
    /// connection stays in use.
    #[error("server: {0}")]
    Server(ServerError),
    /// The request was not sent: a bad key, a value over the limit.
    #[error("invalid request: {0}")]
    Invalid(#[from] InvalidRequest),
    /// The connection closed before the reply came.
    #[error("connection closed: {0}")]
    Closed(String),
    /// No reply within the command timeout; that connection was closed.
    #[error("no reply within {0:?}; the connection was closed")]
    Timeout(Duration),
    /// The server sent bytes the protocol does not allow (or a reply out of step); that
    /// connection was closed.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// No connection could be opened.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The runtime refused: the worker shut down, the outbound buffer is full, a bad pool
    /// setting.
    #[error("runtime: {0}")]
    Runtime(String),
}

impl Error {
    /// True when the connection the request used is gone (closed, timed out, out of step).
    pub fn is_closed(&self) -> bool {
        matches!(
            self,
            Error::Closed(_) | Error::Timeout(_) | Error::Protocol(_)
        )
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Closed(CloseCause::Protocol(why)) => Error::Protocol(why.to_string()),
            RequestError::Closed(cause) => Error::Closed(cause.to_string()),
            other => Error::Runtime(other.to_string()),
        }
    }
}

impl From<SubmitError> for Error {
    fn from(e: SubmitError) -> Self {
        Error::Runtime(e.to_string())
    }
}

impl From<PoolError<Error>> for Error {
    fn from(e: PoolError<Error>) -> Self {
        match e {
            PoolError::Connect(e) => e,
            other => Error::Runtime(other.to_string()),
        }
    }
}
