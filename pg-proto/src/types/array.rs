//! Arrays: `Vec<T>` for one dimension, [`Array<T>`] for up to six.
//!
//! Binary layout: `ndim: i32, has_null: i32, element_oid: u32`, then `(length: i32,
//! lower_bound: i32)` per dimension, then each element as `length: i32` (−1 for NULL) and bytes.
//! Decoding rejects more than 6 dimensions and element counts that could not fit the bytes
//! received, before allocating.

use bytes::{BufMut, BytesMut};

use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// PostgreSQL's `MAXDIM`.
pub const MAX_DIMENSIONS: usize = 6;

/// One dimension of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dimension {
    /// Number of elements along this dimension.
    pub len: i32,
    /// Index of the first element (PostgreSQL's default is 1).
    pub lower_bound: i32,
}

/// A possibly multi-dimensional array: dimensions plus elements in row-major order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Array<T> {
    dims: Vec<Dimension>,
    elements: Vec<T>,
}

impl<T> Array<T> {
    /// An array from dimensions and row-major elements; errors if the element count does not
    /// match the dimensions or there are more than 6 dimensions.
    pub fn new(dims: Vec<Dimension>, elements: Vec<T>) -> Result<Array<T>, TypeError> {
        if dims.len() > MAX_DIMENSIONS {
            return Err(TypeError::TooManyDimensions(
                i32::try_from(dims.len()).unwrap_or(i32::MAX),
            ));
        }
        if element_count(&dims)? != elements.len() {
            return Err(TypeError::Malformed(
                "array: element count does not match dimensions",
            ));
        }
        Ok(Array { dims, elements })
    }

    /// A one-dimensional array with lower bound 1.
    pub fn from_vec(elements: Vec<T>) -> Result<Array<T>, TypeError> {
        if elements.is_empty() {
            return Ok(Array {
                dims: Vec::new(),
                elements,
            });
        }
        let len = i32::try_from(elements.len()).map_err(|_| TypeError::OutOfRange("array"))?;
        Ok(Array {
            dims: vec![Dimension {
                len,
                lower_bound: 1,
            }],
            elements,
        })
    }

    /// The dimensions (empty for an empty array).
    pub fn dimensions(&self) -> &[Dimension] {
        &self.dims
    }

    /// The elements in row-major order.
    pub fn elements(&self) -> &[T] {
        &self.elements
    }

    /// Takes the elements.
    pub fn into_elements(self) -> Vec<T> {
        self.elements
    }
}

fn element_count(dims: &[Dimension]) -> Result<usize, TypeError> {
    dims.iter()
        .try_fold(1usize, |acc, d| {
            let len =
                usize::try_from(d.len).map_err(|_| TypeError::Malformed("array dimension"))?;
            acc.checked_mul(len).ok_or(TypeError::OutOfRange("array"))
        })
        .map(|n| if dims.is_empty() { 0 } else { n })
}

fn encode<'e, T, I>(
    ty: &Type,
    dims: &[Dimension],
    elements: I,
    out: &mut BytesMut,
) -> Result<(), TypeError>
where
    T: ToSql + 'e,
    I: IntoIterator<Item = &'e T>,
{
    let elem = ty
        .base()
        .array_element()
        .ok_or_else(|| super::wrong_type::<T>(ty))?;
    let ndim = i32::try_from(dims.len()).map_err(|_| TypeError::OutOfRange("array"))?;
    if dims.len() > MAX_DIMENSIONS {
        return Err(TypeError::TooManyDimensions(ndim));
    }
    out.put_i32(ndim);
    let flag_at = out.len();
    out.put_i32(0);
    out.put_u32(elem.oid());
    for d in dims {
        out.put_i32(d.len);
        out.put_i32(d.lower_bound);
    }
    let mut has_null = false;
    for e in elements {
        super::binary_only(e)?;
        let len_at = out.len();
        out.put_i32(0);
        let len = match e.to_sql_checked(elem, out)? {
            IsNull::Yes => {
                has_null = true;
                out.truncate(len_at + 4);
                -1
            }
            IsNull::No => i32::try_from(out.len() - len_at - 4)
                .map_err(|_| TypeError::OutOfRange("array element"))?,
        };
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    }
    out[flag_at..flag_at + 4].copy_from_slice(&i32::from(has_null).to_be_bytes());
    Ok(())
}

