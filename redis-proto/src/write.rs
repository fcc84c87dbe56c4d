//! Encoding [`Value`]s: for fake servers, proxies and tests.

use bytes::{BufMut, BytesMut};

use crate::wire::{format_f64, put_blob, put_header, put_line, CRLF};
use crate::{NullKind, Value};

impl Value {
    /// Appends the RESP encoding of this value to `out`.
    ///
    /// Nulls keep their wire form (`_`, `$-1`, `*-1`); a `Push` is written as `>`. The caller
    /// is responsible for simple strings, simple errors and big numbers not containing `\r` or
    /// `\n` (the protocol cannot carry them there); use a bulk string or blob error instead.
    /// Recursion follows the value's nesting, which the caller controls.
    pub fn write_to(&self, out: &mut BytesMut) {
        match self {
            Value::SimpleString(s) => put_line(out, b'+', s),
            Value::Error(e) => put_line(out, b'-', e.as_bytes()),
            Value::Integer(n) => {
                out.put_u8(b':');
                out.put_slice(itoa::Buffer::new().format(*n).as_bytes());
                out.put_slice(CRLF);
            }
            Value::BulkString(b) => put_blob(out, b'$', b),
            Value::Array(items) => write_list(out, b'*', items),
            Value::Null(NullKind::Null) => out.put_slice(b"_\r\n"),
            Value::Null(NullKind::Bulk) => out.put_slice(b"$-1\r\n"),
            Value::Null(NullKind::Array) => out.put_slice(b"*-1\r\n"),
            Value::Boolean(b) => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Value::Double(d) => {
                out.put_u8(b',');
                out.put_slice(format_f64(&mut ryu::Buffer::new(), *d).as_bytes());
                out.put_slice(CRLF);
            }
            Value::BigNumber(b) => put_line(out, b'(', b),
            Value::BlobError(e) => put_blob(out, b'!', e.as_bytes()),
            Value::Verbatim { format, text } => {
                put_header(out, b'=', text.len().saturating_add(4));
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(CRLF);
            }
            Value::Map(pairs) => write_pairs(out, b'%', pairs),
            Value::Set(items) => write_list(out, b'~', items),
            Value::Push(items) => write_list(out, b'>', items),
        }
    }

    /// The RESP encoding of this value in a fresh buffer.
    pub fn to_bytes(&self) -> bytes::Bytes {
        let mut out = BytesMut::new();
        self.write_to(&mut out);
        out.freeze()
    }
}

/// Appends an attribute (`|`) holding `pairs`. Write the annotated value right after it;
/// [`Decoder`](crate::Decoder) skips the attribute and returns that value.
pub fn write_attribute(out: &mut BytesMut, pairs: &[(Value, Value)]) {
    write_pairs(out, b'|', pairs);
}

fn write_list(out: &mut BytesMut, ty: u8, items: &[Value]) {
    put_header(out, ty, items.len());
    for item in items {
        item.write_to(out);
    }
}

fn write_pairs(out: &mut BytesMut, ty: u8, pairs: &[(Value, Value)]) {
    put_header(out, ty, pairs.len());
    for (k, v) in pairs {
        k.write_to(out);
        v.write_to(out);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::ServerError;

    fn enc(v: &Value) -> Bytes {
        v.to_bytes()
    }

    #[test]
    fn exact_bytes() {
        assert_eq!(enc(&Value::SimpleString("OK".into())), &b"+OK\r\n"[..]);
        assert_eq!(
            enc(&Value::Error(ServerError::new("ERR no"))),
            &b"-ERR no\r\n"[..]
        );
        assert_eq!(
            enc(&Value::Integer(i64::MIN)),
            &b":-9223372036854775808\r\n"[..]
        );
        assert_eq!(enc(&Value::BulkString("".into())), &b"$0\r\n\r\n"[..]);
        assert_eq!(enc(&Value::Null(NullKind::Bulk)), &b"$-1\r\n"[..]);
        assert_eq!(enc(&Value::Null(NullKind::Array)), &b"*-1\r\n"[..]);
        assert_eq!(enc(&Value::NULL), &b"_\r\n"[..]);
        assert_eq!(enc(&Value::Boolean(false)), &b"#f\r\n"[..]);
        assert_eq!(enc(&Value::Double(f64::NEG_INFINITY)), &b",-inf\r\n"[..]);
        assert_eq!(enc(&Value::Double(1.5)), &b",1.5\r\n"[..]);
        assert_eq!(enc(&Value::BigNumber("-12".into())), &b"(-12\r\n"[..]);
        assert_eq!(
            enc(&Value::BlobError(ServerError::new("SYNTAX x"))),
            &b"!8\r\nSYNTAX x\r\n"[..]
        );
        assert_eq!(
            enc(&Value::Verbatim {
                format: *b"txt",
                text: "Some string".into()
            }),
            &b"=15\r\ntxt:Some string\r\n"[..]
        );
        assert_eq!(
            enc(&Value::Map(vec![(
                Value::SimpleString("a".into()),
                Value::Integer(1)
            )])),
            &b"%1\r\n+a\r\n:1\r\n"[..]
        );
        assert_eq!(
            enc(&Value::Push(vec![Value::Set(vec![]), Value::Array(vec![])])),
            &b">2\r\n~0\r\n*0\r\n"[..]
        );
        let mut out = BytesMut::new();
        write_attribute(
            &mut out,
            &[(Value::SimpleString("ttl".into()), Value::Integer(3))],
        );
        assert_eq!(&out[..], b"|1\r\n+ttl\r\n:3\r\n");
    }
}
