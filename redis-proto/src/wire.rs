//! Small writers shared by the command encoder and the value encoder.

use bytes::{BufMut, BytesMut};

/// `\r\n`.
pub(crate) const CRLF: &[u8; 2] = b"\r\n";

/// Number of decimal digits of `n`.
pub(crate) fn dec_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Encoded size of `<ty><n>\r\n`.
pub(crate) fn header_len(n: usize) -> usize {
    1 + dec_len(n) + 2
}

/// Encoded size of `$<n>\r\n<n bytes>\r\n`.
pub(crate) fn blob_len(n: usize) -> usize {
    header_len(n).saturating_add(n).saturating_add(2)
}

/// Writes `<ty><n>\r\n`.
pub(crate) fn put_header(out: &mut BytesMut, ty: u8, n: usize) {
    out.put_u8(ty);
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
    out.put_slice(CRLF);
}

/// Writes `<ty><len>\r\n<data>\r\n`.
pub(crate) fn put_blob(out: &mut BytesMut, ty: u8, data: &[u8]) {
    put_header(out, ty, data.len());
    out.put_slice(data);
    out.put_slice(CRLF);
}

/// Writes `<ty><text>\r\n`.
pub(crate) fn put_line(out: &mut BytesMut, ty: u8, text: &[u8]) {
    out.put_u8(ty);
    out.put_slice(text);
    out.put_slice(CRLF);
}

/// Formats a double the way Redis reads it back: `inf`, `-inf`, `nan`, or the shortest
/// decimal that round-trips (`1.5`, `1e300`).
pub(crate) fn format_f64(buf: &mut ryu::Buffer, d: f64) -> &str {
    if d.is_nan() {
        "nan"
    } else if d.is_infinite() {
        if d > 0.0 {
            "inf"
        } else {
            "-inf"
        }
    } else {
        buf.format_finite(d)
    }
}

/// Same as [`format_f64`] for `f32`.
pub(crate) fn format_f32(buf: &mut ryu::Buffer, d: f32) -> &str {
    if d.is_nan() {
        "nan"
    } else if d.is_infinite() {
        if d > 0.0 {
            "inf"
        } else {
            "-inf"
        }
    } else {
        buf.format_finite(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dec_len_matches_itoa() {
        for n in [0usize, 9, 10, 99, 100, 12345, usize::MAX] {
            assert_eq!(dec_len(n), itoa::Buffer::new().format(n).len(), "{n}");
        }
    }

    #[test]
    fn doubles() {
        let mut b = ryu::Buffer::new();
        assert_eq!(format_f64(&mut b, f64::INFINITY), "inf");
        assert_eq!(format_f64(&mut b, f64::NEG_INFINITY), "-inf");
        assert_eq!(format_f64(&mut b, f64::NAN), "nan");
        assert_eq!(format_f64(&mut b, 1.5), "1.5");
        assert_eq!(format_f32(&mut b, 0.1), "0.1");
        assert_eq!(format_f32(&mut b, f32::NEG_INFINITY), "-inf");
    }
}
