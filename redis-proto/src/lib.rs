//! Sans-IO RESP2/RESP3 codec: bytes in, frames out; commands in, bytes out.
//!
//! No runtime and no I/O: the caller reads the socket into a [`BytesMut`](bytes::BytesMut),
//! hands it to a [`Decoder`], and writes what a [`Cmd`] encodes. It serves corelane's
//! pipelined Redis driver and any other client (tokio, blocking, a test's fake server).
//!
//! ```
//! use bytes::BytesMut;
//! use corelane_redis_proto::{Cmd, Decoder, Frame, Value};
//!
//! // Encode `SET greeting hello` into the connection's write buffer.
//! let mut out = BytesMut::new();
//! Cmd::new("SET").arg("greeting").arg("hello").write_to(&mut out);
//! assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n");
//!
//! // Decode replies as they arrive, split anywhere.
//! let mut decoder = Decoder::new();
//! let mut input = BytesMut::from(&b"+OK\r\n$5\r\nhel"[..]);
//! assert_eq!(
//!     decoder.decode(&mut input)?,
//!     Some(Frame::Reply(Value::SimpleString("OK".into())))
//! );
//! assert_eq!(decoder.decode(&mut input)?, None); // `$5` waits for the rest of its payload
//! input.extend_from_slice(b"lo\r\n-WRONGTYPE Operation against a key\r\n");
//! assert_eq!(
//!     decoder.decode(&mut input)?,
//!     Some(Frame::Reply(Value::BulkString("hello".into())))
//! );
//!
//! // A server error is a value, with its code split out.
//! let Some(Frame::Reply(Value::Error(e))) = decoder.decode(&mut input)? else { unreachable!() };
//! assert_eq!(e.code(), Some("WRONGTYPE"));
//! assert!(input.is_empty());
//! # Ok::<(), corelane_redis_proto::DecodeError>(())
//! ```
//!
//! # Decoding
//!
//! [`Decoder::decode`] returns `Ok(Some(frame))` for each complete top-level frame and
//! `Ok(None)` when more bytes are needed. It is *resumable*: what it has fully parsed of an
//! incomplete frame (aggregate headers, finished elements) is removed from the buffer and kept in
//! its state, so a large reply arriving in many reads is scanned once, never from its first byte
//! again. The exact contract is on [`Decoder`]. Every RESP2 and RESP3 type decodes to a
//! [`Value`]; attributes (`|`) are read and dropped; a top-level push (`>`) comes back as
//! [`Frame::Push`] so a driver can route it away from its reply queue.
//!
//! # Bounds
//!
//! Nothing a peer sends can panic the decoder or make it allocate more than it has received:
//! claimed lengths are checked against [`Limits`] (bulk size, aggregate size, nesting depth) and
//! never used to size an allocation; bulk payloads are zero-copy slices of the input
//! ([`bytes::Bytes`]). Malformed input is a typed [`DecodeError`]. Server errors (`-ERR`, `!`)
//! are not decode errors but [`Value::Error`] / [`Value::BlobError`] holding a [`ServerError`].
//! The property tests and the cargo-fuzz target (`fuzz/`, target `decode`) check that the same
//! input yields the same frames, byte counts and error however it is split.
//!
//! # Handshake
//!
//! [`hello::Hello`] is the connection handshake (`HELLO 3` with `AUTH`/`SETNAME`, the RESP2
//! fallback, `SELECT`) as a state machine: replies in, commands out.
//!
//! # Encoding
//!
//! [`Cmd`] builds a command as a RESP array of bulk strings, each argument encoded once as it is
//! added (anything [`ToArg`]: strings, bytes, integers, floats); [`Cmd::write_to`] appends it to
//! the write buffer with one exact-size reserve. [`encode_command`] does the same for a slice of
//! byte strings. [`Value::write_to`] encodes any value (and [`write_attribute`] an attribute),
//! for fake servers and tests.

mod decode;
mod encode;
mod error;
pub mod hello;
mod server_error;
mod value;
mod wire;
mod write;

pub use decode::{Decoder, Frame, Limits};
pub use encode::{encode_command, ArgSink, Cmd, ToArg};
pub use error::DecodeError;
pub use server_error::ServerError;
pub use value::{NullKind, Value};
pub use write::write_attribute;
