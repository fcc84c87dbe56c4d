//! [`Text`]: the string's bytes for any type, flagged as text; refused inside containers.

use std::ops::Bound;

use bytes::BytesMut;

use super::tests_support::{enc, enc_err};
use super::{IsNull, Range, RecordWriter, Text, ToSql, Type, TypeError};

#[test]
fn any_type_gets_the_utf8_bytes() {
    for ty in [Type::POINT, Type::INT4, Type::TEXT, Type::DATE] {
        assert_eq!(enc(&Text("(1,2)"), &ty), b"(1,2)");
    }
    assert_eq!(enc(&Text(String::from("é")), &Type::TEXT), "é".as_bytes());
}

#[test]
fn is_text_only_for_text_and_forwarded() {
    assert!(Text("x").is_text());
    assert!(<&Text<&str> as ToSql>::is_text(&&Text("x")));
    assert!(Some(Text("x")).is_text());
    assert!(!1i32.is_text());
    assert!(!"x".is_text());
    assert!(!Some(1i32).is_text());
    let dynamic: &dyn ToSql = &Text("x");
    assert!(dynamic.is_text());
}

#[test]
fn none_is_null() {
    let mut b = BytesMut::new();
    let none: Option<Text<&str>> = None;
    assert_eq!(
        none.to_sql_checked(&Type::POINT, &mut b).unwrap(),
        IsNull::Yes
    );
    assert!(b.is_empty());
}

fn is_refused(e: TypeError) -> bool {
    matches!(e, TypeError::Other(_)) && e.to_string().contains("whole parameter")
}

#[test]
fn refused_inside_containers() {
    assert!(is_refused(enc_err(
        &vec![Text("(1,2)")],
        &Type::POINT_ARRAY
    )));
    let r = Range::new(Bound::Included(Text("1")), Bound::Unbounded);
    assert!(is_refused(enc_err(&r, &Type::INT4_RANGE)));
    let mut out = BytesMut::new();
    let mut w = RecordWriter::new(&mut out);
    assert!(is_refused(
        w.field(&Type::POINT, &Text("(1,2)")).unwrap_err()
    ));
}
