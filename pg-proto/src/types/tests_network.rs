//! Network codecs without a server: exact bytes of `inet`/`cidr`/`macaddr`/`macaddr8`, every
//! malformed input a typed error (never a panic), host types refusing networks, and arrays.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::tests_support::ty::*;
use super::tests_support::{dec, enc, enc_err, rt};
use super::*;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
const DOC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// An IPv6 value's wire form: family 3, `bits`, `is_cidr`, length 16, the address.
fn v6_wire(bits: u8, is_cidr: u8, addr: Ipv6Addr) -> Vec<u8> {
    let mut out = vec![3, bits, is_cidr, 16];
    out.extend_from_slice(&addr.octets());
    out
}

#[test]
fn inet_known_bytes() {
    assert_eq!(enc(&V4, INET), [2, 32, 0, 4, 10, 1, 2, 3]);
    assert_eq!(enc(&V4, CIDR), [2, 32, 1, 4, 10, 1, 2, 3]);
    assert_eq!(
        enc(&Ipv4Addr::new(10, 1, 2, 3), INET),
        [2, 32, 0, 4, 10, 1, 2, 3]
    );
    assert_eq!(enc(&DOC6, INET), v6_wire(128, 0, DOC6));
    assert_eq!(enc(&IpAddr::V6(DOC6), INET), v6_wire(128, 0, DOC6));
    let host_on_net = Inet {
        addr: V4,
        netmask: 24,
    };
    assert_eq!(enc(&host_on_net, INET), [2, 24, 0, 4, 10, 1, 2, 3]);
    let net = Inet {
        addr: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 0)),
        netmask: 24,
    };
    assert_eq!(enc(&net, CIDR), [2, 24, 1, 4, 10, 1, 2, 0]);
    let zero = Inet {
        addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        netmask: 0,
    };
    assert_eq!(enc(&zero, CIDR), v6_wire(0, 1, Ipv6Addr::UNSPECIFIED));
    assert_eq!(net.to_string(), "10.1.2.0/24");
    assert_eq!(format!("{net:?}"), "Inet(10.1.2.0/24)");
    assert!(net.is_network());
    assert!(!Inet::host(V4).is_network());
    assert_eq!(Inet::from(IpAddr::V6(DOC6)).netmask, 128);
}

#[test]
fn inet_round_trips() {
    for ty in [INET, CIDR] {
        for addr in [
            V4,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::BROADCAST),
            IpAddr::V6(DOC6),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped()),
        ] {
            assert_eq!(rt(addr, ty), addr);
            assert_eq!(rt(Inet::host(addr), ty), Inet::host(addr));
        }
        assert_eq!(rt(Ipv4Addr::LOCALHOST, ty), Ipv4Addr::LOCALHOST);
        assert_eq!(rt(DOC6, ty), DOC6);
    }
    let on_net = Inet {
        addr: V4,
        netmask: 8,
    };
    assert_eq!(rt(on_net, INET), on_net);
    let net6 = Inet {
        addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0)),
        netmask: 32,
    };
    assert_eq!(rt(net6, CIDR), net6);
    // PostgreSQL ignores the is_cidr byte when reading; so do we.
    assert_eq!(dec::<IpAddr>(INET, &[2, 32, 1, 4, 10, 1, 2, 3]), Ok(V4));
}

#[test]
fn host_types_refuse_networks() {
    // A netmask shorter than the address is typed, never truncated to the address.
    let err = dec::<IpAddr>(INET, &[2, 24, 0, 4, 10, 1, 2, 3]).unwrap_err();
    assert_eq!(
        err,
        TypeError::Unrepresentable {
            ty: "inet",
            value: "10.1.2.3/24".into(),
            rust: "IpAddr"
        }
    );
    assert_eq!(
        err.to_string(),
        "inet value 10.1.2.3/24 cannot be represented as IpAddr"
    );
    assert!(matches!(
        dec::<Ipv6Addr>(
            CIDR,
            &v6_wire(64, 1, Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0))
        ),
        Err(TypeError::Unrepresentable {
            ty: "cidr",
            rust: "Ipv6Addr",
            ..
        })
    ));
    assert!(matches!(
        dec::<Ipv4Addr>(INET, &[2, 0, 0, 4, 0, 0, 0, 0]),
        Err(TypeError::Unrepresentable { .. })
    ));
    // The other family.
    assert!(matches!(
        dec::<Ipv4Addr>(INET, &v6_wire(128, 0, DOC6)),
        Err(TypeError::Unrepresentable {
            rust: "Ipv4Addr",
            ..
        })
    ));
    assert!(matches!(
        dec::<Ipv6Addr>(INET, &[2, 32, 0, 4, 10, 1, 2, 3]),
        Err(TypeError::Unrepresentable {
            rust: "Ipv6Addr",
            ..
        })
    ));
    // Inet reads them all.
    assert_eq!(
        dec::<Inet>(INET, &[2, 24, 0, 4, 10, 1, 2, 3]),
        Ok(Inet {
            addr: V4,
            netmask: 24
        })
    );
}

