//! The incremental, resumable RESP2/RESP3 decoder.

mod frame;
mod limits;
mod line;
mod open;
#[cfg(test)]
mod tests;

use bytes::{Buf, Bytes, BytesMut};

pub use frame::Frame;
pub use limits::Limits;

use crate::{DecodeError, NullKind, ServerError, Value};
use line::{find_line, is_big_number, parse_f64, parse_i64, parse_len, HEADER_LINE_MAX};
use open::{Kind, Open};

/// Incremental RESP2/RESP3 decoder: feed it the bytes read from one connection, take frames.
///
/// # Consumption
///
/// [`decode`](Self::decode) parses from the front of `buf` and removes what it parses:
///
/// - `Ok(Some(frame))`: exactly one top-level frame is complete. Every byte of it (including
///   any attributes before it) has been removed from `buf`, part of it possibly by earlier
///   calls that returned `Ok(None)`; the bytes after it are untouched. Call again: `buf` may
///   already hold the next frame.
/// - `Ok(None)`: the frame is not complete yet. The decoder has removed from `buf` only items it
///   has fully parsed into its resume state (aggregate headers, complete elements, attributes)
///   and left the rest, i.e. an incomplete line or an incomplete bulk payload with its header,
///   in place. Append more bytes to the *same* `buf` (or pass a buffer holding exactly the
///   unconsumed bytes followed by new ones) and call again; nothing already parsed is parsed
///   again, so a frame arriving in many reads is scanned once (the decoder also remembers how
///   far it has searched an incomplete line for its `\r\n`).
/// - `Err(e)`: the stream is malformed or breaks a [`Limits`] bound. How much was removed is
///   unspecified; the connection must be closed. The decoder keeps returning `e` until
///   [`reset`](Self::reset).
///
/// So across calls, bytes removed from `buf` + bytes left in `buf` == bytes given, and the
/// bytes removed between two `Some`s are exactly one frame.
///
/// # Bounds
///
/// Nothing is allocated from a length the peer claims: a bulk payload is split off `buf`
/// (zero-copy, [`BytesMut::split_to`]) once it has fully arrived, and an aggregate's element
/// vector starts at `min(count, bytes received / 3)` and grows as elements arrive. The decoder
/// never reserves capacity in `buf`. Aggregates are decoded with an explicit stack (no
/// recursion), at most [`Limits::max_depth`] deep.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// Aggregates whose header has been consumed and whose elements are still arriving.
    stack: Vec<Open>,
    /// A bulk-like header already consumed whose payload has not fully arrived.
    bulk: Option<PendingBlob>,
    /// How far the incomplete line at the front of `buf` has been searched for `\r\n`.
    scanned: usize,
    /// Bytes of the current, incomplete frame already consumed (top-level attributes included).
    partial_len: usize,
    /// The error that ended the stream; returned again until `reset`.
    failed: Option<DecodeError>,
}

/// The three blob types: `$`, `!`, `=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobKind {
    Bulk,
    Error,
    Verbatim,
}

#[derive(Debug, Clone, Copy)]
struct PendingBlob {
    kind: BlobKind,
    len: usize,
}

/// The result of parsing one item at the front of `buf`.
enum Step {
    /// More bytes are needed.
    Incomplete,
    /// A complete value, or `None` for a complete attribute (dropped).
    Done(Option<Value>),
    /// An aggregate header with at least one element to come.
    Open(Open),
}

