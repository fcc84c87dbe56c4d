//! Network types through a real server, in binary: `IpAddr`/`Ipv4Addr`/`Ipv6Addr`, `Inet`,
//! `MacAddr` and `MacAddr8` sent as `$1::<type>` come back equal and the server reads them as
//! meant (`::text`); NULLs; IPv4 and IPv6; a `cidr` network; table columns; arrays; and the
//! typed errors (a network read into a host address, host bits sent as `cidr`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::support::types::{get, one, roundtrip, select, select_type_error as select_err};
use crate::support::{block_on, client_for, guard, shared_server};
use corelane_postgres::types::{Inet, MacAddr, MacAddr8};
use corelane_postgres::{Client, TypeError};

fn client() -> (std::sync::Arc<corelane_testkit::PgServer>, Client) {
    let server = shared_server();
    let client = client_for(&server, |c| c);
    (server, client)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn inet(s: &str, netmask: u8) -> Inet {
    Inet {
        addr: ip(s),
        netmask,
    }
}

#[test]
fn host_addresses() {
    let (_server, client) = client();
    guard("host_addresses", move || {
        block_on(async {
            for (addr, text) in [
                ("192.168.0.1", "192.168.0.1/32"),
                ("0.0.0.0", "0.0.0.0/32"),
                ("255.255.255.255", "255.255.255.255/32"),
                ("::1", "::1/128"),
                ("2001:db8::ff00:42:8329", "2001:db8::ff00:42:8329/128"),
                ("::ffff:1.2.3.4", "::ffff:1.2.3.4/128"),
            ] {
                assert_eq!(roundtrip(&client, "inet", ip(addr)).await, text);
            }
            let v4 = Ipv4Addr::new(10, 0, 0, 1);
            assert_eq!(roundtrip(&client, "inet", v4).await, "10.0.0.1/32");
            let v6 = Ipv6Addr::LOCALHOST;
            assert_eq!(roundtrip(&client, "inet", v6).await, "::1/128");
            // A host sent as cidr is a /32 (/128) network.
            assert_eq!(
                roundtrip(&client, "cidr", ip("10.0.0.1")).await,
                "10.0.0.1/32"
            );
            // Literals the server parsed.
            assert_eq!(
                select::<IpAddr>(&client, "'127.0.0.1'::inet").await,
                ip("127.0.0.1")
            );
            assert_eq!(
                select::<Ipv6Addr>(&client, "'fe80::1'::inet").await,
                ip("fe80::1")
            );
        })
    });
}

#[test]
fn networks_and_netmasks() {
    let (_server, client) = client();
    guard("networks_and_netmasks", move || {
        block_on(async {
            for (v, text) in [
                (inet("10.1.2.3", 24), "10.1.2.3/24"),
                (inet("10.1.2.3", 32), "10.1.2.3/32"),
                (inet("0.0.0.0", 0), "0.0.0.0/0"),
                (inet("2001:db8::1", 64), "2001:db8::1/64"),
                (inet("::", 0), "::/0"),
            ] {
                assert_eq!(roundtrip(&client, "inet", v).await, text);
            }
            for (v, text) in [
                (inet("10.1.2.0", 24), "10.1.2.0/24"),
                (inet("10.0.0.0", 8), "10.0.0.0/8"),
                (inet("2001:db8::", 32), "2001:db8::/32"),
                (inet("::", 0), "::/0"),
            ] {
                assert_eq!(roundtrip(&client, "cidr", v).await, text);
            }
            // The server's own cidr and inet values.
            assert_eq!(
                select::<Inet>(&client, "'10.1.2.0/24'::cidr").await,
                inet("10.1.2.0", 24)
            );
            assert_eq!(
                select::<Inet>(&client, "'10.1.2.3/24'::inet").await,
                inet("10.1.2.3", 24)
            );
            assert_eq!(
                select::<Inet>(&client, "network('10.1.2.3/24'::inet)").await,
                inet("10.1.2.0", 24)
            );
            // The server agrees about containment of what we sent.
            let row = one(
                &client,
                "SELECT $1::inet << $2::cidr",
                &[&ip("10.1.2.77"), &inet("10.1.2.0", 24)],
            )
            .await;
            assert!(get::<bool>(&row, 0, "<<"));
        })
    });
}

#[test]
fn a_network_is_not_a_host_address() {
    let (_server, client) = client();
    guard("a_network_is_not_a_host_address", move || {
        block_on(async {
            let err = select_err::<IpAddr>(&client, "'10.1.2.0/24'::cidr").await;
            assert_eq!(
                err,
                TypeError::Unrepresentable {
                    ty: "cidr",
                    value: "10.1.2.0/24".into(),
                    rust: "IpAddr"
                }
            );
            let err = select_err::<IpAddr>(&client, "'10.1.2.3/24'::inet").await;
            assert!(err.to_string().contains("10.1.2.3/24"), "{err}");
            select_err::<Ipv4Addr>(&client, "'::1'::inet").await;
            select_err::<Ipv6Addr>(&client, "'127.0.0.1'::inet").await;
            // Host bits sent as cidr are refused before they are sent, typed.
            let err = client
                .query_one("SELECT $1::cidr", &[&inet("10.1.2.3", 24)])
                .await
                .unwrap_err();
            assert_eq!(
                err.as_type_error(),
                Some(&TypeError::OutOfRange("cidr")),
                "{err}"
            );
            // And the connection still works.
            assert_eq!(select::<i32>(&client, "1").await, 1);
        })
    });
}

#[test]
fn mac_addresses() {
    let (_server, client) = client();
    guard("mac_addresses", move || {
        block_on(async {
            let mac = MacAddr([0x08, 0x00, 0x2b, 0x01, 0x02, 0x03]);
            assert_eq!(
                roundtrip(&client, "macaddr", mac).await,
                "08:00:2b:01:02:03"
            );
            assert_eq!(
                select::<MacAddr>(&client, "'08-00-2B-01-02-03'::macaddr").await,
                mac
            );
            let mac8 = MacAddr8([0x08, 0x00, 0x2b, 0x01, 0x02, 0x03, 0x04, 0x05]);
            assert_eq!(
                roundtrip(&client, "macaddr8", mac8).await,
                "08:00:2b:01:02:03:04:05"
            );
            // A 6-byte address stored as macaddr8 comes back widened (ff:fe in the middle).
            assert_eq!(
                select::<MacAddr8>(&client, "'08:00:2b:01:02:03'::macaddr8").await,
                MacAddr8([0x08, 0x00, 0x2b, 0xff, 0xfe, 0x01, 0x02, 0x03])
            );
        })
    });
}

#[test]
fn table_columns_and_arrays() {
    let (_server, client) = client();
    guard("table_columns_and_arrays", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS network_types; CREATE TABLE network_types (
                        id int4 PRIMARY KEY, host inet, net cidr, mac macaddr, mac8 macaddr8,
                        hosts inet[])",
                )
                .await
                .unwrap();
            let hosts = vec![ip("10.0.0.1"), ip("2001:db8::2")];
            let mac = MacAddr([1, 2, 3, 4, 5, 6]);
            let mac8 = MacAddr8([1, 2, 3, 4, 5, 6, 7, 8]);
            let n = client
                .execute(
                    "INSERT INTO network_types VALUES ($1, $2, $3, $4, $5, $6), (2, NULL, NULL, NULL, NULL, NULL)",
                    &[
                        &1i32,
                        &inet("192.168.1.5", 24),
                        &inet("10.1.2.0", 24),
                        &mac,
                        &mac8,
                        &hosts,
                    ],
                )
                .await
                .unwrap();
            assert_eq!(n, 2);
            let row = one(
                &client,
                "SELECT host, net, mac, mac8, hosts, host::text, net::text FROM network_types WHERE id = 1",
                &[],
            )
            .await;
            assert_eq!(get::<Inet>(&row, 0, "host"), inet("192.168.1.5", 24));
            assert_eq!(get::<Inet>(&row, 1, "net"), inet("10.1.2.0", 24));
            assert_eq!(get::<MacAddr>(&row, 2, "mac"), mac);
            assert_eq!(get::<MacAddr8>(&row, 3, "mac8"), mac8);
            assert_eq!(get::<Vec<IpAddr>>(&row, 4, "hosts"), hosts);
            assert_eq!(get::<String>(&row, 5, "host text"), "192.168.1.5/24");
            assert_eq!(get::<String>(&row, 6, "net text"), "10.1.2.0/24");
            let row = one(
                &client,
                "SELECT host, net, mac, mac8, hosts FROM network_types WHERE id = 2",
                &[],
            )
            .await;
            assert_eq!(get::<Option<IpAddr>>(&row, 0, "host"), None);
            assert_eq!(get::<Option<Inet>>(&row, 1, "net"), None);
            assert_eq!(get::<Option<MacAddr>>(&row, 2, "mac"), None);
            assert_eq!(get::<Option<MacAddr8>>(&row, 3, "mac8"), None);
            assert_eq!(get::<Option<Vec<IpAddr>>>(&row, 4, "hosts"), None);

            // Arrays as parameters and results, with NULL elements.
            let nets = vec![
                Some(inet("10.0.0.0", 8)),
                None,
                Some(inet("2001:db8::", 32)),
            ];
            let row = one(&client, "SELECT $1::cidr[], $1::cidr[]::text", &[&nets]).await;
            assert_eq!(get::<Vec<Option<Inet>>>(&row, 0, "cidr[]"), nets);
            assert_eq!(
                get::<String>(&row, 1, "cidr[] text"),
                "{10.0.0.0/8,NULL,2001:db8::/32}"
            );
            assert_eq!(
                select::<Vec<IpAddr>>(&client, "ARRAY['1.2.3.4'::inet, '::1'::inet]").await,
                vec![ip("1.2.3.4"), ip("::1")]
            );
            let macs = vec![mac, MacAddr([0xff; 6])];
            let row = one(&client, "SELECT $1::macaddr[]", &[&macs]).await;
            assert_eq!(get::<Vec<MacAddr>>(&row, 0, "macaddr[]"), macs);
        })
    });
}
