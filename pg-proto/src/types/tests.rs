use bytes::BytesMut;
use proptest::prelude::*;

use super::tests_support::ty::*;
use super::*;

fn enc<T: ToSql>(v: &T, ty: &Type) -> Vec<u8> {
    let mut b = BytesMut::new();
    assert_eq!(v.to_sql_checked(ty, &mut b).unwrap(), IsNull::No);
    b.to_vec()
}

fn rt<T>(v: T, ty: &Type) -> T
where
    T: ToSql + for<'a> FromSql<'a>,
{
    let bytes = enc(&v, ty);
    T::from_sql_nullable(ty, Some(&bytes)).unwrap()
}

#[test]
fn scalars() {
    assert!(rt(true, BOOL));
    assert!(!rt(false, BOOL));
    for v in [i16::MIN, -1, 0, i16::MAX] {
        assert_eq!(rt(v, INT2), v);
    }
    for v in [i32::MIN, 0, i32::MAX] {
        assert_eq!(rt(v, INT4), v);
    }
    for v in [i64::MIN, -1, 0, i64::MAX] {
        assert_eq!(rt(v, INT8), v);
    }
    assert_eq!(enc(&1i32, INT4), [0, 0, 0, 1]);
    assert!(rt(f64::NAN, FLOAT8).is_nan());
    assert_eq!(rt(f64::INFINITY, FLOAT8), f64::INFINITY);
    assert_eq!(rt(f32::NEG_INFINITY, FLOAT4), f32::NEG_INFINITY);
    assert_eq!(rt(String::from("héllo"), TEXT), "héllo");
    assert_eq!(rt(String::new(), VARCHAR), "");
    assert_eq!(<&str>::from_sql_nullable(NAME, Some(b"pg")).unwrap(), "pg");
    assert_eq!(rt(vec![0u8, 255], BYTEA), vec![0, 255]);
    assert_eq!(rt(bytes::Bytes::from_static(b"x"), BYTEA), &b"x"[..]);
    let u = Uuid([0x12; 16]);
    assert_eq!(rt(u, UUID), u);
    assert_eq!(u.to_string(), "12121212-1212-1212-1212-121212121212");
    assert_eq!(rt(Json("{\"a\":1}".into()), JSON).0, "{\"a\":1}");
    assert_eq!(enc(&Json("{}".into()), JSONB), b"\x01{}");
    assert_eq!(rt(Json("[1]".into()), JSONB).0, "[1]");
    assert_eq!(
        rt(
            Interval {
                months: -1,
                days: 2,
                microseconds: i64::MIN
            },
            INTERVAL
        )
        .microseconds,
        i64::MIN
    );
}

#[test]
fn errors() {
    assert!(matches!(
        i32::from_sql_nullable(INT8, Some(&[0; 8])),
        Err(TypeError::WrongType { .. })
    ));
    assert!(matches!(
        i32::from_sql_nullable(INT4, Some(&[0; 3])),
        Err(TypeError::InvalidLength { .. })
    ));
    assert_eq!(
        i32::from_sql_nullable(INT4, None),
        Err(TypeError::UnexpectedNull)
    );
    assert_eq!(Option::<i32>::from_sql_nullable(INT4, None), Ok(None));
    assert_eq!(
        bool::from_sql_nullable(BOOL, Some(&[2])),
        Err(TypeError::Malformed("bool"))
    );
    assert_eq!(
        String::from_sql_nullable(TEXT, Some(b"\xff")),
        Err(TypeError::InvalidUtf8)
    );
    assert!(Json::from_sql_nullable(JSONB, Some(b"\x02{}")).is_err());
    let mut b = BytesMut::new();
    assert!(1i32.to_sql_checked(INT8, &mut b).is_err());
    assert_eq!(None::<i32>.to_sql_checked(INT4, &mut b), Ok(IsNull::Yes));
    assert!(b.is_empty());
}

#[test]
fn numeric() {
    for s in [
        "0",
        "1",
        "-1",
        "12345.6789",
        "0.0001",
        "-0.000012",
        "10000",
        "100000000",
        "1.10",
        "123456789012345678901234567890.123456789",
        "0.00",
        "NaN",
        "Infinity",
        "-Infinity",
        "9999",
        "0.5",
        "99999999.99999999",
    ] {
        let n = Numeric::parse(s).unwrap();
        assert_eq!(rt(n, NUMERIC).as_str(), s, "{s}");
    }
    // Wire form of 12345.6789: ndigits 3, weight 1, sign +, dscale 4, digits 1 2345 6789.
    assert_eq!(
        enc(&Numeric::parse("12345.6789").unwrap(), NUMERIC),
        [0, 3, 0, 1, 0, 0, 0, 4, 0, 1, 0x09, 0x29, 0x1a, 0x85]
    );
    assert_eq!(
        rt(Numeric::parse("+007.50").unwrap(), NUMERIC).as_str(),
        "7.50"
    );
    assert_eq!(rt(Numeric::parse(".5").unwrap(), NUMERIC).as_str(), "0.5");
    for bad in ["", "-", "1e5", "1.2.3", "abc", " 1", "."] {
        assert!(Numeric::parse(bad).is_err(), "{bad}");
    }
    // Digit out of range, count mismatch, bad sign.
    assert!(
        Numeric::from_sql_nullable(NUMERIC, Some(&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10])).is_err()
    );
    assert!(Numeric::from_sql_nullable(NUMERIC, Some(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 1])).is_err());
    assert!(Numeric::from_sql_nullable(NUMERIC, Some(&[0, 0, 0, 0, 0x12, 0, 0, 0])).is_err());
}

