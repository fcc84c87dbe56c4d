//! [`Type`]: a PostgreSQL type as codecs see it — name, OID, schema and [`Kind`].
//!
//! Built-in types are constants ([`Type::INT4`], …) that point at static data: copying one,
//! comparing it or reading its OID allocates nothing and touches no atomic. Other types (enums,
//! composites, domains, arrays of them) are looked up by a driver and shared behind an `Arc`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::oid::Oid;

/// How deep [`Type::base`] follows domains (a domain over a domain …); PostgreSQL has no such
/// limit, but a type that deep is certainly a cycle in data the client was given.
const MAX_DOMAIN_DEPTH: usize = 16;

/// A PostgreSQL type.
///
/// Two types are equal when their OIDs and names are. [`Display`](fmt::Display) gives the name
/// a user would write (`timestamptz`, `int4[]`, `app.mood`).
#[derive(Clone)]
pub struct Type {
    oid: Oid,
    inner: Repr,
}

#[derive(Clone)]
enum Repr {
    Static(&'static Inner),
    Shared(Arc<Inner>),
}

struct Inner {
    name: Cow<'static, str>,
    schema: Cow<'static, str>,
    kind: Kind,
    /// False for a [`Type::unresolved`] stand-in.
    resolved: bool,
}

/// What kind of type a [`Type`] is.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A base type with its own binary format (`int4`, `text`, …).
    Simple,
    /// An enum, with its labels in sort order.
    Enum(Vec<String>),
    /// A pseudo-type (`record`, `void`, `unknown`, …).
    Pseudo,
    /// An array of the element type.
    Array(Type),
    /// A range over the subtype.
    Range(Type),
    /// A domain over the base type (values travel in the base type's format).
    Domain(Type),
    /// A composite (row) type with its fields in order.
    Composite(Vec<Field>),
}

/// One field of a composite type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    name: String,
    type_: Type,
}

impl Field {
    /// A field named `name` of type `type_`.
    pub fn new(name: String, type_: Type) -> Field {
        Field { name, type_ }
    }
    /// The field's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The field's type.
    pub fn type_(&self) -> &Type {
        &self.type_
    }
}

impl Type {
    /// A type that is not built in (as a driver builds it from the catalogs).
    pub fn new(name: String, oid: Oid, kind: Kind, schema: String) -> Type {
        Type {
            oid,
            inner: Repr::Shared(Arc::new(Inner {
                name: Cow::Owned(name),
                schema: Cow::Owned(schema),
                kind,
                resolved: true,
            })),
        }
    }

    /// A stand-in for a type whose description is not known (not built in and not looked up):
    /// named `oid <n>`, of kind [`Kind::Simple`]. Only text-like Rust types or none accept it.
    pub fn unresolved(oid: Oid) -> Type {
        Type {
            oid,
            inner: Repr::Shared(Arc::new(Inner {
                name: Cow::Owned(format!("oid {oid}")),
                schema: Cow::Borrowed(""),
                kind: Kind::Simple,
                resolved: false,
            })),
        }
    }

    /// The built-in type `oid`, or a [`Type::unresolved`] stand-in.
    pub fn from_oid_or_unresolved(oid: Oid) -> Type {
        Type::from_oid(oid).unwrap_or_else(|| Type::unresolved(oid))
    }

    /// The type's OID.
    #[inline]
    pub fn oid(&self) -> Oid {
        self.oid
    }

    fn inner(&self) -> &Inner {
        match &self.inner {
            Repr::Static(i) => i,
            Repr::Shared(i) => i,
        }
    }

    /// The type's name as in `pg_type.typname` (`int4`, `_int4` for its array, `mood`).
    pub fn name(&self) -> &str {
        &self.inner().name
    }

    /// The schema the type lives in (`pg_catalog` for the built-in ones; empty when unknown).
    pub fn schema(&self) -> &str {
        &self.inner().schema
    }

    /// The type's kind.
    pub fn kind(&self) -> &Kind {
        &self.inner().kind
    }

    /// True for a built-in type (a constant of this crate).
    pub fn is_builtin(&self) -> bool {
        matches!(self.inner, Repr::Static(_))
    }

    /// True for a stand-in made by [`Type::unresolved`].
    pub fn is_unresolved(&self) -> bool {
        !self.inner().resolved
    }

