//! Sans-IO PostgreSQL v3 wire protocol: messages, authentication and binary type codecs.
//!
//! No runtime, no sockets: bytes in, messages out; messages in, bytes out.
//!
//! ```
//! use bytes::{BufMut, BytesMut};
//! use corelane_pg_proto::message::backend::{Message, TransactionStatus};
//! use corelane_pg_proto::message::frontend;
//!
//! // Encode a simple query into the outgoing buffer.
//! let mut out = BytesMut::new();
//! frontend::query("SELECT 1", &mut out)?;
//! assert_eq!(&out[..], b"Q\0\0\0\x0dSELECT 1\0");
//!
//! // Feed what the socket returned; parse whole messages as they complete.
//! let mut input = BytesMut::new();
//! input.put_slice(b"Z\0\0\0\x05"); // ReadyForQuery, body not yet arrived
//! assert_eq!(Message::parse(&mut input)?, None); // nothing consumed
//! input.put_u8(b'I');
//! assert_eq!(
//!     Message::parse(&mut input)?,
//!     Some(Message::ReadyForQuery(TransactionStatus::Idle))
//! );
//! assert!(input.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Behavior
//!
//! - [`message::backend::Message::parse`] returns `Ok(None)` and consumes nothing while a
//!   message is incomplete, and consumes exactly one message on `Ok(Some)`. Bodies stay in the
//!   received buffer (frozen `Bytes`); a [`message::backend::DataRow`] keeps one body plus column
//!   ranges.
//! - Nothing is allocated from a length the server claims: a message's length is checked against
//!   a maximum ([`message::backend::DEFAULT_MAX_MESSAGE_LEN`], 256 MiB, configurable) and counts
//!   inside bodies are checked against the bytes actually present before any vector is sized.
//! - Every malformed input is a typed error; the crate has no `unwrap`, `expect` or `panic!`
//!   outside tests.
//! - Encoders append to a caller's `BytesMut`, back-patch length prefixes, and leave the buffer
//!   unchanged on error.
//! - Multi-step authentication ([`auth::scram::ScramSha256`]) is a state machine with its nonce
//!   injectable, so a recorded exchange is a unit test. Secrets are redacted from `Debug`.
//!
//! # Modules
//!
//! - [`message`]: frontend encoders and backend parsers for every protocol 3.0 message.
//! - [`auth`]: cleartext, MD5 and SCRAM-SHA-256 (server signature verified).
//! - [`startup`]: the whole startup and authentication exchange as one state machine, for
//!   every connection a driver opens.
//! - [`types`]: `ToSql`/`FromSql` binary codecs, [`types::Type`] (built-in constants and
//!   the shape of looked-up ones), the record format and `pg_enum!`/`pg_composite!`.
//! - [`sqlstate`]: SQLSTATE codes generated from PostgreSQL's `errcodes.txt`.

pub mod auth;
pub mod error;
pub mod message;
pub mod sqlstate;
pub mod startup;
pub mod types;

pub use crate::error::{BindError, EncodeError, Error};
pub use crate::sqlstate::SqlState;
/// Re-export of the `bytes` crate, whose `BytesMut` and `Bytes` appear in this API.
pub use bytes;
