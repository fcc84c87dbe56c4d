//! The optional type integrations (features `uuid`, `chrono`, `time`, `serde_json`,
//! `rust_decimal`, `cidr`, `ipnetwork`, `bit-vec`) through a real server, in binary: each value
//! sent as `$1::<type>` comes back equal, the server reads it as we meant (`::text`), and table
//! columns of those types decode. Compiled only with all eight features; `cargo test --workspace` has them on
//! through `corelane-examples`' dependency on this crate (feature unification); to run it
//! alone: `cargo test --workspace --test integration type_features::` (the same unified
//! features) or `cargo test -p corelane-postgres --all-features --test integration
//! type_features::`. Plain `cargo test -p corelane-postgres` compiles this module out (0 tests):
//! `-p` unifies only the selected package's features.

use std::fmt::Debug;

use crate::support::types::{get, one, roundtrip, select, select_type_error, utc_client as client};
use crate::support::{block_on, guard};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use corelane_postgres::types::{JsonOf, Timestamp};
use corelane_postgres::{Client, FromSql, TypeError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `SELECT <expr>` read as `T`: the type error's text.
async fn select_err<T: for<'a> FromSql<'a> + Debug>(client: &Client, expr: &str) -> String {
    select_type_error::<T>(client, expr).await.to_string()
}

#[test]
fn uuid_crate() {
    let (_server, client) = client();
    guard("uuid_crate", move || {
        block_on(async {
            let u = uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
            for v in [u, uuid::Uuid::nil(), uuid::Uuid::max()] {
                assert_eq!(roundtrip(&client, "uuid", v).await, v.to_string());
            }
            assert_eq!(
                select::<uuid::Uuid>(&client, "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid").await,
                u
            );
            let v = vec![u, uuid::Uuid::nil()];
            let row = one(&client, "SELECT $1::uuid[]", &[&v]).await;
            assert_eq!(get::<Vec<uuid::Uuid>>(&row, 0, "uuid[]"), v);
        })
    });
}

#[test]
fn chrono_types() {
    let (_server, client) = client();
    guard("chrono_types", move || {
        block_on(async {
            let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
            for (d, text) in [
                (ymd(2000, 1, 1), "2000-01-01"),
                (ymd(1970, 1, 1), "1970-01-01"),
                (ymd(2024, 2, 29), "2024-02-29"),
                (ymd(1, 1, 1), "0001-01-01"),
                (ymd(0, 12, 31), "0001-12-31 BC"),
                (ymd(-4713, 11, 24), "4714-11-24 BC"),
                (ymd(262_142, 12, 31), "262142-12-31"),
            ] {
                assert_eq!(roundtrip(&client, "date", d).await, text);
            }
            assert!(select_err::<NaiveDate>(&client, "'infinity'::date")
                .await
                .contains("infinity"));

            let hms = |h, m, s, us| NaiveTime::from_hms_micro_opt(h, m, s, us).unwrap();
            for (t, text) in [
                (hms(0, 0, 0, 0), "00:00:00"),
                (hms(13, 14, 15, 123_456), "13:14:15.123456"),
                (hms(23, 59, 59, 999_999), "23:59:59.999999"),
            ] {
                assert_eq!(roundtrip(&client, "time", t).await, text);
            }
            select_err::<NaiveTime>(&client, "'24:00:00'::time").await;

            // A value PostgreSQL cannot hold is refused before it is sent, typed.
            let err = client
                .query_one("SELECT $1::date", &[&NaiveDate::MIN])
                .await
                .unwrap_err();
            assert_eq!(
                err.as_type_error(),
                Some(&TypeError::OutOfRange("date")),
                "{err}"
            );
            assert!(err.to_string().contains("parameter $1"), "{err}");

            let dt = |y, mo, d, h, mi, s, us| ymd(y, mo, d).and_time(hms(h, mi, s, us));
            for (v, text) in [
                (dt(2000, 1, 1, 0, 0, 0, 0), "2000-01-01 00:00:00"),
                (
                    dt(1969, 12, 31, 23, 59, 59, 999_999),
                    "1969-12-31 23:59:59.999999",
                ),
                (dt(-4713, 11, 24, 0, 0, 0, 0), "4714-11-24 00:00:00 BC"),
                (
                    dt(9999, 12, 31, 23, 59, 59, 1),
                    "9999-12-31 23:59:59.000001",
                ),
            ] {
                assert_eq!(roundtrip(&client, "timestamp", v).await, text);
            }
            assert_eq!(
                select::<NaiveDateTime>(&client, "'1999-12-31 23:59:59.5'::timestamp").await,
                dt(1999, 12, 31, 23, 59, 59, 500_000)
            );
            assert!(
                select_err::<NaiveDateTime>(&client, "'-infinity'::timestamp")
                    .await
                    .contains("-infinity")
            );

            let utc = dt(2021, 6, 1, 12, 0, 0, 250).and_utc();
            assert_eq!(
                roundtrip(&client, "timestamptz", utc).await,
                "2021-06-01 12:00:00.00025+00"
            );
            let off = FixedOffset::east_opt(-(3 * 3600 + 30 * 60)).unwrap();
            let local = off.from_utc_datetime(&utc.naive_utc());
            let row = one(&client, "SELECT $1::timestamptz::text", &[&local]).await;
            assert_eq!(
                get::<String>(&row, 0, "fixed"),
                "2021-06-01 12:00:00.00025+00"
            );
            assert_eq!(
                select::<DateTime<FixedOffset>>(
                    &client,
                    "'2021-06-01 08:30:00.00025-03:30'::timestamptz"
                )
                .await,
                local
            );
            assert_eq!(
                select::<DateTime<chrono::Local>>(
                    &client,
                    "'2021-06-01 12:00:00.00025Z'::timestamptz"
                )
                .await,
                utc
            );
            assert_eq!(
                select::<DateTime<Utc>>(&client, "'2000-01-01 00:00:00+00'::timestamptz").await,
                dt(2000, 1, 1, 0, 0, 0, 0).and_utc()
            );
            // The bundled types still see the infinities.
            assert_eq!(
                select::<Timestamp>(&client, "'infinity'::timestamp").await,
                Timestamp::PosInfinity
            );
        })
    });
}

#[test]
fn time_types() {
    use time::macros::{date, datetime, time};
    let (_server, client) = client();
    guard("time_types", move || {
        block_on(async {
            for (d, text) in [
                (date!(2000 - 01 - 01), "2000-01-01"),
                (date!(1969 - 07 - 20), "1969-07-20"),
                (date!(-4713 - 11 - 24), "4714-11-24 BC"),
                (date!(9999 - 12 - 31), "9999-12-31"),
            ] {
                assert_eq!(roundtrip(&client, "date", d).await, text);
            }
            select_err::<time::Date>(&client, "'10000-01-01'::date").await;
            select_err::<time::Date>(&client, "'infinity'::date").await;
            assert_eq!(
                roundtrip(&client, "time", time!(13:14:15.123456)).await,
                "13:14:15.123456"
            );
            assert_eq!(
                roundtrip(&client, "timestamp", datetime!(1999-12-31 23:59:59.999999)).await,
                "1999-12-31 23:59:59.999999"
            );
            let odt = datetime!(2021-06-01 12:00:00.00025 UTC);
            assert_eq!(
                roundtrip(&client, "timestamptz", odt).await,
                "2021-06-01 12:00:00.00025+00"
            );
            let shifted = datetime!(2021-06-01 17:30:00.00025 +05:30);
            let row = one(
                &client,
                "SELECT $1::timestamptz = $2::timestamptz",
                &[&shifted, &odt],
            )
            .await;
            assert!(get::<bool>(&row, 0, "same instant"));
            assert_eq!(
                select::<time::OffsetDateTime>(
                    &client,
                    "'2021-06-01 17:30:00.00025+05:30'::timestamptz"
                )
                .await,
                odt
            );
        })
    });
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    items: Vec<Item>,
    note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    sku: String,
    qty: u32,
}

#[test]
fn serde_json_types() {
    let (_server, client) = client();
    guard("serde_json_types", move || {
        block_on(async {
            let v = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": "ü"}});
            for ty in ["json", "jsonb"] {
                roundtrip(&client, ty, v.clone()).await;
                roundtrip(&client, ty, serde_json::Value::Null).await;
            }
            // The server parsed what we sent.
            let row = one(&client, "SELECT $1::jsonb -> 'b' ->> 'c'", &[&v]).await;
            assert_eq!(get::<String>(&row, 0, "->>"), "ü");
            assert_eq!(
                select::<serde_json::Value>(&client, r#"'{"k": [1, {"x": null}]}'::jsonb"#).await,
                serde_json::json!({"k": [1, {"x": null}]})
            );
            let order = Order {
                id: 42,
                customer: "Zoë".into(),
                items: vec![Item {
                    sku: "A-1".into(),
                    qty: 3,
                }],
                note: None,
            };
            for ty in ["json", "jsonb"] {
                roundtrip(&client, ty, JsonOf(order.clone())).await;
            }
            let err = select_err::<JsonOf<Order>>(&client, r#"'{"id": "x"}'::jsonb"#).await;
            assert!(err.contains("JSON"), "{err}");
        })
    });
}

#[test]
fn rust_decimal_type() {
    let (_server, client) = client();
    guard("rust_decimal_type", move || {
        block_on(async {
            for s in [
                "0",
                "0.00",
                "1.50",
                "-123.4500",
                "0.0000000000000000000000000001",
                "79228162514264337593543950335",
                "-79228162514264337593543950335",
                "123456789.987654321",
            ] {
                let d = Decimal::from_str_exact(s).unwrap();
                assert_eq!(roundtrip(&client, "numeric", d).await, s);
            }
            assert_eq!(
                select::<Decimal>(&client, "12345.678::numeric(20,5)")
                    .await
                    .to_string(),
                "12345.67800"
            );
            assert_eq!(
                select::<Decimal>(&client, "(2::numeric / 3)")
                    .await
                    .to_string(),
                "0.66666666666666666667"
            );
            // 40 display digits: zeros past 28 are dropped, significant ones are an error.
            assert_eq!(
                select::<Decimal>(&client, "round(1::numeric, 40)").await,
                Decimal::ONE
            );
            select_err::<Decimal>(&client, "('0.' || repeat('3', 40))::numeric").await;
            assert!(select_err::<Decimal>(&client, "'NaN'::numeric")
                .await
                .contains("NaN"));
            assert!(select_err::<Decimal>(&client, "'-Infinity'::numeric")
                .await
                .contains("Infinity"));
            assert!(select_err::<Decimal>(&client, "1e30::numeric")
                .await
                .contains("out of range"));
            select_err::<Decimal>(&client, "1e-29::numeric").await;
        })
    });
}

#[test]
fn table_columns() {
    let (_server, client) = client();
    guard("table_columns", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS type_features; CREATE TABLE type_features (
                        id uuid PRIMARY KEY, born date, wakes time, seen timestamp,
                        at timestamptz, doc jsonb, raw json, price numeric(12,2))",
                )
                .await
                .unwrap();
            let id = uuid::Uuid::from_u128(0x1234);
            let born = NaiveDate::from_ymd_opt(1987, 3, 14).unwrap();
            let wakes = time::macros::time!(06:30);
            let seen = NaiveDate::from_ymd_opt(2024, 1, 2)
                .unwrap()
                .and_hms_micro_opt(3, 4, 5, 6)
                .unwrap();
            let at = time::macros::datetime!(2024-01-02 03:04:05.000006 UTC);
            let order = Order {
                id: 1,
                customer: "c".into(),
                items: vec![],
                note: Some("n".into()),
            };
            let raw = serde_json::json!([1, 2]);
            let price = Decimal::from_str_exact("19.99").unwrap();
            let n = client
                .execute(
                    "INSERT INTO type_features VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &id,
                        &born,
                        &wakes,
                        &seen,
                        &at,
                        &JsonOf(&order),
                        &raw,
                        &price,
                    ],
                )
                .await
                .unwrap();
            assert_eq!(n, 1);
            // A NULL row.
            client
                .execute(
                    "INSERT INTO type_features (id) VALUES ($1)",
                    &[&uuid::Uuid::nil()],
                )
                .await
                .unwrap();
            let rows = client
                .query("SELECT * FROM type_features ORDER BY id DESC", &[])
                .await
                .unwrap();
            assert_eq!(rows.len(), 2);
            let r = &rows[0];
            assert_eq!(get::<uuid::Uuid>(r, 0, "id"), id);
            assert_eq!(get::<NaiveDate>(r, 1, "born"), born);
            assert_eq!(
                get::<time::Date>(r, 1, "born"),
                time::macros::date!(1987 - 03 - 14)
            );
            assert_eq!(get::<time::Time>(r, 2, "wakes"), wakes);
            assert_eq!(get::<NaiveTime>(r, 2, "wakes").to_string(), "06:30:00");
            assert_eq!(get::<NaiveDateTime>(r, 3, "seen"), seen);
            assert_eq!(get::<time::OffsetDateTime>(r, 4, "at"), at);
            assert_eq!(get::<DateTime<Utc>>(r, 4, "at"), seen.and_utc());
            assert_eq!(get::<JsonOf<Order>>(r, 5, "doc").0, order);
            assert_eq!(get::<serde_json::Value>(r, 6, "raw"), raw);
            assert_eq!(get::<Decimal>(r, 7, "price"), price);
            let r = &rows[1];
            assert_eq!(get::<Option<NaiveDate>>(r, 1, "born"), None);
            assert_eq!(get::<Option<time::Time>>(r, 2, "wakes"), None);
            assert_eq!(get::<Option<JsonOf<Order>>>(r, 5, "doc"), None);
            assert_eq!(get::<Option<Decimal>>(r, 7, "price"), None);
            // A struct read with the server's own jsonb functions.
            let row = one(
                &client,
                "SELECT doc ->> 'customer', doc -> 'note' FROM type_features WHERE id = $1",
                &[&id],
            )
            .await;
            assert_eq!(get::<String>(&row, 0, "customer"), "c");
            assert_eq!(
                get::<serde_json::Value>(&row, 1, "note"),
                serde_json::json!("n")
            );
            client
                .batch_execute("DROP TABLE type_features")
                .await
                .unwrap();
        })
    });
}

