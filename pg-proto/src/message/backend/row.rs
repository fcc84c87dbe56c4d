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
/// Column values are borrowed from (or cheaply sliced out of) the one body buffer. The ranges
/// of a row of up to four columns are stored inside the `DataRow` itself, so parsing such a
/// row allocates nothing; a wider row allocates one slice of ranges (sized by the columns
/// actually present), never one buffer per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRow {
    body: Bytes,
    columns: Columns,
}

/// How many columns a [`DataRow`] keeps inline. Small enough that a row stays a few words
/// (rows are moved into result vectors by the thousand), large enough for the common narrow
/// result (`SELECT $1`, a key and a value or two).
const INLINE_COLUMNS: usize = 4;

/// Where one column's value lies in the row's body.
///
/// Offsets are `u32`: a message's length field is an `i32`, so no body reaches 4 GiB, and
/// half-size offsets let four columns fit inline in the space of two `Range<usize>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Column {
    start: u32,
    /// The value's length, or [`Column::NULL_LEN`] for NULL (a real length is at most
    /// `i32::MAX`, so it cannot collide).
    len: u32,
}

impl Column {
    const NULL_LEN: u32 = u32::MAX;
    const NULL: Column = Column {
        start: 0,
        len: Column::NULL_LEN,
    };

    /// Reads one length-prefixed value off `r`, whose cursor is in a body of `body_len` bytes.
    fn read(r: &mut Reader<&[u8]>, body_len: usize) -> Result<Column, Error> {
        let len = r.i32("column length")?;
        if len == -1 {
            return Ok(Column::NULL);
        }
        let len = u32::try_from(len).map_err(|_| r.invalid("column length"))?;
        let start = body_len
            .checked_sub(r.remaining())
            .ok_or_else(|| r.invalid("column offset"))?;
        let start = u32::try_from(start).map_err(|_| r.invalid("column offset"))?;
        // Bounds-checked against the bytes present before the range is recorded.
        r.skip(len as usize, "column value")?;
        Ok(Column { start, len })
    }

    fn range(self) -> Option<Range<usize>> {
        if self.len == Column::NULL_LEN {
            return None;
        }
        let start = self.start as usize;
        Some(start..start + self.len as usize)
    }
}

/// The columns of a row: inline up to [`INLINE_COLUMNS`], else one heap slice.
#[derive(Clone)]
enum Columns {
    /// The first `len` entries are the row's columns; the rest are unused.
    Inline {
        len: u8,
        cols: [Column; INLINE_COLUMNS],
    },
    Heap(Box<[Column]>),
}

impl Columns {
    fn as_slice(&self) -> &[Column] {
        match self {
            Columns::Inline { len, cols } => cols.get(..usize::from(*len)).unwrap_or(&[]),
            Columns::Heap(cols) => cols,
        }
    }
}

// Both by the columns in use only: the unused inline entries are not part of the row.
impl std::fmt::Debug for Columns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.as_slice().iter().map(|c| c.range()))
            .finish()
    }
}

impl PartialEq for Columns {
    fn eq(&self, other: &Columns) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Columns {}

impl DataRow {
    pub(crate) fn parse(body: Bytes) -> Result<DataRow, Error> {
        // The reader walks the body as a slice: no reference count is touched per column.
        let mut r = Reader::new(b'D', &body[..]);
        // Each column takes at least its 4-byte length: the count is bounded by what arrived,
        // so the heap slice of a wide row is never larger than the body justifies.
        let n = r.count("column count", 4)?;
        let columns = match u8::try_from(n) {
            Ok(len) if n <= INLINE_COLUMNS => {
                let mut cols = [Column::NULL; INLINE_COLUMNS];
                for col in cols.iter_mut().take(n) {
                    *col = Column::read(&mut r, body.len())?;
                }
                Columns::Inline { len, cols }
            }
            _ => {
                let mut cols = Vec::with_capacity(n);
                for _ in 0..n {
                    cols.push(Column::read(&mut r, body.len())?);
                }
                Columns::Heap(cols.into_boxed_slice())
            }
        };
        r.finish()?;
        Ok(DataRow { body, columns })
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.as_slice().len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw message body (column count, then length-prefixed values).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Column `i`: `None` if out of range, `Some(None)` for NULL, `Some(Some(bytes))` otherwise.
    pub fn get(&self, i: usize) -> Option<Option<&[u8]>> {
        let col = self.columns.as_slice().get(i)?;
        Some(col.range().and_then(|r| self.body.get(r)))
    }

    /// Like [`DataRow::get`], as a `Bytes` sharing the row's buffer.
    pub fn get_bytes(&self, i: usize) -> Option<Option<Bytes>> {
        let col = self.columns.as_slice().get(i)?;
        Some(col.range().map(|r| self.body.slice(r)))
    }

    /// The columns in order, `None` for NULL.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&[u8]>> + '_ {
        self.columns
            .as_slice()
            .iter()
            .map(|c| c.range().and_then(|r| self.body.get(r)))
    }
}
