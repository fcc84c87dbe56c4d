//! serde_json (feature `serde_json`): `serde_json::Value` and [`JsonOf<T>`] ↔ `json` and
//! `jsonb` (with `jsonb`'s version byte, 1).

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::oid::{JSON, JSONB};
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// The only `jsonb` binary format version.
const JSONB_VERSION: u8 = 1;

/// Any `T: Serialize` sent as `json`/`jsonb`, any `T: Deserialize` read from them (with
/// serde_json; feature `serde_json`).
///
/// A separate name from the bundled [`super::Json`], which stays the raw document text with
/// or without the feature, so turning the feature on changes no existing code's meaning.
/// `JsonOf<&str>` is a JSON *string*; use [`super::Json`] for text that already is JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct JsonOf<T>(pub T);

fn encode<T: Serialize + ?Sized>(
    v: &T,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<IsNull, TypeError> {
    let start = out.len();
    if ty.oid() == JSONB {
        out.put_u8(JSONB_VERSION);
    }
    let mut w = out.writer();
    let res = serde_json::to_writer(&mut w, v);
    let out = w.into_inner();
    match res {
        Ok(()) => Ok(IsNull::No),
        Err(e) => {
            out.truncate(start);
            Err(TypeError::Json(e.to_string()))
        }
    }
}

fn document<'a>(ty: &Type, raw: &'a [u8]) -> Result<&'a [u8], TypeError> {
    if ty.oid() == JSONB {
        match raw.split_first() {
            Some((&JSONB_VERSION, rest)) => Ok(rest),
            _ => Err(TypeError::Malformed("jsonb version")),
        }
    } else {
        Ok(raw)
    }
}

fn decode<'a, T: Deserialize<'a>>(ty: &Type, raw: &'a [u8]) -> Result<T, TypeError> {
    serde_json::from_slice(document(ty, raw)?).map_err(|e| TypeError::Json(e.to_string()))
}

impl<T: Serialize> ToSql for JsonOf<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        encode(&self.0, ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.oid(), JSON | JSONB)
    }
    to_sql_checked!();
}

impl<'a, T: Deserialize<'a>> FromSql<'a> for JsonOf<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, TypeError> {
        decode(ty, raw).map(JsonOf)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.oid(), JSON | JSONB)
    }
}

impl ToSql for serde_json::Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        encode(self, ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.oid(), JSON | JSONB)
    }
    to_sql_checked!();
}

impl FromSql<'_> for serde_json::Value {
    /// A JSON `null` document is `Value::Null`; an SQL NULL needs `Option<Value>`.
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        decode(ty, raw)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.oid(), JSON | JSONB)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::super::tests_support::ty::{JSON, JSONB};
    use super::super::tests_support::{dec, enc, enc_err, rt};
    use super::super::Json;
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Order {
        id: u64,
        items: Vec<String>,
        note: Option<String>,
    }

    #[test]
    fn values() {
        let v = json!({"a": [1, 2.5, "x", null, true], "b": {"c": "ü"}});
        for ty in [JSON, JSONB] {
            assert_eq!(rt(v.clone(), ty), v);
            assert_eq!(rt(json!(null), ty), json!(null));
        }
        assert_eq!(enc(&json!([1, "a"]), JSON), b"[1,\"a\"]");
        assert_eq!(enc(&json!([1, "a"]), JSONB), b"\x01[1,\"a\"]");
        // Read as the bundled raw-text type too.
        let raw: Json = dec(JSONB, &enc(&v, JSONB)).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&raw.0).unwrap(),
            v
        );
    }

    #[test]
    fn typed() {
        let o = Order {
            id: 7,
            items: vec!["a".into(), "b\"c".into()],
            note: None,
        };
        for ty in [JSON, JSONB] {
            assert_eq!(rt(JsonOf(o.clone()), ty), JsonOf(o.clone()));
        }
        assert_eq!(
            enc(&JsonOf(&o), JSONB),
            b"\x01{\"id\":7,\"items\":[\"a\",\"b\\\"c\"],\"note\":null}"
        );
        // Borrowing from the row's bytes.
        let raw = b"\x01{\"k\":\"v\"}";
        let m: JsonOf<BTreeMap<&str, &str>> = dec(JSONB, raw).unwrap();
        assert_eq!(m.0.get("k"), Some(&"v"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            dec::<serde_json::Value>(JSONB, b"\x02{}"),
            Err(TypeError::Malformed("jsonb version"))
        );
        assert_eq!(
            dec::<serde_json::Value>(JSONB, b""),
            Err(TypeError::Malformed("jsonb version"))
        );
        assert!(matches!(
            dec::<serde_json::Value>(JSON, b"{"),
            Err(TypeError::Json(_))
        ));
        assert!(matches!(
            dec::<JsonOf<Order>>(JSON, b"{\"id\":-1}"),
            Err(TypeError::Json(_))
        ));
        // A map with non-string keys cannot be serialized; nothing is left written.
        let bad: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        assert!(matches!(enc_err(&JsonOf(bad), JSONB), TypeError::Json(_)));
        assert!(matches!(
            dec::<serde_json::Value>(super::super::tests_support::ty::TEXT, b"{}"),
            Err(TypeError::WrongType { .. })
        ));
    }
}
