//! `ipnetwork::IpNetwork`, `Ipv4Network`, `Ipv6Network` ↔ `inet`/`cidr` (feature `ipnetwork`).
//!
//! They share the bundled [`super::Inet`] wire code and its checks: host bits are kept for
//! `inet` and refused when sent as `cidr` ([`TypeError::OutOfRange`]); an address of the other
//! family read into `Ipv4Network`/`Ipv6Network` is [`TypeError::Unrepresentable`].

use std::net::IpAddr;

use bytes::BytesMut;
use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};

use super::network::{is_network_type, read_inet, write_inet};
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// Reads `ty` as an [`IpNetwork`] (`rust` names the caller's type in errors).
fn read(ty: &Type, raw: &[u8], rust: &'static str) -> Result<IpNetwork, TypeError> {
    let (addr, netmask) = read_inet(ty, raw)?;
    // read_inet checked the netmask against the family: this cannot fail.
    IpNetwork::new(addr, netmask).map_err(|_| TypeError::Unrepresentable {
        ty: "inet",
        value: format!("{addr}/{netmask}"),
        rust,
    })
}

fn other_family(ty: &Type, net: IpNetwork, rust: &'static str) -> TypeError {
    TypeError::Unrepresentable {
        ty: if ty.oid() == super::oid::CIDR {
            "cidr"
        } else {
            "inet"
        },
        value: net.to_string(),
        rust,
    }
}

impl ToSql for IpNetwork {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        write_inet(self.ip(), self.prefix(), ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for IpNetwork {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        read(ty, raw, "ipnetwork::IpNetwork")
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

impl ToSql for Ipv4Network {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        write_inet(IpAddr::V4(self.ip()), self.prefix(), ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for Ipv4Network {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        const RUST: &str = "ipnetwork::Ipv4Network";
        match read(ty, raw, RUST)? {
            IpNetwork::V4(n) => Ok(n),
            net => Err(other_family(ty, net, RUST)),
        }
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

impl ToSql for Ipv6Network {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        write_inet(IpAddr::V6(self.ip()), self.prefix(), ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for Ipv6Network {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        const RUST: &str = "ipnetwork::Ipv6Network";
        match read(ty, raw, RUST)? {
            IpNetwork::V6(n) => Ok(n),
            net => Err(other_family(ty, net, RUST)),
        }
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::super::tests_support::ty::{CIDR, INET, INT4};
    use super::super::tests_support::{dec, enc, enc_err, rt};
    use super::*;

    #[test]
    fn round_trip_and_known_bytes() {
        let host = IpNetwork::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 24).unwrap();
        assert_eq!(enc(&host, INET), [2, 24, 0, 4, 10, 1, 2, 3]);
        assert_eq!(rt(host, INET), host);
        let v6 = Ipv6Network::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 128).unwrap();
        let mut want = vec![3, 128, 1, 16, 0x20, 0x01, 0x0d, 0xb8];
        want.extend([0; 11]);
        want.push(1);
        assert_eq!(enc(&v6, CIDR), want);
        assert_eq!(rt(v6, CIDR), v6);
        let v4 = Ipv4Network::new(Ipv4Addr::new(192, 168, 0, 0), 16).unwrap();
        assert_eq!(rt(v4, CIDR), v4);
        assert_eq!(
            dec::<IpNetwork>(CIDR, &enc(&v4, CIDR)).unwrap(),
            IpNetwork::V4(v4)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(enc_err(&host_bits(), CIDR), TypeError::OutOfRange("cidr"));
        let v6 = enc(&Ipv6Network::new(Ipv6Addr::LOCALHOST, 128).unwrap(), INET);
        assert!(matches!(
            dec::<Ipv4Network>(INET, &v6),
            Err(TypeError::Unrepresentable {
                rust: "ipnetwork::Ipv4Network",
                ..
            })
        ));
        let v4 = enc(&host_bits(), INET);
        assert!(matches!(
            dec::<Ipv6Network>(INET, &v4),
            Err(TypeError::Unrepresentable {
                rust: "ipnetwork::Ipv6Network",
                ..
            })
        ));
        assert_eq!(
            dec::<IpNetwork>(
                INET,
                &[3, 129, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
            ),
            Err(TypeError::Malformed("inet"))
        );
        assert_eq!(
            dec::<IpNetwork>(INET, &[3, 128, 0, 4, 1, 2, 3, 4]),
            Err(TypeError::Malformed("inet"))
        );
        assert!(matches!(
            dec::<IpNetwork>(INT4, &[0; 4]),
            Err(TypeError::WrongType { .. })
        ));
    }

    fn host_bits() -> IpNetwork {
        IpNetwork::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 24).unwrap()
    }
}
