//! A bounds-checked cursor over a message body, and the validated UTF-8 string type.

use std::fmt;

use bytes::{Buf, Bytes};

use crate::error::Error;

/// A UTF-8 string that shares the received message's buffer (no copy).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct BytesStr(Bytes);

impl BytesStr {
    /// Validates `bytes` as UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Option<BytesStr> {
        std::str::from_utf8(&bytes).ok()?;
        Some(BytesStr(bytes))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Validated in `from_utf8`; the fallback is unreachable.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl std::ops::Deref for BytesStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for BytesStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for BytesStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for BytesStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BytesStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Reads fields off a body; every read is bounds-checked and errors name the field.
///
/// Over a `Bytes` body (the default) the fields it returns share the message's buffer; over a
/// `&[u8]` (a row's columns, read by the thousand) it only checks and skips, with no reference
/// count touched per field.
pub(crate) struct Reader<B: Buf = Bytes> {
    tag: char,
    buf: B,
}

impl<B: Buf> Reader<B> {
    pub(crate) fn new(tag: u8, body: B) -> Reader<B> {
        Reader {
            tag: char::from(tag),
            buf: body,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    pub(crate) fn short(&self, what: &'static str) -> Error {
        Error::UnexpectedEnd {
            tag: self.tag,
            what,
        }
    }

    pub(crate) fn invalid(&self, what: &'static str) -> Error {
        Error::InvalidField {
            tag: self.tag,
            what,
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        if !self.buf.has_remaining() {
            return Err(self.short(what));
        }
        Ok(self.buf.get_u8())
    }

    pub(crate) fn i16(&mut self, what: &'static str) -> Result<i16, Error> {
        if self.buf.remaining() < 2 {
            return Err(self.short(what));
        }
        Ok(self.buf.get_i16())
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, Error> {
        if self.buf.remaining() < 4 {
            return Err(self.short(what));
        }
        Ok(self.buf.get_i32())
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        if self.buf.remaining() < 4 {
            return Err(self.short(what));
        }
        Ok(self.buf.get_u32())
    }

    /// A 16-bit count that must be non-negative and, at `min_item` bytes per item, fit the body.
    pub(crate) fn count(&mut self, what: &'static str, min_item: usize) -> Result<usize, Error> {
        let n = self.i16(what)?;
        let n = usize::try_from(n).map_err(|_| self.invalid(what))?;
        if n.saturating_mul(min_item) > self.buf.remaining() {
            return Err(self.short(what));
        }
        Ok(n)
    }

    /// Skips `n` bytes that must be there.
    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<(), Error> {
        if self.buf.remaining() < n {
            return Err(self.short(what));
        }
        self.buf.advance(n);
        Ok(())
    }

    /// Errors if anything is left.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if !self.buf.has_remaining() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                tag: self.tag,
                extra: self.buf.remaining(),
            })
        }
    }
}

impl Reader<Bytes> {
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, Error> {
        if self.buf.len() < n {
            return Err(self.short(what));
        }
        Ok(self.buf.split_to(n))
    }

    /// The rest of the body.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// A NUL-terminated byte string (terminator consumed, not returned).
    pub(crate) fn cbytes(&mut self, what: &'static str) -> Result<Bytes, Error> {
        let end = memchr::memchr(0, &self.buf).ok_or(Error::MissingNul {
            tag: self.tag,
            what,
        })?;
        let s = self.buf.split_to(end);
        self.buf.advance(1);
        Ok(s)
    }

    /// A NUL-terminated UTF-8 string.
    pub(crate) fn cstr(&mut self, what: &'static str) -> Result<BytesStr, Error> {
        let b = self.cbytes(what)?;
        BytesStr::from_utf8(b).ok_or_else(|| self.invalid(what))
    }
}