#[test]
fn ranges_of_feature_types() {
    use corelane_postgres::types::Range;
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let (_server, client) = client();
    guard("ranges_of_feature_types", move || {
        block_on(async {
            let d = |s: &str| Decimal::from_str_exact(s).unwrap();
            let r = Range::new(Excluded(d("1.50")), Included(d("2.25")));
            assert_eq!(roundtrip(&client, "numrange", r).await, "(1.50,2.25]");
            let day = |m, dd| NaiveDate::from_ymd_opt(2024, m, dd).unwrap();
            assert_eq!(
                roundtrip(&client, "daterange", Range::from(day(1, 1)..day(2, 1))).await,
                "[2024-01-01,2024-02-01)"
            );
            assert_eq!(
                select::<Range<NaiveDate>>(&client, "'[2024-01-01,2024-01-31]'::daterange").await,
                Range::from(day(1, 1)..day(2, 1))
            );
            let at = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
            assert_eq!(
                roundtrip(&client, "tstzrange", Range::new(Included(at), Unbounded)).await,
                r#"["2024-05-06 07:08:09+00",)"#
            );
            let t = time::macros::datetime!(2024-05-06 07:08:09.5);
            assert_eq!(
                roundtrip(&client, "tsrange", Range::new(Unbounded, Excluded(t))).await,
                r#"(,"2024-05-06 07:08:09.5")"#
            );
        })
    });
}

