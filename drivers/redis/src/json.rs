//! `Json<T>`: a value sent and read as JSON text (feature `serde_json`).

use bytes::Bytes;
use corelane_redis_proto::{ArgSink, ToArg, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::from_value::text_of;
use crate::{Error, FromValue};

/// A value stored in Redis as JSON text: as an argument it is serialized with `serde_json`
/// (one argument), as a reply a string is deserialized into it.
///
/// ```
/// use corelane_redis::{Cmd, FromValue, Json, Value};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Session {
///     user: String,
///     visits: u32,
/// }
///
/// let session = Session { user: "ann".into(), visits: 3 };
/// let cmd = Cmd::new("SET").arg("session:1").arg(Json(&session));
/// assert_eq!(cmd.argc(), 3);
///
/// let reply = Value::BulkString(r#"{"user":"ann","visits":3}"#.into());
/// let Json(read) = Json::<Session>::from_value(reply)?;
/// assert_eq!(read, session);
///
/// // Text that is not such JSON is a type mismatch, with serde_json's error as its source.
/// let e = Json::<Session>::from_value(Value::BulkString("{}".into())).unwrap_err();
/// assert!(e.is_type_mismatch());
/// assert!(e.custom_source().is_some_and(|s| s.is::<serde_json::Error>()));
/// # Ok::<(), corelane_redis::Error>(())
/// ```
///
/// A nil reply (missing key) is an error: read an `Option<Json<T>>` to get `None` instead.
///
/// Serializing cannot fail for ordinary data, but can for some (a map whose keys are not
/// strings, a `Serialize` implementation that returns an error). [`ToArg`] has no way to
/// report that, so such a value is sent as an empty argument (which reads back as a JSON
/// error); call [`Json::encode`] first to get the error instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: Serialize> Json<T> {
    /// The JSON text, or serde_json's error (as [`Error::custom`]) when the value cannot be
    /// serialized. The bytes are themselves an argument.
    pub fn encode(&self) -> Result<Bytes, Error> {
        serde_json::to_vec(&self.0)
            .map(Bytes::from)
            .map_err(Error::custom)
    }
}

impl<T: Serialize> ToArg for Json<T> {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        // See the type's docs: an unserializable value is an empty argument.
        sink.push_arg(&serde_json::to_vec(&self.0).unwrap_or_default());
    }
}

impl<T: DeserializeOwned> FromValue for Json<T> {
    fn from_value(value: Value) -> Result<Self, Error> {
        let value = Value::from_value(value)?;
        match text_of(&value) {
            Some(text) => serde_json::from_slice(text)
                .map(Json)
                .map_err(Error::custom),
            None => Err(Error::type_mismatch(format!(
                "expected JSON text, got {}",
                value.type_name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelane_redis_proto::{Cmd, NullKind, ServerError};
    use std::collections::BTreeMap;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Item {
        name: String,
        tags: Vec<String>,
    }

    fn item() -> Item {
        Item {
            name: "a".into(),
            tags: vec!["x".into()],
        }
    }

    #[test]
    fn to_arg_is_one_json_argument() {
        let cmd = Cmd::new("SET").arg("k").arg(Json(item()));
        assert_eq!(cmd.argc(), 3);
        let args = cmd.iter_args().collect::<Vec<_>>();
        assert_eq!(args[2], br#"{"name":"a","tags":["x"]}"#);
        assert_eq!(
            &Json(item()).encode().unwrap()[..],
            br#"{"name":"a","tags":["x"]}"#
        );
        // A collection of them: one argument each.
        assert_eq!(Cmd::new("RPUSH").arg(vec![Json(1), Json(2)]).argc(), 3);
    }

    #[test]
    fn unserializable_value_is_an_error_from_encode_and_empty_as_arg() {
        let map: BTreeMap<(i32, i32), i32> = [((1, 2), 3)].into();
        let e = Json(&map).encode().unwrap_err();
        assert!(e.is_type_mismatch());
        let cmd = Cmd::new("SET").arg("k").arg(Json(&map));
        assert_eq!(cmd.iter_args().nth(2).unwrap(), b"");
    }

    #[test]
    fn from_value_reads_strings() {
        let text = r#"{"name":"a","tags":["x"]}"#;
        for value in [
            Value::BulkString(text.into()),
            Value::SimpleString(text.into()),
            Value::Verbatim {
                format: *b"txt",
                text: text.into(),
            },
        ] {
            assert_eq!(Json::<Item>::from_value(value).unwrap().0, item());
        }
        assert_eq!(
            Option::<Json<Item>>::from_value(Value::Null(NullKind::Bulk)).unwrap(),
            None
        );
    }

    #[test]
    fn bad_replies_are_typed_errors() {
        let e = Json::<Item>::from_value(Value::BulkString("not json".into())).unwrap_err();
        assert!(e.is_type_mismatch());
        assert!(e.custom_source().unwrap().is::<serde_json::Error>());
        let e = Json::<Item>::from_value(Value::Integer(1)).unwrap_err();
        assert!(e.is_type_mismatch() && e.custom_source().is_none());
        let e = Json::<Item>::from_value(Value::Null(NullKind::Bulk)).unwrap_err();
        assert!(e.is_type_mismatch());
        let e =
            Json::<Item>::from_value(Value::Error(ServerError::new("WRONGTYPE x"))).unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"));
    }
}
