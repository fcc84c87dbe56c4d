//! Range types through a real server, in binary: each [`Range`] sent as `$1::<range type>`
//! comes back equal and the server reads it as meant (`::text`, `@>`); empty and unbounded
//! ranges; discrete ranges come back canonical (`[1,3]` as `[1,4)`); a table of every built-in
//! range type; arrays of ranges; a user-defined range type; and the errors (a range the server
//! refuses, a range read into the wrong element type).

use std::ops::Bound::{Excluded, Included, Unbounded};

use crate::support::types::{get, one, roundtrip, select, utc_client as client};
use crate::support::{block_on, guard};
use corelane_postgres::types::{Date, Numeric, Range, Timestamp, TimestampTz};

fn num(s: &str) -> Numeric {
    Numeric::parse(s).unwrap()
}

fn ymd(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).unwrap()
}

#[test]
fn int_ranges_every_bound_shape() {
    let (_server, client) = client();
    guard("int_ranges_every_bound_shape", move || {
        block_on(async {
            let cases: Vec<(Range<i32>, &str)> = vec![
                (Range::from(1..4), "[1,4)"),
                (Range::from(-5..-4), "[-5,-4)"),
                (Range::Empty, "empty"),
                (Range::from(5..), "[5,)"),
                (Range::new(Unbounded, Excluded(7)), "(,7)"),
                (Range::from(..), "(,)"),
                (Range::from(i32::MIN..i32::MAX), "[-2147483648,2147483647)"),
            ];
            for (r, text) in cases {
                assert_eq!(roundtrip(&client, "int4range", r).await, text);
            }
            let cases: Vec<(Range<i64>, &str)> = vec![
                (Range::from(i64::MIN..0), "[-9223372036854775808,0)"),
                (Range::Empty, "empty"),
                (Range::from(10..), "[10,)"),
                (Range::from(..), "(,)"),
            ];
            for (r, text) in cases {
                assert_eq!(roundtrip(&client, "int8range", r).await, text);
            }
        })
    });
}

#[test]
fn discrete_ranges_come_back_canonical() {
    let (_server, client) = client();
    guard("discrete_ranges_come_back_canonical", move || {
        block_on(async {
            // Literals the server canonicalizes.
            assert_eq!(
                select::<Range<i32>>(&client, "'[1,3]'::int4range").await,
                Range::from(1..4)
            );
            assert_eq!(
                select::<Range<i32>>(&client, "'(1,3]'::int4range").await,
                Range::from(2..4)
            );
            assert_eq!(
                select::<Range<i32>>(&client, "'(,3]'::int4range").await,
                Range::from(..4)
            );
            assert_eq!(
                select::<Range<i32>>(&client, "'[3,3)'::int4range").await,
                Range::Empty
            );
            assert_eq!(
                select::<Range<i64>>(&client, "'(0,)'::int8range").await,
                Range::from(1..)
            );
            assert_eq!(
                select::<Range<Date>>(&client, "'[2024-01-01,2024-01-31]'::daterange").await,
                Range::from(ymd(2024, 1, 1)..ymd(2024, 2, 1))
            );
            // Sent inclusive, read back canonical; the server saw the same set.
            let sql = "SELECT $1::int4range, $1::int4range = '[1,4)'::int4range";
            let row = one(&client, sql, &[&Range::from(1..=3)]).await;
            assert_eq!(get::<Range<i32>>(&row, 0, sql), Range::from(1..4));
            assert!(get::<bool>(&row, 1, sql));
            let row = one(
                &client,
                "SELECT $1::int4range",
                &[&Range::new(Excluded(4), Excluded(5))],
            )
            .await;
            assert_eq!(get::<Range<i32>>(&row, 0, "(4,5)"), Range::Empty);
            // `@>`: the server's reading of the bounds.
            let sql = "SELECT $1::int4range @> 3, $1::int4range @> 4, $2::int8range @> 9::int8";
            let row = one(
                &client,
                sql,
                &[&Range::from(1..=3), &Range::<i64>::from(..)],
            )
            .await;
            assert_eq!(
                (
                    get::<bool>(&row, 0, sql),
                    get::<bool>(&row, 1, sql),
                    get::<bool>(&row, 2, sql)
                ),
                (true, false, true)
            );
        })
    });
}

#[test]
fn continuous_and_time_ranges() {
    let (_server, client) = client();
    guard("continuous_and_time_ranges", move || {
        block_on(async {
            let r = Range::new(Excluded(num("1.50")), Included(num("2.25")));
            assert_eq!(roundtrip(&client, "numrange", r).await, "(1.50,2.25]");
            let r = Range::new(Included(num("-0.001")), Unbounded);
            assert_eq!(roundtrip(&client, "numrange", r).await, "[-0.001,)");
            assert_eq!(
                roundtrip(&client, "numrange", Range::<Numeric>::Empty).await,
                "empty"
            );
            // Not canonicalized: `numrange` is continuous.
            assert_eq!(
                select::<Range<Numeric>>(&client, "'[1,3]'::numrange").await,
                Range::from(num("1")..=num("3"))
            );

            let r = Range::from(ymd(2024, 2, 28)..ymd(2024, 3, 1));
            assert_eq!(
                roundtrip(&client, "daterange", r).await,
                "[2024-02-28,2024-03-01)"
            );
            // An `infinity` bound is a value, unlike an unbounded side.
            let r = Range::from(ymd(2024, 1, 1)..Date::PosInfinity);
            assert_eq!(
                roundtrip(&client, "daterange", r).await,
                "[2024-01-01,infinity)"
            );
            let r = Range::from(ymd(2024, 1, 1)..);
            assert_eq!(roundtrip(&client, "daterange", r).await, "[2024-01-01,)");

            let r = Range::new(
                Excluded(Timestamp::Micros(0)),
                Included(Timestamp::Micros(1_500_000)),
            );
            assert_eq!(
                roundtrip(&client, "tsrange", r).await,
                r#"("2000-01-01 00:00:00","2000-01-01 00:00:01.5"]"#
            );
            let r = Range::new(Unbounded, Excluded(TimestampTz::Micros(-1)));
            assert_eq!(
                roundtrip(&client, "tstzrange", r).await,
                r#"(,"1999-12-31 23:59:59.999999+00")"#
            );
            assert_eq!(
                roundtrip(&client, "tstzrange", Range::<TimestampTz>::Empty).await,
                "empty"
            );
            assert_eq!(
                select::<Range<TimestampTz>>(&client, "'[2000-01-01 01:00+01,)'::tstzrange").await,
                Range::from(TimestampTz::Micros(0)..)
            );
        })
    });
}

