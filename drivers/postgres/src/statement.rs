//! Prepared statements as the client sees them: parameter types and result columns.

use std::sync::Arc;

use bytes::BufMut;
use corelane_pg_proto::message::backend::{Field, RowDescription};
use corelane_pg_proto::message::frontend::Format;
use corelane_pg_proto::types::{IsNull, Oid, ToSql, Type};
use corelane_runtime::SpareBuf;

use crate::Error;

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    type_: Type,
    binary: bool,
}

impl Column {
    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The column's type OID.
    pub fn type_oid(&self) -> Oid {
        self.type_.oid()
    }
    /// The column's type (looked up once per connection when it is not built in).
    pub fn type_(&self) -> &Type {
        &self.type_
    }
    /// True when the column is transferred in binary: every column of `query`, `execute`,
    /// `pipeline` and the rest of the extended protocol. Only `simple_query` rows come as
    /// text (and read as `String`/`&str`).
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    fn from_field(f: &Field, resolve: &dyn Fn(Oid) -> Type, binary: bool) -> Column {
        Column {
            name: f.name.to_string(),
            type_: resolve(f.type_oid),
            binary,
        }
    }
}

/// A statement the client has described: its SQL, parameter types and result columns.
/// Cheap to clone; shared by every connection of the client (each prepares it on first use),
/// and usable on any thread: a statement prepared on one worker runs on another, or off the
/// loop, as it is (it carries its own description; see [`ToStatement`](crate::ToStatement)).
#[derive(Debug, Clone)]
pub struct Statement {
    pub(crate) sql: Arc<str>,
    pub(crate) params: Arc<[Type]>,
    pub(crate) columns: Arc<[Column]>,
    /// What a connection's statement cache knows it by: the same `Arc` as `sql` for a
    /// statement whose parameter types the server inferred, the SQL plus the declared types
    /// for one from `prepare_typed` (the same SQL parsed with other types is another
    /// server-side statement). SQL text holds no NUL byte (the server refuses it), so the
    /// two kinds of key never collide.
    pub(crate) key: Arc<str>,
    /// The first statement in `sql` that would change the session of a shared connection
    /// (`SET`, `BEGIN`, `LISTEN`, ...), classified once when the statement is described: a
    /// statement's every later use on a shared connection checks this field instead of
    /// lexing its SQL again (see `session.rs`).
    pub(crate) session_change: Option<crate::session::Change>,
}

impl Statement {
    /// A statement from its description: parameter types and result columns, with `resolve`
    /// giving the type of an OID (built in or looked up).
    pub(crate) fn new(
        sql: &str,
        params: Vec<Type>,
        description: Option<RowDescription>,
        resolve: &dyn Fn(Oid) -> Type,
    ) -> Self {
        let columns: Vec<Column> = description
            .map(|d| {
                d.fields
                    .iter()
                    .map(|f| Column::from_field(f, resolve, true))
                    .collect()
            })
            .unwrap_or_default();
        let sql: Arc<str> = sql.into();
        Statement {
            key: sql.clone(),
            session_change: crate::session::classify(&sql),
            sql,
            params: params.into(),
            columns: columns.into(),
        }
    }

    /// A statement described with parameter types declared by the caller (`declared`, as
    /// given to `prepare_typed`): keyed apart from the same SQL with inferred types.
    pub(crate) fn typed(
        sql: &str,
        declared: &[Oid],
        params: Vec<Type>,
        description: Option<RowDescription>,
        resolve: &dyn Fn(Oid) -> Type,
    ) -> Self {
        let mut stmt = Statement::new(sql, params, description, resolve);
        let mut key = String::with_capacity(sql.len() + 8 + declared.len() * 6);
        key.push_str(sql);
        key.push_str("\0typed");
        for oid in declared {
            key.push(':');
            key.push_str(&oid.to_string());
        }
        stmt.key = key.into();
        stmt
    }

    /// True for a statement from `prepare_typed`: it is never put in (nor looked up from) the
    /// client's per-thread descriptions, which are keyed by SQL alone.
    pub(crate) fn is_typed(&self) -> bool {
        !Arc::ptr_eq(&self.key, &self.sql)
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }
    /// The parameter types (compare with an [`oid`](crate::oid) constant, or read
    /// [`Type::name`], [`Type::kind`]).
    pub fn params(&self) -> &[Type] {
        &self.params
    }

    /// The type this statement already knows for `oid` (a parameter's or a column's), else
    /// the built-in one, else a stand-in naming the OID ([`Type::unresolved`]).
    pub(crate) fn type_for(&self, oid: Oid) -> Type {
        self.columns
            .iter()
            .map(Column::type_)
            .chain(self.params.iter())
            .find(|t| t.oid() == oid)
            .cloned()
            .unwrap_or_else(|| Type::from_oid_or_unresolved(oid))
    }
    /// The result columns (empty for statements returning no rows).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// True when the server's description of the statement (a portal's `RowDescription`:
    /// names, types and the formats the rows come in) is the one this statement assumed.
    pub(crate) fn matches(&self, described: &RowDescription) -> bool {
        self.columns.len() == described.fields.len()
            && self.columns.iter().zip(&described.fields).all(|(c, f)| {
                c.type_.oid() == f.type_oid
                    && c.binary == (f.format == Format::Binary)
                    && c.name == *f.name
            })
    }

