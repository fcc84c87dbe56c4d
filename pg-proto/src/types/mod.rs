//! Binary-format type codecs: [`ToSql`] writes a Rust value as a parameter, [`FromSql`] reads a
//! result column.
//!
//! | PostgreSQL | Rust |
//! |---|---|
//! | `bool` | `bool` |
//! | `"char"` | `i8` |
//! | `int2`, `int4`, `int8` | `i16`, `i32`, `i64` |
//! | `oid` | `u32` |
//! | `float4`, `float8` | `f32`, `f64` |
//! | `text`, `varchar`, `name`, `bpchar`, `unknown`, `citext`, any enum (its label) | `String`, `&str` |
//! | `bytea` | `Vec<u8>`, `&[u8]`, `Bytes` |
//! | `uuid` | [`Uuid`] |
//! | `inet`, `cidr` | [`Inet`] (address and netmask), `IpAddr`, `Ipv4Addr`, `Ipv6Addr` (a single host: a netmask shorter than the address is [`TypeError::Unrepresentable`], never a silent truncation) |
//! | `macaddr`, `macaddr8` | [`MacAddr`], [`MacAddr8`] |
//! | `json`, `jsonb` | [`Json`] (raw text; the `jsonb` version byte is handled) |
//! | `numeric` | [`Numeric`] (exact decimal string, `NaN`, `±Infinity`) |
//! | `date`, `time`, `timestamp`, `timestamptz`, `interval` | [`Date`], [`Time`], [`Timestamp`], [`TimestampTz`], [`Interval`] |
//! | arrays of the above | `Vec<T>` (1-D), [`Array<T>`] (up to 6 dimensions) |
//! | `int4range`, `int8range`, `numrange`, `daterange`, `tsrange`, `tstzrange`, user-defined ranges | [`Range<T>`] (`T` any element type above, or a feature's type below) |
//! | NULL | `Option<T>` |
//!
//! With cargo features (off by default), popular crates' types too:
//!
//! | PostgreSQL | Rust | Feature |
//! |---|---|---|
//! | `uuid` | `uuid::Uuid` | `uuid` |
//! | `date`, `time`, `timestamp` | `chrono::NaiveDate`, `NaiveTime`, `NaiveDateTime` | `chrono` |
//! | `timestamptz` | `chrono::DateTime<Utc>`, `DateTime<FixedOffset>`, `DateTime<Local>` | `chrono` |
//! | `date`, `time`, `timestamp`, `timestamptz` | `time::Date`, `Time`, `PrimitiveDateTime`, `OffsetDateTime` | `time` |
//! | `json`, `jsonb` | `serde_json::Value`, `JsonOf<T>` (any `T: Serialize`/`Deserialize`) | `serde_json` |
//! | `numeric` | `rust_decimal::Decimal` | `rust_decimal` |
//! | `inet`, `cidr` | `cidr::IpInet`, `cidr::IpCidr` | `cidr` |
//! | `inet`, `cidr` | `ipnetwork::IpNetwork`, `Ipv4Network`, `Ipv6Network` | `ipnetwork` |
//! | `bit`, `varbit` | `bit_vec::BitVec` | `bit-vec` |
//!
//! They share the bundled types' wire code and range checks: a value PostgreSQL cannot hold
//! is refused before it is sent ([`TypeError::OutOfRange`]), and a PostgreSQL value the Rust
//! type cannot hold is an error when read — `infinity` into a chrono/time type or `NaN` into a
//! `Decimal` is [`TypeError::NotFinite`] — never a silent rounding. Sub-microsecond parts of
//! chrono/time values are floored to the microsecond.
//!
//! Decoding checks the type ([`FromSql::from_sql_nullable`]) and the exact byte layout; every
//! mismatch is a [`TypeError`], never a panic. Codecs receive the column's or parameter's
//! [`Type`] (name, OID, schema, [`Kind`]); built-in types are constants, others a driver
//! looks up. A domain is read and written as its base type unless a Rust type accepts the
//! domain itself.
//!
//! Your own enums and composites: [`crate::pg_enum!`] and [`crate::pg_composite!`] (on top of
//! [`RecordReader`]/[`RecordWriter`], usable by hand).

mod array;
mod datetime;
mod json;
mod macaddr;
mod network;
mod numeric;
pub mod oid;
mod primitive;
mod range;
mod record;
mod text;
mod ty;
mod user;
mod uuid;

#[cfg(feature = "bit-vec")]
mod with_bit_vec;
#[cfg(feature = "chrono")]
mod with_chrono;
#[cfg(feature = "cidr")]
mod with_cidr;
#[cfg(feature = "ipnetwork")]
mod with_ipnetwork;
#[cfg(feature = "rust_decimal")]
mod with_rust_decimal;
#[cfg(feature = "serde_json")]
mod with_serde_json;
#[cfg(feature = "time")]
mod with_time;
#[cfg(feature = "uuid")]
mod with_uuid;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_network;
#[cfg(test)]
mod tests_range;
#[cfg(test)]
mod tests_support;
#[cfg(test)]
mod tests_text;
#[cfg(test)]
mod tests_user;

