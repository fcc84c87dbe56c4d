//! Every supported type through a real server, in binary: a Rust value sent as `$1::<type>`
//! comes back equal; the server's own reading of the value (`::text`, comparisons) is what we
//! meant; values the server generates from SQL literals decode to the expected Rust values;
//! NULL is `None` for every type.

use std::fmt::Debug;
use std::time::{Duration, UNIX_EPOCH};

use crate::support::types::{get, one, utc_client as client};
use crate::support::{block_on, guard, on_worker};
use corelane_pg_proto::types::{
    Array, Date, DateTimeParts, Dimension, Interval, Json, Numeric, Time, Timestamp, TimestampTz,
    Uuid,
};
use corelane_postgres::{Client, FromSql, ToSql};

/// `SELECT $1::<ty>` with `value`, read back as `T`.
async fn echo<T>(client: &Client, ty: &str, value: &T) -> T
where
    T: ToSql + Sync + for<'a> FromSql<'a>,
{
    let sql = format!("SELECT $1::{ty}");
    let row = one(client, &sql, &[value]).await;
    get(&row, 0, &sql)
}

/// `value` round-trips through the server as `ty`, and so does its NULL.
async fn roundtrip<T>(client: &Client, ty: &str, value: T)
where
    T: ToSql + Sync + for<'a> FromSql<'a> + PartialEq + Debug,
{
    let back = echo(client, ty, &value).await;
    assert_eq!(back, value, "{ty}: round trip");
    let null: Option<T> = echo(client, ty, &None::<T>).await;
    assert_eq!(null, None, "{ty}: NULL round trip");
}

/// The server's text form of `value` sent as `ty`.
async fn as_text<T: ToSql + Sync>(client: &Client, ty: &str, value: &T) -> String {
    let sql = format!("SELECT $1::{ty}::text");
    let row = one(client, &sql, &[value]).await;
    get(&row, 0, &sql)
}

/// `SELECT <expr>` decoded as `T`.
async fn select<T: for<'a> FromSql<'a>>(client: &Client, expr: &str) -> T {
    let sql = format!("SELECT {expr}");
    let row = one(client, &sql, &[]).await;
    get(&row, 0, &sql)
}

#[test]
fn bool_and_integers() {
    let (_server, client) = client();
    guard("bool_and_integers", move || {
        block_on(async {
            for v in [true, false] {
                roundtrip(&client, "bool", v).await;
                assert_eq!(as_text(&client, "bool", &v).await, v.to_string());
            }
            assert!(select::<bool>(&client, "1 < 2").await);
            assert!(!select::<bool>(&client, "'f'::bool").await);

            for v in [i16::MIN, -1, 0, 1, i16::MAX] {
                roundtrip(&client, "int2", v).await;
                assert_eq!(as_text(&client, "int2", &v).await, v.to_string());
            }
            for v in [i32::MIN, -1, 0, 1, 0x0102_0304, i32::MAX] {
                roundtrip(&client, "int4", v).await;
                assert_eq!(as_text(&client, "int4", &v).await, v.to_string());
            }
            for v in [i64::MIN, -1, 0, 1, 0x0102_0304_0506_0708, i64::MAX] {
                roundtrip(&client, "int8", v).await;
                assert_eq!(as_text(&client, "int8", &v).await, v.to_string());
            }
            for v in [0u32, 1, 0x8000_0000, u32::MAX] {
                roundtrip(&client, "oid", v).await;
                assert_eq!(as_text(&client, "oid", &v).await, v.to_string());
            }
            for v in [b'A' as i8, 0x7f, -128, -1] {
                roundtrip(&client, "\"char\"", v).await;
            }
            assert_eq!(as_text(&client, "\"char\"", &(b'z' as i8)).await, "z");
            assert_eq!(select::<i8>(&client, "'q'::\"char\"").await, b'q' as i8);

            assert_eq!(select::<i16>(&client, "(-32768)::int2").await, i16::MIN);
            assert_eq!(select::<i16>(&client, "32767::int2").await, i16::MAX);
            assert_eq!(
                select::<i32>(&client, "(-2147483648)::int4").await,
                i32::MIN
            );
            assert_eq!(select::<i32>(&client, "2147483647::int4").await, i32::MAX);
            assert_eq!(
                select::<i64>(&client, "(-9223372036854775808)::int8").await,
                i64::MIN
            );
            assert_eq!(
                select::<i64>(&client, "9223372036854775807::int8").await,
                i64::MAX
            );
            assert_eq!(select::<u32>(&client, "4294967295::oid").await, u32::MAX);
            // The server's arithmetic on what we sent.
            let row = one(
                &client,
                "SELECT $1::int8 + 1, $2::int2 - 1::int2",
                &[&(i64::MAX - 1), &(i16::MIN + 1)],
            )
            .await;
            assert_eq!(get::<i64>(&row, 0, "int8 + 1"), i64::MAX);
            assert_eq!(get::<i16>(&row, 1, "int2 - 1"), i16::MIN);
        })
    });
}

