//! `simple_query`: the simple protocol's results as text, statement by statement (as
//! tokio-postgres' `simple_query`).
//!
//! The SQL goes as one `Query` message (several statements allowed, no parameters); every
//! value comes back as text, so any type reads, whatever decoders exist. On the client's shared
//! connections the same session check as `batch_execute` applies first (`session.rs`).

use std::sync::Arc;

use corelane_pg_proto::message::backend::DataRow;
use corelane_pg_proto::types::Type;

use crate::codec::{Response, SimplePart};
use crate::row::ColumnIndex;
use crate::statement::{Column, Statement};
use crate::{trace, Client, Error};

/// One message of a [`Client::simple_query`] reply, in the order the server sent them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SimpleQueryMessage {
    /// The columns of the rows that follow (sent before each row-returning statement's rows,
    /// even when it returns none).
    RowDescription(Arc<[Column]>),
    /// One row, its values as text.
    Row(SimpleQueryRow),
    /// A statement ended; the rows it affected or returned (0 when its tag says none, e.g.
    /// `CREATE TABLE`).
    CommandComplete(u64),
}

/// A row of a [`simple_query`](Client::simple_query): every value is text.
#[derive(Clone)]
pub struct SimpleQueryRow {
    columns: Arc<[Column]>,
    data: DataRow,
}

impl std::fmt::Debug for SimpleQueryRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleQueryRow")
            .field(
                "columns",
                &self.columns.iter().map(Column::name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl SimpleQueryRow {
    /// The columns (names and type OIDs; every value is sent as text).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True for a row of no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The value of a column (by index or name) as text, `None` for NULL. An unknown column
    /// is an error; nothing here panics.
    pub fn get(&self, idx: impl ColumnIndex) -> Result<Option<&str>, Error> {
        let i = idx
            .index(&self.columns)
            .ok_or_else(|| Error::column(idx.describe()))?;
        match self.data.get(i) {
            Some(Some(bytes)) => std::str::from_utf8(bytes).map(Some).map_err(|_| {
                Error::type_error(format!("column {}: not UTF-8 text", idx.describe()))
            }),
            Some(None) => Ok(None),
            None => Err(Error::protocol("a row has fewer values than its columns")),
        }
    }

    /// The same as [`get`](Self::get).
    pub fn try_get(&self, idx: impl ColumnIndex) -> Result<Option<&str>, Error> {
        self.get(idx)
    }
}

/// The messages of a simple query's reply, or its error.
pub(crate) fn messages(response: Response) -> Result<Vec<SimpleQueryMessage>, Error> {
    let parts = match response {
        Response::SimpleParts(parts) => parts,
        Response::Failed(e) => return Err(Error::db(e)),
        Response::TooLarge { limit } => return Err(Error::result_too_large(limit)),
        _ => return Err(Error::protocol("unexpected reply to a simple query")),
    };
    let mut out = Vec::with_capacity(parts.len());
    let mut columns: Arc<[Column]> = Arc::from(Vec::new());
    for part in parts {
        out.push(match part {
            SimplePart::Columns(described) => {
                columns = Statement::columns_as_sent(&described, &Type::from_oid_or_unresolved);
                SimpleQueryMessage::RowDescription(columns.clone())
            }
            SimplePart::Row(data) => SimpleQueryMessage::Row(SimpleQueryRow {
                columns: columns.clone(),
                data,
            }),
            SimplePart::Complete(c) => SimpleQueryMessage::CommandComplete(c.rows().unwrap_or(0)),
        });
    }
    Ok(out)
}

impl Client {
    /// Runs `sql` (one or more statements, no parameters) with the simple protocol and returns
    /// what each statement produced, as text: its columns, its rows, its completion count.
    ///
    /// As with [`batch_execute`](Self::batch_execute), statements that would change the
    /// session of the shared connection (transaction control, `SET`, `LISTEN`, `COPY`) are
    /// refused with [`Error::is_session_change`] before anything is sent. A statement that
    /// fails makes the whole call fail (the statements before it, in the same implicit
    /// transaction, are rolled back by the server). Results are capped by
    /// [`Config::max_result_bytes`](crate::Config::max_result_bytes).
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// use corelane_postgres::SimpleQueryMessage;
    ///
    /// for message in client.simple_query("SELECT 1 AS one, NULL AS nothing; SELECT 2").await? {
    ///     match message {
    ///         SimpleQueryMessage::Row(row) => println!("{:?}", row.get("one")?),
    ///         SimpleQueryMessage::CommandComplete(n) => println!("{n} rows"),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        trace::run(trace::span(self.config(), "", Some(sql)), async {
            crate::session::check(sql)?;
            let owned = sql.to_owned();
            let response = self
                .on_connection(self.deadline(), move |conn| async move {
                    conn.simple_parts(&owned).await
                })
                .await?;
            messages(response)
        })
        .await
    }
}
