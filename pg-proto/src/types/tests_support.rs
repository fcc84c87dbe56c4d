//! Helpers shared by the type tests (of the optional integrations).
#![allow(dead_code)]

use bytes::BytesMut;

use super::{FromSql, IsNull, ToSql, Type, TypeError};

/// `v`'s binary encoding as `ty` (checked).
pub(crate) fn enc<T: ToSql>(v: &T, ty: &Type) -> Vec<u8> {
    let mut b = BytesMut::new();
    assert_eq!(v.to_sql_checked(ty, &mut b).unwrap(), IsNull::No);
    b.to_vec()
}

/// The error encoding `v` as `ty`; nothing is left written.
pub(crate) fn enc_err<T: ToSql>(v: &T, ty: &Type) -> TypeError {
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
pub(crate) fn dec<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8]) -> Result<T, TypeError> {
    T::from_sql_nullable(ty, Some(raw))
}

/// Encode then decode.
pub(crate) fn rt<T>(v: T, ty: &Type) -> T
where
    T: ToSql + for<'a> FromSql<'a>,
{
    let bytes = enc(&v, ty);
    T::from_sql_nullable(ty, Some(&bytes)).unwrap()
}

/// The built-in types under their `oid` module names, as `&Type` (for the tests).
pub(crate) mod ty {
    use crate::types::Type;
    pub(crate) const BOOL: &Type = &Type::BOOL;
    pub(crate) const BOOL_ARRAY: &Type = &Type::BOOL_ARRAY;
    pub(crate) const BYTEA: &Type = &Type::BYTEA;
    pub(crate) const BYTEA_ARRAY: &Type = &Type::BYTEA_ARRAY;
    pub(crate) const CHAR: &Type = &Type::CHAR;
    pub(crate) const CHAR_ARRAY: &Type = &Type::CHAR_ARRAY;
    pub(crate) const NAME: &Type = &Type::NAME;
    pub(crate) const NAME_ARRAY: &Type = &Type::NAME_ARRAY;
    pub(crate) const INT8: &Type = &Type::INT8;
    pub(crate) const INT8_ARRAY: &Type = &Type::INT8_ARRAY;
    pub(crate) const INT2: &Type = &Type::INT2;
    pub(crate) const INT2_ARRAY: &Type = &Type::INT2_ARRAY;
    pub(crate) const INT4: &Type = &Type::INT4;
    pub(crate) const INT4_ARRAY: &Type = &Type::INT4_ARRAY;
    pub(crate) const TEXT: &Type = &Type::TEXT;
    pub(crate) const TEXT_ARRAY: &Type = &Type::TEXT_ARRAY;
    pub(crate) const OID: &Type = &Type::OID;
    pub(crate) const OID_ARRAY: &Type = &Type::OID_ARRAY;
    pub(crate) const JSON: &Type = &Type::JSON;
    pub(crate) const JSON_ARRAY: &Type = &Type::JSON_ARRAY;
    pub(crate) const XML: &Type = &Type::XML;
    pub(crate) const XML_ARRAY: &Type = &Type::XML_ARRAY;
    pub(crate) const FLOAT4: &Type = &Type::FLOAT4;
    pub(crate) const FLOAT4_ARRAY: &Type = &Type::FLOAT4_ARRAY;
    pub(crate) const FLOAT8: &Type = &Type::FLOAT8;
    pub(crate) const FLOAT8_ARRAY: &Type = &Type::FLOAT8_ARRAY;
    pub(crate) const MONEY: &Type = &Type::MONEY;
    pub(crate) const MONEY_ARRAY: &Type = &Type::MONEY_ARRAY;
    pub(crate) const INET: &Type = &Type::INET;
    pub(crate) const INET_ARRAY: &Type = &Type::INET_ARRAY;
    pub(crate) const CIDR: &Type = &Type::CIDR;
    pub(crate) const CIDR_ARRAY: &Type = &Type::CIDR_ARRAY;
    pub(crate) const MACADDR: &Type = &Type::MACADDR;
    pub(crate) const MACADDR_ARRAY: &Type = &Type::MACADDR_ARRAY;
    pub(crate) const MACADDR8: &Type = &Type::MACADDR8;
    pub(crate) const BIT: &Type = &Type::BIT;
    pub(crate) const VARBIT: &Type = &Type::VARBIT;
    pub(crate) const VARBIT_ARRAY: &Type = &Type::VARBIT_ARRAY;
    pub(crate) const BPCHAR: &Type = &Type::BPCHAR;
    pub(crate) const BPCHAR_ARRAY: &Type = &Type::BPCHAR_ARRAY;
    pub(crate) const VARCHAR: &Type = &Type::VARCHAR;
    pub(crate) const VARCHAR_ARRAY: &Type = &Type::VARCHAR_ARRAY;
    pub(crate) const DATE: &Type = &Type::DATE;
    pub(crate) const DATE_ARRAY: &Type = &Type::DATE_ARRAY;
    pub(crate) const TIME: &Type = &Type::TIME;
    pub(crate) const TIME_ARRAY: &Type = &Type::TIME_ARRAY;
    pub(crate) const TIMESTAMP: &Type = &Type::TIMESTAMP;
    pub(crate) const TIMESTAMP_ARRAY: &Type = &Type::TIMESTAMP_ARRAY;
    pub(crate) const TIMESTAMPTZ: &Type = &Type::TIMESTAMPTZ;
    pub(crate) const TIMESTAMPTZ_ARRAY: &Type = &Type::TIMESTAMPTZ_ARRAY;
    pub(crate) const INTERVAL: &Type = &Type::INTERVAL;
    pub(crate) const INTERVAL_ARRAY: &Type = &Type::INTERVAL_ARRAY;
    pub(crate) const TIMETZ: &Type = &Type::TIMETZ;
    pub(crate) const TIMETZ_ARRAY: &Type = &Type::TIMETZ_ARRAY;
    pub(crate) const NUMERIC: &Type = &Type::NUMERIC;
    pub(crate) const NUMERIC_ARRAY: &Type = &Type::NUMERIC_ARRAY;
    pub(crate) const UUID: &Type = &Type::UUID;
    pub(crate) const UUID_ARRAY: &Type = &Type::UUID_ARRAY;
    pub(crate) const JSONB: &Type = &Type::JSONB;
    pub(crate) const JSONB_ARRAY: &Type = &Type::JSONB_ARRAY;
    pub(crate) const UNKNOWN: &Type = &Type::UNKNOWN;
    pub(crate) const VOID: &Type = &Type::VOID;
    pub(crate) const RECORD: &Type = &Type::RECORD;
}
