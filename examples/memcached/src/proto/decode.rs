//! The reply decoder: resumable, linear, and never sized by what the server claims.

use std::ops::Range;

use bytes::{Buf, BytesMut};

use super::reply::{ErrorKind, Item, ProtoError, Reply, ServerError};
use super::{key_hash, Expect};

/// The longest reply line accepted (a `VALUE` header with a 250-byte key is about 320 bytes;
/// error texts are short). A longer run of bytes without a line end is a protocol error, so a
/// hostile server cannot make the client buffer an endless line.
pub const MAX_LINE: usize = 2048;

/// The default largest value accepted: memcached's default item size limit (`-I 1m`).
pub const DEFAULT_MAX_VALUE: usize = 1 << 20;

/// Takes replies from the front of the received bytes, one request's reply per call.
///
/// Call [`decode`](Self::decode) with the [`Expect`] of the oldest request without a reply,
/// again with the same `Expect` after more bytes arrived when it returned `Ok(None)`. A
/// multi-value reply is scanned once however many reads it arrives in: the values already
/// checked are remembered (as ranges of the buffer, which is consumed only when the reply is
/// complete).
#[derive(Debug)]
pub struct Decoder {
    max_value: usize,
    /// Bytes of the current `get` reply already checked.
    pos: usize,
    /// Its values so far.
    items: Vec<RawItem>,
}

#[derive(Debug)]
struct RawItem {
    key: Range<usize>,
    flags: u32,
    cas: Option<u64>,
    value: Range<usize>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_VALUE)
    }
}

impl Decoder {
    /// A decoder that refuses values longer than `max_value` bytes.
    pub fn new(max_value: usize) -> Self {
        Decoder {
            max_value,
            pos: 0,
            items: Vec::new(),
        }
    }

    /// Takes one complete reply for a request described by `expect` from the front of
    /// `input`: `Ok(None)` consumes nothing (more bytes needed); `Ok(Some)` consumes exactly
    /// that reply's bytes.
    pub fn decode(
        &mut self,
        expect: &Expect,
        input: &mut BytesMut,
    ) -> Result<Option<Reply>, ProtoError> {
        let Expect::Values {
            keys,
            cas,
            key_hash,
        } = *expect
        else {
            let Some(end) = line_end(input, 0)? else {
                return Ok(None);
            };
            let reply = one_line(expect, &input[..end])?;
            input.advance(end + 2);
            return Ok(Some(reply));
        };
        let result = self.values(keys, cas, key_hash, input);
        if !matches!(result, Ok(None)) {
            // A reply (or the end of the connection): the next request starts afresh.
            self.pos = 0;
            self.items.clear();
        }
        result
    }

    fn values(
        &mut self,
        keys: usize,
        want_cas: bool,
        hash: Option<u64>,
        input: &mut BytesMut,
    ) -> Result<Option<Reply>, ProtoError> {
        loop {
            let start = self.pos;
            let Some(end) = line_end(input, start)? else {
                return Ok(None);
            };
            let line = &input[start..end];
            if line == b"END" {
                let frame = input.split_to(end + 2).freeze();
                let items = self
                    .items
                    .drain(..)
                    .map(|raw| Item {
                        key: frame.slice(raw.key),
                        flags: raw.flags,
                        cas: raw.cas,
                        value: frame.slice(raw.value),
                    })
                    .collect();
                return Ok(Some(Reply::Values(items)));
            }
            if let Some(error) = error_line(line) {
                input.advance(end + 2);
                return Ok(Some(Reply::Error(error)));
            }
            let header = parse_value_header(line, want_cas)?;
            if hash.is_some_and(|h| h != key_hash(header.key)) {
                return Err(ProtoError::UnrequestedValue(format!(
                    "a value for {} (another key was requested)",
                    describe(header.key)
                )));
            }
            if self.items.len() >= keys {
                return Err(ProtoError::UnrequestedValue(format!(
                    "more values than the {keys} keys requested"
                )));
            }
            if header.len > self.max_value as u64 {
                return Err(ProtoError::ValueTooLarge {
                    claimed: header.len,
                    limit: self.max_value,
                });
            }
            // Fits in usize: at most `max_value`.
            let len = usize::try_from(header.len).unwrap_or(usize::MAX);
            let data = end + 2;
            let data_end = data.saturating_add(len);
            // Wait for the bytes to arrive; nothing is reserved for what is merely claimed.
            let Some(terminator) = input.get(data_end..data_end.saturating_add(2)) else {
                return Ok(None);
            };
            if terminator != b"\r\n" {
                return Err(ProtoError::Malformed(format!(
                    "the {len}-byte value of {} is not followed by CRLF",
                    describe(header.key)
                )));
            }
            let key = start + 6..start + 6 + header.key.len();
            self.items.push(RawItem {
                key,
                flags: header.flags,
                cas: header.cas,
                value: data..data_end,
            });
            self.pos = data_end + 2;
        }
    }
}

