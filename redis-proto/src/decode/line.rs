//! Finding `\r\n`-terminated lines and parsing the numbers in them.

use crate::DecodeError;

/// Longest content of a line that holds only a number (`:`, `$`, `*`, `%`, …) or a fixed word
/// (`#t`, `_`). `i64::MIN` takes 20 bytes; 64 leaves room and bounds the scan.
pub(super) const HEADER_LINE_MAX: usize = 64;

/// Searches `buf` for the end of the line that starts at `buf[0]` (the type byte).
///
/// `scanned` is how far an earlier call already searched this same line, so that a long line
/// arriving in pieces is scanned once; it is updated when the line is still incomplete.
/// Returns the index of the `\r` of the terminating `\r\n`, or `None` when more bytes are
/// needed. `limit` bounds the line's content (the bytes between the type byte and `\r`).
pub(super) fn find_line(
    buf: &[u8],
    scanned: &mut usize,
    limit: usize,
) -> Result<Option<usize>, DecodeError> {
    // A buffer shorter than what was already scanned means the caller broke the continuity
    // contract; rescanning is the safe answer.
    let start = if *scanned >= 1 && *scanned <= buf.len() {
        *scanned
    } else {
        1
    };
    let rest = buf.get(start..).unwrap_or_default();
    match memchr::memchr2(b'\r', b'\n', rest) {
        Some(offset) => {
            let cr = start + offset;
            if cr - 1 > limit {
                return Err(DecodeError::LineTooLong { max: limit });
            }
            match (buf.get(cr), buf.get(cr + 1)) {
                (Some(b'\r'), Some(b'\n')) => Ok(Some(cr)),
                (Some(b'\r'), None) => {
                    *scanned = cr;
                    Ok(None)
                }
                _ => Err(DecodeError::MissingCrlf),
            }
        }
        None => {
            *scanned = buf.len().max(1);
            if buf.len().saturating_sub(1) > limit {
                return Err(DecodeError::LineTooLong { max: limit });
            }
            Ok(None)
        }
    }
}

/// Parses an optionally signed (`+`/`-`) decimal `i64` with checked arithmetic; `i64::MIN`
/// parses because negatives accumulate downwards.
pub(super) fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut acc: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = i64::from(b - b'0');
        acc = acc.checked_mul(10)?;
        acc = if negative {
            acc.checked_sub(d)?
        } else {
            acc.checked_add(d)?
        };
    }
    Some(acc)
}

/// Parses a length or count: decimal digits, or `-1` (→ `Ok(None)`) when `allow_null`.
pub(super) fn parse_len(text: &[u8], allow_null: bool) -> Result<Option<u64>, DecodeError> {
    if allow_null && text == b"-1" {
        return Ok(None);
    }
    if text.is_empty() {
        return Err(DecodeError::InvalidLength);
    }
    let mut acc: u64 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return Err(DecodeError::InvalidLength);
        }
        acc = acc
            .checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(b - b'0')))
            .ok_or(DecodeError::InvalidLength)?;
    }
    Ok(Some(acc))
}

/// Parses a RESP3 double: a decimal float, `inf`, `-inf` or `nan` (any case).
pub(super) fn parse_f64(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A big number: an optional sign and at least one decimal digit.
pub(super) fn is_big_number(text: &[u8]) -> bool {
    let digits = match text.split_first() {
        Some((b'-' | b'+', rest)) => rest,
        _ => text,
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"+7"), Some(7));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"1a"), None);
        assert_eq!(parse_i64(b" 1"), None);
    }

    #[test]
    fn lengths() {
        assert_eq!(parse_len(b"-1", true), Ok(None));
        assert_eq!(parse_len(b"-1", false), Err(DecodeError::InvalidLength));
        assert_eq!(parse_len(b"-2", true), Err(DecodeError::InvalidLength));
        assert_eq!(parse_len(b"?", true), Err(DecodeError::InvalidLength));
        assert_eq!(parse_len(b"", true), Err(DecodeError::InvalidLength));
        assert_eq!(parse_len(b"18446744073709551615", true), Ok(Some(u64::MAX)));
        assert_eq!(
            parse_len(b"18446744073709551616", true),
            Err(DecodeError::InvalidLength)
        );
    }

    #[test]
    fn line_scan_resumes() {
        let mut scanned = 0;
        assert_eq!(find_line(b"+hel", &mut scanned, 100), Ok(None));
        assert_eq!(scanned, 4);
        assert_eq!(find_line(b"+hello\r", &mut scanned, 100), Ok(None));
        assert_eq!(scanned, 6);
        assert_eq!(find_line(b"+hello\r\n", &mut scanned, 100), Ok(Some(6)));
        let mut s = 0;
        assert_eq!(
            find_line(b"+a\rb", &mut s, 100),
            Err(DecodeError::MissingCrlf)
        );
        let mut s = 0;
        assert_eq!(
            find_line(b"+a\nb", &mut s, 100),
            Err(DecodeError::MissingCrlf)
        );
        let mut s = 0;
        assert_eq!(
            find_line(b":12345", &mut s, 3),
            Err(DecodeError::LineTooLong { max: 3 })
        );
        let mut s = 0;
        assert_eq!(find_line(b":123\r\n", &mut s, 3), Ok(Some(4)));
    }
}