#[test]
fn floats_incl_nan_and_infinities() {
    let (_server, client) = client();
    guard("floats", move || {
        block_on(async {
            let f8 = [
                0.0f64,
                -0.0,
                0.1,
                -1.5,
                f64::MIN,
                f64::MAX,
                f64::MIN_POSITIVE,
                5e-324,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::EPSILON,
            ];
            for v in f8 {
                let back: f64 = echo(&client, "float8", &v).await;
                assert_eq!(back.to_bits(), v.to_bits(), "float8 {v:e}");
            }
            let back: f64 = echo(&client, "float8", &f64::NAN).await;
            assert!(back.is_nan());
            let f4 = [
                0.0f32,
                -0.0,
                0.1,
                f32::MIN,
                f32::MAX,
                f32::MIN_POSITIVE,
                1e-45,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ];
            for v in f4 {
                let back: f32 = echo(&client, "float4", &v).await;
                assert_eq!(back.to_bits(), v.to_bits(), "float4 {v:e}");
            }
            let back: f32 = echo(&client, "float4", &f32::NAN).await;
            assert!(back.is_nan());
            assert_eq!(None::<f64>, echo(&client, "float8", &None::<f64>).await);
            assert_eq!(None::<f32>, echo(&client, "float4", &None::<f32>).await);

            assert_eq!(as_text(&client, "float8", &f64::NAN).await, "NaN");
            assert_eq!(as_text(&client, "float8", &f64::INFINITY).await, "Infinity");
            assert_eq!(
                as_text(&client, "float4", &f32::NEG_INFINITY).await,
                "-Infinity"
            );
            assert_eq!(as_text(&client, "float8", &-1.5f64).await, "-1.5");
            assert_eq!(as_text(&client, "float4", &0.25f32).await, "0.25");

            assert!(select::<f64>(&client, "'NaN'::float8").await.is_nan());
            assert!(select::<f32>(&client, "'NaN'::float4").await.is_nan());
            assert_eq!(
                select::<f64>(&client, "'Infinity'::float8").await,
                f64::INFINITY
            );
            assert_eq!(
                select::<f32>(&client, "'-Infinity'::float4").await,
                f32::NEG_INFINITY
            );
            assert_eq!(select::<f64>(&client, "0.1::float8").await, 0.1);
            assert_eq!(select::<f32>(&client, "0.1::float4").await, 0.1f32);
            assert_eq!(
                select::<f64>(&client, "'-0'::float8").await.to_bits(),
                (-0.0f64).to_bits()
            );
            assert_eq!(
                select::<f64>(&client, "1.7976931348623157e308::float8").await,
                f64::MAX
            );
        })
    });
}

#[test]
fn text_types() {
    let (_server, client) = client();
    guard("text_types", move || {
        block_on(async {
            let long: String = "é✓😀abc".repeat(20_000);
            let samples = [
                "",
                "plain",
                "hé ✓ 😀 \u{10FFFF}",
                "tab\tnew\nline 'q' \"d\" \\",
            ];
            for ty in ["text", "varchar"] {
                for s in samples {
                    roundtrip(&client, ty, s.to_owned()).await;
                    assert_eq!(as_text(&client, ty, &s).await, s);
                }
                roundtrip(&client, ty, long.clone()).await;
            }
            // name: up to 63 bytes.
            for s in ["", "pg_class", "ünïcödé", &"n".repeat(63)] {
                roundtrip(&client, "name", s.to_owned()).await;
            }
            assert_eq!(
                select::<String>(&client, "'pg_catalog'::name").await,
                "pg_catalog"
            );
            // bpchar without a length keeps the value; char(n) pads.
            for s in ["", "ab", "  padded  ", "ü"] {
                roundtrip(&client, "bpchar", s.to_owned()).await;
            }
            assert_eq!(select::<String>(&client, "'ab'::char(4)").await, "ab  ");
            assert_eq!(
                select::<String>(&client, "'x'::varchar(10)").await,
                "x".to_owned()
            );
            assert_eq!(select::<String>(&client, "repeat('ab', 3)").await, "ababab");
            // Borrowed reads.
            let row = one(&client, "SELECT $1::text", &[&"borrowed ✓"]).await;
            assert_eq!(row.get::<&str>(0).unwrap(), "borrowed ✓");
            // Every text type reads into String; a NULL into String is a type error.
            let row = one(&client, "SELECT NULL::text, NULL::varchar", &[]).await;
            assert!(row.get::<String>(0).unwrap_err().is_type());
            assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
            // A NUL byte is refused by the server (22021); the connection stays usable.
            let e = client
                .query("SELECT $1::text", &[&"a\0b"])
                .await
                .unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("22021"), "{e}");
            assert_eq!(
                echo(&client, "text", &"after".to_owned()).await,
                "after".to_owned()
            );
        })
    });
}

