//! The decoder's error type.

use thiserror::Error;

/// Why [`Decoder::decode`](crate::Decoder::decode) rejected the byte stream.
///
/// Every variant means the stream can no longer be trusted: the connection should be closed.
/// A server-side error reply (`-ERR ...`, `!...`) is *not* a `DecodeError`; it decodes to
/// [`Value::Error`](crate::Value::Error) / [`Value::BlobError`](crate::Value::BlobError).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first byte of a value is not a RESP2/RESP3 type byte.
    #[error("invalid RESP type byte 0x{0:02x}")]
    InvalidTypeByte(u8),
    /// A line or payload is not terminated by `\r\n` (a bare `\r` or `\n`, or other bytes).
    #[error("missing CRLF terminator")]
    MissingCrlf,
    /// A line grew past its limit before its `\r\n` arrived.
    #[error("line longer than {max} bytes")]
    LineTooLong {
        /// The limit that was exceeded, in bytes of line content.
        max: usize,
    },
    /// An integer (`:`) is not an optionally signed decimal that fits in an `i64`.
    #[error("invalid integer")]
    InvalidInteger,
    /// A length or count is not decimal digits, is negative (other than `-1` for `$` and `*`),
    /// overflows, or uses an unsupported streamed form (`$?`, `*?`).
    #[error("invalid length")]
    InvalidLength,
    /// A bulk string, blob error or verbatim string claims more than `Limits::max_bulk_len` bytes.
    #[error("bulk length {len} exceeds the limit of {max}")]
    BulkTooLong {
        /// The length the peer claimed.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// An aggregate claims more than `Limits::max_aggregate_len` elements (or pairs).
    #[error("aggregate length {len} exceeds the limit of {max}")]
    AggregateTooLong {
        /// The count the peer claimed.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// Aggregates are nested deeper than `Limits::max_depth`.
    #[error("aggregates nested deeper than {max}")]
    TooDeep {
        /// The configured limit.
        max: usize,
    },
    /// A double (`,`) is not a decimal float, `inf`, `-inf` or `nan`.
    #[error("invalid double")]
    InvalidDouble,
    /// A boolean (`#`) is neither `t` nor `f`.
    #[error("invalid boolean")]
    InvalidBoolean,
    /// A null (`_`) carries content before its `\r\n`.
    #[error("invalid null")]
    InvalidNull,
    /// A big number (`(`) is not an optionally signed run of decimal digits.
    #[error("invalid big number")]
    InvalidBigNumber,
    /// A verbatim string (`=`) does not start with a three-byte format and `:`.
    #[error("invalid verbatim string")]
    InvalidVerbatim,
}