fn encode_checked<'e, T, I>(
    ty: &Type,
    dims: &[Dimension],
    elements: I,
    out: &mut BytesMut,
) -> Result<IsNull, TypeError>
where
    T: ToSql + 'e,
    I: IntoIterator<Item = &'e T>,
{
    let start = out.len();
    encode(ty, dims, elements, out).inspect_err(|_| out.truncate(start))?;
    Ok(IsNull::No)
}

fn read_i32(raw: &mut &[u8]) -> Result<i32, TypeError> {
    let (head, rest) = raw
        .split_first_chunk::<4>()
        .ok_or(TypeError::Malformed("array"))?;
    *raw = rest;
    Ok(i32::from_be_bytes(*head))
}

fn decode<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8]) -> Result<Array<T>, TypeError> {
    let elem = ty
        .base()
        .array_element()
        .ok_or_else(|| super::wrong_type::<T>(ty))?;
    let mut buf = raw;
    let ndim = read_i32(&mut buf)?;
    let ndim_usize = usize::try_from(ndim).map_err(|_| TypeError::Malformed("array dimensions"))?;
    if ndim_usize > MAX_DIMENSIONS {
        return Err(TypeError::TooManyDimensions(ndim));
    }
    let flags = read_i32(&mut buf)?;
    if flags != 0 && flags != 1 {
        return Err(TypeError::Malformed("array flags"));
    }
    // The element type on the wire is the one the array type says (else the description
    // this client has of the type is stale: refuse rather than misread).
    if read_i32(&mut buf)? as u32 != elem.oid() {
        return Err(TypeError::Malformed(
            "array: element type differs from the array type's",
        ));
    }
    let mut dims = Vec::with_capacity(ndim_usize);
    for _ in 0..ndim_usize {
        let len = read_i32(&mut buf)?;
        let lower_bound = read_i32(&mut buf)?;
        dims.push(Dimension { len, lower_bound });
    }
    let count = element_count(&dims)?;
    // Every element takes at least its 4-byte length: bound the count by the bytes present.
    if count > buf.len() / 4 {
        return Err(TypeError::Malformed("array: more elements than bytes"));
    }
    let mut elements = Vec::with_capacity(count);
    for _ in 0..count {
        let len = read_i32(&mut buf)?;
        let value = if len == -1 {
            None
        } else {
            let len =
                usize::try_from(len).map_err(|_| TypeError::Malformed("array element length"))?;
            let (v, rest) = buf
                .split_at_checked(len)
                .ok_or(TypeError::Malformed("array element length"))?;
            buf = rest;
            Some(v)
        };
        elements.push(T::from_sql_nullable(elem, value)?);
    }
    if !buf.is_empty() {
        return Err(TypeError::Malformed("array: trailing bytes"));
    }
    Ok(Array { dims, elements })
}

fn accepts_array(ty: &Type, elem_accepts: impl Fn(&Type) -> bool) -> bool {
    ty.array_element()
        .is_some_and(|e| elem_accepts(e) || elem_accepts(e.base()))
}

impl<T: ToSql> ToSql for Array<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        encode_checked(ty, &self.dims, &self.elements, out)
    }
    fn accepts(ty: &Type) -> bool {
        accepts_array(ty, T::accepts)
    }
    to_sql_checked!();
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Array<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, TypeError> {
        decode(ty, raw)
    }
    fn accepts(ty: &Type) -> bool {
        accepts_array(ty, T::accepts)
    }
}

fn one_dim(len: usize) -> Result<Vec<Dimension>, TypeError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let len = i32::try_from(len).map_err(|_| TypeError::OutOfRange("array"))?;
    Ok(vec![Dimension {
        len,
        lower_bound: 1,
    }])
}

impl<T: ToSql> ToSql for Vec<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        encode_checked(ty, &one_dim(self.len())?, self, out)
    }
    fn accepts(ty: &Type) -> bool {
        accepts_array(ty, T::accepts)
    }
    to_sql_checked!();
}

impl<T: ToSql> ToSql for &[T] {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        encode_checked(ty, &one_dim(self.len())?, *self, out)
    }
    fn accepts(ty: &Type) -> bool {
        accepts_array(ty, T::accepts)
    }
    to_sql_checked!();
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Vec<T> {
    /// One-dimensional (or empty) arrays only; use [`Array`] for more dimensions.
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, TypeError> {
        let a = decode::<T>(ty, raw)?;
        if a.dims.len() > 1 {
            return Err(TypeError::Malformed(
                "multi-dimensional array into Vec (use Array)",
            ));
        }
        Ok(a.elements)
    }
    fn accepts(ty: &Type) -> bool {
        accepts_array(ty, T::accepts)
    }
}