#[test]
fn bytea_incl_empty_and_every_byte() {
    let (_server, client) = client();
    guard("bytea", move || {
        block_on(async {
            let every: Vec<u8> = (0..=255u8).collect();
            let mut reversed = every.clone();
            reversed.reverse();
            let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
            for v in [Vec::new(), vec![0u8], every.clone(), reversed, big] {
                roundtrip(&client, "bytea", v).await;
            }
            let hex: String = every.iter().map(|b| format!("{b:02x}")).collect();
            let row = one(
                &client,
                "SELECT encode($1::bytea, 'hex'), length($1::bytea)",
                &[&every],
            )
            .await;
            assert_eq!(get::<String>(&row, 0, "hex"), hex);
            assert_eq!(get::<i32>(&row, 1, "length"), 256);
            assert_eq!(
                select::<Vec<u8>>(&client, &format!("'\\x{hex}'::bytea")).await,
                every
            );
            assert_eq!(
                select::<Vec<u8>>(&client, "''::bytea").await,
                Vec::<u8>::new()
            );
            let row = one(&client, "SELECT '\\xdeadbeef'::bytea", &[]).await;
            assert_eq!(row.get::<&[u8]>(0).unwrap(), &[0xde, 0xad, 0xbe, 0xef]);
            let bytes: bytes::Bytes = echo(
                &client,
                "bytea",
                &bytes::Bytes::from_static(b"\x00\xffbytes"),
            )
            .await;
            assert_eq!(&bytes[..], b"\x00\xffbytes");
        })
    });
}

