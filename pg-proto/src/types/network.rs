//! `inet`, `cidr`: [`IpAddr`], [`Ipv4Addr`], [`Ipv6Addr`] (host addresses) and [`Inet`]
//! (an address with its netmask).
//!
//! Binary format (PostgreSQL's `network_send`/`network_recv` in `network.c`): the family byte
//! (`PGSQL_AF_INET` = 2, `PGSQL_AF_INET6` = 3), the netmask length in bits, an `is_cidr` byte
//! (1 for `cidr`; PostgreSQL ignores it when reading), the address length (4 or 16), then the
//! address in network order.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use super::oid::{CIDR, INET};
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// PostgreSQL's family byte for IPv4 (`AF_INET`, fixed at 2 on the wire on every platform).
const PGSQL_AF_INET: u8 = 2;
/// PostgreSQL's family byte for IPv6 (`AF_INET + 1`).
const PGSQL_AF_INET6: u8 = 3;

/// An `inet` or `cidr` value: an IP address and its netmask length in bits.
///
/// `inet` keeps host bits right of the netmask (`10.1.2.3/24`, a host on its network);
/// `cidr` does not (`10.1.2.0/24`): sending an `Inet` with host bits as `cidr` is refused
/// before it is sent ([`TypeError::OutOfRange`]), as is a netmask longer than the address
/// (32 for IPv4, 128 for IPv6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inet {
    /// The address (for `cidr`, the network's first address).
    pub addr: IpAddr,
    /// The netmask length in bits: 0..=32 for IPv4, 0..=128 for IPv6.
    pub netmask: u8,
}

impl Inet {
    /// A single host: the netmask covers the whole address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Inet {
        Inet {
            addr,
            netmask: max_bits(addr),
        }
    }

    /// Whether the netmask is shorter than the address (the value names a network).
    pub fn is_network(&self) -> bool {
        self.netmask < max_bits(self.addr)
    }
}

impl From<IpAddr> for Inet {
    fn from(addr: IpAddr) -> Inet {
        Inet::host(addr)
    }
}

impl fmt::Display for Inet {
    /// `addr/netmask`, as PostgreSQL prints a `cidr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.netmask)
    }
}

impl fmt::Debug for Inet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Inet({self})")
    }
}

/// The netmask length of a single host of `addr`'s family.
fn max_bits(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `what` (`inet` or `cidr`) for `ty`, which the callers have accepted as one of the two.
fn type_name(ty: &Type) -> &'static str {
    if ty.oid() == CIDR {
        "cidr"
    } else {
        "inet"
    }
}

/// Whether `ty` is `inet` or `cidr`.
pub(crate) fn is_network_type(ty: &Type) -> bool {
    matches!(ty.oid(), INET | CIDR)
}

/// Whether `addr` has a bit set right of the first `netmask` bits.
fn has_host_bits(addr: IpAddr, netmask: u8) -> bool {
    let (bits, width) = match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (u128::from(a), 128u32),
    };
    let netmask = u32::from(netmask);
    if netmask >= width {
        return false;
    }
    // Bits right of the mask: the low (width - netmask) bits; width - netmask is 1..=128.
    let host = u128::MAX >> (128 - (width - netmask));
    bits & host != 0
}

/// Writes `addr/netmask` as `ty` (`inet` or `cidr`), refusing what PostgreSQL would refuse:
/// a netmask longer than the address, and host bits in a `cidr`. Nothing is written on error.
pub(crate) fn write_inet(
    addr: IpAddr,
    netmask: u8,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<IsNull, TypeError> {
    let what = type_name(ty);
    let is_cidr = ty.oid() == CIDR;
    if netmask > max_bits(addr) || (is_cidr && has_host_bits(addr, netmask)) {
        return Err(TypeError::OutOfRange(what));
    }
    match addr {
        IpAddr::V4(a) => {
            out.reserve(8);
            out.put_slice(&[PGSQL_AF_INET, netmask, u8::from(is_cidr), 4]);
            out.put_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.reserve(20);
            out.put_slice(&[PGSQL_AF_INET6, netmask, u8::from(is_cidr), 16]);
            out.put_slice(&a.octets());
        }
    }
    Ok(IsNull::No)
}

/// Reads an `inet`/`cidr` value as PostgreSQL's `network_recv` does: a known family, a netmask
/// within the address, the address length of the family, exactly that many bytes, and no host
/// bits in a `cidr`. Returns the address and its netmask.
pub(crate) fn read_inet(ty: &Type, raw: &[u8]) -> Result<(IpAddr, u8), TypeError> {
    let what = type_name(ty);
    let [family, netmask, _is_cidr, len, addr @ ..] = raw else {
        return Err(TypeError::Malformed(what));
    };
    let (addr, netmask) = match (*family, *len) {
        (PGSQL_AF_INET, 4) => {
            let octets: [u8; 4] = addr.try_into().map_err(|_| TypeError::InvalidLength {
                what,
                expected: 8,
                actual: raw.len(),
            })?;
            (IpAddr::V4(Ipv4Addr::from(octets)), *netmask)
        }
        (PGSQL_AF_INET6, 16) => {
            let octets: [u8; 16] = addr.try_into().map_err(|_| TypeError::InvalidLength {
                what,
                expected: 20,
                actual: raw.len(),
            })?;
            (IpAddr::V6(Ipv6Addr::from(octets)), *netmask)
        }
        // An unknown family, or a length byte that does not match the family.
        _ => return Err(TypeError::Malformed(what)),
    };
    if netmask > max_bits(addr) || (ty.oid() == CIDR && has_host_bits(addr, netmask)) {
        return Err(TypeError::Malformed(what));
    }
    Ok((addr, netmask))
}

/// Reads a single host: a netmask shorter than the address is [`TypeError::Unrepresentable`].
fn read_host(ty: &Type, raw: &[u8], rust: &'static str) -> Result<IpAddr, TypeError> {
    let (addr, netmask) = read_inet(ty, raw)?;
    if netmask < max_bits(addr) {
        return Err(TypeError::Unrepresentable {
            ty: type_name(ty),
            value: Inet { addr, netmask }.to_string(),
            rust,
        });
    }
    Ok(addr)
}

impl ToSql for Inet {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        write_inet(self.addr, self.netmask, ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for Inet {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        read_inet(ty, raw).map(|(addr, netmask)| Inet { addr, netmask })
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

impl ToSql for IpAddr {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        write_inet(*self, max_bits(*self), ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for IpAddr {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        read_host(ty, raw, "IpAddr")
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

impl ToSql for Ipv4Addr {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        IpAddr::V4(*self).to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for Ipv4Addr {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        match read_host(ty, raw, "Ipv4Addr")? {
            IpAddr::V4(a) => Ok(a),
            addr @ IpAddr::V6(_) => Err(TypeError::Unrepresentable {
                ty: type_name(ty),
                value: addr.to_string(),
                rust: "Ipv4Addr",
            }),
        }
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

impl ToSql for Ipv6Addr {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        IpAddr::V6(*self).to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for Ipv6Addr {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        match read_host(ty, raw, "Ipv6Addr")? {
            IpAddr::V6(a) => Ok(a),
            addr @ IpAddr::V4(_) => Err(TypeError::Unrepresentable {
                ty: type_name(ty),
                value: addr.to_string(),
                rust: "Ipv6Addr",
            }),
        }
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}