    /// The element type, for an array.
    pub fn array_element(&self) -> Option<&Type> {
        match self.kind() {
            Kind::Array(e) => Some(e),
            _ => None,
        }
    }

    /// The type values of this type travel as: the base type under any domains, else itself.
    pub fn base(&self) -> &Type {
        let mut ty = self;
        for _ in 0..MAX_DOMAIN_DEPTH {
            match ty.kind() {
                Kind::Domain(base) => ty = base,
                _ => return ty,
            }
        }
        ty
    }
}

impl PartialEq for Type {
    fn eq(&self, other: &Type) -> bool {
        self.oid == other.oid && self.name() == other.name()
    }
}

impl Eq for Type {}

impl PartialEq<Oid> for Type {
    fn eq(&self, other: &Oid) -> bool {
        self.oid == *other
    }
}

impl std::hash::Hash for Type {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.oid.hash(state);
    }
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The kind is left out: a composite's fields repeat whole types.
        write!(f, "Type({self}, oid {})", self.oid)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Kind::Array(e) = self.kind() {
            return write!(f, "{e}[]");
        }
        match self.schema() {
            "" | "pg_catalog" | "public" => f.write_str(self.name()),
            schema => write!(f, "{schema}.{}", self.name()),
        }
    }
}

macro_rules! builtins {
    (
        pseudo { $($pname:ident = $poid:literal $ppg:literal;)* }
        range { $($rname:ident = $roid:literal $rpg:literal ($sub:ident), $rarray:ident = $raoid:literal;)* }
        $($name:ident = $oid:literal $pg:literal, $array:ident = $aoid:literal;)*
    ) => {
        impl Type {
            $(
                #[doc = concat!("`", $pg, "`.")]
                pub const $name: Type = Type {
                    oid: $oid,
                    inner: Repr::Static(&Inner {
                        name: Cow::Borrowed($pg),
                        schema: Cow::Borrowed("pg_catalog"),
                        kind: Kind::Simple,
                        resolved: true,
                    }),
                };
                #[doc = concat!("`", $pg, "[]`.")]
                pub const $array: Type = Type {
                    oid: $aoid,
                    inner: Repr::Static(&Inner {
                        name: Cow::Borrowed(concat!("_", $pg)),
                        schema: Cow::Borrowed("pg_catalog"),
                        kind: Kind::Array(Type::$name),
                        resolved: true,
                    }),
                };
            )*
            $(
                #[doc = concat!("`", $rpg, "` (a range of `", stringify!($sub), "`).")]
                pub const $rname: Type = Type {
                    oid: $roid,
                    inner: Repr::Static(&Inner {
                        name: Cow::Borrowed($rpg),
                        schema: Cow::Borrowed("pg_catalog"),
                        kind: Kind::Range(Type::$sub),
                        resolved: true,
                    }),
                };
                #[doc = concat!("`", $rpg, "[]`.")]
                pub const $rarray: Type = Type {
                    oid: $raoid,
                    inner: Repr::Static(&Inner {
                        name: Cow::Borrowed(concat!("_", $rpg)),
                        schema: Cow::Borrowed("pg_catalog"),
                        kind: Kind::Array(Type::$rname),
                        resolved: true,
                    }),
                };
            )*
            $(
                #[doc = concat!("`", $ppg, "` (a pseudo-type).")]
                pub const $pname: Type = Type {
                    oid: $poid,
                    inner: Repr::Static(&Inner {
                        name: Cow::Borrowed($ppg),
                        schema: Cow::Borrowed("pg_catalog"),
                        kind: Kind::Pseudo,
                        resolved: true,
                    }),
                };
            )*

            /// The built-in type with this OID, if this crate knows it (no lookup, no
            /// allocation).
            pub fn from_oid(oid: Oid) -> Option<Type> {
                match oid {
                    $($oid => Some(Type::$name), $aoid => Some(Type::$array),)*
                    $($poid => Some(Type::$pname),)*
                    $($roid => Some(Type::$rname), $raoid => Some(Type::$rarray),)*
                    _ => None,
                }
            }
        }
    };
}

