//! User-defined types without a server: `Type` values built as a driver builds them, the
//! enum/composite macros, arrays of them, domains, and hostile bytes (never a panic, never an
//! allocation sized from a claimed length).

use bytes::BytesMut;
use proptest::prelude::*;

use super::tests_support::{dec, enc, enc_err};
use super::*;

crate::pg_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mood as "mood" {
        Sad => "sad",
        Ok => "ok",
        Happy => "happy",
    }
}

crate::pg_composite! {
    #[derive(Debug, Clone, PartialEq)]
    struct Item as "item" {
        id: i32,
        name: Option<String>,
        mood: Mood,
    }
}

fn mood() -> Type {
    Type::new(
        "mood".into(),
        90001,
        Kind::Enum(vec!["sad".into(), "ok".into(), "happy".into()]),
        "public".into(),
    )
}

fn mood_array() -> Type {
    Type::new("_mood".into(), 90002, Kind::Array(mood()), "public".into())
}

fn item() -> Type {
    Type::new(
        "item".into(),
        90003,
        Kind::Composite(vec![
            Field::new("id".into(), Type::INT4),
            Field::new("name".into(), Type::TEXT),
            Field::new("mood".into(), mood()),
        ]),
        "public".into(),
    )
}

fn posint() -> Type {
    Type::new(
        "posint".into(),
        90004,
        Kind::Domain(Type::INT4),
        "public".into(),
    )
}