use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;

pub use self::array::{Array, Dimension};
pub use self::datetime::{Date, DateTimeParts, Interval, Time, Timestamp, TimestampTz};
pub use self::json::Json;
pub use self::macaddr::{MacAddr, MacAddr8};
pub use self::network::Inet;
pub use self::numeric::Numeric;
pub use self::oid::Oid;
pub use self::range::Range;
pub use self::record::{RecordReader, RecordWriter};
pub use self::text::Text;
pub use self::ty::{Field, Kind, Type};
#[doc(hidden)]
pub use self::user::{
    __composite_accepts, __composite_fields, __enum_accepts, __enum_label, __field_mismatch,
    __from_accepts, __named, __to_accepts, __unknown_label,
};
pub use self::uuid::Uuid;
#[cfg(feature = "serde_json")]
pub use self::with_serde_json::JsonOf;

/// Whether a serialized value is NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsNull {
    /// The value is NULL; nothing was written.
    Yes,
    /// The value was written.
    No,
}

/// The error of a user's own codec, carried by [`TypeError::Other`]. Cloning shares it; two
/// are equal when they are the same error.
#[derive(Clone)]
pub struct BoxedError(pub Arc<dyn std::error::Error + Send + Sync>);

impl fmt::Debug for BoxedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for BoxedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for BoxedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for BoxedError {
    fn eq(&self, other: &BoxedError) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BoxedError {}

/// A value could not be encoded or decoded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// The Rust type cannot represent the PostgreSQL type.
    #[error("cannot convert between Rust type {rust} and PostgreSQL type {ty}")]
    WrongType {
        /// The Rust type's name.
        rust: &'static str,
        /// The PostgreSQL type (its name in the message: `timestamptz`, `mood`).
        ty: Type,
    },
    /// A NULL was read into a type that cannot hold it (use `Option<T>`).
    #[error("unexpected NULL (use Option<T>)")]
    UnexpectedNull,
    /// A fixed-size value has the wrong length.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    InvalidLength {
        /// The type being decoded.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// A value's bytes do not follow the type's binary format.
    #[error("malformed {0} value")]
    Malformed(&'static str),
    /// Text is not valid UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// A value does not fit the target type (or the protocol's sizes).
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    /// A string is not a valid numeric literal.
    #[error("invalid numeric literal")]
    InvalidNumeric,
    /// An array has more than 6 dimensions (PostgreSQL's `MAXDIM`).
    #[error("array has {0} dimensions; at most 6 are allowed")]
    TooManyDimensions(i32),
    /// A special value (`NaN`, `infinity`, `-infinity`) that the Rust type cannot hold.
    #[error("{what} value {value} cannot be represented as {rust}")]
    NotFinite {
        /// The PostgreSQL type (`numeric`, `date`, `timestamp`, `timestamptz`).
        what: &'static str,
        /// `NaN`, `infinity` or `-infinity`.
        value: &'static str,
        /// The Rust type.
        rust: &'static str,
    },
    /// An `inet`/`cidr` value the Rust type cannot hold: a network (a netmask shorter than
    /// the address, like `10.1.2.0/24`) read into a host address type (`IpAddr`,
    /// `Ipv4Addr`, `Ipv6Addr`: read it as [`Inet`] instead), or an address of the other IP
    /// family read into `Ipv4Addr`/`Ipv6Addr`.
    #[error("{ty} value {value} cannot be represented as {rust}")]
    Unrepresentable {
        /// The PostgreSQL type (`inet` or `cidr`).
        ty: &'static str,
        /// The value as PostgreSQL would print it (`10.1.2.0/24`).
        value: String,
        /// The Rust type.
        rust: &'static str,
    },
    /// A JSON document could not be serialized or deserialized (the `serde_json` message).
    #[error("JSON: {0}")]
    Json(String),
    /// An enum label the Rust type has no variant for (or a variant the PostgreSQL enum has
    /// no label for).
    #[error("{ty}: no variant for label {label:?}")]
    UnknownLabel {
        /// The PostgreSQL enum type.
        ty: Type,
        /// The label.
        label: String,
    },
    /// A user codec's own error (see [`TypeError::other`]).
    #[error("{0}")]
    Other(#[source] BoxedError),
}

impl TypeError {
    /// Wraps the error of your own [`ToSql`]/[`FromSql`] impl.
    pub fn other(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> TypeError {
        TypeError::Other(BoxedError(Arc::from(e.into())))
    }
}

/// A Rust value that can be sent as a binary-format parameter (or, for [`Text`], a text one).
///
/// Object safe for `&dyn ToSql` parameter lists; implementors add [`crate::to_sql_checked!`]
/// inside the impl to get `to_sql_checked`.
pub trait ToSql {
    /// Writes the value's binary encoding (without a length prefix) for type `ty`;
    /// [`IsNull::Yes`] (writing nothing) for NULL.
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError>;

    /// Whether this Rust type can be encoded as `ty`. A domain that this returns false for is
    /// tried as its base type (see [`Type::base`]).
    fn accepts(ty: &Type) -> bool
    where
        Self: Sized;

    /// [`ToSql::to_sql`] after checking [`ToSql::accepts`].
    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError>;

    /// Whether [`ToSql::to_sql`] writes the type's text form (Bind format code 0, parsed by
    /// the server with the type's input function) instead of its binary form. False except for
    /// [`Text`]; a wrapper that forwards `to_sql` forwards this too.
    fn is_text(&self) -> bool {
        false
    }
}

/// Refuses a [`Text`] value inside a binary container (array element, range bound, record
/// field): the container's binary form has no place for a text-format value.
pub(crate) fn binary_only(value: &(impl ToSql + ?Sized)) -> Result<(), TypeError> {
    if value.is_text() {
        return Err(TypeError::other(
            "a Text value can only be a whole parameter, not inside an array, range or record",
        ));
    }
    Ok(())
}

/// A Rust value that can be read from a binary-format result column.
pub trait FromSql<'a>: Sized {
    /// Decodes a non-NULL value of type `ty`.
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, TypeError>;

    /// Decodes a NULL; an error unless the type has a NULL (like `Option<T>`).
    fn from_sql_null(ty: &Type) -> Result<Self, TypeError> {
        let _ = ty;
        Err(TypeError::UnexpectedNull)
    }

    /// Whether this Rust type can be decoded from `ty`. A domain that this returns false for
    /// is tried as its base type (see [`Type::base`]).
    fn accepts(ty: &Type) -> bool;

    /// Checks [`FromSql::accepts`], then decodes a column (`None` is NULL).
    fn from_sql_nullable(ty: &Type, raw: Option<&'a [u8]>) -> Result<Self, TypeError> {
        let ty = accepted(ty, Self::accepts).ok_or_else(|| wrong_type::<Self>(ty))?;
        match raw {
            Some(raw) => Self::from_sql(ty, raw),
            None => Self::from_sql_null(ty),
        }
    }
}

/// `ty` when `accepts` takes it, else the base type under its domains when `accepts` takes
/// that. One comparison on the hot path (built-in types are never domains).
#[inline]
fn accepted(ty: &Type, accepts: impl Fn(&Type) -> bool) -> Option<&Type> {
    if accepts(ty) {
        return Some(ty);
    }
    let base = ty.base();
    (!std::ptr::eq(base, ty) && accepts(base)).then_some(base)
}

pub(crate) fn wrong_type<T>(ty: &Type) -> TypeError {
    TypeError::WrongType {
        rust: std::any::type_name::<T>(),
        ty: ty.clone(),
    }
}

#[doc(hidden)]
pub fn __check_accepts<T: ToSql>(ty: &Type) -> Result<&Type, TypeError> {
    accepted(ty, T::accepts).ok_or_else(|| wrong_type::<T>(ty))
}

/// Implements [`ToSql::to_sql_checked`] inside an `impl ToSql for T` block.
#[macro_export]
macro_rules! to_sql_checked {
    () => {
        fn to_sql_checked(
            &self,
            ty: &$crate::types::Type,
            out: &mut $crate::bytes::BytesMut,
        ) -> ::std::result::Result<$crate::types::IsNull, $crate::types::TypeError> {
            let ty = $crate::types::__check_accepts::<Self>(ty)?;
            $crate::types::ToSql::to_sql(self, ty, out)
        }
    };
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        match self {
            Some(v) => v.to_sql(ty, out),
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(ty: &Type) -> bool {
        T::accepts(ty)
    }
    to_sql_checked!();
    // NULL has no bytes, so its format code does not matter: binary, as for every other NULL.
    fn is_text(&self) -> bool {
        self.as_ref().is_some_and(ToSql::is_text)
    }
}

impl<T: ToSql> ToSql for &T {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        (**self).to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        T::accepts(ty)
    }
    to_sql_checked!();
    fn is_text(&self) -> bool {
        (**self).is_text()
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, TypeError> {
        T::from_sql(ty, raw).map(Some)
    }
    fn from_sql_null(_: &Type) -> Result<Self, TypeError> {
        Ok(None)
    }
    fn accepts(ty: &Type) -> bool {
        T::accepts(ty)
    }
}

/// Copies a fixed-size value out of `raw`, or a length error naming `what`.
pub(crate) fn fixed<const N: usize>(raw: &[u8], what: &'static str) -> Result<[u8; N], TypeError> {
    raw.try_into().map_err(|_| TypeError::InvalidLength {
        what,
        expected: N,
        actual: raw.len(),
    })
}
