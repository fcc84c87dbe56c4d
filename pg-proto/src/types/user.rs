//! Your own enums and composites: [`crate::pg_enum!`] and [`crate::pg_composite!`], and the
//! helpers they expand to.

use super::{Field, FromSql, Kind, ToSql, Type, TypeError};

/// True when `ty` is named `name` (`"mood"`, or schema-qualified `"app.mood"`).
#[doc(hidden)]
pub fn __named(ty: &Type, name: &str) -> bool {
    match name.split_once('.') {
        Some((schema, name)) => ty.schema() == schema && ty.name() == name,
        None => ty.name() == name,
    }
}

/// Whether an enum with Rust labels `labels` maps to `ty`: `ty` is the enum `name`; to write
/// (`reading` false), every Rust variant must also have a PostgreSQL label. Reading takes any
/// labels: a value whose label has no variant is an error of its own
/// ([`TypeError::UnknownLabel`]), so a label added to the type later does not stop the others
/// from being read.
#[doc(hidden)]
pub fn __enum_accepts(ty: &Type, name: &str, labels: &[&str], reading: bool) -> bool {
    if !__named(ty, name) {
        return false;
    }
    let Kind::Enum(pg) = ty.kind() else {
        return false;
    };
    reading || labels.iter().all(|l| pg.iter().any(|p| p == l))
}

/// The label of an enum value (UTF-8 text, as `enum_send` writes it).
#[doc(hidden)]
pub fn __enum_label(raw: &[u8]) -> Result<&str, TypeError> {
    std::str::from_utf8(raw).map_err(|_| TypeError::InvalidUtf8)
}

/// The error for an enum label with no Rust variant.
#[doc(hidden)]
pub fn __unknown_label(ty: &Type, label: &str) -> TypeError {
    TypeError::UnknownLabel {
        ty: ty.clone(),
        label: label.to_owned(),
    }
}

/// The fields of composite `ty` (a domain over one counts), or the wrong-type error for `T`.
#[doc(hidden)]
pub fn __composite_fields<T>(ty: &Type) -> Result<&[Field], TypeError> {
    match ty.base().kind() {
        Kind::Composite(fields) => Ok(fields),
        _ => Err(super::wrong_type::<T>(ty)),
    }
}

/// A Rust field of a composite: its name, and whether its Rust type takes a PostgreSQL type.
#[doc(hidden)]
pub type __RustField<'n> = (&'n str, fn(&Type) -> bool);

/// Whether a composite with Rust fields `fields` (name, and whether the Rust type accepts a
/// PostgreSQL type) maps to `ty`: the composite `name` with exactly these field names.
#[doc(hidden)]
pub fn __composite_accepts(ty: &Type, name: &str, fields: &[__RustField<'_>]) -> bool {
    if !__named(ty, name) {
        return false;
    }
    let Kind::Composite(pg) = ty.kind() else {
        return false;
    };
    pg.len() == fields.len()
        && pg.iter().all(|f| {
            fields
                .iter()
                .any(|(name, accepts)| *name == f.name() && accepts(f.type_()))
        })
}

/// [`ToSql::accepts`], domains taken as their base type.
#[doc(hidden)]
pub fn __to_accepts<T: ToSql>(ty: &Type) -> bool {
    T::accepts(ty) || T::accepts(ty.base())
}

/// [`FromSql::accepts`], domains taken as their base type.
#[doc(hidden)]
pub fn __from_accepts<'a, T: FromSql<'a>>(ty: &Type) -> bool {
    T::accepts(ty) || T::accepts(ty.base())
}

/// The error for a composite field the Rust struct does not have, or misses.
#[doc(hidden)]
pub fn __field_mismatch() -> TypeError {
    TypeError::Malformed("record: fields differ from the Rust struct's")
}

/// Defines a Rust enum mapped to a PostgreSQL enum by label, with its [`ToSql`](crate::types::ToSql)
/// and [`FromSql`](crate::types::FromSql) impls.
///
/// The PostgreSQL name may be schema-qualified (`"app.mood"`). Writing accepts the type when
/// every variant has a label; reading accepts it whatever its labels, and a label with no
/// variant (added to the type later) reads as [`TypeError::UnknownLabel`].
///
/// ```
/// corelane_pg_proto::pg_enum! {
///     /// How someone feels.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Mood as "mood" {
///         Sad => "sad",
///         Ok => "ok",
///         Happy => "happy",
///     }
/// }
/// ```
#[macro_export]
macro_rules! pg_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $pg:literal {
            $($(#[$vmeta:meta])* $variant:ident => $label:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The PostgreSQL label of this value.
            pub fn label(&self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }
        }

        impl $crate::types::ToSql for $name {
            fn to_sql(
                &self,
                _: &$crate::types::Type,
                out: &mut $crate::bytes::BytesMut,
            ) -> ::std::result::Result<$crate::types::IsNull, $crate::types::TypeError> {
                out.extend_from_slice(self.label().as_bytes());
                Ok($crate::types::IsNull::No)
            }
            fn accepts(ty: &$crate::types::Type) -> bool {
                $crate::types::__enum_accepts(ty, $pg, &[$($label),+], false)
            }
            $crate::to_sql_checked!();
        }

        impl<'a> $crate::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &$crate::types::Type,
                raw: &'a [u8],
            ) -> ::std::result::Result<Self, $crate::types::TypeError> {
                match $crate::types::__enum_label(raw)? {
                    $($label => Ok($name::$variant),)+
                    other => Err($crate::types::__unknown_label(ty, other)),
                }
            }
            fn accepts(ty: &$crate::types::Type) -> bool {
                $crate::types::__enum_accepts(ty, $pg, &[$($label),+], true)
            }
        }
    };
}