#[test]
fn dates_and_times() {
    assert_eq!(Date::from_ymd(2000, 1, 1), Some(Date::Days(0)));
    assert_eq!(Date::from_ymd(1999, 12, 31), Some(Date::Days(-1)));
    assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date::Days(-10957)));
    assert_eq!(Date::from_ymd(2023, 2, 29), None);
    assert_eq!(
        Date::from_ymd(2024, 2, 29).unwrap().to_ymd(),
        Some((2024, 2, 29))
    );
    assert_eq!(
        Date::from_ymd(-4713, 11, 24).unwrap().to_ymd(),
        Some((-4713, 11, 24))
    );
    for d in [
        Date::NegInfinity,
        Date::PosInfinity,
        Date::Days(-1),
        Date::Days(-800_000),
    ] {
        assert_eq!(rt(d, DATE), d);
    }
    assert_eq!(enc(&Date::NegInfinity, DATE), i32::MIN.to_be_bytes());
    let mut b = BytesMut::new();
    assert!(Date::Days(i32::MAX).to_sql_checked(DATE, &mut b).is_err());

    let p = DateTimeParts {
        year: 1969,
        month: 12,
        day: 31,
        hour: 23,
        minute: 59,
        second: 59,
        microsecond: 999_999,
    };
    let ts = Timestamp::from_parts(p).unwrap();
    assert_eq!(ts.to_unix_micros(), Some(-1));
    assert_eq!(ts.to_parts(), Some(p));
    assert_eq!(
        Timestamp::from_unix_micros(0),
        Some(Timestamp::Micros(-946_684_800_000_000))
    );
    assert_eq!(Timestamp::Micros(-1).to_parts().unwrap().year, 1999);
    for t in [
        Timestamp::NegInfinity,
        Timestamp::PosInfinity,
        ts,
        Timestamp::Micros(i64::MIN + 1),
    ] {
        assert_eq!(rt(t, TIMESTAMP), t);
    }
    assert_eq!(
        rt(TimestampTz::PosInfinity, TIMESTAMPTZ),
        TimestampTz::PosInfinity
    );
    assert_eq!(
        Timestamp::Micros(i64::MIN + 1).to_unix_micros(),
        None.or(Some(i64::MIN + 1 + 946_684_800_000_000))
    );
    let now = std::time::SystemTime::now();
    let tz = TimestampTz::from_system_time(now).unwrap();
    let back = tz.to_system_time().unwrap();
    assert!(now.duration_since(back).unwrap() < std::time::Duration::from_micros(1));
    let before = std::time::UNIX_EPOCH - std::time::Duration::from_nanos(1500);
    assert_eq!(
        TimestampTz::from_system_time(before)
            .unwrap()
            .to_unix_micros(),
        Some(-2)
    );
    assert_eq!(rt(Time(86_400_000_000), TIME), Time(86_400_000_000));
    assert!(Time::from_sql_nullable(TIME, Some(&(-1i64).to_be_bytes())).is_err());
    assert_eq!(Time::from_hms_micro(1, 2, 3, 4), Some(Time(3_723_000_004)));
}

#[test]
fn arrays() {
    let v = vec![Some(1i32), None, Some(-3)];
    assert_eq!(rt(v.clone(), INT4_ARRAY), v);
    assert_eq!(rt(Vec::<i64>::new(), INT8_ARRAY), Vec::<i64>::new());
    assert_eq!(
        enc(&Vec::<i32>::new(), INT4_ARRAY),
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23]
    );
    assert_eq!(
        enc(&vec![None::<i32>], INT4_ARRAY),
        [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 23, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]
    );
    let s = vec!["a".to_string(), String::new()];
    assert_eq!(rt(s.clone(), TEXT_ARRAY), s);
    let dims = vec![
        Dimension {
            len: 2,
            lower_bound: 1,
        },
        Dimension {
            len: 3,
            lower_bound: 0,
        },
    ];
    let a = Array::new(dims, (0..6).map(Some).collect::<Vec<Option<i64>>>()).unwrap();
    assert_eq!(rt(a.clone(), INT8_ARRAY), a);
    let bytes = enc(&a, INT8_ARRAY);
    assert!(
        Vec::<i64>::from_sql_nullable(INT8_ARRAY, Some(&bytes)).is_err(),
        "2-D into Vec"
    );
    assert!(Array::new(
        vec![Dimension {
            len: 2,
            lower_bound: 1
        }],
        vec![1]
    )
    .is_err());
    // Wrong element type and wrong array type.
    assert!(Vec::<i32>::from_sql_nullable(INT8_ARRAY, Some(&bytes)).is_err());
    let mut b = BytesMut::new();
    assert!(vec![1i32].to_sql_checked(INT8_ARRAY, &mut b).is_err());
    assert!(b.is_empty());
    let nested = vec![Date::PosInfinity, Date::Days(-5)];
    assert_eq!(rt(nested.clone(), DATE_ARRAY), nested);
}