#[test]
fn uuid_and_json() {
    let (_server, client) = client();
    guard("uuid_and_json", move || {
        block_on(async {
            let u = Uuid([
                0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
                0x0a, 0x11,
            ]);
            for v in [u, Uuid([0; 16]), Uuid([0xff; 16])] {
                roundtrip(&client, "uuid", v).await;
                assert_eq!(as_text(&client, "uuid", &v).await, v.to_string());
            }
            assert_eq!(
                select::<Uuid>(&client, "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid").await,
                u
            );
            assert_eq!(u.to_string(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");

            // json keeps the text as sent; jsonb normalises (this input is already normal).
            let docs = [
                r#"{"a": [1, 2.5, null, true], "b": {"c": "ü ✓ \"q\""}}"#,
                "[]",
                "null",
                "\"just a string\"",
                "-12.5e3",
            ];
            for d in docs {
                roundtrip(&client, "json", Json(d.to_owned())).await;
            }
            for d in &docs[..4] {
                roundtrip(&client, "jsonb", Json((*d).to_owned())).await;
            }
            let weird = Json("{ \"b\" : 1,\n \"a\":2 }".to_owned());
            assert_eq!(echo(&client, "json", &weird).await, weird);
            assert_eq!(
                echo(&client, "jsonb", &weird).await,
                Json(r#"{"a": 2, "b": 1}"#.to_owned())
            );
            assert_eq!(
                select::<Json>(&client, r#"'{"z":1,"y":[1,2]}'::jsonb"#).await,
                Json(r#"{"y": [1, 2], "z": 1}"#.to_owned())
            );
            assert_eq!(
                select::<Json>(&client, r#"json_build_object('k', 1)"#).await,
                Json(r#"{"k" : 1}"#.to_owned())
            );
            // The server parsed what we sent.
            let row = one(
                &client,
                "SELECT $1::jsonb ->> 'k', $2::json -> 'n'",
                &[
                    &Json(r#"{"k": "v✓"}"#.to_owned()),
                    &Json(r#"{"n": [1]}"#.to_owned()),
                ],
            )
            .await;
            assert_eq!(get::<String>(&row, 0, "->>"), "v✓");
            assert_eq!(get::<Json>(&row, 1, "->"), Json("[1]".to_owned()));
            // Invalid JSON is the server's error, not a panic; the connection stays usable.
            let e = client
                .query("SELECT $1::jsonb", &[&Json("{nope".to_owned())])
                .await
                .unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("22P02"), "{e}");
            roundtrip(&client, "uuid", u).await;
        })
    });
}

#[test]
fn numeric_exact() {
    let (_server, client) = client();
    guard("numeric", move || {
        block_on(async {
            let values = [
                "12345678901234567890.000000001",
                "-0.5",
                "NaN",
                "Infinity",
                "-Infinity",
                "0",
                "0.000",
                "1",
                "-1",
                "10000",
                "100000000",
                "0.0001",
                "0.00000001",
                "-123.4500",
                "9999.9999",
                "1.1",
                "123456789012345678901234567890123456789012345678901234567890.123456789",
                "-0.000000000000000000000000000001",
            ];
            for s in values {
                let n = Numeric::parse(s).unwrap();
                roundtrip(&client, "numeric", n.clone()).await;
                assert_eq!(as_text(&client, "numeric", &n).await, s, "numeric::text");
                assert_eq!(
                    select::<Numeric>(&client, &format!("'{s}'::numeric")).await,
                    n,
                    "server-made {s}"
                );
            }
            // The server computes with what we sent.
            let row = one(
                &client,
                "SELECT $1::numeric + $2::numeric, $1::numeric = '12345678901234567890.000000001'::numeric",
                &[
                    &Numeric::parse("12345678901234567890.000000001").unwrap(),
                    &Numeric::parse("-0.000000001").unwrap(),
                ],
            )
            .await;
            assert_eq!(
                get::<Numeric>(&row, 0, "sum").as_str(),
                "12345678901234567890.000000000"
            );
            assert!(get::<bool>(&row, 1, "equal"));
            assert_eq!(
                select::<Numeric>(&client, "1::numeric / 3").await.as_str(),
                "0.33333333333333333333"
            );
            assert_eq!(
                select::<Numeric>(&client, "round(2.5::numeric, 0)")
                    .await
                    .as_str(),
                "3"
            );
            assert_eq!(
                select::<Numeric>(&client, "1e-20::numeric").await.as_str(),
                "0.00000000000000000001"
            );
            assert_eq!(
                select::<Numeric>(&client, "(-5)::numeric(10,3)")
                    .await
                    .as_str(),
                "-5.000"
            );
        })
    });
}

fn ts_parts(
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    microsecond: u32,
) -> DateTimeParts {
    DateTimeParts {
        year,
        month,
        day,
        hour,
        minute,
        second,
        microsecond,
    }
}

#[test]
fn dates_times_timestamps_intervals() {
    let (_server, client) = client();
    guard("datetime", move || {
        block_on(async {
            // date: pre-2000, year 1, BC, leap days, the far end, the infinities.
            let dates = [
                ((1969, 12, 31), "1969-12-31"),
                ((1970, 1, 1), "1970-01-01"),
                ((1999, 12, 31), "1999-12-31"),
                ((2000, 1, 1), "2000-01-01"),
                ((2000, 2, 29), "2000-02-29"),
                ((2024, 2, 29), "2024-02-29"),
                ((1900, 3, 1), "1900-03-01"),
                ((1, 1, 1), "0001-01-01"),
                ((0, 12, 31), "0001-12-31 BC"),
                ((-4712, 1, 1), "4713-01-01 BC"),
                ((5_874_897, 12, 31), "5874897-12-31"),
            ];
            for ((y, m, d), text) in dates {
                let date = Date::from_ymd(y, m, d).unwrap();
                roundtrip(&client, "date", date).await;
                assert_eq!(as_text(&client, "date", &date).await, text, "{y}-{m}-{d}");
                let made = select::<Date>(&client, &format!("'{text}'::date")).await;
                assert_eq!(made, date, "server-made {text}");
                assert_eq!(made.to_ymd(), Some((y, m, d)));
            }
            assert_eq!(Date::from_ymd(1969, 12, 31), Some(Date::Days(-10958)));
            for (date, text) in [
                (Date::PosInfinity, "infinity"),
                (Date::NegInfinity, "-infinity"),
            ] {
                roundtrip(&client, "date", date).await;
                assert_eq!(as_text(&client, "date", &date).await, text);
                assert_eq!(
                    select::<Date>(&client, &format!("'{text}'::date")).await,
                    date
                );
            }

            // time.
            for ((h, m, s, us), text) in [
                ((0, 0, 0, 0), "00:00:00"),
                ((13, 14, 15, 161_718), "13:14:15.161718"),
                ((23, 59, 59, 999_999), "23:59:59.999999"),
                ((24, 0, 0, 0), "24:00:00"),
            ] {
                let t = Time::from_hms_micro(h, m, s, us).unwrap();
                roundtrip(&client, "time", t).await;
                assert_eq!(as_text(&client, "time", &t).await, text);
                assert_eq!(select::<Time>(&client, &format!("'{text}'::time")).await, t);
            }

            // timestamp: pre-1970 and pre-2000 (negative counts, floor division), year 1,
            // BC, both ends, the infinities.
            let stamps = [
                (
                    ts_parts(1969, 12, 31, 23, 59, 59, 999_999),
                    "1969-12-31 23:59:59.999999",
                ),
                (ts_parts(1970, 1, 1, 0, 0, 0, 0), "1970-01-01 00:00:00"),
                (
                    ts_parts(1999, 12, 31, 23, 59, 59, 500_000),
                    "1999-12-31 23:59:59.5",
                ),
                (
                    ts_parts(2000, 1, 1, 0, 0, 0, 1),
                    "2000-01-01 00:00:00.000001",
                ),
                (ts_parts(2024, 2, 29, 12, 30, 0, 0), "2024-02-29 12:30:00"),
                (ts_parts(1, 1, 1, 0, 0, 0, 0), "0001-01-01 00:00:00"),
                (
                    ts_parts(0, 6, 15, 6, 7, 8, 9),
                    "0001-06-15 06:07:08.000009 BC",
                ),
                (ts_parts(-4712, 1, 1, 0, 0, 0, 0), "4713-01-01 00:00:00 BC"),
                (
                    ts_parts(294_276, 12, 31, 23, 59, 59, 999_999),
                    "294276-12-31 23:59:59.999999",
                ),
            ];
            for (p, text) in stamps {
                let ts = Timestamp::from_parts(p).unwrap();
                roundtrip(&client, "timestamp", ts).await;
                assert_eq!(as_text(&client, "timestamp", &ts).await, text);
                let made = select::<Timestamp>(&client, &format!("'{text}'::timestamp")).await;
                assert_eq!(made, ts, "server-made {text}");
                assert_eq!(made.to_parts(), Some(p));

                let tz = TimestampTz::from_parts(p).unwrap();
                roundtrip(&client, "timestamptz", tz).await;
                // Session TimeZone is UTC (startup parameter).
                assert_eq!(
                    as_text(&client, "timestamptz", &tz).await,
                    format!("{text}+00").replace(" BC+00", "+00 BC")
                );
                let made = select::<TimestampTz>(
                    &client,
                    &format!("'{text}'::timestamp AT TIME ZONE 'UTC'"),
                )
                .await;
                assert_eq!(made, tz, "server-made {text} UTC");
            }
            for (ts, tz, text) in [
                (Timestamp::PosInfinity, TimestampTz::PosInfinity, "infinity"),
                (
                    Timestamp::NegInfinity,
                    TimestampTz::NegInfinity,
                    "-infinity",
                ),
            ] {
                roundtrip(&client, "timestamp", ts).await;
                roundtrip(&client, "timestamptz", tz).await;
                assert_eq!(as_text(&client, "timestamp", &ts).await, text);
                assert_eq!(as_text(&client, "timestamptz", &tz).await, text);
                assert_eq!(
                    select::<Timestamp>(&client, &format!("'{text}'::timestamp")).await,
                    ts
                );
                assert_eq!(
                    select::<TimestampTz>(&client, &format!("'{text}'::timestamptz")).await,
                    tz
                );
            }
            // A zone offset in the literal: the instant, not the wall time.
            assert_eq!(
                select::<TimestampTz>(&client, "'1969-12-31 23:59:59.5-01:00'::timestamptz")
                    .await
                    .to_unix_micros(),
                Some(3_599_500_000)
            );
            let before_epoch = UNIX_EPOCH - Duration::from_micros(1_500_001);
            let tz = TimestampTz::from_system_time(before_epoch).unwrap();
            assert_eq!(tz.to_unix_micros(), Some(-1_500_001));
            assert_eq!(
                echo(&client, "timestamptz", &tz).await.to_system_time(),
                Some(before_epoch)
            );
            assert_eq!(
                as_text(&client, "timestamptz", &tz).await,
                "1969-12-31 23:59:58.499999+00"
            );
            let row = one(
                &client,
                "SELECT extract(epoch FROM $1::timestamptz)::float8",
                &[&TimestampTz::from_unix_micros(-86_400_000_000).unwrap()],
            )
            .await;
            assert_eq!(get::<f64>(&row, 0, "epoch"), -86_400.0);

            // interval: months, days and microseconds stay separate, negative parts too.
            for (iv, text) in [
                (Interval::default(), "00:00:00"),
                (
                    Interval {
                        months: 14,
                        days: -3,
                        microseconds: -1_500_000,
                    },
                    "1 year 2 mons -3 days -00:00:01.5",
                ),
                (
                    Interval {
                        months: -1,
                        days: 0,
                        microseconds: 86_400_000_001,
                    },
                    "-1 mons +24:00:00.000001",
                ),
                (
                    Interval {
                        months: i32::MAX,
                        days: i32::MIN,
                        microseconds: i64::MIN + 1,
                    },
                    "",
                ),
            ] {
                roundtrip(&client, "interval", iv).await;
                if !text.is_empty() {
                    assert_eq!(as_text(&client, "interval", &iv).await, text);
                    assert_eq!(
                        select::<Interval>(&client, &format!("'{text}'::interval")).await,
                        iv
                    );
                }
            }
            assert_eq!(
                select::<Interval>(&client, "'1 year 2 months -3 days -1.5 seconds'::interval")
                    .await,
                Interval {
                    months: 14,
                    days: -3,
                    microseconds: -1_500_000
                }
            );
            assert_eq!(
                select::<Interval>(
                    &client,
                    "'2000-01-02'::timestamp - '1999-12-31 12:00'::timestamp"
                )
                .await,
                Interval {
                    months: 0,
                    days: 1,
                    microseconds: 12 * 3_600_000_000
                }
            );
        })
    });
}

#[test]
fn arrays_one_and_two_dimensional() {
    let (_server, client) = client();
    guard("arrays", move || {
        block_on(async {
            roundtrip(&client, "int4[]", vec![1i32, -2, i32::MAX, i32::MIN]).await;
            roundtrip(&client, "int4[]", Vec::<i32>::new()).await;
            roundtrip(&client, "int8[]", vec![i64::MIN, 0, i64::MAX]).await;
            roundtrip(&client, "int2[]", vec![i16::MIN, 7]).await;
            roundtrip(&client, "bool[]", vec![true, false, true]).await;
            roundtrip(
                &client,
                "text[]",
                vec![
                    Some("a".to_owned()),
                    None,
                    Some(String::new()),
                    Some("ü,{}\"".to_owned()),
                ],
            )
            .await;
            roundtrip(&client, "varchar[]", vec!["x".to_owned(), "y".to_owned()]).await;
            roundtrip(
                &client,
                "bytea[]",
                vec![vec![], vec![0u8, 255], (0..=255u8).collect()],
            )
            .await;
            roundtrip(&client, "uuid[]", vec![Uuid([1; 16]), Uuid([2; 16])]).await;
            roundtrip(
                &client,
                "numeric[]",
                vec![
                    Numeric::parse("1.50").unwrap(),
                    Numeric::parse("NaN").unwrap(),
                    Numeric::parse("-12345678901234567890.1").unwrap(),
                ],
            )
            .await;
            roundtrip(
                &client,
                "date[]",
                vec![
                    Some(Date::NegInfinity),
                    Date::from_ymd(1969, 12, 31),
                    None,
                    Some(Date::PosInfinity),
                ],
            )
            .await;
            roundtrip(
                &client,
                "timestamptz[]",
                vec![
                    TimestampTz::NegInfinity,
                    TimestampTz::from_unix_micros(-1).unwrap(),
                    TimestampTz::PosInfinity,
                ],
            )
            .await;
            roundtrip(
                &client,
                "timestamp[]",
                vec![Timestamp::from_parts(ts_parts(1, 1, 1, 0, 0, 0, 0)).unwrap()],
            )
            .await;
            roundtrip(
                &client,
                "time[]",
                vec![Time::from_hms_micro(1, 2, 3, 4).unwrap()],
            )
            .await;
            roundtrip(
                &client,
                "interval[]",
                vec![Interval {
                    months: 1,
                    days: 2,
                    microseconds: 3,
                }],
            )
            .await;
            roundtrip(
                &client,
                "jsonb[]",
                vec![Json("{\"a\": 1}".to_owned()), Json("[]".to_owned())],
            )
            .await;
            roundtrip(&client, "json[]", vec![Json("{ \"a\":1 }".to_owned())]).await;
            let floats: Vec<f64> = echo(
                &client,
                "float8[]",
                &vec![f64::NAN, f64::INFINITY, -0.0, f64::NEG_INFINITY],
            )
            .await;
            assert!(floats[0].is_nan());
            assert_eq!(floats[1], f64::INFINITY);
            assert_eq!(floats[2].to_bits(), (-0.0f64).to_bits());
            assert_eq!(floats[3], f64::NEG_INFINITY);
            let f4: Vec<f32> = echo(&client, "float4[]", &vec![1.5f32, f32::NAN]).await;
            assert_eq!(f4[0], 1.5);
            assert!(f4[1].is_nan());

            // What the server made of them.
            assert_eq!(
                as_text(&client, "text[]", &vec![Some("a"), None, Some("")]).await,
                r#"{a,NULL,""}"#
            );
            assert_eq!(as_text(&client, "int4[]", &Vec::<i32>::new()).await, "{}");
            let row = one(
                &client,
                "SELECT cardinality($1::int4[]), array_length($2::text[], 1)",
                &[&Vec::<i32>::new(), &vec![Some("x"), None]],
            )
            .await;
            assert_eq!(get::<i32>(&row, 0, "cardinality"), 0);
            assert_eq!(get::<i32>(&row, 1, "array_length"), 2);

            // Server-made arrays.
            assert_eq!(
                select::<Vec<Option<String>>>(&client, "ARRAY['a', NULL, 'c']").await,
                vec![Some("a".to_owned()), None, Some("c".to_owned())]
            );
            assert_eq!(
                select::<Vec<i32>>(&client, "'{}'::int4[]").await,
                Vec::<i32>::new()
            );
            assert_eq!(
                select::<Vec<i64>>(&client, "ARRAY[1, 2, 3]::int8[]").await,
                vec![1, 2, 3]
            );
            // NULL elements cannot go into a non-Option element type.
            let row = one(&client, "SELECT ARRAY['a', NULL]::text[]", &[]).await;
            assert!(row.get::<Vec<String>>(0).unwrap_err().is_type());

            // Two dimensions, as Array<T>; a 2-D array does not read into Vec<T>.
            let dims = vec![
                Dimension {
                    len: 2,
                    lower_bound: 1,
                },
                Dimension {
                    len: 3,
                    lower_bound: 1,
                },
            ];
            let two_d = Array::new(dims.clone(), vec![1i32, 2, 3, 4, 5, 6]).unwrap();
            roundtrip(&client, "int4[]", two_d.clone()).await;
            assert_eq!(
                as_text(&client, "int4[]", &two_d).await,
                "{{1,2,3},{4,5,6}}"
            );
            let made = select::<Array<i32>>(&client, "ARRAY[[1, 2, 3], [4, 5, 6]]").await;
            assert_eq!(made, two_d);
            assert_eq!(made.dimensions(), &dims[..]);
            let row = one(&client, "SELECT ARRAY[[1, 2], [3, 4]]", &[]).await;
            assert!(row.get::<Vec<i32>>(0).unwrap_err().is_type());
            let text_2d = Array::new(
                vec![
                    Dimension {
                        len: 2,
                        lower_bound: 1,
                    },
                    Dimension {
                        len: 2,
                        lower_bound: 1,
                    },
                ],
                vec![Some("a".to_owned()), None, Some("c".to_owned()), None],
            )
            .unwrap();
            roundtrip(&client, "text[]", text_2d.clone()).await;
            assert_eq!(
                as_text(&client, "text[]", &text_2d).await,
                "{{a,NULL},{c,NULL}}"
            );
            // Lower bounds other than 1.
            let shifted = select::<Array<i32>>(&client, "'[0:1]={7,8}'::int4[]").await;
            assert_eq!(
                shifted.dimensions(),
                &[Dimension {
                    len: 2,
                    lower_bound: 0
                }]
            );
            assert_eq!(shifted.elements(), &[7, 8]);
            roundtrip(&client, "int4[]", shifted).await;
            // Empty, through Array.
            let empty = select::<Array<i32>>(&client, "'{}'::int4[]").await;
            assert!(empty.dimensions().is_empty() && empty.elements().is_empty());
        })
    });
}

#[test]
fn null_for_every_type() {
    let (_server, client) = client();
    guard("nulls", move || {
        block_on(async {
            async fn null<T>(client: &Client, ty: &str)
            where
                T: ToSql + Sync + for<'a> FromSql<'a> + PartialEq + Debug,
            {
                assert_eq!(echo(client, ty, &None::<T>).await, None, "{ty}: sent NULL");
                assert_eq!(
                    select::<Option<T>>(client, &format!("NULL::{ty}")).await,
                    None,
                    "{ty}: server NULL"
                );
                let row = one(client, &format!("SELECT NULL::{ty}"), &[]).await;
                assert!(
                    row.get::<T>(0).unwrap_err().is_type(),
                    "{ty}: NULL into a non-Option"
                );
                let row = one(client, &format!("SELECT $1::{ty} IS NULL"), &[&None::<T>]).await;
                assert!(get::<bool>(&row, 0, ty), "{ty}: the server saw a NULL");
            }
            null::<bool>(&client, "bool").await;
            null::<i8>(&client, "\"char\"").await;
            null::<i16>(&client, "int2").await;
            null::<i32>(&client, "int4").await;
            null::<i64>(&client, "int8").await;
            null::<u32>(&client, "oid").await;
            null::<f32>(&client, "float4").await;
            null::<f64>(&client, "float8").await;
            null::<String>(&client, "text").await;
            null::<String>(&client, "varchar").await;
            null::<String>(&client, "name").await;
            null::<String>(&client, "bpchar").await;
            null::<Vec<u8>>(&client, "bytea").await;
            null::<Uuid>(&client, "uuid").await;
            null::<Json>(&client, "json").await;
            null::<Json>(&client, "jsonb").await;
            null::<Numeric>(&client, "numeric").await;
            null::<Date>(&client, "date").await;
            null::<Time>(&client, "time").await;
            null::<Timestamp>(&client, "timestamp").await;
            null::<TimestampTz>(&client, "timestamptz").await;
            null::<Interval>(&client, "interval").await;
            null::<Vec<i32>>(&client, "int4[]").await;
            null::<Vec<Option<String>>>(&client, "text[]").await;
            null::<Array<i64>>(&client, "int8[]").await;
        })
    });
}

#[test]
fn many_types_in_one_row_on_a_worker() {
    let (_server, client) = client();
    // On a worker (the local path) rather than through the mailbox.
    on_worker(0, move || async move {
        let params = (
            -7i16,
            i64::MIN,
            "✓".to_owned(),
            vec![0u8, 1, 2],
            Uuid([9; 16]),
            Numeric::parse("-0.5").unwrap(),
            Date::from_ymd(1969, 12, 31).unwrap(),
            TimestampTz::PosInfinity,
            vec![Some(1i32), None],
        );
        let row = one(
            &client,
            "SELECT $1::int2, $2::int8, $3::text, $4::bytea, $5::uuid, $6::numeric, $7::date, \
             $8::timestamptz, $9::int4[], NULL::text AS n, 'x'::text AS x",
            &[
                &params.0, &params.1, &params.2, &params.3, &params.4, &params.5, &params.6,
                &params.7, &params.8,
            ],
        )
        .await;
        assert_eq!(row.len(), 11);
        assert_eq!(get::<i16>(&row, 0, "int2"), params.0);
        assert_eq!(get::<i64>(&row, 1, "int8"), params.1);
        assert_eq!(get::<String>(&row, 2, "text"), params.2);
        assert_eq!(get::<Vec<u8>>(&row, 3, "bytea"), params.3);
        assert_eq!(get::<Uuid>(&row, 4, "uuid"), params.4);
        assert_eq!(get::<Numeric>(&row, 5, "numeric"), params.5);
        assert_eq!(get::<Date>(&row, 6, "date"), params.6);
        assert_eq!(get::<TimestampTz>(&row, 7, "timestamptz"), params.7);
        assert_eq!(get::<Vec<Option<i32>>>(&row, 8, "int4[]"), params.8);
        assert_eq!(row.get::<Option<String>>("n").unwrap(), None);
        assert_eq!(row.get::<String>("x").unwrap(), "x");
        // A Rust type that does not match the column is a type error, not a panic.
        assert!(row.get::<i32>(0).unwrap_err().is_type());
        assert!(row.get::<String>(4).unwrap_err().is_type());
        assert!(row.get::<Date>(7).unwrap_err().is_type());
        // A parameter of the wrong Rust type is refused before anything is sent.
        let e = client
            .query("SELECT $1::uuid", &[&"not a uuid value"])
            .await
            .unwrap_err();
        assert!(e.is_type(), "{e}");
    });
}
