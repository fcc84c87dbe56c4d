//! Errors of the message layer: decoding backend messages and encoding frontend ones.
//!
//! Authentication and type-codec errors live beside their code
//! ([`crate::auth::AuthError`], [`crate::types::TypeError`]).

/// A backend message could not be framed or parsed.
///
/// Any of these means the byte stream can no longer be trusted: the connection should be closed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The length field of a message is below 4 (it counts itself).
    #[error("message {tag:?} claims length {len}, below the minimum of 4")]
    LengthTooSmall {
        /// The message type byte.
        tag: char,
        /// The claimed length.
        len: i32,
    },
    /// The length field of a message exceeds the configured maximum.
    #[error("message {tag:?} claims length {len}, over the maximum of {max}")]
    MessageTooLarge {
        /// The message type byte.
        tag: char,
        /// The claimed length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The message type byte is not one the backend sends.
    #[error("unknown backend message type {0:?}")]
    UnknownTag(char),
    /// The body ended before a field could be read.
    #[error("message {tag:?}: body too short for {what}")]
    UnexpectedEnd {
        /// The message type byte.
        tag: char,
        /// The field being read.
        what: &'static str,
    },
    /// A string field has no NUL terminator inside the body.
    #[error("message {tag:?}: {what} is missing its NUL terminator")]
    MissingNul {
        /// The message type byte.
        tag: char,
        /// The field being read.
        what: &'static str,
    },
    /// The body has bytes left over after its last field.
    #[error("message {tag:?}: {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// The message type byte.
        tag: char,
        /// How many bytes were left.
        extra: usize,
    },
    /// A field holds a value that is not allowed (negative count, unknown status, bad UTF-8, …).
    #[error("message {tag:?}: invalid {what}")]
    InvalidField {
        /// The message type byte.
        tag: char,
        /// The offending field.
        what: &'static str,
    },
    /// An `Authentication` message carries a request code this crate does not know.
    #[error("unknown authentication request code {0}")]
    UnknownAuthentication(i32),
    /// An ErrorResponse/NoticeResponse lacks a required field (`S`/`V`, `C` or `M`).
    #[error("error/notice response is missing required field {0:?}")]
    MissingErrorField(char),
}

/// A frontend message could not be encoded. The output buffer is left unchanged.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string that the protocol NUL-terminates contains a NUL byte.
    #[error("{0} contains a NUL byte")]
    ContainsNul(&'static str),
    /// A startup parameter has an empty name (it would end the parameter list early).
    #[error("startup parameter with an empty name")]
    EmptyParameterName,
    /// More items than the protocol's 16-bit count allows (`i16::MAX`).
    #[error("too many {what}: {count} (the protocol allows at most {max})")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The message (or one value in it) does not fit a 32-bit length.
    #[error("{0} is too large for the protocol's 32-bit length")]
    TooLarge(&'static str),
}

/// Encoding a Bind message failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BindError<E> {
    /// The caller's serializer failed for parameter `index` (0-based).
    #[error("parameter ${}: could not be serialized", index + 1)]
    Param {
        /// 0-based parameter index.
        index: usize,
        /// The serializer's error.
        #[source]
        source: E,
    },
    /// The message itself could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}