impl Decoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True when part of a frame has been consumed and the rest has not arrived: a connection
    /// closing now cut a reply mid-frame. (An incomplete line still in the buffer is not
    /// counted: the buffer shows it.)
    pub fn in_progress(&self) -> bool {
        self.partial_len > 0
    }

    /// Bytes of the current incomplete frame that earlier calls consumed into the resume state.
    pub fn partial_len(&self) -> usize {
        self.partial_len
    }

    /// Forgets any partial frame and any earlier error, keeping the limits. Use it when
    /// switching to a new stream.
    pub fn reset(&mut self) {
        self.stack.clear();
        self.bulk = None;
        self.scanned = 0;
        self.partial_len = 0;
        self.failed = None;
    }

    /// Decodes the next top-level frame from the front of `buf`. See the type docs for exactly
    /// what is consumed on each outcome.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let before = buf.len();
        let result = self.run(buf);
        match &result {
            Ok(None) => self.partial_len += before - buf.len(),
            Ok(Some(_)) => self.partial_len = 0,
            Err(e) => {
                self.failed = Some(e.clone());
                self.stack.clear();
                self.bulk = None;
                self.scanned = 0;
                self.partial_len = 0;
            }
        }
        result
    }

    fn run(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        loop {
            let mut done = match self.step(buf)? {
                Step::Incomplete => return Ok(None),
                Step::Open(open) => {
                    self.stack.push(open);
                    continue;
                }
                Step::Done(value) => value,
            };
            // Hand the finished value to its parent, closing every aggregate it completes.
            while let Some(value) = done.take() {
                let Some(top) = self.stack.last_mut() else {
                    return Ok(Some(Frame::from_value(value)));
                };
                if top.push(value) {
                    done = self.stack.pop().and_then(Open::finish);
                }
            }
        }
    }

    /// Parses one item (a scalar, a blob, or an aggregate header) at the front of `buf`.
    fn step(&mut self, buf: &mut BytesMut) -> Result<Step, DecodeError> {
        if let Some(pending) = self.bulk {
            return self.finish_blob(pending, buf);
        }
        let Some(&ty) = buf.first() else {
            return Ok(Step::Incomplete);
        };
        let limit = match ty {
            b'+' | b'-' | b',' | b'(' => self.limits.max_bulk_len,
            b':' | b'$' | b'!' | b'=' | b'*' | b'~' | b'>' | b'%' | b'|' | b'#' | b'_' => {
                HEADER_LINE_MAX
            }
            other => return Err(DecodeError::InvalidTypeByte(other)),
        };
        let Some(cr) = find_line(buf, &mut self.scanned, limit)? else {
            return Ok(Step::Incomplete);
        };
        self.scanned = 0;
        let text = buf.get(1..cr).unwrap_or_default();
        let value = match ty {
            b'+' => Value::SimpleString(take_line(buf, cr)),
            b'-' => Value::Error(ServerError::new(take_line(buf, cr))),
            b'(' => {
                if !is_big_number(text) {
                    return Err(DecodeError::InvalidBigNumber);
                }
                Value::BigNumber(take_line(buf, cr))
            }
            b':' => {
                let n = parse_i64(text).ok_or(DecodeError::InvalidInteger)?;
                buf.advance(cr + 2);
                Value::Integer(n)
            }
            b',' => {
                let d = parse_f64(text).ok_or(DecodeError::InvalidDouble)?;
                buf.advance(cr + 2);
                Value::Double(d)
            }
            b'#' => {
                let b = match text {
                    b"t" => true,
                    b"f" => false,
                    _ => return Err(DecodeError::InvalidBoolean),
                };
                buf.advance(cr + 2);
                Value::Boolean(b)
            }
            b'_' => {
                if !text.is_empty() {
                    return Err(DecodeError::InvalidNull);
                }
                buf.advance(cr + 2);
                Value::Null(NullKind::Null)
            }
            b'$' | b'!' | b'=' => {
                let len = parse_len(text, ty == b'$')?;
                buf.advance(cr + 2);
                let Some(len) = len else {
                    return Ok(Step::Done(Some(Value::Null(NullKind::Bulk))));
                };
                let max = self.limits.max_bulk_len;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= max)
                    .ok_or(DecodeError::BulkTooLong { len, max })?;
                let kind = match ty {
                    b'$' => BlobKind::Bulk,
                    b'!' => BlobKind::Error,
                    _ if len < 4 => return Err(DecodeError::InvalidVerbatim),
                    _ => BlobKind::Verbatim,
                };
                return self.finish_blob(PendingBlob { kind, len }, buf);
            }
            _ => return self.open_aggregate(ty, cr, buf),
        };
        Ok(Step::Done(Some(value)))
    }

    /// Reads an aggregate header (`* ~ > % |`) whose line ends at `cr`.
    fn open_aggregate(
        &mut self,
        ty: u8,
        cr: usize,
        buf: &mut BytesMut,
    ) -> Result<Step, DecodeError> {
        let count = parse_len(buf.get(1..cr).unwrap_or_default(), ty == b'*')?;
        buf.advance(cr + 2);
        let Some(count) = count else {
            return Ok(Step::Done(Some(Value::Null(NullKind::Array))));
        };
        let max = self.limits.max_aggregate_len;
        let too_long = DecodeError::AggregateTooLong { len: count, max };
        let count = usize::try_from(count)
            .ok()
            .filter(|&c| c <= max)
            .ok_or(too_long.clone())?;
        if self.stack.len() >= self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                max: self.limits.max_depth,
            });
        }
        let (kind, elements) = match ty {
            b'*' => (Kind::Array, count),
            b'~' => (Kind::Set, count),
            b'>' => (Kind::Push, count),
            b'%' => (Kind::Map, count.checked_mul(2).ok_or(too_long)?),
            _ => (Kind::Attribute, count.checked_mul(2).ok_or(too_long)?),
        };
        let open = Open::new(kind, elements, buf.len());
        if elements == 0 {
            Ok(Step::Done(open.finish()))
        } else {
            Ok(Step::Open(open))
        }
    }

    /// Completes a blob whose header is consumed, if its payload and `\r\n` have arrived.
    fn finish_blob(
        &mut self,
        pending: PendingBlob,
        buf: &mut BytesMut,
    ) -> Result<Step, DecodeError> {
        let PendingBlob { kind, len } = pending;
        let end = len.checked_add(2).ok_or(DecodeError::InvalidLength)?;
        let Some(crlf) = buf.get(len..end) else {
            self.bulk = Some(pending);
            return Ok(Step::Incomplete);
        };
        if crlf != b"\r\n" {
            return Err(DecodeError::MissingCrlf);
        }
        self.bulk = None;
        let data = buf.split_to(len).freeze();
        buf.advance(2);
        let value = match kind {
            BlobKind::Bulk => Value::BulkString(data),
            BlobKind::Error => Value::BlobError(ServerError::new(data)),
            BlobKind::Verbatim => verbatim(data)?,
        };
        Ok(Step::Done(Some(value)))
    }

    /// Total capacity of the open aggregates' element buffers (for the allocation tests).
    #[cfg(test)]
    fn buffered_capacity(&self) -> usize {
        self.stack.iter().map(Open::capacity).sum::<usize>()
    }
}

/// Splits off the content of the line ending at `cr` (type byte and `\r\n` dropped), zero-copy.
fn take_line(buf: &mut BytesMut, cr: usize) -> Bytes {
    buf.advance(1);
    let text = buf.split_to(cr - 1).freeze();
    buf.advance(2);
    text
}

/// Splits a verbatim payload `xxx:text` into its format and text.
fn verbatim(data: Bytes) -> Result<Value, DecodeError> {
    match data.get(..4) {
        Some(&[a, b, c, b':']) => Ok(Value::Verbatim {
            format: [a, b, c],
            text: data.slice(4..),
        }),
        _ => Err(DecodeError::InvalidVerbatim),
    }
}