#[test]
fn cidr_crate() {
    use cidr::{IpCidr, IpInet};
    let (_server, client) = client();
    guard("cidr_crate", move || {
        block_on(async {
            for (s, text) in [
                ("10.1.2.3/24", "10.1.2.3/24"),
                ("10.1.2.3/32", "10.1.2.3/32"),
                ("2001:db8::1/64", "2001:db8::1/64"),
            ] {
                let v: IpInet = s.parse().unwrap();
                assert_eq!(roundtrip(&client, "inet", v).await, text);
            }
            for s in ["10.1.2.0/24", "0.0.0.0/0", "2001:db8::/32", "::1/128"] {
                let v: IpCidr = s.parse().unwrap();
                let text = roundtrip(&client, "cidr", v).await;
                assert_eq!(text.parse::<IpCidr>().unwrap(), v, "{s}");
            }
            assert_eq!(
                select::<IpCidr>(&client, "'10.1.2.0/24'::cidr").await,
                "10.1.2.0/24".parse::<IpCidr>().unwrap()
            );
            assert_eq!(
                select::<IpInet>(&client, "'10.1.2.0/24'::cidr").await,
                "10.1.2.0/24".parse::<IpInet>().unwrap()
            );
            // An inet with host bits cannot be an IpCidr.
            let err = select_err::<IpCidr>(&client, "'10.1.2.3/24'::inet").await;
            assert!(err.contains("10.1.2.3/24"), "{err}");
            let v: Vec<IpInet> = vec!["10.0.0.1/8".parse().unwrap(), "::1/128".parse().unwrap()];
            let row = one(&client, "SELECT $1::inet[]", &[&v]).await;
            assert_eq!(get::<Vec<IpInet>>(&row, 0, "inet[]"), v);
        })
    });
}