/// A record value from `(oid, Some(bytes) | None)` fields.
fn record(count: i32, fields: &[(u32, Option<&[u8]>)]) -> Vec<u8> {
    let mut v = count.to_be_bytes().to_vec();
    for (oid, raw) in fields {
        v.extend_from_slice(&oid.to_be_bytes());
        match raw {
            Some(raw) => {
                v.extend_from_slice(&(raw.len() as i32).to_be_bytes());
                v.extend_from_slice(raw);
            }
            None => v.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    v
}

#[test]
fn types_print_and_compare() {
    assert_eq!(Type::TIMESTAMPTZ.to_string(), "timestamptz");
    assert_eq!(Type::INT4_ARRAY.to_string(), "int4[]");
    assert_eq!(Type::INT4_ARRAY.array_element(), Some(&Type::INT4));
    assert_eq!(Type::from_oid(1184), Some(Type::TIMESTAMPTZ));
    assert!(Type::TIMESTAMPTZ.is_builtin() && !mood().is_builtin());
    assert_eq!(mood_array().to_string(), "mood[]");
    let app = Type::new("mood".into(), 1, Kind::Simple, "app".into());
    assert_eq!(app.to_string(), "app.mood");
    assert!(__named(&app, "app.mood") && !__named(&app, "other.mood") && __named(&app, "mood"));
    assert_eq!(posint().base(), &Type::INT4);
    let unknown = Type::unresolved(77);
    assert!(unknown.is_unresolved() && !mood().is_unresolved());
    assert_eq!(unknown.to_string(), "oid 77");
    assert_eq!(Type::INT4, 23);
    let e = i32::from_sql_nullable(&Type::TIMESTAMPTZ, Some(&[0; 8])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot convert between Rust type i32 and PostgreSQL type timestamptz"
    );
}

#[test]
fn errors_carry_a_source() {
    let e = TypeError::other(std::io::Error::other("bad cents"));
    assert_eq!(e.to_string(), "bad cents");
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(e.clone(), e);
    assert_ne!(e, TypeError::other(std::io::Error::other("bad cents")));
}

#[test]
fn enums_by_label() {
    let ty = mood();
    assert_eq!(enc(&Mood::Happy, &ty), b"happy");
    assert_eq!(dec::<Mood>(&ty, b"ok"), Ok(Mood::Ok));
    assert_eq!(dec::<String>(&ty, b"sad").unwrap(), "sad");
    assert_eq!(enc(&"sad", &ty), b"sad");
    assert_eq!(
        dec::<Mood>(&ty, b"meh"),
        Err(TypeError::UnknownLabel {
            ty: ty.clone(),
            label: "meh".into()
        })
    );
    assert_eq!(dec::<Mood>(&ty, b"\xff"), Err(TypeError::InvalidUtf8));
    assert!(matches!(
        dec::<Mood>(&Type::TEXT, b"ok"),
        Err(TypeError::WrongType { .. })
    ));
    // Writing wants a label for every variant; reading takes any labels (one without a
    // variant is an error of its own).
    let fewer = Type::new(
        "mood".into(),
        1,
        Kind::Enum(vec!["sad".into(), "ok".into()]),
        String::new(),
    );
    let more = Type::new(
        "mood".into(),
        1,
        Kind::Enum(vec![
            "sad".into(),
            "ok".into(),
            "happy".into(),
            "meh".into(),
        ]),
        String::new(),
    );
    assert!(<Mood as FromSql>::accepts(&fewer) && !<Mood as ToSql>::accepts(&fewer));
    assert!(<Mood as FromSql>::accepts(&more) && <Mood as ToSql>::accepts(&more));
    assert!(matches!(
        dec::<Mood>(&more, b"meh"),
        Err(TypeError::UnknownLabel { .. })
    ));
    let other = Type::new("feeling".into(), 1, ty.kind().clone(), String::new());
    assert!(!<Mood as FromSql>::accepts(&other));
    assert_eq!(Mood::Sad.label(), "sad");
    let citext = Type::new("citext".into(), 90010, Kind::Simple, "public".into());
    assert_eq!(dec::<String>(&citext, b"Hi").unwrap(), "Hi");
    assert_eq!(enc(&"Hi", &citext), b"Hi");
}

#[test]
fn composites_in_the_record_format() {
    let ty = item();
    let v = Item {
        id: 7,
        name: Some("x".into()),
        mood: Mood::Ok,
    };
    let bytes = enc(&v, &ty);
    assert_eq!(
        bytes,
        record(
            3,
            &[
                (23, Some(&7i32.to_be_bytes())),
                (25, Some(b"x")),
                (90001, Some(b"ok"))
            ]
        )
    );
    assert_eq!(dec::<Item>(&ty, &bytes), Ok(v.clone()));
    let null = record(
        3,
        &[(23, Some(&[0, 0, 0, 1])), (25, None), (90001, Some(b"sad"))],
    );
    assert_eq!(
        dec::<Item>(&ty, &null),
        Ok(Item {
            id: 1,
            name: None,
            mood: Mood::Sad
        })
    );
    // Field order follows the composite, not the struct.
    let reordered = Type::new(
        "item".into(),
        90003,
        Kind::Composite(vec![
            Field::new("mood".into(), mood()),
            Field::new("id".into(), Type::INT4),
            Field::new("name".into(), Type::TEXT),
        ]),
        String::new(),
    );
    let bytes = enc(&v, &reordered);
    assert_eq!(&bytes[..8], &[0, 0, 0, 3, 0, 1, 0x5f, 0x91]);
    assert_eq!(dec::<Item>(&reordered, &bytes), Ok(v.clone()));
    // A composite with other fields is another type.
    let fewer = Type::new(
        "item".into(),
        90003,
        Kind::Composite(vec![Field::new("id".into(), Type::INT4)]),
        String::new(),
    );
    assert!(matches!(enc_err(&v, &fewer), TypeError::WrongType { .. }));
    let retyped = Type::new(
        "item".into(),
        90003,
        Kind::Composite(vec![
            Field::new("id".into(), Type::TEXT),
            Field::new("name".into(), Type::TEXT),
            Field::new("mood".into(), mood()),
        ]),
        String::new(),
    );
    assert!(!<Item as FromSql>::accepts(&retyped));
    // A field value its Rust type refuses leaves nothing written.
    let bad = Item {
        id: 1,
        name: None,
        mood: Mood::Happy,
    };
    let sad_only = Type::new(
        "item".into(),
        90003,
        Kind::Composite(vec![
            Field::new("id".into(), Type::INT4),
            Field::new("name".into(), Type::TEXT),
            Field::new(
                "mood".into(),
                Type::new("mood".into(), 5, Kind::Enum(vec![]), String::new()),
            ),
        ]),
        String::new(),
    );
    let mut out = BytesMut::from(&b"ab"[..]);
    assert!(ToSql::to_sql(&bad, &sad_only, &mut out).is_err());
    assert_eq!(&out[..], b"ab");
}

#[test]
fn hostile_records() {
    let ty = item();
    let good = record(
        3,
        &[(23, Some(&[0, 0, 0, 1])), (25, None), (90001, Some(b"ok"))],
    );
    // Every truncation is an error, never a panic.
    for n in 0..good.len() {
        assert!(dec::<Item>(&ty, &good[..n]).is_err(), "{n}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(dec::<Item>(&ty, &trailing).is_err());
    // A huge claimed field count with a few bytes: refused before anything is sized.
    let mut huge = i32::MAX.to_be_bytes().to_vec();
    huge.extend_from_slice(&[0; 16]);
    assert_eq!(
        RecordReader::new(&huge).err(),
        Some(TypeError::Malformed("record: more fields than bytes"))
    );
    assert!(RecordReader::new(&(-1i32).to_be_bytes()).is_err());
    // Counts that disagree with the composite.
    assert!(dec::<Item>(&ty, &record(2, &[(23, Some(&[0; 4])), (25, None)])).is_err());
    // A field length past the end, or negative other than -1.
    let mut long = record(1, &[(23, Some(&[0; 4]))]);
    long[8..12].copy_from_slice(&1000i32.to_be_bytes());
    assert!(RecordReader::new(&long).unwrap().next_raw().is_err());
    let mut negative = record(1, &[(23, Some(&[0; 4]))]);
    negative[8..12].copy_from_slice(&(-2i32).to_be_bytes());
    assert!(RecordReader::new(&negative).unwrap().next_raw().is_err());
    // A field whose type on the wire is not the composite's (a stale description).
    let stale = record(3, &[(25, Some(b"1")), (25, None), (90001, Some(b"ok"))]);
    assert_eq!(
        dec::<Item>(&ty, &stale),
        Err(TypeError::Malformed(
            "record: field type differs from the composite type's"
        ))
    );
    // Reading past the fields.
    let empty = record(0, &[]);
    let mut r = RecordReader::new(&empty).unwrap();
    assert!(r.is_empty() && r.next_raw().is_err());
}

#[test]
fn arrays_of_user_types() {
    let ty = mood_array();
    let v = vec![Some(Mood::Sad), None, Some(Mood::Happy)];
    let bytes = enc(&v, &ty);
    // ndim 1, has NULL, element oid, then (len 3, lower bound 1).
    assert_eq!(&bytes[..12], &[0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x5f, 0x91]);
    assert_eq!(dec::<Vec<Option<Mood>>>(&ty, &bytes), Ok(v));
    // An element type on the wire that is not the array's.
    let mut other = bytes.clone();
    other[8..12].copy_from_slice(&25u32.to_be_bytes());
    assert!(dec::<Vec<Option<Mood>>>(&ty, &other).is_err());
    for n in 0..bytes.len() {
        assert!(dec::<Vec<Option<Mood>>>(&ty, &bytes[..n]).is_err(), "{n}");
    }
    // An array of composites.
    let items = Type::new("_item".into(), 90005, Kind::Array(item()), String::new());
    let v = vec![Item {
        id: 2,
        name: None,
        mood: Mood::Sad,
    }];
    assert_eq!(dec::<Vec<Item>>(&items, &enc(&v, &items)), Ok(v));
}

#[test]
fn domains_travel_as_their_base_type() {
    let ty = posint();
    assert_eq!(enc(&5i32, &ty), 5i32.to_be_bytes());
    assert_eq!(dec::<i32>(&ty, &5i32.to_be_bytes()), Ok(5));
    assert!(matches!(enc_err(&5i64, &ty), TypeError::WrongType { .. }));
    let e = dec::<String>(&ty, b"x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot convert between Rust type alloc::string::String and PostgreSQL type posint"
    );
    // Inside a composite and an array.
    let points = Type::new(
        "_posint".into(),
        90006,
        Kind::Array(ty.clone()),
        String::new(),
    );
    assert_eq!(
        dec::<Vec<i32>>(&points, &enc(&vec![1i32, 2], &points)),
        Ok(vec![1, 2])
    );
    let mut out = BytesMut::new();
    let mut w = RecordWriter::new(&mut out);
    w.field(&ty, &3i32).unwrap();
    w.finish().unwrap();
    let mut r = RecordReader::new(&out).unwrap();
    assert_eq!(r.next::<i32>(&ty), Ok(3));
    r.finish().unwrap();
}

proptest! {
    #[test]
    fn random_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = dec::<Item>(&item(), &raw);
        let _ = dec::<Vec<Option<Mood>>>(&mood_array(), &raw);
        let _ = dec::<Mood>(&mood(), &raw);
    }

    #[test]
    fn records_round_trip(id in any::<i32>(), name in proptest::option::of(".{0,8}"), m in 0..3u8) {
        let mood = [Mood::Sad, Mood::Ok, Mood::Happy][usize::from(m)];
        let v = Item { id, name, mood };
        prop_assert_eq!(dec::<Item>(&item(), &enc(&v, &item())), Ok(v));
    }
}
