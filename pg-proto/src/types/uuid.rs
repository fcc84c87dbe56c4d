//! `uuid`.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::oid::UUID;
use super::{fixed, FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// A UUID as its 16 bytes (network order, as PostgreSQL stores it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl fmt::Display for Uuid {
    /// The canonical hyphenated lower-case form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl ToSql for Uuid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == UUID
    }
    to_sql_checked!();
}

impl FromSql<'_> for Uuid {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        fixed(raw, "uuid").map(Uuid)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == UUID
    }
}