#[test]
fn ipnetwork_crate() {
    use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
    let (_server, client) = client();
    guard("ipnetwork_crate", move || {
        block_on(async {
            for (s, text) in [
                ("192.168.1.5/24", "192.168.1.5/24"),
                ("192.168.1.5/32", "192.168.1.5/32"),
                ("fe80::1/10", "fe80::1/10"),
            ] {
                let v: IpNetwork = s.parse().unwrap();
                assert_eq!(roundtrip(&client, "inet", v).await, text);
            }
            let net: Ipv4Network = "10.1.2.0/24".parse().unwrap();
            assert_eq!(roundtrip(&client, "cidr", net).await, "10.1.2.0/24");
            let net6: Ipv6Network = "2001:db8::/32".parse().unwrap();
            assert_eq!(roundtrip(&client, "cidr", net6).await, "2001:db8::/32");
            assert_eq!(
                select::<IpNetwork>(&client, "'10.1.2.0/24'::cidr").await,
                IpNetwork::V4(net)
            );
            select_err::<Ipv4Network>(&client, "'::1'::inet").await;
            // Host bits sent as cidr: refused before sending, typed.
            let host: IpNetwork = "10.1.2.3/24".parse().unwrap();
            let err = client
                .query_one("SELECT $1::cidr", &[&host])
                .await
                .unwrap_err();
            assert_eq!(
                err.as_type_error(),
                Some(&TypeError::OutOfRange("cidr")),
                "{err}"
            );
            let v = vec![Some(host), None];
            let row = one(&client, "SELECT $1::inet[]", &[&v]).await;
            assert_eq!(get::<Vec<Option<IpNetwork>>>(&row, 0, "inet[]"), v);
        })
    });
}

