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
//! | `text`, `varchar`, `name`, `bpchar`, `unknown` | `String`, `&str` |
//! | `bytea` | `Vec<u8>`, `&[u8]`, `Bytes` |
//! | `uuid` | [`Uuid`] |
//! | `json`, `jsonb` | [`Json`] (raw text; the `jsonb` version byte is handled) |
//! | `numeric` | [`Numeric`] (exact decimal string, `NaN`, `±Infinity`) |
//! | `date`, `time`, `timestamp`, `timestamptz`, `interval` | [`Date`], [`Time`], [`Timestamp`], [`TimestampTz`], [`Interval`] |
//! | arrays of the above | `Vec<T>` (1-D), [`Array<T>`] (up to 6 dimensions) |
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
//!
//! They share the bundled types' wire code and range checks: a value PostgreSQL cannot hold
//! is refused before it is sent ([`TypeError::OutOfRange`]), and a PostgreSQL value the Rust
//! type cannot hold is an error when read — `infinity` into a chrono/time type or `NaN` into a
//! `Decimal` is [`TypeError::NotFinite`] — never a silent rounding. Sub-microsecond parts of
//! chrono/time values are floored to the microsecond.
//!
//! Decoding checks the OID ([`FromSql::from_sql_nullable`]) and the exact byte layout; every
//! mismatch is a [`TypeError`], never a panic.

mod array;
mod datetime;
mod json;
mod numeric;
pub mod oid;
mod primitive;
mod uuid;

#[cfg(feature = "chrono")]
mod with_chrono;
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
mod tests_support;

use bytes::BytesMut;

pub use self::array::{Array, Dimension};
pub use self::datetime::{Date, DateTimeParts, Interval, Time, Timestamp, TimestampTz};
pub use self::json::Json;
pub use self::numeric::Numeric;
pub use self::uuid::Uuid;
#[cfg(feature = "serde_json")]
pub use self::with_serde_json::JsonOf;

/// A PostgreSQL type OID.
pub type Oid = u32;

/// Whether a serialized value is NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsNull {
    /// The value is NULL; nothing was written.
    Yes,
    /// The value was written.
    No,
}

/// A value could not be encoded or decoded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// The Rust type cannot represent the PostgreSQL type.
    #[error("cannot convert between Rust type {rust} and PostgreSQL type oid {oid}")]
    WrongType {
        /// The Rust type's name.
        rust: &'static str,
        /// The PostgreSQL type.
        oid: Oid,
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
    /// A JSON document could not be serialized or deserialized (the `serde_json` message).
    #[error("JSON: {0}")]
    Json(String),
}

/// A Rust value that can be sent as a binary-format parameter.
///
/// Object safe for `&dyn ToSql` parameter lists; implementors add [`crate::to_sql_checked!`]
/// inside the impl to get `to_sql_checked`.
pub trait ToSql {
    /// Writes the value's binary encoding (without a length prefix) for type `ty`;
    /// [`IsNull::Yes`] (writing nothing) for NULL.
    fn to_sql(&self, ty: Oid, out: &mut BytesMut) -> Result<IsNull, TypeError>;

    /// Whether this Rust type can be encoded as `ty`.
    fn accepts(ty: Oid) -> bool
    where
        Self: Sized;

    /// [`ToSql::to_sql`] after checking [`ToSql::accepts`].
    fn to_sql_checked(&self, ty: Oid, out: &mut BytesMut) -> Result<IsNull, TypeError>;
}

/// A Rust value that can be read from a binary-format result column.
pub trait FromSql<'a>: Sized {
    /// Decodes a non-NULL value of type `ty`.
    fn from_sql(ty: Oid, raw: &'a [u8]) -> Result<Self, TypeError>;

    /// Decodes a NULL; an error unless the type has a NULL (like `Option<T>`).
    fn from_sql_null(ty: Oid) -> Result<Self, TypeError> {
        let _ = ty;
        Err(TypeError::UnexpectedNull)
    }

    /// Whether this Rust type can be decoded from `ty`.
    fn accepts(ty: Oid) -> bool;

    /// Checks [`FromSql::accepts`], then decodes a column (`None` is NULL).
    fn from_sql_nullable(ty: Oid, raw: Option<&'a [u8]>) -> Result<Self, TypeError> {
        if !Self::accepts(ty) {
            return Err(wrong_type::<Self>(ty));
        }
        match raw {
            Some(raw) => Self::from_sql(ty, raw),
            None => Self::from_sql_null(ty),
        }
    }
}

pub(crate) fn wrong_type<T>(ty: Oid) -> TypeError {
    TypeError::WrongType {
        rust: std::any::type_name::<T>(),
        oid: ty,
    }
}

#[doc(hidden)]
pub fn __check_accepts<T: ToSql>(ty: Oid) -> Result<(), TypeError> {
    if T::accepts(ty) {
        Ok(())
    } else {
        Err(wrong_type::<T>(ty))
    }
}

/// Implements [`ToSql::to_sql_checked`] inside an `impl ToSql for T` block.
#[macro_export]
macro_rules! to_sql_checked {
    () => {
        fn to_sql_checked(
            &self,
            ty: $crate::types::Oid,
            out: &mut $crate::bytes::BytesMut,
        ) -> ::std::result::Result<$crate::types::IsNull, $crate::types::TypeError> {
            $crate::types::__check_accepts::<Self>(ty)?;
            $crate::types::ToSql::to_sql(self, ty, out)
        }
    };
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self, ty: Oid, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        match self {
            Some(v) => v.to_sql(ty, out),
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(ty: Oid) -> bool {
        T::accepts(ty)
    }
    to_sql_checked!();
}

impl<T: ToSql> ToSql for &T {
    fn to_sql(&self, ty: Oid, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        (**self).to_sql(ty, out)
    }
    fn accepts(ty: Oid) -> bool {
        T::accepts(ty)
    }
    to_sql_checked!();
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn from_sql(ty: Oid, raw: &'a [u8]) -> Result<Self, TypeError> {
        T::from_sql(ty, raw).map(Some)
    }
    fn from_sql_null(_: Oid) -> Result<Self, TypeError> {
        Ok(None)
    }
    fn accepts(ty: Oid) -> bool {
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