    /// The columns of rows that came as `described` says (a portal's description: each
    /// column's type and the format it was sent in), for decoding them.
    pub(crate) fn columns_as_sent(
        described: &RowDescription,
        resolve: &dyn Fn(Oid) -> Type,
    ) -> Arc<[Column]> {
        described
            .fields
            .iter()
            .map(|f| Column::from_field(f, resolve, f.format == Format::Binary))
            .collect()
    }

    /// This statement with the result columns the server now reports (`described`), all in
    /// binary (the format the client asks for).
    pub(crate) fn refreshed(
        &self,
        described: &RowDescription,
        resolve: &dyn Fn(Oid) -> Type,
    ) -> Statement {
        Statement {
            sql: self.sql.clone(),
            key: self.key.clone(),
            session_change: self.session_change,
            params: self.params.clone(),
            columns: described
                .fields
                .iter()
                .map(|f| Column::from_field(f, resolve, true))
                .collect(),
        }
    }

    /// True when a parameter is of a type that is not built in (looked up, so DDL may have
    /// changed it since).
    pub(crate) fn has_user_types(&self) -> bool {
        self.params.iter().any(|t| !t.is_builtin())
    }

    /// True when encoding this (untyped) statement's parameters failed with `e` because a
    /// user-defined parameter type refused the value: the type may have been created again
    /// or altered since the statement was described, so describing it again may help (once).
    pub(crate) fn describe_again_for(&self, e: &Error) -> bool {
        !self.is_typed() && self.has_user_types() && e.is_wrong_type()
    }

    /// True when every type of the statement is known (none is a [`Type::unresolved`]
    /// stand-in).
    pub(crate) fn is_resolved(&self) -> bool {
        self.columns
            .iter()
            .map(Column::type_)
            .chain(self.params.iter())
            .all(|t| !t.is_unresolved())
    }

    /// Encodes `values` for this statement's parameter types (checked), on the caller's thread.
    pub(crate) fn encode(&self, values: &[&(dyn ToSql + Sync)]) -> Result<Params, Error> {
        if values.len() != self.params.len() {
            return Err(Error::type_error(format!(
                "the statement takes {} parameters, {} given",
                self.params.len(),
                values.len()
            )));
        }
        // Each value goes in as Bind carries it (length, then bytes) into one spare buffer:
        // no vector of values, no buffer per value, and in steady state no allocation.
        let mut encoded = SpareBuf::new();
        // Per-value formats only once a value is text: all-binary needs no allocation.
        let mut formats: Option<Vec<Format>> = None;
        for (i, (value, ty)) in values.iter().zip(self.params.iter()).enumerate() {
            let text = value.is_text();
            if text || formats.is_some() {
                let format = if text { Format::Text } else { Format::Binary };
                formats
                    .get_or_insert_with(|| vec![Format::Binary; i])
                    .push(format);
            }
            let len_at = encoded.len();
            encoded.put_i32(0);
            let len = match value.to_sql_checked(ty, &mut encoded) {
                Ok(IsNull::No) => i32::try_from(encoded.len() - len_at - 4).map_err(|_| {
                    Error::type_error(format!("parameter ${}: value too large", i + 1))
                })?,
                Ok(IsNull::Yes) => {
                    encoded.truncate(len_at + 4);
                    -1
                }
                Err(e) => {
                    return Err(Error::type_error_in(
                        format_args!("parameter ${}", i + 1),
                        e,
                    ));
                }
            };
            if let Some(at) = encoded.get_mut(len_at..len_at + 4) {
                at.copy_from_slice(&len.to_be_bytes());
            }
        }
        Ok(Params {
            encoded,
            count: values.len(),
            formats: formats.map(Vec::into_boxed_slice),
        })
    }
}

/// Result formats for Bind: one code, binary, which applies to every column (whatever their
/// count: a statement whose columns changed since it was described still binds).
pub(crate) fn result_formats(_columns: &[Column]) -> impl Iterator<Item = Format> {
    std::iter::once(Format::Binary)
}

/// True when two column lists are the same (the same list, or equal ones).
pub(crate) fn same_columns(a: &Arc<[Column]>, b: &Arc<[Column]>) -> bool {
    Arc::ptr_eq(a, b) || a[..] == b[..]
}

/// Parameter values encoded in binary, ready to splice into a Bind (`Send`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    /// Per value: its length as a big-endian `i32` (`-1` for NULL), then its bytes.
    encoded: SpareBuf,
    count: usize,
    /// One format per value when some value is text ([`ToSql::is_text`]); `None` when all
    /// are binary.
    formats: Option<Box<[Format]>>,
}

impl Params {
    /// Parameter formats for Bind: one code, binary, for all when every value is binary (the
    /// encoding every statement had before text parameters), else one code per value.
    pub(crate) fn formats(&self) -> &[Format] {
        self.formats.as_deref().unwrap_or(&[Format::Binary])
    }

    /// The values in order, `None` for NULL.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> + '_ {
        let mut rest: &[u8] = &self.encoded;
        (0..self.count).map(move |_| {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = i32::from_be_bytes(*len);
            // Negative: NULL (only -1 is written).
            let Ok(len) = usize::try_from(len) else {
                rest = tail;
                return None;
            };
            let value = tail.get(..len)?;
            rest = tail.get(len..).unwrap_or_default();
            Some(value)
        })
    }
}
