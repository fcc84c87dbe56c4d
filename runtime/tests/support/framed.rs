//! A line protocol in which corruption is detectable, for fault tests.
//!
//! Every request and every reply is one line `"<id>:<payload>:<crc>\n"`: `id` is decimal,
//! `payload` is printable ASCII without `:` or `\n`, and `crc` is the Adler-32 of `<id>:<payload>`
//! in 8 lowercase hex digits. The echo server sends lines back unchanged, so a reply carries the
//! checksum of its request; a flipped byte anywhere in a line (including its `\n`, which merges
//! two lines) makes the line fail to parse or fail its checksum.

use bytes::{Bytes, BytesMut};
use corelane_runtime::roundtrip::Codec;

/// Longest accepted line, `\n` included. Longer input is a protocol error.
pub const MAX_LINE: usize = 64 * 1024;

/// Adler-32 of `data`.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % MOD;
        b = (b + a) % MOD;
    }
    (b << 16) | a
}

/// The framed line for request `id` carrying `payload`.
pub fn frame(id: u64, payload: &str) -> String {
    let body = format!("{id}:{payload}");
    let crc = adler32(body.as_bytes());
    format!("{body}:{crc:08x}\n")
}

/// `n` framed lines of the same length, ids `first..first + n` (zero-padded to 10 digits) with
/// payload `tag` followed by filler up to `payload_len` bytes.
pub fn frames(first: u64, n: usize, tag: &str, payload_len: usize) -> Vec<String> {
    let payload = format!("{tag:-<payload_len$}");
    (first..first + n as u64)
        .map(|id| {
            let body = format!("{id:010}:{payload}");
            let crc = adler32(body.as_bytes());
            format!("{body}:{crc:08x}\n")
        })
        .collect()
}

/// Why a reply was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// No `\n` within [`MAX_LINE`] bytes.
    TooLong(usize),
    /// The line is not `<digits>:<payload>:<8 hex digits>\n`.
    Malformed,
    /// The checksum does not match the content.
    Checksum { expected: u32, found: u32 },
    /// Bytes arrived while no request was waiting.
    Unsolicited(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong(n) => write!(f, "no line end within {n} bytes"),
            FrameError::Malformed => f.write_str("malformed frame"),
            FrameError::Checksum { expected, found } => {
                write!(
                    f,
                    "checksum mismatch: computed {expected:08x}, frame says {found:08x}"
                )
            }
            FrameError::Unsolicited(n) => write!(f, "{n} unsolicited bytes"),
        }
    }
}

/// Checks one line (without its `\n`): `<digits>:<payload>:<crc>` with a matching checksum.
pub fn check_line(line: &[u8]) -> Result<(), FrameError> {
    let colon = line
        .iter()
        .rposition(|&b| b == b':')
        .ok_or(FrameError::Malformed)?;
    let (body, crc) = (&line[..colon], &line[colon + 1..]);
    if crc.len() != 8 || !crc.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(FrameError::Malformed);
    }
    let found = std::str::from_utf8(crc)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or(FrameError::Malformed)?;
    let id_end = body
        .iter()
        .position(|&b| b == b':')
        .ok_or(FrameError::Malformed)?;
    let (id, payload) = (&body[..id_end], &body[id_end + 1..]);
    if id.is_empty() || !id.iter().all(u8::is_ascii_digit) {
        return Err(FrameError::Malformed);
    }
    if !payload
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b':')
    {
        return Err(FrameError::Malformed);
    }
    let expected = adler32(body);
    if expected != found {
        return Err(FrameError::Checksum { expected, found });
    }
    Ok(())
}

/// Replies are framed lines, returned whole (`\n` included) once their checksum is verified.
#[derive(Debug, Default)]
pub struct Framed {
    /// Replies decoded so far.
    pub decoded: u64,
}

impl Codec for Framed {
    type Reply = Bytes;
    type Expect = ();
    type Error = FrameError;

    fn decode(&mut self, _: &(), input: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        // Look no further than one maximal line: never scan (or keep) more than the bound.
        let window = &input[..input.len().min(MAX_LINE)];
        match window.iter().position(|&b| b == b'\n') {
            Some(end) => {
                check_line(&input[..end])?;
                self.decoded += 1;
                Ok(Some(input.split_to(end + 1).freeze()))
            }
            None if input.len() >= MAX_LINE => Err(FrameError::TooLong(MAX_LINE)),
            None => Ok(None),
        }
    }

    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), FrameError> {
        if input.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Unsolicited(input.len()))
        }
    }
}
