//! How a call ended: the label every counter, metric and event of a client uses.

/// How a call (a command, a query, a pipeline, a transaction) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Its reply arrived (whatever the application makes of it).
    Ok,
    /// The server answered with an error (a Redis `-ERR`, a PostgreSQL `ErrorResponse`).
    ServerError,
    /// It ran out of time.
    Timeout,
    /// Its future was dropped before it ended.
    Cancelled,
    /// Its connection failed or could not be opened.
    Connection,
    /// The server broke the protocol.
    Protocol,
    /// Anything else (refused before sending, a type mismatch, a closed worker).
    Other,
}

impl Outcome {
    /// A short, stable name (a metric label, a log field).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::Connection => "connection",
            Outcome::Protocol => "protocol",
            Outcome::Other => "other",
        }
    }

    /// True for the outcomes that say something about the connection's health (not about the
    /// application's request): these are kept as a worker's last error.
    pub fn is_health_relevant(self) -> bool {
        matches!(
            self,
            Outcome::Timeout | Outcome::Connection | Outcome::Protocol
        )
    }
}