#[test]
fn inet_malformed() {
    let m = Err(TypeError::Malformed("inet"));
    // Truncated header.
    for raw in [&[][..], &[2], &[2, 32], &[2, 32, 0]] {
        assert_eq!(dec::<Inet>(INET, raw), m, "{raw:?}");
    }
    assert_eq!(dec::<Inet>(CIDR, &[2]), Err(TypeError::Malformed("cidr")));
    // Wrong family (AF_UNIX = 1, and 0, 4, 255).
    for family in [0, 1, 4, 255] {
        assert_eq!(dec::<Inet>(INET, &[family, 32, 0, 4, 10, 1, 2, 3]), m);
    }
    // Length byte not the family's (and a length byte that claims far more than is present).
    assert_eq!(dec::<Inet>(INET, &[2, 32, 0, 16, 10, 1, 2, 3]), m);
    assert_eq!(dec::<Inet>(INET, &[3, 32, 0, 4, 10, 1, 2, 3]), m);
    assert_eq!(dec::<Inet>(INET, &[2, 32, 0, 255, 10, 1, 2, 3]), m);
    assert_eq!(dec::<Inet>(INET, &[2, 32, 0, 0]), m);
    // Truncated or overlong address.
    assert_eq!(
        dec::<Inet>(INET, &[2, 32, 0, 4, 10, 1, 2]),
        Err(TypeError::InvalidLength {
            what: "inet",
            expected: 8,
            actual: 7
        })
    );
    assert!(matches!(
        dec::<Inet>(INET, &[2, 32, 0, 4, 10, 1, 2, 3, 4]),
        Err(TypeError::InvalidLength { .. })
    ));
    let mut v6 = v6_wire(128, 0, DOC6);
    v6.pop();
    assert!(matches!(
        dec::<Inet>(INET, &v6),
        Err(TypeError::InvalidLength {
            expected: 20,
            actual: 19,
            ..
        })
    ));
    // Netmask past the address.
    assert_eq!(dec::<Inet>(INET, &[2, 33, 0, 4, 10, 1, 2, 3]), m);
    assert_eq!(dec::<Inet>(INET, &[2, 255, 0, 4, 10, 1, 2, 3]), m);
    assert_eq!(dec::<Inet>(INET, &v6_wire(129, 0, DOC6)), m);
    assert_eq!(
        dec::<Inet>(INET, &v6_wire(128, 0, DOC6)).map(|i| i.netmask),
        Ok(128)
    );
    // A cidr with bits right of its netmask (PostgreSQL refuses it too).
    assert_eq!(
        dec::<Inet>(CIDR, &[2, 24, 1, 4, 10, 1, 2, 3]),
        Err(TypeError::Malformed("cidr"))
    );
    assert_eq!(
        dec::<Inet>(CIDR, &v6_wire(127, 1, DOC6)),
        Err(TypeError::Malformed("cidr"))
    );
    assert_eq!(
        dec::<Inet>(CIDR, &[2, 0, 1, 4, 128, 0, 0, 0]),
        Err(TypeError::Malformed("cidr"))
    );
    // The wrong type, and NULL.
    assert!(matches!(
        dec::<IpAddr>(TEXT, b"10.1.2.3"),
        Err(TypeError::WrongType { .. })
    ));
    assert_eq!(
        IpAddr::from_sql_nullable(INET, None),
        Err(TypeError::UnexpectedNull)
    );
    assert_eq!(Option::<Inet>::from_sql_nullable(CIDR, None), Ok(None));
}

#[test]
fn inet_refused_before_sending() {
    let long = Inet {
        addr: V4,
        netmask: 33,
    };
    assert_eq!(enc_err(&long, INET), TypeError::OutOfRange("inet"));
    let long6 = Inet {
        addr: IpAddr::V6(DOC6),
        netmask: 129,
    };
    assert_eq!(enc_err(&long6, CIDR), TypeError::OutOfRange("cidr"));
    let host_bits = Inet {
        addr: V4,
        netmask: 24,
    };
    assert_eq!(enc_err(&host_bits, CIDR), TypeError::OutOfRange("cidr"));
    assert!(matches!(enc_err(&V4, TEXT), TypeError::WrongType { .. }));
}

