//! [`Text`]: a parameter sent in text format, for types with no binary [`ToSql`].

use bytes::{BufMut, BytesMut};

use crate::to_sql_checked;
use crate::types::{IsNull, ToSql, Type, TypeError};

/// A parameter sent as text (Bind format code 0): the server parses the string with the
/// parameter type's input function, so any type works, including ones with no binary
/// [`ToSql`] in Rust (`point`, `money`, `tsvector`, an extension's type).
///
/// The client checks nothing: a string the type's input function refuses fails on the
/// server (SQLSTATE 22P02 and the like) as a normal query error. `Option<Text<_>>` sends
/// NULL for `None`. Only a whole parameter can be text: a `Text` inside an array, range,
/// record or binary COPY row is refused.
///
/// With the driver: `client.query_one("SELECT $1::point::text", &[&Text("(1,2)")])` reads
/// back `"(1,2)"` (see `corelane_postgres`'s crate docs). Here, the bytes and the flag:
///
/// ```
/// use corelane_pg_proto::bytes::BytesMut;
/// use corelane_pg_proto::types::{IsNull, Text, ToSql, Type};
///
/// let mut out = BytesMut::new();
/// let point = Text("(1,2)");
/// assert_eq!(point.to_sql_checked(&Type::POINT, &mut out), Ok(IsNull::No));
/// assert_eq!(&out[..], b"(1,2)");
/// assert!(point.is_text());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Text<T: AsRef<str>>(pub T);

impl<T: AsRef<str>> ToSql for Text<T> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_slice(self.0.as_ref().as_bytes());
        Ok(IsNull::No)
    }
    /// Every type: the server, not the client, parses the text.
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
    fn is_text(&self) -> bool {
        true
    }
}
