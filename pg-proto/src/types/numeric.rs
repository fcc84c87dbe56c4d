//! `numeric` as an exact decimal string.
//!
//! Binary layout: `ndigits: i16, weight: i16, sign: u16, dscale: u16`, then `ndigits`
//! base-10000 digits (i16). The value is `Σ digit[i] × 10000^(weight − i)`, shown with `dscale`
//! fractional decimal digits.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::oid::NUMERIC;
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

pub(crate) const POS: u16 = 0x0000;
pub(crate) const NEG: u16 = 0x4000;
pub(crate) const NAN: u16 = 0xC000;
pub(crate) const PINF: u16 = 0xD000;
pub(crate) const NINF: u16 = 0xF000;
/// Largest display scale PostgreSQL stores (`NUMERIC_DSCALE_MASK`).
pub(crate) const MAX_DSCALE: usize = 0x3FFF;

/// An exact `numeric` value in its canonical decimal text form: `-123.4500`, `0`, `NaN`,
/// `Infinity`, `-Infinity`. Lossless both ways (the scale is kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Numeric(String);

impl Numeric {
    /// Validates a decimal literal: optional sign, digits with an optional `.` fraction
    /// (no exponent), or `NaN` / `Infinity` / `-Infinity`.
    pub fn parse(s: &str) -> Result<Numeric, TypeError> {
        parts(s)?;
        Ok(Numeric(s.to_owned()))
    }

    /// The decimal text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

enum Parts<'a> {
    Special(u16),
    Finite {
        negative: bool,
        int: &'a str,
        frac: &'a str,
    },
}

fn parts(s: &str) -> Result<Parts<'_>, TypeError> {
    match s {
        "NaN" => return Ok(Parts::Special(NAN)),
        "Infinity" | "+Infinity" => return Ok(Parts::Special(PINF)),
        "-Infinity" => return Ok(Parts::Special(NINF)),
        _ => {}
    }
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(TypeError::InvalidNumeric);
    }
    if frac.len() > MAX_DSCALE {
        return Err(TypeError::OutOfRange("numeric scale"));
    }
    Ok(Parts::Finite {
        negative,
        int,
        frac,
    })
}

/// A binary numeric's header, checked against the digits that follow it.
pub(crate) struct Header<'a> {
    pub(crate) ndigits: usize,
    pub(crate) weight: i64,
    pub(crate) sign: u16,
    pub(crate) dscale: usize,
    /// The base-10000 digits, two bytes each: exactly `ndigits` of them.
    pub(crate) body: &'a [u8],
}

/// Reads a binary numeric's header; malformed when the digit count and the body disagree or
/// the display scale is out of range.
pub(crate) fn parse_header(raw: &[u8]) -> Result<Header<'_>, TypeError> {
    let err = || TypeError::Malformed("numeric");
    let (header, body) = raw.split_at_checked(8).ok_or_else(err)?;
    let field = |i: usize| [header[i], header[i + 1]];
    let ndigits = usize::try_from(i16::from_be_bytes(field(0))).map_err(|_| err())?;
    let dscale = usize::from(u16::from_be_bytes(field(6)));
    if body.len() != ndigits * 2 || dscale > MAX_DSCALE {
        return Err(err());
    }
    Ok(Header {
        ndigits,
        weight: i64::from(i16::from_be_bytes(field(2))),
        sign: u16::from_be_bytes(field(4)),
        dscale,
        body,
    })
}

pub(crate) fn put_header(out: &mut BytesMut, ndigits: i16, weight: i16, sign: u16, dscale: u16) {
    out.put_i16(ndigits);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(dscale);
}

/// Value of decimal digit string `s` (ASCII digits) as a group, zero-padded on the right to 4.
fn group(s: &[u8]) -> i16 {
    let mut v = 0i16;
    for i in 0..4 {
        v = v * 10 + s.get(i).map_or(0, |d| i16::from(d - b'0'));
    }
    v
}

fn encode(s: &str, out: &mut BytesMut) -> Result<(), TypeError> {
    let (negative, int, frac) = match parts(s)? {
        Parts::Special(sign) => {
            put_header(out, 0, 0, sign, 0);
            return Ok(());
        }
        Parts::Finite {
            negative,
            int,
            frac,
        } => (negative, int, frac),
    };
    let int = int.trim_start_matches('0').as_bytes();
    let dscale = u16::try_from(frac.len()).map_err(|_| TypeError::OutOfRange("numeric scale"))?;
    // Integer groups are aligned on the decimal point: left-pad to a multiple of 4.
    let lead = (4 - int.len() % 4) % 4;
    let int_groups = (int.len() + lead) / 4;
    let mut digits: Vec<i16> = Vec::with_capacity(int_groups + frac.len().div_ceil(4));
    let mut first = [b'0'; 4];
    let head = 4 - lead;
    if int_groups > 0 {
        first[lead..].copy_from_slice(&int[..head.min(int.len())]);
        digits.push(group(&first));
        for chunk in int[head..].chunks(4) {
            digits.push(group(chunk));
        }
    }
    for chunk in frac.as_bytes().chunks(4) {
        digits.push(group(chunk));
    }
    let mut weight = i64::try_from(int_groups).map_err(|_| TypeError::OutOfRange("numeric"))? - 1;
    // Strip leading zero groups (only possible in the fraction) and trailing zero groups.
    let lead_zeros = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..lead_zeros);
    weight -= i64::try_from(lead_zeros).map_err(|_| TypeError::OutOfRange("numeric"))?;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let ndigits = i16::try_from(digits.len()).map_err(|_| TypeError::OutOfRange("numeric"))?;
    let weight = i16::try_from(weight).map_err(|_| TypeError::OutOfRange("numeric"))?;
    let sign = if negative && !digits.is_empty() {
        NEG
    } else {
        POS
    };
    put_header(out, ndigits, weight, sign, dscale);
    for d in digits {
        out.put_i16(d);
    }
    Ok(())
}

fn decode(raw: &[u8]) -> Result<String, TypeError> {
    let err = TypeError::Malformed("numeric");
    let Header {
        ndigits,
        weight,
        sign,
        dscale,
        body,
    } = parse_header(raw)?;
    match sign {
        NAN => return Ok("NaN".into()),
        PINF => return Ok("Infinity".into()),
        NINF => return Ok("-Infinity".into()),
        POS | NEG => {}
        _ => return Err(err),
    }
    let mut digits = Vec::with_capacity(ndigits);
    for pair in body.chunks_exact(2) {
        let d = i16::from_be_bytes([pair[0], pair[1]]);
        if !(0..10000).contains(&d) {
            return Err(err);
        }
        digits.push(d);
    }
    let digit = |i: i64| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == NEG {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            let d = digit(i);
            if i == 0 {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut written = 0;
        let mut j = 1i64;
        while written < dscale {
            let group = format!("{:04}", digit(weight + j));
            let take = (dscale - written).min(4);
            out.push_str(&group[..take]);
            written += take;
            j += 1;
        }
    }
    Ok(out)
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let start = out.len();
        encode(&self.0, out).inspect_err(|_| out.truncate(start))?;
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == NUMERIC
    }
    to_sql_checked!();
}

impl FromSql<'_> for Numeric {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        decode(raw).map(Numeric)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == NUMERIC
    }
}
