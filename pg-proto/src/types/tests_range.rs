//! Range codecs without a server: exact bytes for every bound shape, every malformed input a
//! typed error (never a panic), user-defined range types and domains over ranges.

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use proptest::prelude::*;

use super::tests_support::ty::*;
use super::tests_support::{dec, enc, enc_err};
use super::*;

const INT4R: &Type = &Type::INT4_RANGE;
const INT8R: &Type = &Type::INT8_RANGE;

/// A present bound's wire form: length, then an `int4`.
fn b4(v: i32) -> Vec<u8> {
    let mut out = 4i32.to_be_bytes().to_vec();
    out.extend_from_slice(&v.to_be_bytes());
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn dec4(raw: &[u8]) -> Result<Range<i32>, TypeError> {
    dec::<Range<i32>>(INT4R, raw)
}

#[test]
fn exact_bytes_of_every_bound_shape() {
    let cases: Vec<(Range<i32>, Vec<u8>)> = vec![
        (Range::Empty, vec![0x01]),
        (Range::from(1..4), cat(&[&[0x02], &b4(1), &b4(4)])),
        (Range::from(1..=3), cat(&[&[0x06], &b4(1), &b4(3)])),
        (
            Range::new(Excluded(1), Excluded(3)),
            cat(&[&[0x00], &b4(1), &b4(3)]),
        ),
        (
            Range::new(Excluded(-1), Included(3)),
            cat(&[&[0x04], &b4(-1), &b4(3)]),
        ),
        (Range::from(5..), cat(&[&[0x12], &b4(5)])),
        (Range::from(..7), cat(&[&[0x08], &b4(7)])),
        (Range::from(..=7), cat(&[&[0x0C], &b4(7)])),
        (Range::from(..), vec![0x18]),
    ];
    for (range, bytes) in cases {
        assert_eq!(enc(&range, INT4R), bytes, "{range:?}");
        assert_eq!(dec4(&bytes).unwrap(), range, "{bytes:?}");
    }
}

#[test]
fn elements_use_their_own_codecs() {
    let r = Range::from(Numeric::parse("1.5").unwrap()..Numeric::parse("2").unwrap());
    assert_eq!(
        dec::<Range<Numeric>>(&Type::NUM_RANGE, &enc(&r, &Type::NUM_RANGE)).unwrap(),
        r
    );
    let r = Range::from(Date::Days(0)..Date::PosInfinity);
    let bytes = enc(&r, &Type::DATE_RANGE);
    assert_eq!(bytes, cat(&[&[0x02], &b4(0), &b4(i32::MAX)]));
    assert_eq!(dec::<Range<Date>>(&Type::DATE_RANGE, &bytes).unwrap(), r);
    let r = Range::new(Excluded(Timestamp::Micros(-1)), Unbounded);
    assert_eq!(
        dec::<Range<Timestamp>>(&Type::TS_RANGE, &enc(&r, &Type::TS_RANGE)).unwrap(),
        r
    );
    let r = Range::new(Unbounded, Included(TimestampTz::Micros(7)));
    let bytes = enc(&r, &Type::TSTZ_RANGE);
    assert_eq!(
        bytes,
        cat(&[&[0x0C], &8i32.to_be_bytes(), &7i64.to_be_bytes()])
    );
    assert_eq!(
        dec::<Range<TimestampTz>>(&Type::TSTZ_RANGE, &bytes).unwrap(),
        r
    );
    let r = Range::from(i64::MIN..i64::MAX);
    assert_eq!(dec::<Range<i64>>(INT8R, &enc(&r, INT8R)).unwrap(), r);
}

#[test]
fn accepts_only_ranges_of_an_accepted_element() {
    assert!(<Range<i32> as ToSql>::accepts(INT4R));
    assert!(<Range<i32> as FromSql>::accepts(INT4R));
    assert!(!<Range<i32> as FromSql>::accepts(INT8R));
    assert!(!<Range<i32> as FromSql>::accepts(INT4));
    assert!(!<Range<i32> as FromSql>::accepts(&Type::INT4_RANGE_ARRAY));
    assert!(!<i32 as FromSql>::accepts(INT4R));
    assert!(matches!(
        dec::<Range<i64>>(INT4R, &[0x01]),
        Err(TypeError::WrongType { .. })
    ));
    assert!(matches!(
        enc_err(&Range::from(1i64..2), INT4R),
        TypeError::WrongType { .. }
    ));
    // Arrays of ranges go through the array codec.
    let v = vec![Range::from(1..2), Range::Empty];
    let bytes = enc(&v, &Type::INT4_RANGE_ARRAY);
    assert_eq!(
        dec::<Vec<Range<i32>>>(&Type::INT4_RANGE_ARRAY, &bytes).unwrap(),
        v
    );
}

#[test]
fn user_defined_ranges_and_domains() {
    // `CREATE TYPE floatrange AS RANGE (subtype = float8)`, as a driver describes it.
    let floatrange = Type::new(
        "floatrange".into(),
        90_001,
        Kind::Range(Type::FLOAT8),
        "public".into(),
    );
    let r = Range::new(Included(0.5f64), Excluded(1.5));
    assert_eq!(
        dec::<Range<f64>>(&floatrange, &enc(&r, &floatrange)).unwrap(),
        r
    );
    // A domain over int4range travels as int4range.
    let dom = Type::new(
        "small_span".into(),
        90_002,
        Kind::Domain(Type::INT4_RANGE),
        "public".into(),
    );
    assert_eq!(
        dec::<Range<i32>>(&dom, &enc(&Range::from(1..2), &dom)).unwrap(),
        Range::from(1..2)
    );
    // A range over a domain over int4.
    let posint = Type::new(
        "posint".into(),
        90_003,
        Kind::Domain(Type::INT4),
        "public".into(),
    );
    let posrange = Type::new(
        "posrange".into(),
        90_004,
        Kind::Range(posint),
        "public".into(),
    );
    assert_eq!(
        dec::<Range<i32>>(&posrange, &enc(&Range::from(3..), &posrange)).unwrap(),
        Range::from(3..)
    );
}

#[test]
fn a_null_bound_is_refused_and_nothing_is_written() {
    let r: Range<Option<i32>> = Range::new(Included(None), Unbounded);
    assert!(matches!(enc_err(&r, INT4R), TypeError::Malformed(_)));
    let r: Range<Option<i32>> = Range::new(Included(Some(1)), Excluded(None));
    assert!(matches!(enc_err(&r, INT4R), TypeError::Malformed(_)));
}

#[test]
fn malformed_bytes_are_typed_errors() {
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("no flags byte", vec![]),
        ("unknown flag 0x20", vec![0x38]),
        ("unknown flag 0x40", vec![0x58]),
        ("empty with bounds", cat(&[&[0x03], &b4(1), &b4(2)])),
        ("empty with infinite bounds", vec![0x19]),
        ("infinite lower marked inclusive", cat(&[&[0x0A], &b4(1)])),
        ("infinite upper marked inclusive", cat(&[&[0x14], &b4(1)])),
        ("no bounds at all", vec![0x02]),
        ("upper bound missing", cat(&[&[0x02], &b4(1)])),
        ("truncated length", vec![0x12, 0, 0]),
        ("truncated element", vec![0x12, 0, 0, 0, 4, 0, 0]),
        ("NULL bound (-1)", cat(&[&[0x12], &(-1i32).to_be_bytes()])),
        (
            "negative length",
            cat(&[&[0x12], &i32::MIN.to_be_bytes(), &[0; 8]]),
        ),
        (
            "oversized length",
            cat(&[&[0x12], &i32::MAX.to_be_bytes(), &[0; 8]]),
        ),
        (
            "length past the end",
            cat(&[&[0x12], &5i32.to_be_bytes(), &[0; 4]]),
        ),
        ("trailing after empty", vec![0x01, 0]),
        ("trailing after unbounded", vec![0x18, 0, 0, 0, 0]),
        (
            "trailing after bounds",
            cat(&[&[0x02], &b4(1), &b4(2), &[0]]),
        ),
    ];
    for (what, raw) in malformed {
        match dec4(&raw) {
            Err(TypeError::Malformed(_)) => {}
            other => panic!("{what}: {raw:?} gave {other:?}"),
        }
    }
    // An element of the wrong size is the element codec's own error.
    let short = cat(&[&[0x12], &2i32.to_be_bytes(), &[0, 1]]);
    assert!(matches!(
        dec4(&short),
        Err(TypeError::InvalidLength { what: "int4", .. })
    ));
    // The GiST-internal "contains empty" marker says nothing about the value.
    assert_eq!(dec4(&[0x98]).unwrap(), Range::from(..));
}

