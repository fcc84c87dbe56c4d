//! `rust_decimal::Decimal` ↔ `numeric` (feature `rust_decimal`).
//!
//! Exact both ways: the decimal's scale is sent as the display scale (`1.50` stays `1.50`).
//! Reading a `numeric` that a `Decimal` cannot hold is an error, never a rounding: `NaN` and
//! `±Infinity` are [`TypeError::NotFinite`]; more than 28 significant fractional digits or a
//! magnitude of 2^96 and beyond is [`TypeError::OutOfRange`]. A display scale over 28 whose
//! extra digits are zeros (`1.000…0`) reads as the value with scale 28.

use bytes::{BufMut, BytesMut};
use rust_decimal::Decimal;

use super::numeric::{self, put_header, NAN, NEG, NINF, PINF, POS};
use super::oid::NUMERIC;
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

const RUST: &str = "rust_decimal::Decimal";
const OUT_OF_RANGE: TypeError = TypeError::OutOfRange("numeric value for rust_decimal::Decimal");
/// The largest mantissa a `Decimal` holds (96 bits).
const MAX_MANTISSA: u128 = (1 << 96) - 1;
/// The largest scale a `Decimal` holds.
const MAX_SCALE: i64 = 28;

fn encode(d: &Decimal, out: &mut BytesMut) -> Result<(), TypeError> {
    let scale = d.scale();
    // Pad the fraction to whole base-10000 groups: at most 2^96 × 1000, within u128.
    let pad = (4 - scale % 4) % 4;
    let mut m = d.mantissa().unsigned_abs() * 10u128.pow(pad);
    let frac_groups = i64::from((scale + pad) / 4);
    // Base-10000 digits, least significant first: 2^96 × 1000 < 10000^8.
    let mut groups = [0i16; 8];
    let mut n = 0;
    while m > 0 && n < groups.len() {
        // < 10000: fits.
        groups[n] = (m % 10_000) as i16;
        m /= 10_000;
        n += 1;
    }
    let dscale = u16::try_from(scale).map_err(|_| OUT_OF_RANGE)?;
    // Weight of the most significant group; trailing zero groups are not sent.
    let weight = i16::try_from(i64::try_from(n).map_err(|_| OUT_OF_RANGE)? - 1 - frac_groups)
        .map_err(|_| OUT_OF_RANGE)?;
    let zeros = groups[..n].iter().take_while(|g| **g == 0).count();
    let digits = &groups[zeros..n];
    if digits.is_empty() {
        put_header(out, 0, 0, POS, dscale);
        return Ok(());
    }
    let sign = if d.is_sign_negative() { NEG } else { POS };
    let ndigits = i16::try_from(digits.len()).map_err(|_| OUT_OF_RANGE)?;
    put_header(out, ndigits, weight, sign, dscale);
    for g in digits.iter().rev() {
        out.put_i16(*g);
    }
    Ok(())
}

fn decode(raw: &[u8]) -> Result<Decimal, TypeError> {
    let err = TypeError::Malformed("numeric");
    let numeric::Header {
        ndigits,
        weight,
        sign,
        dscale,
        body,
    } = numeric::parse_header(raw)?;
    let negative = match sign {
        NAN => {
            return Err(TypeError::NotFinite {
                what: "numeric",
                value: "NaN",
                rust: RUST,
            })
        }
        PINF => {
            return Err(TypeError::NotFinite {
                what: "numeric",
                value: "Infinity",
                rust: RUST,
            })
        }
        NINF => {
            return Err(TypeError::NotFinite {
                what: "numeric",
                value: "-Infinity",
                rust: RUST,
            })
        }
        POS => false,
        NEG => true,
        _ => return Err(err),
    };
    let mut m: u128 = 0;
    for pair in body.chunks_exact(2) {
        let d = i16::from_be_bytes([pair[0], pair[1]]);
        let d = u128::try_from(d).map_err(|_| err.clone())?;
        if d >= 10_000 {
            return Err(err);
        }
        m = m
            .checked_mul(10_000)
            .and_then(|m| m.checked_add(d))
            .ok_or(OUT_OF_RANGE)?;
    }
    // Exponent (base 10000) of the last digit sent.
    let ndigits = i64::try_from(ndigits).map_err(|_| err.clone())?;
    let last = weight - (ndigits - 1);
    let mut scale = 0i64;
    if m == 0 {
        // Zero: only the display scale matters.
    } else if last > 0 {
        for _ in 0..last {
            m = m.checked_mul(10_000).ok_or(OUT_OF_RANGE)?;
            if m > MAX_MANTISSA {
                return Err(OUT_OF_RANGE);
            }
        }
    } else {
        scale = -4 * last;
    }
    let target = i64::try_from(dscale).map_err(|_| err)?.min(MAX_SCALE);
    // Drop zeros past the display scale (the last group's padding) or past 28.
    while scale > target && m % 10 == 0 {
        m /= 10;
        scale -= 1;
    }
    if m == 0 {
        scale = target;
    }
    if scale > MAX_SCALE || m > MAX_MANTISSA {
        return Err(OUT_OF_RANGE);
    }
    // Keep the display scale's trailing zeros while they fit.
    while scale < target && m * 10 <= MAX_MANTISSA {
        m *= 10;
        scale += 1;
    }
    let signed = i128::try_from(m).map_err(|_| OUT_OF_RANGE)?;
    let signed = if negative { -signed } else { signed };
    let scale = u32::try_from(scale).map_err(|_| OUT_OF_RANGE)?;
    Decimal::try_from_i128_with_scale(signed, scale).map_err(|_| OUT_OF_RANGE)
}

