//! The one error type of the crate.

use std::io;
use std::time::Duration;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while starting, stopping or proxying a server.
///
/// Nothing in this crate panics; every failure is one of these values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required executable was not found.
    #[error("`{binary}` not found (searched {searched}); install it with `{install}`")]
    MissingBinary {
        /// The executable that is missing, e.g. `redis-server`.
        binary: String,
        /// Where it was looked for.
        searched: String,
        /// The command that installs it on Debian/Ubuntu.
        install: &'static str,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A helper command (initdb, pg_ctl, psql, ...) failed or timed out.
    #[error("`{command}` failed ({status}); output:\n{output}")]
    Command {
        /// The command line that was run.
        command: String,
        /// Exit status, or `timed out`.
        status: String,
        /// The tail of its combined stdout/stderr.
        output: String,
    },
    /// The server process exited while it was starting.
    #[error("{server} exited during startup on port {port} ({status}); log tail:\n{log_tail}")]
    Exited {
        /// `redis-server` or `postgres`.
        server: &'static str,
        /// The port it was asked to listen on.
        port: u16,
        /// Its exit status.
        status: String,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The server did not answer within the startup deadline.
    #[error("{server} did not answer on port {port} within {timeout:?}; log tail:\n{log_tail}")]
    NotReady {
        /// `redis-server` or `postgres`.
        server: &'static str,
        /// The port it was asked to listen on.
        port: u16,
        /// How long we waited.
        timeout: Duration,
        /// The last lines of its log.
        log_tail: String,
    },
    /// An OS user needed to run a server (e.g. `postgres` when running as root) does not exist.
    #[error("OS user `{0}` not found; postgres refuses to run as root and needs it (apt-get install postgresql creates it)")]
    NoSuchUser(String),
    /// The requested configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// Builds an [`Error::Io`] with a context string.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
