//! Authentication: cleartext, MD5 and SCRAM-SHA-256 (with SCRAM-SHA-256-PLUS channel binding).
//!
//! Cleartext needs no helper: send the password with
//! [`crate::message::frontend::password_message`].

pub mod md5;
pub mod scram;

/// Authentication failed or the server misbehaved during it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A server SCRAM message could not be parsed.
    #[error("malformed SCRAM message from server: {0}")]
    Malformed(&'static str),
    /// The server nonce does not extend the client nonce.
    #[error("SCRAM server nonce does not extend the client nonce")]
    NonceMismatch,
    /// The server asked for fewer PBKDF2 iterations than the protocol minimum (4096).
    #[error("SCRAM iteration count {0} is below the minimum of 4096")]
    TooFewIterations(u32),
    /// The server asked for more PBKDF2 iterations than this client allows.
    #[error("SCRAM iteration count {count} is above this client's limit of {max}")]
    TooManyIterations {
        /// Requested count.
        count: u32,
        /// Configured limit.
        max: u32,
    },
    /// The server's signature did not verify: it does not know the password (or is an impostor).
    #[error("SCRAM server signature is invalid")]
    InvalidServerSignature,
    /// The server ended the exchange with an `e=` error.
    #[error("SCRAM server error: {0}")]
    Server(String),
    /// A message arrived in the wrong state (e.g. server-final before server-first).
    #[error("SCRAM message out of order")]
    OutOfOrder,
    /// Authentication was reported complete before the server signature was verified.
    #[error("SCRAM exchange finished without a verified server signature")]
    NotVerified,
    /// The client nonce is not usable (empty, or contains `,` or non-printable characters).
    #[error("invalid SCRAM client nonce")]
    InvalidNonce,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
}
