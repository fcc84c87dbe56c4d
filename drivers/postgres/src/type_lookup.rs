//! Types that are not built in (enums, composites, domains, ranges, arrays of them): looked up
//! in the catalogs once per connection, and kept in that connection's [`TypeCache`].
//!
//! A statement's parameter and column types are resolved when it is described (on the
//! connection that describes it), so the [`Statement`](crate::Statement) carries complete
//! [`Type`]s to any thread and any connection, pipelines included; rows never wait for a
//! lookup. Built-in types are constants and never looked up.
//!
//! Invalidation — the cache is per connection, keyed by OID, and never trusted past DDL the
//! client notices:
//!
//! - A type dropped and created again has a new OID, which misses the cache and is looked up.
//!   Statements described with the old one fail before running (XX000 "cache lookup failed
//!   for type", 42704, or 0A000: see `is_stale_statement`), or refuse a parameter client-side
//!   (the old labels or fields do not fit the Rust value); either way the statement is
//!   described once more.
//! - A statement described again for any such reason is described with the describing
//!   connection's looked-up types forgotten (`Connection::describe_fresh`), and a connection
//!   that sees one of its statements go stale clears its cache: a type altered in place
//!   (`ALTER TYPE … ADD VALUE`, same OID) is looked up again then.
//! - Not noticed: a composite altered in place (`ADD ATTRIBUTE`) on the read path of a
//!   statement already described. Its values then have other fields than the description,
//!   which the record decoder refuses (checking count and each field's type on the wire):
//!   an error, never a misread, until the statement is described again (a new connection, or a
//!   stale statement). Enum values are read by label, so a stale enum description still reads
//!   every label it knows.

use std::collections::HashMap;

use bytes::BufMut;
use corelane_pg_proto::message::frontend::{self, Format};
use corelane_pg_proto::types::{oid, Field, FromSql, IsNull, Kind, Oid, Type};

use crate::codec::{Expect, Response};
use crate::connection::Connection;
use crate::type_cache::{TypeCache, MAX_CACHED};
use crate::Error;

/// How many types one description may look up (a composite of composites of …): past it the
/// description fails rather than query the catalogs without end.
const MAX_LOOKUPS: usize = 64;

/// How deep a type may nest (array of composite of domain of …) when it is built.
const MAX_DEPTH: usize = 16;

/// A `pg_type` row and what hangs off it, as the lookup query returns it.
struct Raw {
    name: String,
    schema: String,
    typtype: i8,
    typlen: i16,
    elem: Oid,
    base: Oid,
    subtype: Oid,
    labels: Vec<String>,
    field_names: Vec<String>,
    field_types: Vec<Oid>,
}

impl Raw {
    /// The types this one refers to (looked up in turn).
    fn referenced(&self) -> impl Iterator<Item = Oid> + '_ {
        [self.elem, self.base, self.subtype]
            .into_iter()
            .chain(self.field_types.iter().copied())
            .filter(|&o| o != 0)
    }
}

/// One type, its enum labels and its composite fields, in one row (binary results).
const LOOKUP: &str = "SELECT t.typname, n.nspname, t.typtype, t.typlen, t.typelem, \
    t.typbasetype, COALESCE(r.rngsubtype, 0::pg_catalog.oid), \
    ARRAY(SELECT e.enumlabel::pg_catalog.text FROM pg_catalog.pg_enum e \
          WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder), \
    ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped \
          ORDER BY a.attnum), \
    ARRAY(SELECT a.atttypid FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped \
          ORDER BY a.attnum) \
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
    LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid WHERE t.oid = $1";

