//! bool, "char", integers, floats, oid, text and bytea.

use bytes::{BufMut, Bytes, BytesMut};

use super::oid::{
    BOOL, BPCHAR, BYTEA, CHAR, FLOAT4, FLOAT8, INT2, INT4, INT8, NAME, OID, TEXT, UNKNOWN, VARCHAR,
};
use super::{fixed, FromSql, IsNull, Kind, ToSql, Type, TypeError};
use crate::to_sql_checked;

impl ToSql for bool {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_u8(u8::from(*self));
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == BOOL
    }
    to_sql_checked!();
}

impl FromSql<'_> for bool {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        match fixed::<1>(raw, "bool")? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(TypeError::Malformed("bool")),
        }
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == BOOL
    }
}

macro_rules! number {
    ($t:ty, $oid:expr, $name:literal) => {
        impl ToSql for $t {
            fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
                out.put_slice(&self.to_be_bytes());
                Ok(IsNull::No)
            }
            fn accepts(ty: &Type) -> bool {
                ty.oid() == $oid
            }
            to_sql_checked!();
        }

        impl FromSql<'_> for $t {
            fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
                Ok(<$t>::from_be_bytes(fixed(raw, $name)?))
            }
            fn accepts(ty: &Type) -> bool {
                ty.oid() == $oid
            }
        }
    };
}

number!(i8, CHAR, "\"char\"");
number!(i16, INT2, "int2");
number!(i32, INT4, "int4");
number!(i64, INT8, "int8");
number!(u32, OID, "oid");
number!(f32, FLOAT4, "float4");
number!(f64, FLOAT8, "float8");

/// Text types, enums (whose binary form is the label's text), and the `citext` extension's
/// type (whose binary form is its text). The built-in names match first: no lookup of the
/// type's kind or name on the hot path.
fn is_text(ty: &Type) -> bool {
    matches!(ty.oid(), TEXT | VARCHAR | NAME | BPCHAR | UNKNOWN)
        || matches!(ty.kind(), Kind::Enum(_))
        || (!ty.is_builtin() && ty.name() == "citext")
}

impl ToSql for &str {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_slice(self.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        is_text(ty)
    }
    to_sql_checked!();
}

impl ToSql for String {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        self.as_str().to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_text(ty)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for &'a str {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, TypeError> {
        std::str::from_utf8(raw).map_err(|_| TypeError::InvalidUtf8)
    }
    fn accepts(ty: &Type) -> bool {
        is_text(ty)
    }
}

impl FromSql<'_> for String {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        <&str>::from_sql(ty, raw).map(str::to_owned)
    }
    fn accepts(ty: &Type) -> bool {
        is_text(ty)
    }
}

impl ToSql for &[u8] {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_slice(self);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == BYTEA
    }
    to_sql_checked!();
}

impl ToSql for Vec<u8> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        self.as_slice().to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == BYTEA
    }
    to_sql_checked!();
}

impl ToSql for Bytes {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        (&self[..]).to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == BYTEA
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for &'a [u8] {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, TypeError> {
        Ok(raw)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == BYTEA
    }
}

impl FromSql<'_> for Vec<u8> {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        Ok(raw.to_vec())
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == BYTEA
    }
}

impl FromSql<'_> for Bytes {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        Ok(Bytes::copy_from_slice(raw))
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == BYTEA
    }
}
