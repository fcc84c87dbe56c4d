//! OIDs of the built-in types this crate knows (from `pg_type.dat`).

/// A PostgreSQL type OID.
pub type Oid = u32;

macro_rules! oids {
    ($($name:ident = $oid:expr, $array:ident = $aoid:expr;)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`.")]
            pub const $name: Oid = $oid;
            #[doc = concat!("`", stringify!($name), "[]`.")]
            pub const $array: Oid = $aoid;
        )*

        /// The element type of an array type, or `None` if `array` is not a known array type.
        pub fn array_element(array: Oid) -> Option<Oid> {
            match array {
                $($aoid => Some($oid),)*
                _ => None,
            }
        }

        /// The array type whose elements are `element`, if known.
        pub fn array_of(element: Oid) -> Option<Oid> {
            match element {
                $($oid => Some($aoid),)*
                _ => None,
            }
        }
    };
}

oids! {
    BOOL = 16, BOOL_ARRAY = 1000;
    BYTEA = 17, BYTEA_ARRAY = 1001;
    CHAR = 18, CHAR_ARRAY = 1002;
    NAME = 19, NAME_ARRAY = 1003;
    INT8 = 20, INT8_ARRAY = 1016;
    INT2 = 21, INT2_ARRAY = 1005;
    INT4 = 23, INT4_ARRAY = 1007;
    TEXT = 25, TEXT_ARRAY = 1009;
    OID = 26, OID_ARRAY = 1028;
    JSON = 114, JSON_ARRAY = 199;
    CIDR = 650, CIDR_ARRAY = 651;
    FLOAT4 = 700, FLOAT4_ARRAY = 1021;
    FLOAT8 = 701, FLOAT8_ARRAY = 1022;
    MACADDR8 = 774, MACADDR8_ARRAY = 775;
    MACADDR = 829, MACADDR_ARRAY = 1040;
    INET = 869, INET_ARRAY = 1041;
    BPCHAR = 1042, BPCHAR_ARRAY = 1014;
    VARCHAR = 1043, VARCHAR_ARRAY = 1015;
    DATE = 1082, DATE_ARRAY = 1182;
    TIME = 1083, TIME_ARRAY = 1183;
    TIMESTAMP = 1114, TIMESTAMP_ARRAY = 1115;
    TIMESTAMPTZ = 1184, TIMESTAMPTZ_ARRAY = 1185;
    INTERVAL = 1186, INTERVAL_ARRAY = 1187;
    TIMETZ = 1266, TIMETZ_ARRAY = 1270;
    BIT = 1560, BIT_ARRAY = 1561;
    VARBIT = 1562, VARBIT_ARRAY = 1563;
    NUMERIC = 1700, NUMERIC_ARRAY = 1231;
    UUID = 2950, UUID_ARRAY = 2951;
    JSONB = 3802, JSONB_ARRAY = 3807;
}

/// `unknown` (untyped literals).
pub const UNKNOWN: Oid = 705;
/// `void`.
pub const VOID: Oid = 2278;
/// `record`.
pub const RECORD: Oid = 2249;

/// `int4range`.
pub const INT4_RANGE: Oid = 3904;
/// `numrange`.
pub const NUM_RANGE: Oid = 3906;
/// `tsrange`.
pub const TS_RANGE: Oid = 3908;
/// `tstzrange`.
pub const TSTZ_RANGE: Oid = 3910;
/// `daterange`.
pub const DATE_RANGE: Oid = 3912;
/// `int8range`.
pub const INT8_RANGE: Oid = 3926;
