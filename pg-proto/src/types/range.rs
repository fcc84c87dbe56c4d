//! Ranges: [`Range<T>`] for `int4range`, `int8range`, `numrange`, `daterange`, `tsrange`,
//! `tstzrange` and user-defined range types, over any element type with a codec.
//!
//! Binary layout (PostgreSQL's `range_send`/`range_recv`): one flags byte, then for each
//! bound that is present (not empty, not infinite) `length: i32` and the element's bytes,
//! lower bound first. Decoding allocates nothing of its own: a bound's length is checked
//! against the bytes received before the element is read.

use std::ops::{self, Bound};

use bytes::{BufMut, BytesMut};

use super::{FromSql, IsNull, Kind, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// The range is empty (no other bit is set then).
const EMPTY: u8 = 0x01;
/// The lower bound is inclusive (`[`).
const LB_INC: u8 = 0x02;
/// The upper bound is inclusive (`]`).
const UB_INC: u8 = 0x04;
/// The lower bound is infinite (absent).
const LB_INF: u8 = 0x08;
/// The upper bound is infinite (absent).
const UB_INF: u8 = 0x10;
/// `RANGE_CONTAIN_EMPTY`: a GiST-internal marker that `range_send` would pass through; it says
/// nothing about the value, so it is ignored (as `range_recv` ignores it).
const CONTAIN_EMPTY: u8 = 0x80;
/// Every bit this codec understands.
const KNOWN: u8 = EMPTY | LB_INC | UB_INC | LB_INF | UB_INF | CONTAIN_EMPTY;

/// A PostgreSQL range value: empty, or a lower and an upper [`Bound`] (each inclusive,
/// exclusive or unbounded).
///
/// The value is sent as written: the server canonicalizes discrete ranges (`[1,3]` of
/// `int4range` reads back as `[1,4)`), and refuses a lower bound above the upper one. Build
/// one from Rust's own ranges: `Range::from(1..4)` is `[1,4)`, `Range::from(1..=3)` is
/// `[1,3]`, `Range::from(5..)` is `[5,)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Range<T> {
    /// The empty range (`'empty'`).
    Empty,
    /// A range with these bounds (`Bound::Unbounded` is infinite on that side).
    Bounded {
        /// The lower bound.
        lower: Bound<T>,
        /// The upper bound.
        upper: Bound<T>,
    },
}

impl<T> Range<T> {
    /// A range with these bounds.
    pub fn new(lower: Bound<T>, upper: Bound<T>) -> Range<T> {
        Range::Bounded { lower, upper }
    }

    /// The empty range.
    pub fn empty() -> Range<T> {
        Range::Empty
    }

    /// True for the empty range.
    pub fn is_empty(&self) -> bool {
        matches!(self, Range::Empty)
    }

    /// The lower bound, `None` for the empty range.
    pub fn lower(&self) -> Option<Bound<&T>> {
        match self {
            Range::Empty => None,
            Range::Bounded { lower, .. } => Some(lower.as_ref()),
        }
    }

    /// The upper bound, `None` for the empty range.
    pub fn upper(&self) -> Option<Bound<&T>> {
        match self {
            Range::Empty => None,
            Range::Bounded { upper, .. } => Some(upper.as_ref()),
        }
    }

    /// Whether `value` lies in the range (by `T`'s order, which for the bundled types is
    /// PostgreSQL's).
    pub fn contains(&self, value: &T) -> bool
    where
        T: PartialOrd,
    {
        match self {
            Range::Empty => false,
            Range::Bounded { lower, upper } => {
                ops::RangeBounds::contains(&(lower.as_ref(), upper.as_ref()), value)
            }
        }
    }
}

impl<T> From<ops::Range<T>> for Range<T> {
    /// `a..b` is `[a,b)`.
    fn from(r: ops::Range<T>) -> Range<T> {
        Range::new(Bound::Included(r.start), Bound::Excluded(r.end))
    }
}

impl<T> From<ops::RangeInclusive<T>> for Range<T> {
    /// `a..=b` is `[a,b]`.
    fn from(r: ops::RangeInclusive<T>) -> Range<T> {
        let (start, end) = r.into_inner();
        Range::new(Bound::Included(start), Bound::Included(end))
    }
}

impl<T> From<ops::RangeFrom<T>> for Range<T> {
    /// `a..` is `[a,)`.
    fn from(r: ops::RangeFrom<T>) -> Range<T> {
        Range::new(Bound::Included(r.start), Bound::Unbounded)
    }
}

impl<T> From<ops::RangeTo<T>> for Range<T> {
    /// `..b` is `(,b)`.
    fn from(r: ops::RangeTo<T>) -> Range<T> {
        Range::new(Bound::Unbounded, Bound::Excluded(r.end))
    }
}

impl<T> From<ops::RangeToInclusive<T>> for Range<T> {
    /// `..=b` is `(,b]`.
    fn from(r: ops::RangeToInclusive<T>) -> Range<T> {
        Range::new(Bound::Unbounded, Bound::Included(r.end))
    }
}

impl<T> From<ops::RangeFull> for Range<T> {
    /// `..` is `(,)`.
    fn from(_: ops::RangeFull) -> Range<T> {
        Range::new(Bound::Unbounded, Bound::Unbounded)
    }
}