impl Connection {
    /// Looks up every type of `oids` this connection does not know yet (and the types they
    /// refer to), and keeps them. Nothing is sent, and nothing allocated, when all are known.
    pub(crate) async fn resolve_types(&self, oids: impl Iterator<Item = Oid>) -> Result<(), Error> {
        let mut pending: Vec<Oid> = {
            let cache = self.types.borrow();
            oids.filter(|&o| !cache.knows(o)).collect()
        };
        if pending.is_empty() {
            return Ok(());
        }
        let mut fetched: HashMap<Oid, Raw> = HashMap::new();
        while let Some(oid) = pending.pop() {
            if fetched.contains_key(&oid) || self.types.borrow().knows(oid) {
                continue;
            }
            if fetched.len() >= MAX_LOOKUPS {
                return Err(Error::type_error(format!(
                    "type oid {oid}: more than {MAX_LOOKUPS} types to look up for one statement"
                )));
            }
            let raw = self.fetch_type(oid).await?;
            pending.extend(raw.referenced());
            fetched.insert(oid, raw);
        }
        let mut cache = self.types.borrow_mut();
        let oids: Vec<Oid> = fetched.keys().copied().collect();
        for oid in oids {
            build(oid, &fetched, &mut cache, 0);
        }
        Ok(())
    }

    /// One round trip: the catalog row of type `oid` (the unnamed statement, binary results).
    async fn fetch_type(&self, oid: Oid) -> Result<Raw, Error> {
        let mut out = bytes::BytesMut::new();
        let encode = |e: &dyn std::fmt::Display| Error::type_error(e.to_string());
        frontend::parse("", LOOKUP, [oid::OID], &mut out).map_err(|e| encode(&e))?;
        frontend::bind(
            "",
            "",
            [Format::Binary],
            [oid],
            |v, buf| -> Result<IsNull, std::convert::Infallible> {
                buf.put_u32(v);
                Ok(IsNull::No)
            },
            [Format::Binary],
            &mut out,
        )
        .map_err(|e| encode(&e))?;
        frontend::execute("", 0, &mut out).map_err(|e| encode(&e))?;
        frontend::sync(&mut out);
        let rows = match self
            .call(Expect::Execute, |b| b.extend_from_slice(&out))
            .await?
        {
            Response::Rows { rows, .. } => rows,
            Response::Failed(e) => return Err(Error::db(e)),
            _ => return Err(Error::protocol("unexpected reply to a type lookup")),
        };
        let row = match rows.at_most_one() {
            Ok(Some(row)) => row,
            _ => {
                return Err(Error::type_error(format!(
                    "type oid {oid} does not exist (dropped?)"
                )))
            }
        };
        fn col<'a, T: FromSql<'a>>(
            row: &'a corelane_pg_proto::message::backend::DataRow,
            i: usize,
            ty: &Type,
        ) -> Result<T, Error> {
            let raw = row
                .get(i)
                .ok_or_else(|| Error::protocol("a type lookup row is short"))?;
            T::from_sql_nullable(ty, raw)
                .map_err(|e| Error::type_error_in(format_args!("type lookup column {i}"), e))
        }
        Ok(Raw {
            name: col(&row, 0, &Type::NAME)?,
            schema: col(&row, 1, &Type::NAME)?,
            typtype: col(&row, 2, &Type::CHAR)?,
            typlen: col(&row, 3, &Type::INT2)?,
            elem: col(&row, 4, &Type::OID)?,
            base: col(&row, 5, &Type::OID)?,
            subtype: col(&row, 6, &Type::OID)?,
            labels: col(&row, 7, &Type::TEXT_ARRAY)?,
            field_names: col(&row, 8, &Type::TEXT_ARRAY)?,
            field_types: col(&row, 9, &Type::OID_ARRAY)?,
        })
    }
}

