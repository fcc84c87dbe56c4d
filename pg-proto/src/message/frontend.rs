//! Frontend (client → server) message encoders.
//!
//! Every encoder appends one complete message to a caller-owned [`BytesMut`], writing the length
//! prefix as a placeholder and back-patching it once the body is written: no intermediate buffer.
//! On error the buffer is truncated back to its previous length, so a failed encode never leaves
//! half a message behind.

use bytes::{BufMut, BytesMut};

use crate::error::{BindError, EncodeError};
use crate::types::{IsNull, Oid};

/// Protocol version 3.0, as sent in the startup message.
pub const PROTOCOL_VERSION: i32 = 196_608;
/// The SSLRequest code.
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
/// The CancelRequest code.
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;

/// Wire format of a parameter or result column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Text format (0).
    Text,
    /// Binary format (1).
    Binary,
}

impl Format {
    /// The format code on the wire.
    pub fn code(self) -> i16 {
        match self {
            Format::Text => 0,
            Format::Binary => 1,
        }
    }
}

/// What a Describe or Close message targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// A prepared statement (`S`).
    Statement,
    /// A portal (`P`).
    Portal,
}

impl Target {
    fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// Writes `tag` (if any), a length placeholder, the body from `f`, then back-patches the length.
/// Restores `buf` to its previous length if `f` fails.
fn framed<E, F>(buf: &mut BytesMut, tag: Option<u8>, f: F) -> Result<(), E>
where
    E: From<EncodeError>,
    F: FnOnce(&mut BytesMut) -> Result<(), E>,
{
    let start = buf.len();
    if let Some(tag) = tag {
        buf.put_u8(tag);
    }
    let len_at = buf.len();
    buf.put_i32(0);
    let patched = f(buf).and_then(|()| {
        let len =
            i32::try_from(buf.len() - len_at).map_err(|_| EncodeError::TooLarge("message"))?;
        buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    });
    if patched.is_err() {
        buf.truncate(start);
    }
    patched
}

fn put_cstr(buf: &mut BytesMut, s: &[u8], what: &'static str) -> Result<(), EncodeError> {
    if memchr::memchr(0, s).is_some() {
        return Err(EncodeError::ContainsNul(what));
    }
    buf.put_slice(s);
    buf.put_u8(0);
    Ok(())
}

/// Writes a 16-bit count placeholder, then one item per element; back-patches the count.
fn put_counted<T, I, F>(
    buf: &mut BytesMut,
    items: I,
    what: &'static str,
    mut each: F,
) -> Result<(), EncodeError>
where
    I: IntoIterator<Item = T>,
    F: FnMut(&mut BytesMut, T),
{
    let at = buf.len();
    buf.put_i16(0);
    let mut count = 0usize;
    for item in items {
        each(buf, item);
        count += 1;
    }
    let n = i16::try_from(count).map_err(|_| EncodeError::TooMany {
        what,
        count,
        max: i16::MAX as usize,
    })?;
    buf[at..at + 2].copy_from_slice(&n.to_be_bytes());
    Ok(())
}

/// StartupMessage: protocol 3.0 and `(name, value)` parameters (`user` is required by servers;
/// `database`, `application_name`, `options`, … are optional).
pub fn startup<'a, I>(params: I, buf: &mut BytesMut) -> Result<(), EncodeError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    framed(buf, None, |buf| {
        buf.put_i32(PROTOCOL_VERSION);
        for (name, value) in params {
            if name.is_empty() {
                return Err(EncodeError::EmptyParameterName);
            }
            put_cstr(buf, name.as_bytes(), "startup parameter name")?;
            put_cstr(buf, value.as_bytes(), "startup parameter value")?;
        }
        buf.put_u8(0);
        Ok(())
    })
}

/// SSLRequest. The server answers with a single byte, `S` or `N`, not a message.
pub fn ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_i32(SSL_REQUEST_CODE);
}

/// CancelRequest, sent on a new connection, with the key from BackendKeyData.
pub fn cancel_request(process_id: i32, secret_key: i32, buf: &mut BytesMut) {
    buf.put_i32(16);
    buf.put_i32(CANCEL_REQUEST_CODE);
    buf.put_i32(process_id);
    buf.put_i32(secret_key);
}

/// PasswordMessage carrying a cleartext password or an MD5 hash (see [`crate::auth::md5`]).
pub fn password_message(password: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    framed(buf, Some(b'p'), |buf| put_cstr(buf, password, "password"))
}

/// SASLInitialResponse: the chosen mechanism and the client-first message.
pub fn sasl_initial_response(
    mechanism: &str,
    data: &[u8],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    framed(buf, Some(b'p'), |buf| {
        put_cstr(buf, mechanism.as_bytes(), "SASL mechanism")?;
        let len = i32::try_from(data.len()).map_err(|_| EncodeError::TooLarge("SASL data"))?;
        buf.put_i32(len);
        buf.put_slice(data);
        Ok(())
    })
}

/// SASLResponse: a later SASL message (for SCRAM, the client-final message).
pub fn sasl_response(data: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    framed(buf, Some(b'p'), |buf| {
        buf.put_slice(data);
        Ok(())
    })
}

