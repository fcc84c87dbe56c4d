//! Typed replies: what a `Value` can be converted into.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use bytes::Bytes;
use corelane_redis_proto::Value;

use crate::Error;

/// A type a reply can be converted into. A server error reply becomes `Err` with the server's
/// code and message (check it with [`Error::code`]); a reply of the wrong shape becomes a type
/// error naming what came.
///
/// Implemented for `Value` (the raw reply), `()`, `bool`, the integer types (except `u8`: use
/// `Vec<u8>`/`Bytes` for binary data), `f32`/`f64`, `String`, `Vec<u8>`, `Bytes`, `Option<T>`
/// (nil is `None`), `Vec<T>`, `HashMap`/`BTreeMap` (from RESP3 maps, RESP2 flat arrays and
/// arrays of two-element arrays), `HashSet`/`BTreeSet` (from arrays and RESP3 sets), tuples of
/// up to 6 elements (a `Vec` of tuples reads both a flat RESP2 array and a RESP3 array of
/// arrays), and, with the `uuid` feature, `uuid::Uuid`.
///
/// A reply of the wrong shape is an [`Error::is_type_mismatch`] error, never a panic. An
/// implementation for a type of your own reports one with [`Error::type_mismatch`] or
/// [`Error::custom`] (see the crate docs for an example).
pub trait FromValue: Sized {
    /// Converts a reply.
    fn from_value(value: Value) -> Result<Self, Error>;

    /// Converts the elements of an array into a `Vec<Self>`. Tuples override it so that a flat
    /// RESP2 array (`ZRANGE … WITHSCORES`: member, score, member, score) and a RESP3 array of
    /// pairs both become `Vec<(member, score)>`.
    #[doc(hidden)]
    fn from_values(items: Vec<Value>) -> Result<Vec<Self>, Error> {
        items.into_iter().map(Self::from_value).collect()
    }
}

/// Turns error replies into `Err`.
pub(crate) fn ok(value: Value) -> Result<Value, Error> {
    match value {
        Value::Error(e) | Value::BlobError(e) => Err(Error::server(e)),
        other => Ok(other),
    }
}

pub(crate) fn mismatch<T>(want: &str, got: &Value) -> Result<T, Error> {
    Err(Error::type_mismatch(format!(
        "expected {want}, got {}",
        got.type_name()
    )))
}

impl FromValue for Value {
    fn from_value(value: Value) -> Result<Self, Error> {
        ok(value)
    }

    /// Inside an aggregate (`Vec<Value>`: a pipeline's replies), error replies stay values, so
    /// each reply can be inspected on its own.
    fn from_values(items: Vec<Value>) -> Result<Vec<Self>, Error> {
        Ok(items)
    }
}

impl FromValue for () {
    fn from_value(value: Value) -> Result<Self, Error> {
        ok(value).map(|_| ())
    }
}

impl FromValue for bool {
    fn from_value(value: Value) -> Result<Self, Error> {
        match ok(value)? {
            Value::Boolean(b) => Ok(b),
            Value::Integer(i) => Ok(i != 0),
            // `SET .. NX` answers OK or nil.
            Value::SimpleString(s) => Ok(&s[..] == b"OK" || &s[..] == b"1"),
            Value::BulkString(s) => Ok(&s[..] == b"1" || &s[..] == b"OK"),
            Value::Null(_) => Ok(false),
            other => mismatch("a boolean", &other),
        }
    }
}

pub(crate) fn text_of(value: &Value) -> Option<&[u8]> {
    match value {
        Value::SimpleString(b) | Value::BulkString(b) | Value::BigNumber(b) => Some(b),
        Value::Verbatim { text, .. } => Some(text),
        _ => None,
    }
}

fn parse_text<T: std::str::FromStr>(value: &Value, want: &str) -> Result<T, Error> {
    text_of(value)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            Error::type_mismatch(format!(
                "expected {want}, got a {} that is not one",
                value.type_name()
            ))
        })
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: Value) -> Result<Self, Error> {
                match ok(value)? {
                    Value::Integer(i) => <$t>::try_from(i).map_err(|_| {
                        Error::type_mismatch(format!(
                            "integer {i} does not fit in {}", stringify!($t)
                        ))
                    }),
                    Value::Boolean(b) => Ok(<$t>::from(b)),
                    other if text_of(&other).is_some() => parse_text(&other, stringify!($t)),
                    other => mismatch(stringify!($t), &other),
                }
            }
        }
    )*};
}

