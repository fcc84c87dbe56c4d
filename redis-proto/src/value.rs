//! The decoded RESP value tree.

use bytes::Bytes;

use crate::ServerError;

/// Which wire form a null arrived in.
///
/// RESP3 has one null (`_`); RESP2 has a null bulk string (`$-1`) and a null array (`*-1`).
/// Decoding keeps the form so that [`Value::write_to`] reproduces it (a fake RESP2 server needs
/// `$-1`); code that only asks "is it null?" matches `Value::Null(_)` or calls [`Value::is_null`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NullKind {
    /// RESP3 null: `_\r\n`.
    Null,
    /// RESP2 null bulk string: `$-1\r\n`.
    Bulk,
    /// RESP2 null array: `*-1\r\n`.
    Array,
}

/// One RESP2/RESP3 value.
///
/// Attributes (`|`) have no variant: the decoder reads and drops them, and the value they
/// annotate takes their place. Payloads are [`Bytes`] slices of the received buffer (zero-copy).
/// A push (`>`) at the top level is returned as [`Frame::Push`](crate::Frame::Push); this
/// variant only holds a push nested inside another aggregate, or one built for encoding.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// Simple string: `+OK\r\n`.
    SimpleString(Bytes),
    /// Simple error: `-ERR message\r\n`. A value, not a decode error.
    Error(ServerError),
    /// Integer: `:-42\r\n`.
    Integer(i64),
    /// Bulk string: `$5\r\nhello\r\n`.
    BulkString(Bytes),
    /// Array: `*2\r\n...`.
    Array(Vec<Value>),
    /// Null in any of its wire forms (`_`, `$-1`, `*-1`).
    Null(NullKind),
    /// Boolean: `#t\r\n` / `#f\r\n`.
    Boolean(bool),
    /// Double: `,1.5\r\n`, `,inf\r\n`, `,-inf\r\n`, `,nan\r\n`.
    Double(f64),
    /// Big number, as its decimal digits (optional sign): `(3492890328409238509324850943850943825024385\r\n`.
    BigNumber(Bytes),
    /// Blob error: `!21\r\nSYNTAX invalid syntax\r\n`. A value, not a decode error.
    BlobError(ServerError),
    /// Verbatim string: `=15\r\ntxt:Some string\r\n`, split into its format and its text.
    Verbatim {
        /// The three-byte format, e.g. `*b"txt"` or `*b"mkd"`.
        format: [u8; 3],
        /// The text after `xxx:`.
        text: Bytes,
    },
    /// Map: `%1\r\n+key\r\n:1\r\n`, pairs in wire order.
    Map(Vec<(Value, Value)>),
    /// Set: `~2\r\n...`, elements in wire order.
    Set(Vec<Value>),
    /// Push (`>`) nested in an aggregate or built for encoding.
    Push(Vec<Value>),
}

impl Value {
    /// A RESP3 null (`_`).
    pub const NULL: Value = Value::Null(NullKind::Null);

    /// True for every form of null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }

    /// The server error of an `Error` or `BlobError`.
    pub fn as_server_error(&self) -> Option<&ServerError> {
        match self {
            Value::Error(e) | Value::BlobError(e) => Some(e),
            _ => None,
        }
    }

    /// The payload of a simple, bulk or verbatim string (verbatim: the text after `xxx:`).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::SimpleString(b) | Value::BulkString(b) | Value::Verbatim { text: b, .. } => {
                Some(b)
            }
            _ => None,
        }
    }

    /// The integer of an `Integer`.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of an `Array`, `Set` or `Push`.
    pub fn as_elements(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => Some(v),
            _ => None,
        }
    }

    /// A short name of the RESP type, for error messages (`"bulk string"`, `"map"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::SimpleString(_) => "simple string",
            Value::Error(_) => "error",
            Value::Integer(_) => "integer",
            Value::BulkString(_) => "bulk string",
            Value::Array(_) => "array",
            Value::Null(_) => "null",
            Value::Boolean(_) => "boolean",
            Value::Double(_) => "double",
            Value::BigNumber(_) => "big number",
            Value::BlobError(_) => "blob error",
            Value::Verbatim { .. } => "verbatim string",
            Value::Map(_) => "map",
            Value::Set(_) => "set",
            Value::Push(_) => "push",
        }
    }
}