/// Query (simple protocol).
pub fn query(sql: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
    framed(buf, Some(b'Q'), |buf| {
        put_cstr(buf, sql.as_bytes(), "query")
    })
}

/// Parse: prepares `sql` as statement `name` (`""` for the unnamed statement).
/// `param_types` may be shorter than the parameter count; 0 leaves a type to the server.
pub fn parse<I>(
    name: &str,
    sql: &str,
    param_types: I,
    buf: &mut BytesMut,
) -> Result<(), EncodeError>
where
    I: IntoIterator<Item = Oid>,
{
    framed(buf, Some(b'P'), |buf| {
        put_cstr(buf, name.as_bytes(), "statement name")?;
        put_cstr(buf, sql.as_bytes(), "query")?;
        put_counted(buf, param_types, "parameter types", |buf, oid| {
            buf.put_u32(oid)
        })
    })
}

/// Bind: binds `params` to statement `statement`, creating portal `portal` (`""`: unnamed).
///
/// `param_formats` and `result_formats` follow the protocol: empty means all text, one entry
/// applies to all, otherwise one per parameter/column. `serialize` writes one value's bytes
/// (without a length) and returns [`IsNull::Yes`] for NULL; the length is back-patched.
pub fn bind<P, I, F, E, PF, RF>(
    portal: &str,
    statement: &str,
    param_formats: PF,
    params: I,
    mut serialize: F,
    result_formats: RF,
    buf: &mut BytesMut,
) -> Result<(), BindError<E>>
where
    PF: IntoIterator<Item = Format>,
    I: IntoIterator<Item = P>,
    F: FnMut(P, &mut BytesMut) -> Result<IsNull, E>,
    RF: IntoIterator<Item = Format>,
{
    framed(buf, Some(b'B'), |buf| {
        put_cstr(buf, portal.as_bytes(), "portal name")?;
        put_cstr(buf, statement.as_bytes(), "statement name")?;
        put_counted(buf, param_formats, "parameter formats", |buf, f| {
            buf.put_i16(f.code())
        })?;

        let count_at = buf.len();
        buf.put_i16(0);
        let mut count = 0usize;
        for (index, param) in params.into_iter().enumerate() {
            let len_at = buf.len();
            buf.put_i32(0);
            let is_null =
                serialize(param, buf).map_err(|source| BindError::Param { index, source })?;
            let len = match is_null {
                IsNull::Yes => {
                    buf.truncate(len_at + 4);
                    -1
                }
                IsNull::No => i32::try_from(buf.len() - len_at - 4)
                    .map_err(|_| EncodeError::TooLarge("parameter value"))?,
            };
            buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
            count += 1;
        }
        let n = i16::try_from(count).map_err(|_| EncodeError::TooMany {
            what: "parameters",
            count,
            max: i16::MAX as usize,
        })?;
        buf[count_at..count_at + 2].copy_from_slice(&n.to_be_bytes());

        put_counted(buf, result_formats, "result formats", |buf, f| {
            buf.put_i16(f.code())
        })?;
        Ok(())
    })
}

/// Describe a statement or portal.
pub fn describe(target: Target, name: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
    framed(buf, Some(b'D'), |buf| {
        buf.put_u8(target.byte());
        put_cstr(buf, name.as_bytes(), "describe target name")
    })
}

/// Execute portal `portal`, returning at most `max_rows` rows (0: no limit).
pub fn execute(portal: &str, max_rows: i32, buf: &mut BytesMut) -> Result<(), EncodeError> {
    framed(buf, Some(b'E'), |buf| {
        put_cstr(buf, portal.as_bytes(), "portal name")?;
        buf.put_i32(max_rows);
        Ok(())
    })
}

/// Close a statement or portal.
pub fn close(target: Target, name: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
    framed(buf, Some(b'C'), |buf| {
        buf.put_u8(target.byte());
        put_cstr(buf, name.as_bytes(), "close target name")
    })
}

fn empty(tag: u8, buf: &mut BytesMut) {
    buf.put_u8(tag);
    buf.put_i32(4);
}

/// Sync: ends an extended-protocol batch; the server answers with ReadyForQuery.
pub fn sync(buf: &mut BytesMut) {
    empty(b'S', buf);
}

/// Flush: asks the server to send what it has buffered.
pub fn flush(buf: &mut BytesMut) {
    empty(b'H', buf);
}

/// Terminate: polite close.
pub fn terminate(buf: &mut BytesMut) {
    empty(b'X', buf);
}

/// CopyDone: ends COPY FROM STDIN data.
pub fn copy_done(buf: &mut BytesMut) {
    empty(b'c', buf);
}

/// CopyData: one chunk of COPY FROM STDIN data.
pub fn copy_data(data: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    framed(buf, Some(b'd'), |buf| {
        buf.put_slice(data);
        Ok(())
    })
}

/// CopyFail: aborts COPY FROM STDIN with an error message.
pub fn copy_fail(message: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
    framed(buf, Some(b'f'), |buf| {
        put_cstr(buf, message.as_bytes(), "CopyFail message")
    })
}

#[cfg(test)]
#[path = "frontend_tests.rs"]
mod tests;
