//! Rows: values by index or by column name, decoded on access.

use std::sync::Arc;

use corelane_pg_proto::message::backend::DataRow;
use corelane_pg_proto::types::{FromSql, Type};

use crate::statement::Column;
use crate::Error;

/// One result row. Values stay in the received buffer until read.
#[derive(Clone)]
pub struct Row {
    pub(crate) columns: Arc<[Column]>,
    pub(crate) data: DataRow,
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row")
            .field(
                "columns",
                &self.columns.iter().map(Column::name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A column by position or by name.
pub trait ColumnIndex {
    /// The position in `columns`.
    fn index(&self, columns: &[Column]) -> Option<usize>;
    /// For error messages.
    fn describe(&self) -> String;
}

impl ColumnIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        format!("#{self}")
    }
}

impl ColumnIndex for &str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name() == *self)
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl Row {
    /// The columns.
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

    /// The value of a column (by index or name) as `T`; NULL reads as `None` for `Option<T>`
    /// and is an error otherwise. Never panics.
    pub fn try_get<'a, T: FromSql<'a>>(&'a self, idx: impl ColumnIndex) -> Result<T, Error> {
        let i = idx
            .index(&self.columns)
            .ok_or_else(|| Error::column(idx.describe()))?;
        let column = self
            .columns
            .get(i)
            .ok_or_else(|| Error::column(idx.describe()))?;
        let raw = self
            .data
            .get(i)
            .ok_or_else(|| Error::protocol("a row has fewer values than its columns"))?;
        // A text-format column holds text whatever its SQL type: only text types read it.
        let ty = if column.is_binary() {
            column.type_()
        } else {
            &Type::TEXT
        };
        T::from_sql_nullable(ty, raw)
            .map_err(|e| Error::type_error_in(format_args!("column {}", idx.describe()), e))
    }

    /// The same as [`try_get`](Self::try_get) (both return `Result`; nothing here panics).
    pub fn get<'a, T: FromSql<'a>>(&'a self, idx: impl ColumnIndex) -> Result<T, Error> {
        self.try_get(idx)
    }
}

/// The one row of `rows`, or the row-count error `query_one` reports.
pub(crate) fn exactly_one(mut rows: Vec<Row>) -> Result<Row, crate::Error> {
    match rows.len() {
        1 => rows.pop().ok_or_else(|| crate::Error::row_count(0)),
        n => Err(crate::Error::row_count(n)),
    }
}

/// The row of `rows` if there is one, or the row-count error `query_opt` reports.
pub(crate) fn at_most_one(mut rows: Vec<Row>) -> Result<Option<Row>, crate::Error> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        n => Err(crate::Error::row_count(n)),
    }
}
