//! Formatting rows for COPY FROM STDIN: the text format and the binary format.

use bytes::{BufMut, BytesMut};
use corelane_pg_proto::types::{IsNull, Oid, ToSql, Type, TypeError};

use crate::Error;

/// Appends one row in COPY's text format (the default format of `COPY ... FROM STDIN`) to
/// `out`: fields separated by tabs, `None` as `\N`, backslash, newline, carriage return and
/// tab escaped, and a newline at the end.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// corelane_postgres::copy_text_row([Some("a\tb"), None, Some("c\\d")], &mut out);
/// assert_eq!(&out[..], b"a\\tb\t\\N\tc\\\\d\n");
/// ```
pub fn copy_text_row<'a, I>(fields: I, out: &mut BytesMut)
where
    I: IntoIterator<Item = Option<&'a str>>,
{
    for (k, field) in fields.into_iter().enumerate() {
        if k > 0 {
            out.put_u8(b'\t');
        }
        let Some(text) = field else {
            out.extend_from_slice(b"\\N");
            continue;
        };
        let bytes = text.as_bytes();
        let mut from = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                _ => continue,
            };
            out.extend_from_slice(bytes.get(from..i).unwrap_or_default());
            out.extend_from_slice(escaped);
            from = i + 1;
        }
        out.extend_from_slice(bytes.get(from..).unwrap_or_default());
    }
    out.put_u8(b'\n');
}

/// Formats rows in COPY's binary format (`COPY ... FROM STDIN (FORMAT binary)`), with the
/// column types given once: [`header`](Self::header), then [`row`](Self::row) per row, then
/// [`trailer`](Self::trailer).
///
/// ```
/// use corelane_postgres::{oid, CopyBinary};
///
/// let copy = CopyBinary::new(vec![oid::INT4, oid::TEXT]);
/// let mut out = bytes::BytesMut::new();
/// copy.header(&mut out);
/// copy.row(&[&1i32, &"one"], &mut out)?;
/// copy.row(&[&2i32, &None::<&str>], &mut out)?;
/// copy.trailer(&mut out);
/// # Ok::<(), corelane_postgres::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CopyBinary {
    types: Vec<Type>,
}

/// The binary COPY signature, flags and header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

impl CopyBinary {
    /// Rows of these built-in column types, in the statement's column order (an OID this
    /// crate does not know is taken as [`Type::unresolved`]; use
    /// [`with_types`](Self::with_types) for your own types).
    pub fn new(types: Vec<Oid>) -> Self {
        CopyBinary {
            types: types
                .into_iter()
                .map(Type::from_oid_or_unresolved)
                .collect(),
        }
    }

    /// Rows of these column types (e.g. a [`Statement`](crate::Statement)'s column types,
    /// user-defined ones included), in the statement's column order.
    pub fn with_types(types: Vec<Type>) -> Self {
        CopyBinary { types }
    }

    /// Appends the header (once, before the first row).
    pub fn header(&self, out: &mut BytesMut) {
        out.extend_from_slice(BINARY_HEADER);
    }

    /// Appends one row: one value per column type. On error nothing is appended.
    pub fn row(&self, values: &[&(dyn ToSql + Sync)], out: &mut BytesMut) -> Result<(), Error> {
        if values.len() != self.types.len() {
            return Err(Error::type_error(format!(
                "{} values for {} columns",
                values.len(),
                self.types.len()
            )));
        }
        let count = i16::try_from(values.len())
            .map_err(|_| Error::type_error("too many columns for a binary COPY row"))?;
        let start = out.len();
        out.put_i16(count);
        for (value, ty) in values.iter().zip(&self.types) {
            let at = out.len();
            out.put_i32(0);
            // A binary COPY row has no per-value format: text there would be misread.
            let checked = if value.is_text() {
                Err(TypeError::other(
                    "a Text value cannot go in a binary COPY row",
                ))
            } else {
                value.to_sql_checked(ty, out)
            };
            let written = match checked {
                Ok(IsNull::No) => i32::try_from(out.len() - at - 4)
                    .map_err(|_| Error::type_error("a value too large for a binary COPY row")),
                Ok(IsNull::Yes) => Ok(-1),
                Err(e) => Err(Error::from(e)),
            };
            match written {
                Ok(len) => {
                    if let Some(slot) = out.get_mut(at..at + 4) {
                        slot.copy_from_slice(&len.to_be_bytes());
                    }
                    if len < 0 {
                        out.truncate(at + 4);
                    }
                }
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Appends the trailer (once, after the last row).
    pub fn trailer(&self, out: &mut BytesMut) {
        out.put_i16(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rows_escape() {
        let mut out = BytesMut::new();
        copy_text_row(
            [Some("plain"), Some("a\\b\nc\rd\te"), None, Some("")],
            &mut out,
        );
        assert_eq!(&out[..], b"plain\ta\\\\b\\nc\\rd\\te\t\\N\t\n");
    }

    #[test]
    fn binary_rows() {
        let copy = CopyBinary::new(vec![
            corelane_pg_proto::types::oid::INT4,
            corelane_pg_proto::types::oid::TEXT,
        ]);
        let mut out = BytesMut::new();
        copy.header(&mut out);
        assert_eq!(out.len(), 19);
        copy.row(&[&7i32, &None::<&str>], &mut out)
            .unwrap_or_default();
        assert_eq!(&out[19..], b"\0\x02\0\0\0\x04\0\0\0\x07\xff\xff\xff\xff");
        assert!(copy.row(&[&7i32], &mut out).is_err());
        copy.trailer(&mut out);
        assert_eq!(&out[out.len() - 2..], b"\xff\xff");
    }
}
