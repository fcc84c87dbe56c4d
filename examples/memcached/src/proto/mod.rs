//! The memcached text protocol, sans-IO: requests are appended to a caller's buffer
//! ([`encode`]), replies are taken from the front of a caller's buffer ([`Decoder`]). No
//! socket, no runtime, no clock: bytes in, frames out, usable by anyone.
//!
//! Replies carry no request id: a reply is matched to its request by order, and the request
//! says what kind of reply to parse ([`Expect`]). Nothing the server sends can make the
//! decoder allocate more than it has received or panic: value lengths are checked against a
//! limit before anything waits for them, lines are bounded, and every malformed byte is a
//! [`ProtoError`].

mod decode;
pub mod encode;
mod reply;

pub use decode::{Decoder, DEFAULT_MAX_VALUE, MAX_LINE};
pub use reply::{ErrorKind, Item, ProtoError, Reply, ServerError};

/// What kind of reply a request gets: the decoder's only knowledge of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// `get`/`gets`: `VALUE` blocks then `END`. At most `keys` values; with `cas`, each carries
    /// a CAS unique. `key_hash`, for a single-key request, is [`key_hash`] of that key: a value
    /// for any other key means the stream is out of step.
    Values {
        /// Keys requested.
        keys: usize,
        /// `gets` (values carry CAS uniques).
        cas: bool,
        /// [`key_hash`] of the key of a single-key request.
        key_hash: Option<u64>,
    },
    /// `set`/`add`/`replace`/`append`/`prepend`/`cas`: `STORED`, `NOT_STORED`, `EXISTS`, `NOT_FOUND`.
    Store,
    /// `delete`: `DELETED` or `NOT_FOUND`.
    Delete,
    /// `incr`/`decr`: a number or `NOT_FOUND`.
    Arith,
    /// `touch`: `TOUCHED` or `NOT_FOUND`.
    Touch,
    /// `version`: `VERSION <text>`.
    Version,
    /// `flush_all`: `OK`.
    Ok,
}

/// The FNV-1a hash of a key: how a single-key [`Expect::Values`] names its key without
/// holding (or allocating) a copy of it.
pub fn key_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
