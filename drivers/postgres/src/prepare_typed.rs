//! `prepare_typed`: a statement whose parameter types the caller declares instead of the
//! server inferring them. Such a statement is keyed apart from the same SQL untyped, both in
//! each connection's statement cache and (by not being remembered) in the client's per-thread
//! descriptions (see `Statement::typed`).

use std::time::{Duration, Instant};

use corelane_pg_proto::types::Oid;

use crate::statement::Statement;
use crate::{Client, Error};

impl Client {
    /// Like [`prepare`](Self::prepare), with the parameter types declared rather than inferred
    /// by the server: `types[i]` for `$i+1` (an [`oid`](crate::oid) constant; `0` leaves that
    /// one to the server, and parameters past `types` are inferred too). The statement is
    /// described every time this is called (not remembered by SQL: the same SQL without
    /// declared types is another statement).
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// use corelane_postgres::oid;
    ///
    /// // Untyped, `$1` would be `text`; declared, it takes an i64.
    /// let stmt = client.prepare_typed("SELECT $1 AS n", &[oid::INT8]).await?;
    /// let n: i64 = client.query_one(&stmt, &[&7i64]).await?.get(0)?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        crate::session::check(sql)?;
        self.describe_typed(sql, types.to_vec(), false, self.deadline())
            .await
    }

    /// Describes `sql` with declared parameter types on a connection of this worker (`fresh`:
    /// with the types that connection looked up forgotten, see `Connection::describe_fresh`).
    pub(crate) async fn describe_typed(
        &self,
        sql: &str,
        types: Vec<Oid>,
        fresh: bool,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Statement, Error> {
        let owned = sql.to_owned();
        self.on_connection(deadline, move |conn| async move {
            if fresh {
                conn.describe_fresh(&owned, Some(&types)).await
            } else {
                conn.describe_typed(&owned, Some(&types)).await
            }
        })
        .await
    }
}