builtins! {
    pseudo {
        UNKNOWN = 705 "unknown";
        VOID = 2278 "void";
        RECORD = 2249 "record";
    }
    range {
        INT4_RANGE = 3904 "int4range" (INT4), INT4_RANGE_ARRAY = 3905;
        NUM_RANGE = 3906 "numrange" (NUMERIC), NUM_RANGE_ARRAY = 3907;
        TS_RANGE = 3908 "tsrange" (TIMESTAMP), TS_RANGE_ARRAY = 3909;
        TSTZ_RANGE = 3910 "tstzrange" (TIMESTAMPTZ), TSTZ_RANGE_ARRAY = 3911;
        DATE_RANGE = 3912 "daterange" (DATE), DATE_RANGE_ARRAY = 3913;
        INT8_RANGE = 3926 "int8range" (INT8), INT8_RANGE_ARRAY = 3927;
    }
    BOOL = 16 "bool", BOOL_ARRAY = 1000;
    BYTEA = 17 "bytea", BYTEA_ARRAY = 1001;
    CHAR = 18 "char", CHAR_ARRAY = 1002;
    NAME = 19 "name", NAME_ARRAY = 1003;
    INT8 = 20 "int8", INT8_ARRAY = 1016;
    INT2 = 21 "int2", INT2_ARRAY = 1005;
    INT4 = 23 "int4", INT4_ARRAY = 1007;
    REGPROC = 24 "regproc", REGPROC_ARRAY = 1008;
    TEXT = 25 "text", TEXT_ARRAY = 1009;
    OID = 26 "oid", OID_ARRAY = 1028;
    TID = 27 "tid", TID_ARRAY = 1010;
    XID = 28 "xid", XID_ARRAY = 1011;
    CID = 29 "cid", CID_ARRAY = 1012;
    JSON = 114 "json", JSON_ARRAY = 199;
    XML = 142 "xml", XML_ARRAY = 143;
    POINT = 600 "point", POINT_ARRAY = 1017;
    LSEG = 601 "lseg", LSEG_ARRAY = 1018;
    PATH = 602 "path", PATH_ARRAY = 1019;
    BOX = 603 "box", BOX_ARRAY = 1020;
    POLYGON = 604 "polygon", POLYGON_ARRAY = 1027;
    LINE = 628 "line", LINE_ARRAY = 629;
    CIDR = 650 "cidr", CIDR_ARRAY = 651;
    FLOAT4 = 700 "float4", FLOAT4_ARRAY = 1021;
    FLOAT8 = 701 "float8", FLOAT8_ARRAY = 1022;
    CIRCLE = 718 "circle", CIRCLE_ARRAY = 719;
    MACADDR8 = 774 "macaddr8", MACADDR8_ARRAY = 775;
    MONEY = 790 "money", MONEY_ARRAY = 791;
    MACADDR = 829 "macaddr", MACADDR_ARRAY = 1040;
    INET = 869 "inet", INET_ARRAY = 1041;
    BPCHAR = 1042 "bpchar", BPCHAR_ARRAY = 1014;
    VARCHAR = 1043 "varchar", VARCHAR_ARRAY = 1015;
    DATE = 1082 "date", DATE_ARRAY = 1182;
    TIME = 1083 "time", TIME_ARRAY = 1183;
    TIMESTAMP = 1114 "timestamp", TIMESTAMP_ARRAY = 1115;
    TIMESTAMPTZ = 1184 "timestamptz", TIMESTAMPTZ_ARRAY = 1185;
    INTERVAL = 1186 "interval", INTERVAL_ARRAY = 1187;
    TIMETZ = 1266 "timetz", TIMETZ_ARRAY = 1270;
    BIT = 1560 "bit", BIT_ARRAY = 1561;
    VARBIT = 1562 "varbit", VARBIT_ARRAY = 1563;
    NUMERIC = 1700 "numeric", NUMERIC_ARRAY = 1231;
    REGCLASS = 2205 "regclass", REGCLASS_ARRAY = 2210;
    REGTYPE = 2206 "regtype", REGTYPE_ARRAY = 2211;
    UUID = 2950 "uuid", UUID_ARRAY = 2951;
    PG_LSN = 3220 "pg_lsn", PG_LSN_ARRAY = 3221;
    TSVECTOR = 3614 "tsvector", TSVECTOR_ARRAY = 3643;
    JSONB = 3802 "jsonb", JSONB_ARRAY = 3807;
    JSONPATH = 4072 "jsonpath", JSONPATH_ARRAY = 4073;
}
