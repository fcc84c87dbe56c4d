//! RowDescription (`T`) and DataRow (`D`).

use std::ops::Range;

use bytes::Bytes;

use super::reader::{BytesStr, Reader};
use crate::error::Error;
use crate::message::frontend::Format;
use crate::types::Oid;

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Field {
    /// Column name (shares the message buffer).
    pub name: BytesStr,
    /// OID of the source table, or 0.
    pub table_oid: Oid,
    /// Attribute number in the source table, or 0.
    pub column_id: i16,
    /// OID of the column's type.
    pub type_oid: Oid,
    /// `pg_type.typlen` (negative: variable length).
    pub type_size: i16,
    /// `pg_attribute.atttypmod`.
    pub type_modifier: i32,
    /// Format the column will be sent in (always text in a Describe of a statement).
    pub format: Format,
}

/// RowDescription: the columns of the rows that follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowDescription {
    /// The columns, in order.
    pub fields: Vec<Field>,
}

/// Smallest encoded field: empty name + NUL, then 18 bytes of fixed fields.
const MIN_FIELD: usize = 19;

impl RowDescription {
    pub(crate) fn parse(mut r: Reader) -> Result<RowDescription, Error> {
        // Bounded by the body actually received, not by the claimed count.
        let n = r.count("field count", MIN_FIELD)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.cstr("field name")?;
            let table_oid = r.u32("table oid")?;
            let column_id = r.i16("column id")?;
            let type_oid = r.u32("type oid")?;
            let type_size = r.i16("type size")?;
            let type_modifier = r.i32("type modifier")?;
            let format = match r.i16("format code")? {
                0 => Format::Text,
                1 => Format::Binary,
                _ => return Err(r.invalid("format code")),
            };
            fields.push(Field {
                name,
                table_oid,
                column_id,
                type_oid,
                type_size,
                type_modifier,
                format,
            });
        }
        r.finish()?;
        Ok(RowDescription { fields })
    }
}

/// DataRow: one row, kept as the received body plus the byte range of each non-NULL column.
///
/// Column values are borrowed from (or cheaply sliced out of) the one body buffer; parsing a
/// row allocates one vector of ranges, never one buffer per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRow {
    body: Bytes,
    ranges: Vec<Option<Range<usize>>>,
}

impl DataRow {
    pub(crate) fn parse(body: Bytes) -> Result<DataRow, Error> {
        // The reader walks a second handle on the same buffer (a refcount bump, no copy).
        let mut r = Reader::new(b'D', body.clone());
        // Each column takes at least its 4-byte length: the count is bounded by what arrived.
        let n = r.count("column count", 4)?;
        let mut ranges = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.i32("column length")?;
            if len == -1 {
                ranges.push(None);
                continue;
            }
            let len = usize::try_from(len).map_err(|_| r.invalid("column length"))?;
            let start = body.len() - r.remaining();
            r.bytes(len, "column value")?;
            ranges.push(Some(start..start + len));
        }
        r.finish()?;
        Ok(DataRow { body, ranges })
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The raw message body (column count, then length-prefixed values).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Column `i`: `None` if out of range, `Some(None)` for NULL, `Some(Some(bytes))` otherwise.
    pub fn get(&self, i: usize) -> Option<Option<&[u8]>> {
        let range = self.ranges.get(i)?;
        Some(range.as_ref().and_then(|r| self.body.get(r.clone())))
    }

    /// Like [`DataRow::get`], as a `Bytes` sharing the row's buffer.
    pub fn get_bytes(&self, i: usize) -> Option<Option<Bytes>> {
        let range = self.ranges.get(i)?;
        Some(range.as_ref().map(|r| self.body.slice(r.clone())))
    }

    /// The columns in order, `None` for NULL.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&[u8]>> + '_ {
        self.ranges
            .iter()
            .map(|r| r.as_ref().and_then(|r| self.body.get(r.clone())))
    }
}