struct ValueHeader<'a> {
    key: &'a [u8],
    flags: u32,
    len: u64,
    cas: Option<u64>,
}

/// `VALUE <key> <flags> <bytes> [<cas unique>]`.
fn parse_value_header(line: &[u8], want_cas: bool) -> Result<ValueHeader<'_>, ProtoError> {
    let bad = || ProtoError::Malformed(describe(line));
    let rest = line.strip_prefix(b"VALUE ").ok_or_else(bad)?;
    let mut fields = rest.split(|&b| b == b' ');
    let key = fields.next().filter(|k| !k.is_empty()).ok_or_else(bad)?;
    let flags = fields.next().and_then(number::<u32>).ok_or_else(bad)?;
    let len = fields.next().and_then(number::<u64>).ok_or_else(bad)?;
    let cas = match fields.next() {
        Some(c) => Some(number::<u64>(c).ok_or_else(bad)?),
        None => None,
    };
    if fields.next().is_some() || (want_cas && cas.is_none()) {
        return Err(bad());
    }
    Ok(ValueHeader {
        key,
        flags,
        len,
        cas,
    })
}

/// The reply of a one-line request.
fn one_line(expect: &Expect, line: &[u8]) -> Result<Reply, ProtoError> {
    if let Some(error) = error_line(line) {
        return Ok(Reply::Error(error));
    }
    let reply = match (expect, line) {
        (Expect::Store, b"STORED") => Some(Reply::Stored),
        (Expect::Store, b"NOT_STORED") => Some(Reply::NotStored),
        (Expect::Store, b"EXISTS") => Some(Reply::Exists),
        (Expect::Store | Expect::Delete | Expect::Arith | Expect::Touch, b"NOT_FOUND") => {
            Some(Reply::NotFound)
        }
        (Expect::Delete, b"DELETED") => Some(Reply::Deleted),
        (Expect::Touch, b"TOUCHED") => Some(Reply::Touched),
        (Expect::Ok, b"OK") => Some(Reply::Ok),
        // Old servers pad a shrunk number with spaces.
        (Expect::Arith, digits) => number(trim_spaces(digits)).map(Reply::Number),
        (Expect::Version, line) => line
            .strip_prefix(b"VERSION ")
            .map(|v| Reply::Version(String::from_utf8_lossy(v).into_owned())),
        _ => None,
    };
    reply.ok_or_else(|| ProtoError::Malformed(format!("{} in reply to {expect:?}", describe(line))))
}

/// `ERROR`, `CLIENT_ERROR <text>`, `SERVER_ERROR <text>`.
fn error_line(line: &[u8]) -> Option<ServerError> {
    let (kind, rest) = if line == b"ERROR" {
        (ErrorKind::Error, &b""[..])
    } else if let Some(rest) = line.strip_prefix(b"CLIENT_ERROR") {
        (ErrorKind::Client, rest)
    } else if let Some(rest) = line.strip_prefix(b"SERVER_ERROR") {
        (ErrorKind::Server, rest)
    } else {
        return None;
    };
    if !(rest.is_empty() || rest.starts_with(b" ")) {
        return None;
    }
    Some(ServerError {
        kind,
        message: String::from_utf8_lossy(rest.strip_prefix(b" ").unwrap_or(rest)).into_owned(),
    })
}

/// Where the line starting at `from` ends (the index of its `\r`), if its `\r\n` is here.
fn line_end(input: &[u8], from: usize) -> Result<Option<usize>, ProtoError> {
    let window = input.get(from..).unwrap_or_default();
    let window = &window[..window.len().min(MAX_LINE + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(0) => Err(ProtoError::Malformed("an empty line".into())),
        Some(i) if window[i - 1] == b'\r' => Ok(Some(from + i - 1)),
        Some(i) => Err(ProtoError::Malformed(format!(
            "a line ended by a bare LF: {}",
            describe(&window[..i])
        ))),
        None if window.len() > MAX_LINE => Err(ProtoError::LineTooLong(MAX_LINE)),
        None => Ok(None),
    }
}

/// A decimal number made of ASCII digits only (no sign, no spaces), within `T`'s range.
fn number<T: std::str::FromStr>(digits: &[u8]) -> Option<T> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn trim_spaces(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    &b[..end]
}

/// A short printable excerpt of server bytes for an error message.
fn describe(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
    let more = if bytes.len() > 64 { "…" } else { "" };
    format!("{:?}{more}", text)
}
