//! `uuid::Uuid` ↔ `uuid` (feature `uuid`).

use bytes::{BufMut, BytesMut};

use super::oid::UUID;
use super::{fixed, FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

impl ToSql for ::uuid::Uuid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_slice(self.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == UUID
    }
    to_sql_checked!();
}

impl FromSql<'_> for ::uuid::Uuid {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        fixed(raw, "uuid").map(::uuid::Uuid::from_bytes)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == UUID
    }
}

impl From<::uuid::Uuid> for super::Uuid {
    fn from(u: ::uuid::Uuid) -> Self {
        super::Uuid(u.into_bytes())
    }
}

impl From<super::Uuid> for ::uuid::Uuid {
    fn from(u: super::Uuid) -> Self {
        ::uuid::Uuid::from_bytes(u.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::ty::UUID;
    use super::super::tests_support::{enc, rt};
    use super::*;

    #[test]
    fn round_trip_and_known_bytes() {
        let u = ::uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(
            enc(&u, UUID),
            [
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
                0x32, 0x10
            ]
        );
        for u in [u, ::uuid::Uuid::nil(), ::uuid::Uuid::max()] {
            assert_eq!(rt(u, UUID), u);
        }
        let bundled: super::super::Uuid = u.into();
        assert_eq!(::uuid::Uuid::from(bundled), u);
        assert_eq!(bundled.to_string(), u.to_string());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            ::uuid::Uuid::from_sql_nullable(UUID, Some(&[0; 15])),
            Err(TypeError::InvalidLength { .. })
        ));
        assert!(matches!(
            ::uuid::Uuid::from_sql_nullable(super::super::tests_support::ty::TEXT, Some(&[0; 16])),
            Err(TypeError::WrongType { .. })
        ));
        assert_eq!(
            ::uuid::Uuid::from_sql_nullable(UUID, None),
            Err(TypeError::UnexpectedNull)
        );
    }
}