/// The type `oid` from what was fetched (and what the cache knows), kept in the cache.
fn build(oid: Oid, fetched: &HashMap<Oid, Raw>, cache: &mut TypeCache, depth: usize) -> Type {
    if let Some(ty) = cache.get(oid) {
        return ty;
    }
    let Some(raw) = fetched.get(&oid) else {
        return Type::unresolved(oid);
    };
    if depth >= MAX_DEPTH {
        return Type::unresolved(oid);
    }
    let mut sub = |o: Oid| build(o, fetched, cache, depth + 1);
    let kind = match raw.typtype as u8 {
        b'e' => Kind::Enum(raw.labels.clone()),
        b'c' => Kind::Composite(
            raw.field_names
                .iter()
                .zip(&raw.field_types)
                .map(|(name, &ty)| Field::new(name.clone(), sub(ty)))
                .collect(),
        ),
        b'd' => Kind::Domain(sub(raw.base)),
        b'r' => Kind::Range(sub(raw.subtype)),
        b'p' => Kind::Pseudo,
        // Variable-length with an element type: an array (fixed-length types with an element,
        // like `point`, have their own formats).
        _ if raw.elem != 0 && raw.typlen == -1 => Kind::Array(sub(raw.elem)),
        _ => Kind::Simple,
    };
    let ty = Type::new(raw.name.clone(), oid, kind, raw.schema.clone());
    if cache.types.len() >= MAX_CACHED {
        cache.types.clear();
    }
    cache.types.insert(oid, ty.clone());
    ty
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw(name: &str, typtype: u8, typlen: i16) -> Raw {
        Raw {
            name: name.into(),
            schema: "app".into(),
            typtype: typtype as i8,
            typlen,
            elem: 0,
            base: 0,
            subtype: 0,
            labels: Vec::new(),
            field_names: Vec::new(),
            field_types: Vec::new(),
        }
    }

    #[test]
    fn kinds_from_catalog_rows() {
        let mut fetched = HashMap::new();
        fetched.insert(
            100,
            Raw {
                labels: vec!["a".into(), "b".into()],
                ..raw("mood", b'e', 4)
            },
        );
        fetched.insert(
            101,
            Raw {
                elem: 100,
                ..raw("_mood", b'b', -1)
            },
        );
        fetched.insert(
            102,
            Raw {
                field_names: vec!["id".into(), "m".into(), "ms".into()],
                field_types: vec![23, 100, 101],
                ..raw("item", b'c', -1)
            },
        );
        fetched.insert(
            103,
            Raw {
                base: 102,
                ..raw("item_d", b'd', -1)
            },
        );
        fetched.insert(
            104,
            Raw {
                subtype: 1082,
                ..raw("dates", b'r', -1)
            },
        );
        // Fixed-length with an element type (like `point`): its own format, not an array.
        fetched.insert(
            105,
            Raw {
                elem: 701,
                ..raw("pt", b'b', 16)
            },
        );
        let mut cache = TypeCache::default();
        let d = build(103, &fetched, &mut cache, 0);
        assert_eq!(d.to_string(), "app.item_d");
        let Kind::Domain(item) = d.kind() else {
            panic!("{d:?}")
        };
        let Kind::Composite(fields) = item.kind() else {
            panic!("{item:?}")
        };
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0].type_(), &Type::INT4);
        assert_eq!(
            fields[1].type_().kind(),
            &Kind::Enum(vec!["a".into(), "b".into()])
        );
        assert_eq!(fields[2].type_().array_element().unwrap().name(), "mood");
        assert_eq!(
            build(104, &fetched, &mut cache, 0).kind(),
            &Kind::Range(Type::DATE)
        );
        assert_eq!(build(105, &fetched, &mut cache, 0).kind(), &Kind::Simple);
        // Everything built is kept: no second lookup on this connection.
        for oid in [100, 101, 102, 103, 104, 105] {
            assert!(cache.knows(oid), "{oid}");
        }
        assert!(cache.knows(23) && cache.knows(0) && !cache.knows(999));
        assert!(cache.resolve(999).is_unresolved());
        cache.clear();
        assert!(!cache.knows(100));
    }

    #[test]
    fn a_cycle_in_the_catalog_rows_is_bounded() {
        // Not possible in PostgreSQL, but nothing the server sends may loop the client.
        let mut fetched = HashMap::new();
        fetched.insert(
            1,
            Raw {
                base: 2,
                ..raw("a", b'd', 4)
            },
        );
        fetched.insert(
            2,
            Raw {
                base: 1,
                ..raw("b", b'd', 4)
            },
        );
        let mut cache = TypeCache::default();
        let a = build(1, &fetched, &mut cache, 0);
        assert_eq!(a.name(), "a");
        // The innermost is a stand-in; `base` stops at its own bound.
        let _ = a.base();
    }
}
