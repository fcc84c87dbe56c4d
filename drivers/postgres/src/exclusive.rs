//! Statements on a connection checked out for one user — a transaction's or a session's — run
//! on the connection's worker. What [`Transaction`](crate::Transaction) and the worker side of
//! a [`Session`](crate::Session) share; each adds its own checks (is the transaction still the
//! active level, is the session still open) in front.
//!
//! No session check here: the connection is its user's own and is reset before anyone else
//! gets it.

use crate::client::{outcome, Client, Outcome};
use crate::codec::Response;
use crate::connection::Connection;
use crate::simple_query::SimpleQueryMessage;
use crate::statement::{Params, Statement};
use crate::types::Oid;
use crate::Error;

/// An exclusive connection and the client it belongs to.
#[derive(Clone)]
pub(crate) struct Exclusive {
    pub(crate) client: Client,
    pub(crate) conn: Connection,
}

impl Exclusive {
    /// Describes `sql` through the client's descriptions on this thread; one not known yet is
    /// described on this connection (so it may name tables its user created) and remembered.
    pub(crate) async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        if let Some(found) = self.client.described(sql) {
            return Ok(found);
        }
        let stmt = self.conn.describe(sql).await?;
        self.client.remember(stmt.clone());
        Ok(stmt)
    }

    /// Describes `sql` on this connection, with the types it looked up forgotten (a user type
    /// may have changed: see `Client::run_statement`).
    pub(crate) async fn describe_fresh(&self, sql: &str) -> Result<Statement, Error> {
        self.conn.describe_fresh(sql, None).await
    }

    /// Describes `sql` on this connection with the parameter types declared.
    pub(crate) async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        self.conn.describe_typed(sql, Some(types)).await
    }

    /// Runs `stmt` with its parameters already encoded: its outcome.
    pub(crate) async fn run_encoded(
        &self,
        stmt: &Statement,
        encoded: &Params,
    ) -> Result<Outcome, Error> {
        let response = crate::attempts::run(&self.conn, stmt, encoded).await?;
        // Not retried here (in a transaction the failure aborted it), but described afresh
        // next time.
        self.client.forget_if_stale(&stmt.sql, &response);
        outcome(&self.client, stmt, response)
    }

    /// Runs statements with the simple protocol.
    pub(crate) async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        match self.conn.simple(sql).await? {
            Response::Failed(e) => Err(Error::db(e)),
            _ => Ok(()),
        }
    }

    /// Runs statements with the simple protocol; their results as text.
    pub(crate) async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        crate::simple_query::messages(self.conn.simple_parts(sql).await?)
    }
}
