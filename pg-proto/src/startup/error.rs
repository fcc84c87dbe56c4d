//! Why a startup failed.

use crate::auth::AuthError;
use crate::error::EncodeError;
use crate::message::backend::ErrorFields;

/// The startup or authentication failed. None of these carries the password.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    /// The server sent an ErrorResponse (e.g. SQLSTATE 28P01, wrong password; 28000, no
    /// pg_hba.conf entry; 3D000, no such database). It closes the connection after it.
    #[error("{}: {} (SQLSTATE {})", .0.severity, .0.message, .0.code.code())]
    Server(Box<ErrorFields>),
    /// The server asks for a password and none was given.
    #[error("the server asks for a password and none is configured")]
    PasswordMissing,
    /// The server asks for an authentication method this client does not implement
    /// (Kerberos, GSSAPI, SSPI, SCM credentials).
    #[error("unsupported authentication method requested by the server: {0}")]
    UnsupportedMethod(&'static str),
    /// The server offers no SASL mechanism this client supports.
    #[error("the server offers no SASL mechanism this client supports (SCRAM-SHA-256, SCRAM-SHA-256-PLUS)")]
    NoMechanism,
    /// The channel binding policy cannot be met.
    #[error(transparent)]
    ChannelBinding(#[from] BindingError),
    /// The SCRAM exchange failed: a malformed or hostile server message, a server signature
    /// that does not verify ([`AuthError::InvalidServerSignature`]), or an AuthenticationOk
    /// before the server proved it knows the password ([`AuthError::NotVerified`]).
    #[error(transparent)]
    Scram(#[from] AuthError),
    /// An authentication request that does not fit the exchange so far (a second password
    /// request, SASLContinue without SASL, …).
    #[error("authentication request {request} out of order (while {state})")]
    AuthOutOfOrder {
        /// The request received.
        request: &'static str,
        /// What the startup was doing.
        state: &'static str,
    },
    /// A message the server may not send at this point of the startup.
    #[error("unexpected message {message} during startup (while {state})")]
    Unexpected {
        /// The message received.
        message: &'static str,
        /// What the startup was doing.
        state: &'static str,
    },
    /// The server sent more parameter statuses than [`MAX_TURN`](super::MAX_TURN).
    #[error("the server sent more than {0} parameter statuses during startup")]
    TooManyParameters(usize),
    /// A message could not be encoded (a NUL byte in a parameter, an oversized password).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A call that does not fit the call order ([`Startup::start`](super::Startup::start)
    /// twice, a step after the startup ended or failed, a derived key nobody asked for).
    #[error("startup API misuse: {0}")]
    Misuse(&'static str),
}

impl StartupError {
    /// True when the failure is about authentication (credentials, methods, the SCRAM
    /// exchange or channel binding), not the transport or the message stream. A server
    /// error is classified by its SQLSTATE (class 28 is authentication).
    pub fn is_auth(&self) -> bool {
        match self {
            StartupError::Server(e) => e.code.code().starts_with("28"),
            StartupError::PasswordMissing
            | StartupError::UnsupportedMethod(_)
            | StartupError::NoMechanism
            | StartupError::ChannelBinding(_)
            | StartupError::Scram(_)
            | StartupError::AuthOutOfOrder { .. } => true,
            StartupError::Unexpected { .. }
            | StartupError::TooManyParameters(_)
            | StartupError::Encode(_)
            | StartupError::Misuse(_) => false,
        }
    }
}

/// `channel_binding=require` cannot be met.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The server authenticates with a method that has no channel binding (the name says
    /// which: trust, a cleartext password, MD5).
    #[error("channel_binding=require, but the server authenticates with {0} (no channel binding)")]
    Unbound(&'static str),
    /// The connection is not TLS.
    #[error("channel_binding=require, but the connection does not use TLS")]
    NoTls,
    /// The certificate gives no `tls-server-end-point` hash.
    #[error("channel_binding=require, but the server certificate's signature algorithm has no tls-server-end-point hash")]
    NoHash,
    /// The server does not offer `SCRAM-SHA-256-PLUS`.
    #[error("channel_binding=require, but the server does not offer SCRAM-SHA-256-PLUS")]
    NotOffered,
}