impl ToSql for Decimal {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let start = out.len();
        encode(self, out).inspect_err(|_| out.truncate(start))?;
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == NUMERIC
    }
    to_sql_checked!();
}

impl FromSql<'_> for Decimal {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        decode(raw)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == NUMERIC
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tests_support::ty::NUMERIC;
    use super::super::tests_support::{dec, enc, rt};
    use super::super::Numeric;
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    /// Same bytes as the bundled `Numeric` for the same text, and the same text back.
    fn check(s: &str) {
        let v = d(s);
        let bytes = enc(&v, NUMERIC);
        assert_eq!(bytes, enc(&Numeric::parse(s).unwrap(), NUMERIC), "{s}");
        let back = rt(v, NUMERIC);
        assert_eq!(back, v, "{s}");
        assert_eq!(back.scale(), v.scale(), "{s}");
        let n: Numeric = dec(NUMERIC, &bytes).unwrap();
        assert_eq!(n.as_str(), v.to_string(), "{s}");
    }

    #[test]
    fn known_bytes() {
        // 12345.678: weight 1, digits [1, 2345, 6780], dscale 3.
        assert_eq!(
            enc(&d("12345.678"), NUMERIC),
            [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
        assert_eq!(
            enc(&d("-0.0001"), NUMERIC),
            [0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0, 1]
        );
        assert_eq!(enc(&Decimal::ZERO, NUMERIC), [0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(enc(&d("0.00"), NUMERIC), [0, 0, 0, 0, 0, 0, 0, 2]);
        // 10000: one digit of weight 1.
        assert_eq!(enc(&d("10000"), NUMERIC), [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn edges() {
        for s in [
            "0",
            "0.00",
            "1",
            "-1",
            "1.50",
            "-123.4500",
            "0.0000000000000000000000000001",
            "-0.0000000000000000000000000001",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "7.9228162514264337593543950335",
            "10000",
            "100000000",
            "123456789.987654321",
            "0.1",
            "9999.9999",
        ] {
            check(s);
        }
        assert_eq!(rt(Decimal::MAX, NUMERIC), Decimal::MAX);
        assert_eq!(rt(Decimal::MIN, NUMERIC), Decimal::MIN);
        // Negative zero is sent as zero.
        let neg_zero = -d("0.0");
        assert_eq!(enc(&neg_zero, NUMERIC), [0, 0, 0, 0, 0, 0, 0, 1]);
    }

    fn numeric_bytes(s: &str) -> Vec<u8> {
        enc(&Numeric::parse(s).unwrap(), NUMERIC)
    }

    #[test]
    fn from_server_values() {
        // Display scale beyond 28 with zero digits: the value, at scale 28.
        let v: Decimal = dec(NUMERIC, &numeric_bytes(&format!("1.{}", "0".repeat(40)))).unwrap();
        assert_eq!(v, Decimal::ONE);
        assert_eq!(v.scale(), 28);
        // Huge integers with trailing zeros stay exact.
        let v: Decimal = dec(NUMERIC, &numeric_bytes("70000000000000000000000000000")).unwrap();
        assert_eq!(v, d("70000000000000000000000000000"));
        // Trailing zeros past what the mantissa holds are dropped, not an error.
        let v: Decimal = dec(NUMERIC, &numeric_bytes("79228162514264337593543950335.000")).unwrap();
        assert_eq!(v, Decimal::MAX);
    }

    #[test]
    fn errors() {
        let rust = "rust_decimal::Decimal";
        for (s, value) in [
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
        ] {
            assert_eq!(
                dec::<Decimal>(NUMERIC, &numeric_bytes(s)),
                Err(TypeError::NotFinite {
                    what: "numeric",
                    value,
                    rust
                })
            );
        }
        for s in [
            "79228162514264337593543950336",
            "-79228162514264337593543950336",
            "1e40",
            "0.00000000000000000000000000001",
            "1.00000000000000000000000000001",
            &"9".repeat(1000),
            &format!("0.{}1", "0".repeat(500)),
        ] {
            let s = if s == "1e40" {
                format!("1{}", "0".repeat(40))
            } else {
                s.to_string()
            };
            assert_eq!(
                dec::<Decimal>(NUMERIC, &numeric_bytes(&s)),
                Err(OUT_OF_RANGE),
                "{s}"
            );
        }
        // Malformed: short header, digit count past the body, digit ≥ 10000, bad sign.
        for raw in [
            &[0u8, 0, 0][..],
            &[0, 2, 0, 0, 0, 0, 0, 0, 0, 1][..],
            &[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10][..],
            &[0, 0, 0, 0, 0x12, 0x34, 0, 0][..],
            &[0xff, 0xff, 0, 0, 0, 0, 0, 0][..],
        ] {
            assert_eq!(
                dec::<Decimal>(NUMERIC, raw),
                Err(TypeError::Malformed("numeric")),
                "{raw:?}"
            );
        }
        assert!(matches!(
            dec::<Decimal>(super::super::tests_support::ty::INT4, &[0; 8]),
            Err(TypeError::WrongType { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_decimal_round_trips(lo: u32, mid: u32, hi: u32, neg: bool, scale in 0u32..=28) {
            let v = Decimal::from_parts(lo, mid, hi, neg, scale);
            let back = rt(v, NUMERIC);
            prop_assert_eq!(back, v);
            prop_assert_eq!(back.scale(), v.scale());
            prop_assert_eq!(enc(&v, NUMERIC), numeric_bytes(&v.to_string()));
        }
    }
}
