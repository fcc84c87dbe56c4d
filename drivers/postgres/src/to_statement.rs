//! What a query runs: SQL text, or a [`Statement`] prepared earlier (as in tokio-postgres).
//!
//! SQL text goes through the client's per-thread descriptions (described once per thread, see
//! `described.rs`); a `Statement` carries its own description, so it is used as it is on any
//! thread — the worker that prepared it, another worker, or a thread off the loop — and each
//! connection parses it on first use, as it would the SQL.

use crate::statement::Statement;

/// Something a query can run: `&str`, `&String`, or a [`Statement`] from
/// [`Client::prepare`](crate::Client::prepare) /
/// [`prepare_typed`](crate::Client::prepare_typed).
///
/// Sealed: implemented by this crate only.
///
/// ```no_run
/// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
/// let by_id = client.prepare("SELECT name FROM users WHERE id = $1").await?;
/// let a = client.query_one(&by_id, &[&1i32]).await?; // the prepared statement
/// let b = client.query_one("SELECT name FROM users WHERE id = $1", &[&2i32]).await?; // SQL text
/// # let _ = (a, b); Ok(()) }
/// ```
pub trait ToStatement: sealed::Sealed + Sync {}

/// What a [`ToStatement`] names, for the crate's own use.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Sql(&'a str),
    Prepared(&'a Statement),
}

impl<'a> Target<'a> {
    /// The SQL text (for spans and errors).
    pub(crate) fn sql(&self) -> &'a str {
        match self {
            Target::Sql(sql) => sql,
            Target::Prepared(stmt) => &stmt.sql,
        }
    }
}

mod sealed {
    /// The sealing trait; its method is how the crate reads a [`ToStatement`](super::ToStatement).
    pub trait Sealed {
        /// What this names.
        #[allow(private_interfaces)]
        fn target(&self) -> super::Target<'_>;
    }
}

/// What `statement` names.
pub(crate) fn target<T: ToStatement + ?Sized>(statement: &T) -> Target<'_> {
    sealed::Sealed::target(statement)
}

impl ToStatement for str {}
impl sealed::Sealed for str {
    #[allow(private_interfaces)]
    fn target(&self) -> Target<'_> {
        Target::Sql(self)
    }
}

impl ToStatement for String {}
impl sealed::Sealed for String {
    #[allow(private_interfaces)]
    fn target(&self) -> Target<'_> {
        Target::Sql(self)
    }
}

impl ToStatement for Statement {}
impl sealed::Sealed for Statement {
    #[allow(private_interfaces)]
    fn target(&self) -> Target<'_> {
        Target::Prepared(self)
    }
}

/// A reference to something a query can run (e.g. `&&str` from iterating a slice of SQL).
impl<T: ToStatement + ?Sized> ToStatement for &T {}
impl<T: ToStatement + ?Sized> sealed::Sealed for &T {
    #[allow(private_interfaces)]
    fn target(&self) -> Target<'_> {
        target(&**self)
    }
}
