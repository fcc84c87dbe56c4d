//! `json` and `jsonb` as raw JSON text.

use bytes::{BufMut, BytesMut};

use super::oid::{JSON, JSONB};
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// JSON document text, for `json` and `jsonb`. Not parsed or validated here (the server
/// validates what it receives); bring your own JSON library to interpret it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Json(pub String);

/// The only `jsonb` binary format version.
const JSONB_VERSION: u8 = 1;

impl ToSql for Json {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        if ty.oid() == JSONB {
            out.put_u8(JSONB_VERSION);
        }
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.oid(), JSON | JSONB)
    }
    to_sql_checked!();
}

impl FromSql<'_> for Json {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let text = if ty.oid() == JSONB {
            match raw.split_first() {
                Some((&JSONB_VERSION, rest)) => rest,
                _ => return Err(TypeError::Malformed("jsonb version")),
            }
        } else {
            raw
        };
        std::str::from_utf8(text)
            .map(|s| Json(s.to_owned()))
            .map_err(|_| TypeError::InvalidUtf8)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.oid(), JSON | JSONB)
    }
}
