//! Why a request did not get its reply.

use crate::conn::{CloseCause, WriteError};

/// Why a request (or a whole batch) ended without a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The connection closed before the reply arrived (or before the request was sent).
    #[error("connection closed: {0}")]
    Closed(CloseCause),
    /// The connection's outbound buffer is full; the request was not sent.
    #[error("outbound buffer full ({queued} bytes queued, limit {limit}); request not sent")]
    QueueFull {
        /// Bytes queued and not yet sent.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The worker that owns the connection is gone; the request was not sent.
    #[error("the connection's worker has shut down")]
    WorkerClosed,
}

impl RequestError {
    /// True when the connection is gone and a new one is needed.
    pub fn is_closed(&self) -> bool {
        matches!(self, RequestError::Closed(_) | RequestError::WorkerClosed)
    }
}

impl From<WriteError> for RequestError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::QueueFull { queued, limit } => RequestError::QueueFull { queued, limit },
            WriteError::Closed(cause) => RequestError::Closed(cause),
        }
    }
}