integers!(i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize);

macro_rules! floats {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: Value) -> Result<Self, Error> {
                match ok(value)? {
                    Value::Double(d) => Ok(d as $t),
                    Value::Integer(i) => Ok(i as $t),
                    other if text_of(&other).is_some() => parse_text(&other, stringify!($t)),
                    other => mismatch(stringify!($t), &other),
                }
            }
        }
    )*};
}

floats!(f32, f64);

impl FromValue for String {
    fn from_value(value: Value) -> Result<Self, Error> {
        match ok(value)? {
            Value::Integer(i) => Ok(i.to_string()),
            Value::Double(d) => Ok(d.to_string()),
            Value::Boolean(b) => Ok(b.to_string()),
            other => match text_of(&other) {
                Some(bytes) => String::from_utf8(bytes.to_vec())
                    .map_err(|_| Error::type_mismatch("expected UTF-8 text, got binary data")),
                None => mismatch("a string", &other),
            },
        }
    }
}

impl FromValue for Bytes {
    fn from_value(value: Value) -> Result<Self, Error> {
        match ok(value)? {
            Value::SimpleString(b) | Value::BulkString(b) | Value::BigNumber(b) => Ok(b),
            Value::Verbatim { text, .. } => Ok(text),
            Value::Integer(i) => Ok(Bytes::from(i.to_string())),
            other => mismatch("a string", &other),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value) -> Result<Self, Error> {
        Bytes::from_value(value).map(|b| b.to_vec())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Self, Error> {
        match ok(value)? {
            Value::Null(_) => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// The elements of an aggregate; maps flatten to `k1, v1, k2, v2, ...`; nil is empty.
pub(crate) fn elements(value: Value, want: &str) -> Result<Vec<Value>, Error> {
    match ok(value)? {
        Value::Array(v) | Value::Set(v) | Value::Push(v) => Ok(v),
        Value::Map(pairs) => Ok(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Value::Null(_) => Ok(Vec::new()),
        other => mismatch(want, &other),
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: Value) -> Result<Self, Error> {
        T::from_values(elements(value, "an array")?)
    }
}

fn is_aggregate(value: &Value) -> bool {
    matches!(
        value,
        Value::Array(_) | Value::Set(_) | Value::Map(_) | Value::Push(_)
    )
}

/// True for a two-element array (a RESP3 `[member, score]` pair).
fn is_pair(value: &Value) -> bool {
    matches!(value, Value::Array(v) if v.len() == 2)
}

/// Key/value pairs from a RESP3 map, a RESP2 flat array (`k1, v1, k2, v2`), or an array of
/// two-element arrays (RESP3 `ZRANGE … WITHSCORES`: `[[m1, s1], [m2, s2]]`). An array
/// whose elements are all pairs is read as pairs, not as a flat array of array keys and
/// array values.
pub(crate) fn pairs(value: Value) -> Result<Vec<(Value, Value)>, Error> {
    match ok(value)? {
        Value::Map(pairs) => Ok(pairs),
        Value::Null(_) => Ok(Vec::new()),
        Value::Array(nested) if !nested.is_empty() && nested.iter().all(is_pair) => {
            let mut out = Vec::with_capacity(nested.len());
            for pair in nested {
                let mut it = elements(pair, "a pair")?.into_iter();
                if let (Some(k), Some(v)) = (it.next(), it.next()) {
                    out.push((k, v));
                }
            }
            Ok(out)
        }
        Value::Array(flat) => {
            if flat.len() % 2 != 0 {
                return Err(Error::type_mismatch(
                    "expected key/value pairs, got an odd-length array",
                ));
            }
            let mut out = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            Ok(out)
        }
        other => mismatch("a map", &other),
    }
}

impl<K: FromValue + Eq + Hash, V: FromValue, S: std::hash::BuildHasher + Default> FromValue
    for HashMap<K, V, S>
{
    fn from_value(value: Value) -> Result<Self, Error> {
        pairs(value)?
            .into_iter()
            .map(|(k, v)| Ok((K::from_value(k)?, V::from_value(v)?)))
            .collect()
    }
}

impl<K: FromValue + Ord, V: FromValue> FromValue for BTreeMap<K, V> {
    fn from_value(value: Value) -> Result<Self, Error> {
        pairs(value)?
            .into_iter()
            .map(|(k, v)| Ok((K::from_value(k)?, V::from_value(v)?)))
            .collect()
    }
}

impl<T: FromValue + Eq + Hash, S: std::hash::BuildHasher + Default> FromValue for HashSet<T, S> {
    fn from_value(value: Value) -> Result<Self, Error> {
        elements(value, "a set")?
            .into_iter()
            .map(T::from_value)
            .collect()
    }
}

impl<T: FromValue + Ord> FromValue for BTreeSet<T> {
    fn from_value(value: Value) -> Result<Self, Error> {
        elements(value, "a set")?
            .into_iter()
            .map(T::from_value)
            .collect()
    }
}

/// From text in any of its forms (`67e55044-10b1-426f-9247-bb680e5fe0c8`, without hyphens,
/// braced, `urn:uuid:`), or from 16 raw bytes (a UUID stored in binary). A nil reply is an
/// error: read an `Option<Uuid>` to get `None` instead.
#[cfg(feature = "uuid")]
impl FromValue for uuid::Uuid {
    fn from_value(value: Value) -> Result<Self, Error> {
        let value = ok(value)?;
        match text_of(&value) {
            Some(raw) if raw.len() == 16 => uuid::Uuid::from_slice(raw).map_err(Error::custom),
            Some(text) => uuid::Uuid::try_parse_ascii(text).map_err(Error::custom),
            None => mismatch("a UUID", &value),
        }
    }
}

macro_rules! tuples {
    ($( ($n:expr; $($t:ident),+) )*) => {$(
        #[allow(clippy::modulo_one)]
        impl<$($t: FromValue),+> FromValue for ($($t,)+) {
            fn from_value(value: Value) -> Result<Self, Error> {
                let items = elements(value, "an array")?;
                if items.len() != $n {
                    return Err(Error::type_mismatch(format!(
                        "expected {} elements, got {}", $n, items.len()
                    )));
                }
                let mut it = items.into_iter();
                Ok(($(
                    $t::from_value(it.next().unwrap_or(Value::NULL))?,
                )+))
            }

            fn from_values(items: Vec<Value>) -> Result<Vec<Self>, Error> {
                if items.first().is_none_or(is_aggregate) {
                    return items.into_iter().map(Self::from_value).collect();
                }
                // A flat array: every `$n` elements make one tuple.
                if items.len() % $n != 0 {
                    return Err(Error::type_mismatch(format!(
                        "expected a multiple of {} elements, got {}", $n, items.len()
                    )));
                }
                let mut out = Vec::with_capacity(items.len() / $n);
                let mut it = items.into_iter();
                while it.len() > 0 {
                    out.push(($(
                        $t::from_value(it.next().unwrap_or(Value::NULL))?,
                    )+));
                }
                Ok(out)
            }
        }
    )*};
}

tuples! {
    (1; A)
    (2; A, B)
    (3; A, B, C)
    (4; A, B, C, D)
    (5; A, B, C, D, E)
    (6; A, B, C, D, E, F)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelane_redis_proto::{NullKind, ServerError};

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn scalars() {
        assert_eq!(i64::from_value(Value::Integer(i64::MIN)).unwrap(), i64::MIN);
        assert_eq!(u32::from_value(bulk("42")).unwrap(), 42);
        assert!(u16::from_value(Value::Integer(-1))
            .unwrap_err()
            .is_type_mismatch());
        assert_eq!(f64::from_value(bulk("1.5")).unwrap(), 1.5);
        assert_eq!(
            f64::from_value(Value::Double(f64::INFINITY)).unwrap(),
            f64::INFINITY
        );
        assert_eq!(String::from_value(bulk("hé")).unwrap(), "hé");
        assert_eq!(String::from_value(Value::Integer(7)).unwrap(), "7");
        assert!(bool::from_value(Value::SimpleString("OK".into())).unwrap());
        assert!(!bool::from_value(Value::Null(NullKind::Bulk)).unwrap());
        assert_eq!(
            Option::<String>::from_value(Value::Null(NullKind::Bulk)).unwrap(),
            None
        );
        assert!(String::from_value(Value::Null(NullKind::Null))
            .unwrap_err()
            .is_type_mismatch());
    }

    #[test]
    fn server_errors_are_errors_with_codes() {
        let e =
            String::from_value(Value::Error(ServerError::new("WRONGTYPE Operation"))).unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"));
        let e = Vec::<String>::from_value(Value::BlobError(ServerError::new("ERR x"))).unwrap_err();
        assert_eq!(e.code(), Some("ERR"));
    }

    #[test]
    fn aggregates() {
        let flat = Value::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]);
        let m: HashMap<String, i64> = FromValue::from_value(flat).unwrap();
        assert_eq!(m["b"], 2);
        let map = Value::Map(vec![(bulk("a"), Value::Integer(1))]);
        let m: BTreeMap<String, i64> = FromValue::from_value(map).unwrap();
        assert_eq!(m["a"], 1);
        let t: (String, Option<i64>, Vec<u8>) = FromValue::from_value(Value::Array(vec![
            bulk("x"),
            Value::Null(NullKind::Bulk),
            bulk("z"),
        ]))
        .unwrap();
        assert_eq!(t, ("x".into(), None, b"z".to_vec()));
        assert!(<(i64, i64)>::from_value(Value::Array(vec![Value::Integer(1)])).is_err());
        let s: HashSet<String> =
            FromValue::from_value(Value::Set(vec![bulk("a"), bulk("a")])).unwrap();
        assert_eq!(s.len(), 1);
        assert!(Vec::<i64>::from_value(Value::Null(NullKind::Array))
            .unwrap()
            .is_empty());
    }

    fn int(i: i64) -> Value {
        Value::Integer(i)
    }

    #[test]
    fn maps_from_resp2_flat_arrays_and_resp3_maps() {
        // HGETALL under RESP2: a flat array of field, value, ...
        let flat = Value::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]);
        let h: HashMap<String, i64> = FromValue::from_value(flat.clone()).unwrap();
        assert_eq!(h, HashMap::from([("a".into(), 1), ("b".into(), 2)]));
        let b: BTreeMap<String, String> = FromValue::from_value(flat).unwrap();
        assert_eq!(b["b"], "2");
        // ... and under RESP3: a map.
        let map = Value::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))]);
        let h: HashMap<String, u16> = FromValue::from_value(map.clone()).unwrap();
        assert_eq!(h.len(), 2);
        let b: BTreeMap<String, i64> = FromValue::from_value(map).unwrap();
        assert_eq!(b, BTreeMap::from([("a".into(), 1), ("b".into(), 2)]));
        // Nil / empty: an empty map.
        assert!(
            HashMap::<String, i64>::from_value(Value::Null(NullKind::Array))
                .unwrap()
                .is_empty()
        );
        assert!(BTreeMap::<String, i64>::from_value(Value::Map(vec![]))
            .unwrap()
            .is_empty());
        // RESP3 ZRANGE … WITHSCORES: an array of [member, score] pairs.
        let nested = Value::Array(vec![
            Value::Array(vec![bulk("a"), Value::Double(1.5)]),
            Value::Array(vec![bulk("b"), Value::Double(2.0)]),
        ]);
        let m: HashMap<String, f64> = FromValue::from_value(nested.clone()).unwrap();
        assert_eq!(m["a"], 1.5);
        let m: BTreeMap<String, f64> = FromValue::from_value(nested).unwrap();
        assert_eq!(m["b"], 2.0);
        // Not all pairs: read flat, so arrays as keys and values still work.
        let flat_of_arrays = Value::Array(vec![
            Value::Array(vec![bulk("k")]),
            Value::Array(vec![int(1), int(2)]),
        ]);
        let m: HashMap<Vec<String>, Vec<i64>> = FromValue::from_value(flat_of_arrays).unwrap();
        assert_eq!(m[&vec!["k".to_string()]], [1, 2]);
        // Nested values: a map of lists.
        let nested = Value::Map(vec![(bulk("k"), Value::Array(vec![int(1), int(2)]))]);
        let m: HashMap<String, Vec<i64>> = FromValue::from_value(nested).unwrap();
        assert_eq!(m["k"], [1, 2]);
    }

    #[test]
    fn maps_of_the_wrong_shape_are_type_errors() {
        let odd = Value::Array(vec![bulk("a"), bulk("1"), bulk("b")]);
        assert!(HashMap::<String, String>::from_value(odd.clone())
            .unwrap_err()
            .is_type_mismatch());
        assert!(BTreeMap::<String, String>::from_value(odd)
            .unwrap_err()
            .is_type_mismatch());
        // Pairs mixed with a triple: neither all pairs nor a valid flat array of values.
        let mixed = Value::Array(vec![
            Value::Array(vec![bulk("a"), int(1)]),
            Value::Array(vec![bulk("b"), int(2), int(3)]),
        ]);
        assert!(HashMap::<String, i64>::from_value(mixed)
            .unwrap_err()
            .is_type_mismatch());
        for scalar in [bulk("x"), int(3), Value::Set(vec![bulk("a"), bulk("b")])] {
            assert!(HashMap::<String, String>::from_value(scalar.clone())
                .unwrap_err()
                .is_type_mismatch());
            assert!(BTreeMap::<String, String>::from_value(scalar)
                .unwrap_err()
                .is_type_mismatch());
        }
        // A value of the wrong type inside.
        let bad = Value::Map(vec![(bulk("a"), bulk("not a number"))]);
        assert!(HashMap::<String, i64>::from_value(bad)
            .unwrap_err()
            .is_type_mismatch());
        let e = HashMap::<String, i64>::from_value(Value::Error(ServerError::new("WRONGTYPE k")))
            .unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"));
    }

    #[test]
    fn sets_from_arrays_and_resp3_sets() {
        let members = vec![bulk("b"), bulk("a"), bulk("b")];
        let h: HashSet<String> = FromValue::from_value(Value::Array(members.clone())).unwrap();
        assert_eq!(h, HashSet::from(["a".into(), "b".into()]));
        let b: BTreeSet<String> = FromValue::from_value(Value::Set(members)).unwrap();
        assert_eq!(b.into_iter().collect::<Vec<_>>(), ["a", "b"]);
        let b: BTreeSet<i64> = FromValue::from_value(Value::Set(vec![int(2), bulk("1")])).unwrap();
        assert_eq!(b, BTreeSet::from([1, 2]));
        assert!(HashSet::<String>::from_value(Value::Null(NullKind::Array))
            .unwrap()
            .is_empty());
        assert!(HashSet::<String>::from_value(bulk("a"))
            .unwrap_err()
            .is_type_mismatch());
        assert!(BTreeSet::<i64>::from_value(Value::Set(vec![bulk("x")]))
            .unwrap_err()
            .is_type_mismatch());
    }

    #[test]
    fn options() {
        assert_eq!(Option::<i64>::from_value(int(4)).unwrap(), Some(4));
        for nil in [NullKind::Null, NullKind::Bulk, NullKind::Array] {
            assert_eq!(Option::<i64>::from_value(Value::Null(nil)).unwrap(), None);
            assert_eq!(
                Option::<Vec<String>>::from_value(Value::Null(nil)).unwrap(),
                None
            );
        }
        // Nil elements of an array (MGET).
        let v: Vec<Option<String>> =
            FromValue::from_value(Value::Array(vec![bulk("a"), Value::Null(NullKind::Bulk)]))
                .unwrap();
        assert_eq!(v, [Some("a".into()), None]);
        assert!(Option::<i64>::from_value(bulk("x"))
            .unwrap_err()
            .is_type_mismatch());
        let e = Option::<i64>::from_value(Value::Error(ServerError::new("ERR x"))).unwrap_err();
        assert_eq!(e.code(), Some("ERR"));
    }

    #[test]
    fn pairs_from_flat_resp2_and_nested_resp3_replies() {
        // ZRANGE z 0 -1 WITHSCORES under RESP2: member, score, member, score.
        let resp2 = Value::Array(vec![bulk("a"), bulk("1.5"), bulk("b"), bulk("2")]);
        // ... under RESP3: an array of [member, score] pairs with double scores.
        let resp3 = Value::Array(vec![
            Value::Array(vec![bulk("a"), Value::Double(1.5)]),
            Value::Array(vec![bulk("b"), Value::Double(2.0)]),
        ]);
        let want = vec![("a".to_string(), 1.5), ("b".to_string(), 2.0)];
        for reply in [resp2, resp3] {
            let got: Vec<(String, f64)> = FromValue::from_value(reply).unwrap();
            assert_eq!(got, want);
        }
        // A map read as a list of pairs keeps wire order.
        let map = Value::Map(vec![(bulk("x"), int(1)), (bulk("y"), int(2))]);
        let got: Vec<(String, i64)> = FromValue::from_value(map).unwrap();
        assert_eq!(got, [("x".into(), 1), ("y".into(), 2)]);
        // Triples, and nested tuples: (name, (x, y)).
        let flat = Value::Array(vec![bulk("a"), int(1), int(2), bulk("b"), int(3), int(4)]);
        let got: Vec<(String, i64, i64)> = FromValue::from_value(flat).unwrap();
        assert_eq!(got[1], ("b".into(), 3, 4));
        let nested = Value::Array(vec![Value::Array(vec![
            bulk("a"),
            Value::Array(vec![int(1), int(2)]),
        ])]);
        let got: Vec<(String, (i64, i64))> = FromValue::from_value(nested).unwrap();
        assert_eq!(got, [("a".into(), (1, 2))]);
        // A tuple itself, from a RESP3 set or a map entry-pair array.
        let t: (String, String) =
            FromValue::from_value(Value::Set(vec![bulk("p"), bulk("q")])).unwrap();
        assert_eq!(t, ("p".into(), "q".into()));
        assert!(Vec::<(String, f64)>::from_value(Value::Array(vec![]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn pairs_of_the_wrong_shape_are_type_errors() {
        let cases = [
            // Flat, odd length.
            Value::Array(vec![bulk("a"), bulk("1"), bulk("b")]),
            // Nested, a pair of the wrong length.
            Value::Array(vec![
                Value::Array(vec![bulk("a"), bulk("1")]),
                Value::Array(vec![bulk("b")]),
            ]),
            // Nested then flat.
            Value::Array(vec![Value::Array(vec![bulk("a"), bulk("1")]), bulk("b")]),
            // Flat then nested: a score that is an array.
            Value::Array(vec![bulk("a"), Value::Array(vec![])]),
            // Not an array.
            bulk("a"),
            int(1),
        ];
        for reply in cases {
            let e = Vec::<(String, f64)>::from_value(reply.clone()).unwrap_err();
            assert!(e.is_type_mismatch(), "{reply:?}: {e}");
        }
        assert!(<(i64, i64, i64)>::from_value(Value::Array(vec![int(1); 4]))
            .unwrap_err()
            .is_type_mismatch());
        assert!(<(i64, i64)>::from_value(Value::Null(NullKind::Array))
            .unwrap_err()
            .is_type_mismatch());
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn uuids() {
        let id = uuid::Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        for text in [
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
        ] {
            assert_eq!(uuid::Uuid::from_value(bulk(text)).unwrap(), id, "{text}");
        }
        let raw = Value::BulkString(Bytes::copy_from_slice(id.as_bytes()));
        assert_eq!(uuid::Uuid::from_value(raw).unwrap(), id);
        assert_eq!(
            Option::<uuid::Uuid>::from_value(Value::Null(NullKind::Bulk)).unwrap(),
            None
        );
        let e = uuid::Uuid::from_value(bulk("67e55044-10b1-426f-9247")).unwrap_err();
        assert!(e.is_type_mismatch());
        assert!(e.custom_source().unwrap().is::<uuid::Error>());
        for bad in [int(5), Value::Null(NullKind::Bulk), Value::Array(vec![])] {
            assert!(uuid::Uuid::from_value(bad).unwrap_err().is_type_mismatch());
        }
        let set: HashSet<uuid::Uuid> =
            FromValue::from_value(Value::Set(vec![bulk(&id.to_string())])).unwrap();
        assert!(set.contains(&id));
    }
}
