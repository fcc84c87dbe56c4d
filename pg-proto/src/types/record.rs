//! The binary record format of composite (row) values, for codecs of your own composites.
//!
//! Layout: `count: i32`, then per field `type_oid: u32`, `length: i32` (−1 for NULL) and that
//! many bytes. Reading checks every length against the bytes present before using it, and a
//! claimed field count against the bytes left (each field takes at least 8): nothing is sized
//! from a length in the value.

use bytes::{BufMut, BytesMut};

use super::{FromSql, IsNull, Oid, ToSql, Type, TypeError};

/// Reads the fields of one binary record value in order.
///
/// ```
/// use corelane_pg_proto::types::{RecordReader, Type};
///
/// // (7, NULL) as int4, text.
/// let raw = [0, 0, 0, 2, 0, 0, 0, 23, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 25, 255, 255, 255, 255];
/// let mut fields = RecordReader::new(&raw)?;
/// assert_eq!(fields.next::<i32>(&Type::INT4)?, 7);
/// assert_eq!(fields.next::<Option<String>>(&Type::TEXT)?, None);
/// fields.finish()?;
/// # Ok::<(), corelane_pg_proto::types::TypeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordReader<'a> {
    rest: &'a [u8],
    left: usize,
}

fn take<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], TypeError> {
    let (head, tail) = rest
        .split_first_chunk::<N>()
        .ok_or(TypeError::Malformed("record"))?;
    *rest = tail;
    Ok(*head)
}

impl<'a> RecordReader<'a> {
    /// Starts reading `raw`; errors when its field count is negative or could not fit it.
    pub fn new(raw: &'a [u8]) -> Result<RecordReader<'a>, TypeError> {
        let mut rest = raw;
        let count = i32::from_be_bytes(take::<4>(&mut rest)?);
        let left =
            usize::try_from(count).map_err(|_| TypeError::Malformed("record field count"))?;
        if left > rest.len() / 8 {
            return Err(TypeError::Malformed("record: more fields than bytes"));
        }
        Ok(RecordReader { rest, left })
    }

    /// How many fields are left to read.
    pub fn len(&self) -> usize {
        self.left
    }

    /// True when every field was read.
    pub fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// The next field as sent: its type OID and its bytes (`None` for NULL).
    pub fn next_raw(&mut self) -> Result<(Oid, Option<&'a [u8]>), TypeError> {
        if self.left == 0 {
            return Err(TypeError::Malformed("record: fewer fields than expected"));
        }
        let oid = u32::from_be_bytes(take::<4>(&mut self.rest)?);
        let len = i32::from_be_bytes(take::<4>(&mut self.rest)?);
        self.left -= 1;
        if len == -1 {
            return Ok((oid, None));
        }
        let len = usize::try_from(len).map_err(|_| TypeError::Malformed("record field length"))?;
        let (value, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(TypeError::Malformed("record field length"))?;
        self.rest = rest;
        Ok((oid, Some(value)))
    }

    /// The next field, of type `ty`, as `T`. The field's type on the wire must be `ty`'s:
    /// when it is not, the description of the composite this client has is stale (the type
    /// was altered), and the value is refused rather than misread.
    pub fn next<T: FromSql<'a>>(&mut self, ty: &Type) -> Result<T, TypeError> {
        let (oid, raw) = self.next_raw()?;
        if oid != ty.oid() {
            return Err(TypeError::Malformed(
                "record: field type differs from the composite type's",
            ));
        }
        T::from_sql_nullable(ty, raw)
    }

    /// Ends reading: an error if fields or bytes are left.
    pub fn finish(self) -> Result<(), TypeError> {
        if self.left != 0 || !self.rest.is_empty() {
            return Err(TypeError::Malformed("record: trailing fields or bytes"));
        }
        Ok(())
    }
}

/// Writes one binary record value: create it, add each field in the composite's order, then
/// [`finish`](Self::finish) (or [`abort`](Self::abort) to take back what was written).
#[derive(Debug)]
pub struct RecordWriter<'b> {
    out: &'b mut BytesMut,
    start: usize,
    count: i32,
}

impl<'b> RecordWriter<'b> {
    /// Starts a record at the end of `out`.
    pub fn new(out: &'b mut BytesMut) -> RecordWriter<'b> {
        let start = out.len();
        out.put_i32(0);
        RecordWriter {
            out,
            start,
            count: 0,
        }
    }

    /// Appends a field of type `ty` (checked: `value` must accept `ty`).
    pub fn field<T: ToSql + ?Sized>(&mut self, ty: &Type, value: &T) -> Result<(), TypeError> {
        super::binary_only(value)?;
        self.count = self
            .count
            .checked_add(1)
            .ok_or(TypeError::OutOfRange("record field count"))?;
        self.out.put_u32(ty.oid());
        let len_at = self.out.len();
        self.out.put_i32(0);
        let len = match value.to_sql_checked(ty, self.out)? {
            IsNull::Yes => {
                self.out.truncate(len_at + 4);
                -1
            }
            IsNull::No => i32::try_from(self.out.len() - len_at - 4)
                .map_err(|_| TypeError::OutOfRange("record field"))?,
        };
        if let Some(at) = self.out.get_mut(len_at..len_at + 4) {
            at.copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// Ends the record: writes its field count.
    pub fn finish(self) -> Result<IsNull, TypeError> {
        if let Some(at) = self.out.get_mut(self.start..self.start + 4) {
            at.copy_from_slice(&self.count.to_be_bytes());
        }
        Ok(IsNull::No)
    }

    /// Takes back everything this record wrote (after a field's error).
    pub fn abort(self) {
        self.out.truncate(self.start);
    }
}