/// The element type of a range type (under any domains), if `ty` is one.
fn subtype(ty: &Type) -> Option<&Type> {
    match ty.base().kind() {
        Kind::Range(sub) => Some(sub),
        _ => None,
    }
}

fn accepts_range(ty: &Type, elem_accepts: impl Fn(&Type) -> bool) -> bool {
    match ty.kind() {
        Kind::Range(sub) => elem_accepts(sub) || elem_accepts(sub.base()),
        _ => false,
    }
}

/// Appends one present bound: its length, then its bytes.
fn put_bound<T: ToSql>(sub: &Type, v: &T, out: &mut BytesMut) -> Result<(), TypeError> {
    super::binary_only(v)?;
    let len_at = out.len();
    out.put_i32(0);
    if v.to_sql_checked(sub, out)? == IsNull::Yes {
        // PostgreSQL has no NULL bound; an absent bound is `Bound::Unbounded`.
        return Err(TypeError::Malformed(
            "range: a bound is NULL (use Bound::Unbounded)",
        ));
    }
    let len =
        i32::try_from(out.len() - len_at - 4).map_err(|_| TypeError::OutOfRange("range bound"))?;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn encode<T: ToSql>(ty: &Type, r: &Range<T>, out: &mut BytesMut) -> Result<(), TypeError> {
    let sub = subtype(ty).ok_or_else(|| super::wrong_type::<Range<T>>(ty))?;
    let (lower, upper) = match r {
        Range::Empty => {
            out.put_u8(EMPTY);
            return Ok(());
        }
        Range::Bounded { lower, upper } => (lower, upper),
    };
    let flags = match lower {
        Bound::Included(_) => LB_INC,
        Bound::Excluded(_) => 0,
        Bound::Unbounded => LB_INF,
    } | match upper {
        Bound::Included(_) => UB_INC,
        Bound::Excluded(_) => 0,
        Bound::Unbounded => UB_INF,
    };
    out.put_u8(flags);
    for bound in [lower, upper] {
        if let Bound::Included(v) | Bound::Excluded(v) = bound {
            put_bound(sub, v, out)?;
        }
    }
    Ok(())
}

/// Splits one present bound (length, then bytes) off the front of `buf`.
fn take_bound<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], TypeError> {
    let (head, rest) = buf
        .split_first_chunk::<4>()
        .ok_or(TypeError::Malformed("range: truncated bound length"))?;
    let len = usize::try_from(i32::from_be_bytes(*head))
        .map_err(|_| TypeError::Malformed("range: negative bound length"))?;
    let (v, rest) = rest
        .split_at_checked(len)
        .ok_or(TypeError::Malformed("range: bound longer than the value"))?;
    *buf = rest;
    Ok(v)
}

/// Reads the bound a flags byte describes: absent when `inf`, else taken from `buf`.
fn read_bound<'a, T: FromSql<'a>>(
    sub: &Type,
    buf: &mut &'a [u8],
    inc: bool,
    inf: bool,
) -> Result<Bound<T>, TypeError> {
    if inf {
        return Ok(Bound::Unbounded);
    }
    let v = T::from_sql_nullable(sub, Some(take_bound(buf)?))?;
    Ok(if inc {
        Bound::Included(v)
    } else {
        Bound::Excluded(v)
    })
}

fn decode<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8]) -> Result<Range<T>, TypeError> {
    let sub = subtype(ty).ok_or_else(|| super::wrong_type::<Range<T>>(ty))?;
    let (&flags, mut buf) = raw
        .split_first()
        .ok_or(TypeError::Malformed("range: no flags byte"))?;
    if flags & !KNOWN != 0 {
        return Err(TypeError::Malformed("range: unknown flags"));
    }
    let flags = flags & !CONTAIN_EMPTY;
    let range = if flags & EMPTY != 0 {
        if flags != EMPTY {
            return Err(TypeError::Malformed("range: empty range with bounds"));
        }
        Range::Empty
    } else {
        // `range_serialize` never marks an infinite bound inclusive: a value that does was not
        // made by PostgreSQL.
        if flags & (LB_INC | LB_INF) == LB_INC | LB_INF
            || flags & (UB_INC | UB_INF) == UB_INC | UB_INF
        {
            return Err(TypeError::Malformed(
                "range: infinite bound marked inclusive",
            ));
        }
        let lower = read_bound(sub, &mut buf, flags & LB_INC != 0, flags & LB_INF != 0)?;
        let upper = read_bound(sub, &mut buf, flags & UB_INC != 0, flags & UB_INF != 0)?;
        Range::Bounded { lower, upper }
    };
    if !buf.is_empty() {
        return Err(TypeError::Malformed("range: trailing bytes"));
    }
    Ok(range)
}

impl<T: ToSql> ToSql for Range<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let start = out.len();
        encode(ty, self, out).inspect_err(|_| out.truncate(start))?;
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        accepts_range(ty, T::accepts)
    }
    to_sql_checked!();
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Range<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, TypeError> {
        decode(ty, raw)
    }
    fn accepts(ty: &Type) -> bool {
        accepts_range(ty, T::accepts)
    }
}