fn header(ndim: i32, flags: i32, elem: &Type, dims: &[(i32, i32)]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ndim.to_be_bytes());
    v.extend_from_slice(&flags.to_be_bytes());
    v.extend_from_slice(&elem.oid().to_be_bytes());
    for (l, b) in dims {
        v.extend_from_slice(&l.to_be_bytes());
        v.extend_from_slice(&b.to_be_bytes());
    }
    v
}

#[test]
fn hostile_arrays() {
    let dec = |raw: &[u8]| Array::<Option<i32>>::from_sql_nullable(INT4_ARRAY, Some(raw));
    let six = [(1, 1); 6];
    let mut ok6 = header(6, 0, INT4, &six);
    ok6.extend_from_slice(&4i32.to_be_bytes());
    ok6.extend_from_slice(&7i32.to_be_bytes());
    assert_eq!(dec(&ok6).unwrap().elements(), &[Some(7)]);
    assert_eq!(
        dec(&header(7, 0, INT4, &[(1, 1); 7])),
        Err(TypeError::TooManyDimensions(7))
    );
    assert!(dec(&header(-1, 0, INT4, &[])).is_err());
    assert!(dec(&header(1, 2, INT4, &[(0, 1)])).is_err());
    // A billion elements claimed, none present: rejected before allocating.
    assert!(dec(&header(1, 0, INT4, &[(1_000_000_000, 1)])).is_err());
    // Overflowing product of dimensions.
    assert!(dec(&header(
        3,
        0,
        INT4,
        &[(i32::MAX, 1), (i32::MAX, 1), (i32::MAX, 1)]
    ))
    .is_err());
    assert!(dec(&header(1, 0, INT4, &[(-1, 1)])).is_err());
    let mut long = header(1, 0, INT4, &[(1, 1)]);
    long.extend_from_slice(&100i32.to_be_bytes());
    assert!(dec(&long).is_err());
    assert!(dec(&header(1, 0, INT4, &[(1, 1)])[..10]).is_err());
}

proptest! {
    #[test]
    fn prop_ints(a: i16, b: i32, c: i64, f: f64) {
        prop_assert_eq!(rt(a, INT2), a);
        prop_assert_eq!(rt(b, INT4), b);
        prop_assert_eq!(rt(c, INT8), c);
        prop_assert_eq!(rt(f, FLOAT8).to_bits(), f.to_bits());
    }

    #[test]
    fn prop_text(s: String, v: Vec<Option<String>>) {
        prop_assert_eq!(rt(s.clone(), TEXT), s);
        prop_assert_eq!(rt(v.clone(), TEXT_ARRAY), v);
    }

    #[test]
    fn prop_numeric(neg: bool, int in "[0-9]{0,30}", frac in proptest::option::of("[0-9]{0,30}")) {
        prop_assume!(!int.is_empty() || frac.as_ref().is_some_and(|f| !f.is_empty()));
        let mut s = String::new();
        if neg { s.push('-'); }
        s.push_str(&int);
        if let Some(f) = &frac { s.push('.'); s.push_str(f); }
        let got = rt(Numeric::parse(&s).unwrap(), NUMERIC);
        // Canonical form: no leading zeros, "0" before an empty integer part, no "-" on zero.
        let int_c = int.trim_start_matches('0');
        let int_c = if int_c.is_empty() { "0" } else { int_c };
        let frac_c = frac.clone().unwrap_or_default();
        let zero = int_c == "0" && frac_c.bytes().all(|b| b == b'0');
        let mut want = String::new();
        if neg && !zero { want.push('-'); }
        want.push_str(int_c);
        if !frac_c.is_empty() { want.push('.'); want.push_str(&frac_c); }
        prop_assert_eq!(got.as_str(), want.as_str());
    }

    #[test]
    fn prop_dates(days in -2_451_545i32..100_000_000) {
        let d = Date::Days(days);
        let (y, m, dd) = d.to_ymd().unwrap();
        prop_assert_eq!(Date::from_ymd(y, m, dd), Some(d));
        prop_assert_eq!(rt(d, DATE), d);
    }

    #[test]
    fn prop_timestamps(us in (i64::MIN + 1)..i64::MAX) {
        let t = Timestamp::Micros(us);
        prop_assert_eq!(Timestamp::from_parts(t.to_parts().unwrap()), Some(t));
        prop_assert_eq!(rt(t, TIMESTAMP), t);
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Array::<Option<i32>>::from_sql_nullable(INT4_ARRAY, Some(&raw));
        let _ = Vec::<Option<String>>::from_sql_nullable(TEXT_ARRAY, Some(&raw));
        let _ = Numeric::from_sql_nullable(NUMERIC, Some(&raw));
        let _ = Json::from_sql_nullable(JSONB, Some(&raw));
        let _ = Interval::from_sql_nullable(INTERVAL, Some(&raw));
    }
}