#[test]
fn a_table_of_every_range_type() {
    let (_server, client) = client();
    guard("a_table_of_every_range_type", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS range_table;
                     CREATE TABLE range_table (id int4 PRIMARY KEY, i4 int4range, i8 int8range,
                         n numrange, d daterange, ts tsrange, tz tstzrange)",
                )
                .await
                .unwrap();
            type Rows = (
                i32,
                Range<i32>,
                Range<i64>,
                Range<Numeric>,
                Range<Date>,
                Range<Timestamp>,
                Option<Range<TimestampTz>>,
            );
            let rows: Vec<Rows> = vec![
                (
                    1,
                    Range::from(1..10),
                    Range::from(-3..=3),
                    Range::from(num("0.5")..num("1")),
                    Range::from(ymd(2024, 1, 1)..ymd(2025, 1, 1)),
                    Range::from(Timestamp::Micros(0)..Timestamp::PosInfinity),
                    Some(Range::from(
                        TimestampTz::Micros(10)..=TimestampTz::Micros(20),
                    )),
                ),
                (
                    2,
                    Range::Empty,
                    Range::from(..),
                    Range::Empty,
                    Range::from(..ymd(2000, 1, 1)),
                    Range::Empty,
                    None,
                ),
            ];
            for r in &rows {
                client
                    .execute(
                        "INSERT INTO range_table VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[&r.0, &r.1, &r.2, &r.3, &r.4, &r.5, &r.6],
                    )
                    .await
                    .unwrap();
            }
            let back: Vec<Rows> = client
                .query("SELECT * FROM range_table ORDER BY id", &[])
                .await
                .unwrap()
                .iter()
                .map(|row| {
                    (
                        get(row, 0, "id"),
                        get(row, 1, "i4"),
                        get(row, 2, "i8"),
                        get(row, 3, "n"),
                        get(row, 4, "d"),
                        get(row, 5, "ts"),
                        get(row, 6, "tz"),
                    )
                })
                .collect();
            // `-3..=3` of int8range is stored canonical; everything else as sent.
            let mut want = rows.clone();
            want[0].2 = Range::from(-3..4);
            assert_eq!(back, want);
            // The server reads the stored ranges as meant.
            let hits: Vec<i32> = client
                .query(
                    "SELECT id FROM range_table WHERE i8 @> 3::int8 AND d @> $1::date ORDER BY id",
                    &[&ymd(1999, 6, 1)],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0).unwrap())
                .collect();
            assert_eq!(hits, [2]);
            // Arrays of ranges.
            let arr = vec![Range::from(1..2), Range::Empty, Range::from(5..)];
            assert_eq!(
                roundtrip(&client, "int4range[]", arr).await,
                r#"{"[1,2)",empty,"[5,)"}"#
            );
        })
    });
}

#[test]
fn a_user_defined_range_type() {
    let (_server, client) = client();
    guard("a_user_defined_range_type", move || {
        block_on(async {
            // Its own schema, so other tests' types on the shared server stay apart.
            client
                .batch_execute(
                    "DROP SCHEMA IF EXISTS range_udt CASCADE; CREATE SCHEMA range_udt;
                     CREATE TYPE range_udt.floatrange AS RANGE (subtype = float8)",
                )
                .await
                .unwrap();
            let r = Range::new(Included(0.5f64), Excluded(2.0));
            assert_eq!(
                roundtrip(&client, "range_udt.floatrange", r).await,
                "[0.5,2)"
            );
            assert_eq!(
                roundtrip(&client, "range_udt.floatrange", Range::<f64>::from(..)).await,
                "(,)"
            );
        })
    });
}

#[test]
fn refused_ranges_and_wrong_element_types_are_errors() {
    let (_server, client) = client();
    guard(
        "refused_ranges_and_wrong_element_types_are_errors",
        move || {
            block_on(async {
                // Lower above upper: the server refuses the value (data_exception class 22).
                let e = client
                    .query_one(
                        "SELECT $1::int4range",
                        &[&Range::new(Included(5), Excluded(1))],
                    )
                    .await
                    .unwrap_err();
                let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
                assert!(code.starts_with("22"), "{e} ({code})");
                // An int4range read as a range of int8 is a type error, not a misread.
                let row = one(&client, "SELECT '[1,2)'::int4range", &[]).await;
                let e = row.get::<Range<i64>>(0).unwrap_err();
                assert!(e.is_type(), "{e}");
                // An int8 sent as an int4range parameter is refused before it is sent.
                let e = client
                    .query_one("SELECT $1::int4range", &[&Range::from(1i64..2)])
                    .await
                    .unwrap_err();
                assert!(e.is_type(), "{e}");
                // The connection serves on.
                assert_eq!(
                    select::<Range<i32>>(&client, "int4range(1, 2)").await,
                    Range::from(1..2)
                );
            })
        },
    );
}
