//! Helpers shared by the type tests (of the optional integrations).
#![allow(dead_code)]

use bytes::BytesMut;

use super::{FromSql, IsNull, Oid, ToSql, TypeError};

/// `v`'s binary encoding as `ty` (checked).
pub(crate) fn enc<T: ToSql>(v: &T, ty: Oid) -> Vec<u8> {
    let mut b = BytesMut::new();
    assert_eq!(v.to_sql_checked(ty, &mut b).unwrap(), IsNull::No);
    b.to_vec()
}

/// The error encoding `v` as `ty`; nothing is left written.
pub(crate) fn enc_err<T: ToSql>(v: &T, ty: Oid) -> TypeError {
    let mut b = BytesMut::from(&b"xy"[..]);
    match v.to_sql_checked(ty, &mut b) {
        Ok(_) => panic!("encoding succeeded: {:?}", b.to_vec()),
        Err(e) => {
            assert_eq!(&b[..], b"xy", "an error leaves nothing written");
            e
        }
    }
}

/// Decodes `raw` as `T` from `ty`.
pub(crate) fn dec<'a, T: FromSql<'a>>(ty: Oid, raw: &'a [u8]) -> Result<T, TypeError> {
    T::from_sql_nullable(ty, Some(raw))
}

/// Encode then decode.
pub(crate) fn rt<T>(v: T, ty: Oid) -> T
where
    T: ToSql + for<'a> FromSql<'a>,
{
    let bytes = enc(&v, ty);
    T::from_sql_nullable(ty, Some(&bytes)).unwrap()
}
