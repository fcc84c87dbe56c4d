//! `bit_vec::BitVec` ↔ `bit`, `varbit` (feature `bit-vec`).
//!
//! Binary format (PostgreSQL's `bit_send`/`bit_recv` in `varbit.c`): the length in bits as an
//! `int4`, then the bits packed most significant first, the last byte padded with zeros.

use bit_vec::BitVec;
use bytes::{BufMut, BytesMut};

use super::oid::{BIT, VARBIT};
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

fn what(ty: &Type) -> &'static str {
    if ty.oid() == BIT {
        "bit"
    } else {
        "varbit"
    }
}

impl ToSql for BitVec {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let len = i32::try_from(self.len()).map_err(|_| TypeError::OutOfRange(what(ty)))?;
        out.reserve(4 + self.len().div_ceil(8));
        out.put_i32(len);
        // to_bytes() packs most significant bit first and zero-pads the last byte, as
        // PostgreSQL stores it; writing byte by byte avoids the intermediate Vec.
        let mut byte = 0u8;
        for (i, bit) in self.iter().enumerate() {
            byte |= u8::from(bit) << (7 - i % 8);
            if i % 8 == 7 {
                out.put_u8(byte);
                byte = 0;
            }
        }
        if self.len() % 8 != 0 {
            out.put_u8(byte);
        }
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.oid(), BIT | VARBIT)
    }
    to_sql_checked!();
}

impl FromSql<'_> for BitVec {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let what = what(ty);
        let Some((len, bits)) = raw.split_first_chunk::<4>() else {
            return Err(TypeError::InvalidLength {
                what,
                expected: 4,
                actual: raw.len(),
            });
        };
        // A negative length is malformed; the length must then match the bytes present
        // exactly, before anything is allocated (BitVec::from_bytes sizes from `bits`).
        let len =
            usize::try_from(i32::from_be_bytes(*len)).map_err(|_| TypeError::Malformed(what))?;
        let needed = len.div_ceil(8);
        if bits.len() != needed {
            return Err(TypeError::InvalidLength {
                what,
                expected: 4 + needed,
                actual: raw.len(),
            });
        }
        let mut v = BitVec::from_bytes(bits);
        // Drops the zero padding of the last byte.
        v.truncate(len);
        Ok(v)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.oid(), BIT | VARBIT)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::ty::{BIT, BYTEA, VARBIT};
    use super::super::tests_support::{dec, enc, rt};
    use super::*;

    fn bits(s: &str) -> BitVec {
        s.chars().map(|c| c == '1').collect()
    }

    #[test]
    fn round_trip_and_known_bytes() {
        assert_eq!(enc(&bits("101"), VARBIT), [0, 0, 0, 3, 0b1010_0000]);
        assert_eq!(
            enc(&bits("1111000011"), BIT),
            [0, 0, 0, 10, 0b1111_0000, 0b1100_0000]
        );
        assert_eq!(enc(&bits("10000001"), BIT), [0, 0, 0, 8, 0b1000_0001]);
        assert_eq!(enc(&BitVec::new(), VARBIT), [0, 0, 0, 0]);
        for s in [
            "",
            "0",
            "1",
            "10110",
            "11111111",
            "111111111",
            "0000000000000001",
        ] {
            assert_eq!(rt(bits(s), VARBIT), bits(s), "{s:?}");
            assert_eq!(rt(bits(s), BIT), bits(s), "{s:?}");
        }
        // Padding bits set by a (non-PostgreSQL) peer are dropped, not read as bits.
        assert_eq!(
            dec::<BitVec>(VARBIT, &[0, 0, 0, 3, 0xff]).unwrap(),
            bits("111")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            dec::<BitVec>(VARBIT, &[0xff, 0xff, 0xff, 0xff]),
            Err(TypeError::Malformed("varbit"))
        );
        // A length longer than the bytes present: refused before allocating.
        assert_eq!(
            dec::<BitVec>(BIT, &[0x7f, 0xff, 0xff, 0xff, 0]),
            Err(TypeError::InvalidLength {
                what: "bit",
                expected: 4 + 0x1000_0000,
                actual: 5
            })
        );
        assert!(matches!(
            dec::<BitVec>(BIT, &[0, 0, 0, 9, 0xff]),
            Err(TypeError::InvalidLength { .. })
        ));
        // Trailing bytes past the length.
        assert!(matches!(
            dec::<BitVec>(BIT, &[0, 0, 0, 1, 0x80, 0]),
            Err(TypeError::InvalidLength { .. })
        ));
        assert!(matches!(
            dec::<BitVec>(BIT, &[0, 0, 0]),
            Err(TypeError::InvalidLength { expected: 4, .. })
        ));
        assert!(matches!(
            dec::<BitVec>(BYTEA, &[0, 0, 0, 0]),
            Err(TypeError::WrongType { .. })
        ));
        assert_eq!(
            BitVec::from_sql_nullable(BIT, None),
            Err(TypeError::UnexpectedNull)
        );
    }
}