#[test]
fn bit_vec_crate() {
    use bit_vec::BitVec;
    let (_server, client) = client();
    guard("bit_vec_crate", move || {
        block_on(async {
            let bits = |s: &str| s.chars().map(|c| c == '1').collect::<BitVec>();
            for s in [
                "",
                "1",
                "0",
                "101",
                "11110000",
                "111100001",
                "0000000000000001",
            ] {
                assert_eq!(roundtrip(&client, "varbit", bits(s)).await, s);
            }
            assert_eq!(roundtrip(&client, "bit(5)", bits("10110")).await, "10110");
            assert_eq!(
                select::<BitVec>(&client, "B'101'::bit(3)").await,
                bits("101")
            );
            assert_eq!(
                select::<BitVec>(&client, "B'1010101010101'::varbit").await,
                bits("1010101010101")
            );
            // The server counts the bits we sent.
            let row = one(
                &client,
                "SELECT length($1::varbit), bit_count($1::varbit)",
                &[&bits("1100111")],
            )
            .await;
            assert_eq!(get::<i32>(&row, 0, "length"), 7);
            assert_eq!(get::<i64>(&row, 1, "bit_count"), 5);
            let v = vec![bits("1"), bits("0101010101")];
            let row = one(&client, "SELECT $1::varbit[]", &[&v]).await;
            assert_eq!(get::<Vec<BitVec>>(&row, 0, "varbit[]"), v);
        })
    });
}

#[test]
fn network_and_bit_columns() {
    let (_server, client) = client();
    guard("network_and_bit_columns", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS type_features_net; CREATE TABLE type_features_net (
                        id int4 PRIMARY KEY, host inet, net cidr, flags bit(4), tags varbit)",
                )
                .await
                .unwrap();
            let host: cidr::IpInet = "10.0.0.7/8".parse().unwrap();
            let net: ipnetwork::IpNetwork = "2001:db8::/48".parse().unwrap();
            let flags: bit_vec::BitVec = [true, false, false, true].into_iter().collect();
            let tags = bit_vec::BitVec::from_elem(70, true);
            client
                .execute(
                    "INSERT INTO type_features_net VALUES (1, $1, $2, $3, $4), (2, NULL, NULL, NULL, NULL)",
                    &[&host, &net, &flags, &tags],
                )
                .await
                .unwrap();
            let rows = client
                .query(
                    "SELECT host, net, flags, tags FROM type_features_net ORDER BY id",
                    &[],
                )
                .await
                .unwrap();
            assert_eq!(get::<cidr::IpInet>(&rows[0], 0, "host"), host);
            assert_eq!(get::<ipnetwork::IpNetwork>(&rows[0], 1, "net"), net);
            assert_eq!(
                get::<cidr::IpCidr>(&rows[0], 1, "net").to_string(),
                "2001:db8::/48"
            );
            assert_eq!(get::<bit_vec::BitVec>(&rows[0], 2, "flags"), flags);
            assert_eq!(get::<bit_vec::BitVec>(&rows[0], 3, "tags"), tags);
            assert_eq!(get::<Option<cidr::IpInet>>(&rows[1], 0, "host"), None);
            assert_eq!(
                get::<Option<ipnetwork::IpNetwork>>(&rows[1], 1, "net"),
                None
            );
            assert_eq!(get::<Option<bit_vec::BitVec>>(&rows[1], 2, "flags"), None);
            client
                .batch_execute("DROP TABLE type_features_net")
                .await
                .unwrap();
        })
    });
}