#[test]
fn macaddr() {
    let mac = MacAddr([0x08, 0x00, 0x2b, 0x01, 0x02, 0x03]);
    assert_eq!(enc(&mac, MACADDR), [0x08, 0x00, 0x2b, 0x01, 0x02, 0x03]);
    assert_eq!(rt(mac, MACADDR), mac);
    assert_eq!(mac.to_string(), "08:00:2b:01:02:03");
    assert_eq!(format!("{mac:?}"), "MacAddr(08:00:2b:01:02:03)");
    let mac8 = MacAddr8([0x08, 0x00, 0x2b, 0x01, 0x02, 0x03, 0x04, 0xff]);
    assert_eq!(enc(&mac8, MACADDR8), mac8.0);
    assert_eq!(rt(mac8, MACADDR8), mac8);
    assert_eq!(mac8.to_string(), "08:00:2b:01:02:03:04:ff");
    for raw in [&[0u8; 5][..], &[0; 7], &[]] {
        assert!(matches!(
            dec::<MacAddr>(MACADDR, raw),
            Err(TypeError::InvalidLength {
                what: "macaddr",
                expected: 6,
                ..
            })
        ));
    }
    assert!(matches!(
        dec::<MacAddr8>(MACADDR8, &[0; 6]),
        Err(TypeError::InvalidLength {
            what: "macaddr8",
            expected: 8,
            ..
        })
    ));
    // The two types are not interchangeable.
    assert!(matches!(
        dec::<MacAddr>(MACADDR8, &[0; 8]),
        Err(TypeError::WrongType { .. })
    ));
    assert!(matches!(
        enc_err(&mac8, MACADDR),
        TypeError::WrongType { .. }
    ));
}

#[test]
fn arrays() {
    let v = vec![V4, IpAddr::V6(DOC6)];
    assert_eq!(rt(v.clone(), INET_ARRAY), v);
    let nets = vec![
        Some(Inet {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
            netmask: 8,
        }),
        None,
    ];
    assert_eq!(rt(nets.clone(), CIDR_ARRAY), nets);
    let macs = vec![MacAddr([1; 6]), MacAddr([2; 6])];
    assert_eq!(rt(macs.clone(), MACADDR_ARRAY), macs);
    // A malformed element is the element's typed error.
    let mut raw = enc(&vec![V4], INET_ARRAY);
    let last = raw.len() - 1;
    raw.truncate(last);
    assert!(dec::<Vec<IpAddr>>(INET_ARRAY, &raw).is_err());
}

proptest! {
    /// Any bytes: a value or a typed error, never a panic; a value re-encodes to the input.
    #[test]
    fn inet_any_bytes(raw in proptest::collection::vec(any::<u8>(), 0..24)) {
        if let Ok(v) = dec::<Inet>(INET, &raw) {
            let mut back = enc(&v, INET);
            // The is_cidr byte is ignored on read.
            back[2] = raw[2];
            prop_assert_eq!(back, raw.clone());
        }
        let _ = dec::<Inet>(CIDR, &raw);
        let _ = dec::<IpAddr>(INET, &raw);
        let _ = dec::<Ipv4Addr>(INET, &raw);
        let _ = dec::<Ipv6Addr>(CIDR, &raw);
    }

    /// Every valid value round-trips through both types (cidr: with host bits cleared).
    #[test]
    fn inet_round_trip(bits in any::<u128>(), v4 in any::<bool>(), mask in 0u8..=128) {
        let (addr, max) = if v4 {
            (IpAddr::V4(Ipv4Addr::from(bits as u32)), 32)
        } else {
            (IpAddr::V6(Ipv6Addr::from(bits)), 128)
        };
        let netmask = mask.min(max);
        let v = Inet { addr, netmask };
        prop_assert_eq!(rt(v, INET), v);
        let keep = if netmask == 0 { 0 } else { u128::MAX << (128 - u32::from(netmask)) };
        let net = match addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((bits as u32) & ((keep >> 96) as u32))),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits & keep)),
        };
        let c = Inet { addr: net, netmask };
        prop_assert_eq!(rt(c, CIDR), c);
    }
}