#[test]
fn conversions_and_contains() {
    let r = Range::from(1..4);
    assert!(!r.contains(&0) && r.contains(&1) && r.contains(&3) && !r.contains(&4));
    let r = Range::from(1..=4);
    assert!(r.contains(&4) && !r.contains(&5));
    assert!(Range::<i32>::from(..).contains(&i32::MIN));
    assert!(!Range::<i32>::empty().contains(&0));
    assert!(Range::<i32>::empty().is_empty());
    assert_eq!(Range::<i32>::empty().lower(), None);
    let r = Range::new(Excluded(2), Unbounded);
    assert_eq!(r.lower(), Some(Excluded(&2)));
    assert_eq!(r.upper(), Some(Bound::Unbounded));
}

fn bound() -> impl Strategy<Value = Bound<i64>> {
    prop_oneof![
        any::<i64>().prop_map(Included),
        any::<i64>().prop_map(Excluded),
        Just(Unbounded),
    ]
}

proptest! {
    #[test]
    fn prop_ranges_round_trip(lower in bound(), upper in bound(), empty: bool) {
        let r = if empty { Range::Empty } else { Range::new(lower, upper) };
        prop_assert_eq!(dec::<Range<i64>>(INT8R, &enc(&r, INT8R)).unwrap(), r);
    }

    /// Whatever decodes re-encodes to the same bytes (the decoder accepts exactly one
    /// encoding per value, apart from the ignored GiST marker); nothing panics.
    #[test]
    fn prop_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..24)) {
        if let Ok(r) = dec4(&raw) {
            let mut want = raw.clone();
            want[0] &= !0x80;
            prop_assert_eq!(enc(&r, INT4R), want);
        }
        let _ = dec::<Range<Numeric>>(&Type::NUM_RANGE, &raw);
        let _ = dec::<Range<&str>>(&Type::new("textrange".into(), 1, Kind::Range(Type::TEXT), String::new()), &raw);
    }
}