/// Defines a Rust struct mapped to a PostgreSQL composite type, field by field (same names;
/// any order), with its [`ToSql`](crate::types::ToSql) and [`FromSql`](crate::types::FromSql)
/// impls in the binary record format.
///
/// The composite must have exactly the struct's fields, each accepted by the field's Rust
/// type (a field that may be NULL wants `Option<T>`). Values are written in the composite's
/// field order, as the server expects; reading checks each field's type on the wire against
/// the composite's, so a type altered since it was looked up is an error, never a misread.
///
/// ```
/// corelane_pg_proto::pg_composite! {
///     /// An item of an inventory.
///     #[derive(Debug, Clone, PartialEq)]
///     pub struct Item as "item" {
///         pub id: i32,
///         pub name: String,
///         pub note: Option<String>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! pg_composite {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident as $pg:literal {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $fty,)+
        }

        impl $crate::types::ToSql for $name {
            fn to_sql(
                &self,
                ty: &$crate::types::Type,
                out: &mut $crate::bytes::BytesMut,
            ) -> ::std::result::Result<$crate::types::IsNull, $crate::types::TypeError> {
                let fields = $crate::types::__composite_fields::<Self>(ty)?;
                let mut record = $crate::types::RecordWriter::new(out);
                for f in fields {
                    let written = match f.name() {
                        $(stringify!($field) => record.field(f.type_(), &self.$field),)+
                        _ => Err($crate::types::__field_mismatch()),
                    };
                    if let Err(e) = written {
                        record.abort();
                        return Err(e);
                    }
                }
                record.finish()
            }
            fn accepts(ty: &$crate::types::Type) -> bool {
                $crate::types::__composite_accepts(
                    ty,
                    $pg,
                    &[$((stringify!($field), $crate::types::__to_accepts::<$fty>)),+],
                )
            }
            $crate::to_sql_checked!();
        }

        impl<'a> $crate::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &$crate::types::Type,
                raw: &'a [u8],
            ) -> ::std::result::Result<Self, $crate::types::TypeError> {
                let fields = $crate::types::__composite_fields::<Self>(ty)?;
                let mut record = $crate::types::RecordReader::new(raw)?;
                if record.len() != fields.len() {
                    return Err($crate::types::__field_mismatch());
                }
                $(let mut $field: ::std::option::Option<$fty> = None;)+
                for f in fields {
                    match f.name() {
                        $(stringify!($field) => $field = Some(record.next::<$fty>(f.type_())?),)+
                        _ => return Err($crate::types::__field_mismatch()),
                    }
                }
                record.finish()?;
                Ok($name {
                    $($field: $field.ok_or_else($crate::types::__field_mismatch)?,)+
                })
            }
            fn accepts(ty: &$crate::types::Type) -> bool {
                $crate::types::__composite_accepts(
                    ty,
                    $pg,
                    &[$((stringify!($field), $crate::types::__from_accepts::<$fty>)),+],
                )
            }
        }
    };
}
