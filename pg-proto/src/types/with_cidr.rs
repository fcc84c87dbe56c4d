//! `cidr::IpInet` ↔ `inet`/`cidr`, `cidr::IpCidr` ↔ `cidr`/`inet` (feature `cidr`).
//!
//! Both share the bundled [`super::Inet`] wire code and its checks. `IpCidr` cannot hold host
//! bits, so an `inet` such as `10.1.2.3/24` read into it is
//! [`TypeError::Unrepresentable`] (read it as `IpInet`).

use bytes::BytesMut;

use super::network::{is_network_type, read_inet, write_inet};
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

impl ToSql for ::cidr::IpInet {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        write_inet(self.address(), self.network_length(), ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for ::cidr::IpInet {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let (addr, netmask) = read_inet(ty, raw)?;
        // read_inet checked the netmask against the family: this cannot fail.
        ::cidr::IpInet::new(addr, netmask).map_err(|_| TypeError::Malformed("inet"))
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

impl ToSql for ::cidr::IpCidr {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        write_inet(self.first_address(), self.network_length(), ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
    to_sql_checked!();
}

impl FromSql<'_> for ::cidr::IpCidr {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let (addr, netmask) = read_inet(ty, raw)?;
        // Only an `inet` can carry host bits here (read_inet refuses them in a `cidr`).
        ::cidr::IpCidr::new(addr, netmask).map_err(|_| TypeError::Unrepresentable {
            ty: if ty.oid() == super::oid::CIDR {
                "cidr"
            } else {
                "inet"
            },
            value: format!("{addr}/{netmask}"),
            rust: "cidr::IpCidr",
        })
    }
    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use ::cidr::{IpCidr, IpInet};

    use super::super::tests_support::ty::{CIDR, INET, TEXT};
    use super::super::tests_support::{dec, enc, enc_err, rt};
    use super::*;

    #[test]
    fn round_trip_and_known_bytes() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        let inet = IpInet::new(v4, 24).unwrap();
        assert_eq!(enc(&inet, INET), [2, 24, 0, 4, 10, 1, 2, 3]);
        assert_eq!(rt(inet, INET), inet);
        let net = IpCidr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 0)), 24).unwrap();
        assert_eq!(enc(&net, CIDR), [2, 24, 1, 4, 10, 1, 2, 0]);
        assert_eq!(rt(net, CIDR), net);
        let v6 = IpCidr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0)),
            32,
        )
        .unwrap();
        assert_eq!(rt(v6, CIDR), v6);
        assert_eq!(rt(IpInet::new_host(v4), INET), IpInet::new_host(v4));
        // A cidr value read as an inet, and a host inet as a cidr.
        assert_eq!(
            dec::<IpInet>(CIDR, &enc(&net, CIDR)).unwrap().to_string(),
            "10.1.2.0/24"
        );
        assert_eq!(
            dec::<IpCidr>(INET, &[2, 32, 0, 4, 10, 1, 2, 3]).unwrap(),
            IpCidr::new_host(v4)
        );
    }

    #[test]
    fn errors() {
        // Host bits: an IpInet sent as cidr is refused; an inet read into IpCidr is too.
        assert_eq!(
            enc_err(
                &IpInet::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 24).unwrap(),
                CIDR
            ),
            TypeError::OutOfRange("cidr")
        );
        assert!(matches!(
            dec::<IpCidr>(INET, &[2, 24, 0, 4, 10, 1, 2, 3]),
            Err(TypeError::Unrepresentable { ty: "inet", ref value, rust: "cidr::IpCidr" })
                if value == "10.1.2.3/24"
        ));
        assert_eq!(
            dec::<IpInet>(INET, &[2, 33, 0, 4, 10, 1, 2, 3]),
            Err(TypeError::Malformed("inet"))
        );
        assert_eq!(
            dec::<IpInet>(INET, &[4, 32, 0, 4, 10, 1, 2, 3]),
            Err(TypeError::Malformed("inet"))
        );
        assert!(matches!(
            dec::<IpInet>(INET, &[2, 32, 0, 4, 10, 1, 2]),
            Err(TypeError::InvalidLength { .. })
        ));
        assert!(matches!(
            dec::<IpCidr>(TEXT, b"10.0.0.0/8"),
            Err(TypeError::WrongType { .. })
        ));
        assert_eq!(
            dec::<IpInet>(INET, &[2, 32, 0]),
            Err(TypeError::Malformed("inet"))
        );
        assert_eq!(
            IpInet::from_sql_nullable(INET, None),
            Err(TypeError::UnexpectedNull)
        );
    }
}
