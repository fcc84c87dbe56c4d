//! `macaddr`, `macaddr8`: [`MacAddr`] and [`MacAddr8`], their bytes as PostgreSQL sends them.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::oid::{MACADDR, MACADDR8};
use super::{fixed, FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// A `macaddr`: a 6-byte (EUI-48) MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

/// A `macaddr8`: an 8-byte (EUI-64) MAC address.
///
/// PostgreSQL always sends `macaddr8` as 8 bytes (an EUI-48 stored there is widened with
/// `ff:fe` in the middle), so reading never needs the 6-byte form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr8(pub [u8; 8]);

/// `08:00:2b:01:02:03`: lower-case hex pairs separated by colons, as PostgreSQL prints them.
fn colon_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            f.write_str(":")?;
        }
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        colon_hex(&self.0, f)
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl fmt::Display for MacAddr8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        colon_hex(&self.0, f)
    }
}

impl fmt::Debug for MacAddr8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr8({self})")
    }
}

impl ToSql for MacAddr {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == MACADDR
    }
    to_sql_checked!();
}

impl FromSql<'_> for MacAddr {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        fixed(raw, "macaddr").map(MacAddr)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == MACADDR
    }
}

impl ToSql for MacAddr8 {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == MACADDR8
    }
    to_sql_checked!();
}

impl FromSql<'_> for MacAddr8 {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        fixed(raw, "macaddr8").map(MacAddr8)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == MACADDR8
    }
}
