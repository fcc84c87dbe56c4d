//! One façade over [`Client`], [`Transaction`], [`TransactionHandle`] and [`Session`] (as tokio-postgres'
//! `GenericClient`), so application code that runs statements is written once and called
//! with whichever it has.

use corelane_pg_proto::types::{Oid, ToSql};

use crate::simple_query::SimpleQueryMessage;
use crate::statement::Statement;
use crate::to_statement::ToStatement;
use crate::transaction_handle::TransactionHandle;
use crate::{Client, Error, Row, Savepoint, Session, Transaction};

mod sealed {
    /// Sealed: methods may be added without breaking anyone.
    pub trait Sealed {}
}

/// The statements of a [`Client`], a [`Transaction`] (the closure API's handle), a
/// [`TransactionHandle`] ([`Client::begin`]) or a [`Savepoint`] of one, or a [`Session`]
/// ([`Client::session`]), behind one trait. Each method is the type's own (see
/// [`Client::query`] and the others): on a `Client` they run on the shared connections,
/// inside a transaction or a session on its connection.
///
/// The futures are as `Send` as the type's own: a `Client`'s, a `TransactionHandle`'s and a
/// `Session`'s are (usable from tokio), a `Transaction`'s are not (it lives on its worker).
///
/// ```no_run
/// use corelane_postgres::{Client, Error, GenericClient, TransactionOptions};
///
/// /// Written once, run on a client or inside a transaction.
/// async fn add_user(db: &impl GenericClient, name: &str) -> Result<i32, Error> {
///     let row = db
///         .query_one("INSERT INTO users (name) VALUES ($1) RETURNING id", &[&name])
///         .await?;
///     row.get(0)
/// }
///
/// # async fn demo(client: &Client) -> Result<(), Error> {
/// add_user(client, "ada").await?;
/// client
///     .transaction(TransactionOptions::new(), |tx| async move {
///         add_user(&tx, "grace").await?;
///         add_user(&tx, "edsger").await
///     })
///     .await?;
/// let tx = client.begin().await?;
/// add_user(&tx, "barbara").await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
#[allow(async_fn_in_trait)] // Send-ness follows the implementing type's (see above).
pub trait GenericClient: sealed::Sealed {
    /// Runs a statement and returns its rows ([`Client::query`]).
    async fn query<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error>;

    /// Runs a statement that returns exactly one row ([`Client::query_one`]).
    async fn query_one<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error>;

    /// Runs a statement that returns zero or one row ([`Client::query_opt`]).
    async fn query_opt<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error>;

    /// Runs a statement and returns the rows it affected ([`Client::execute`]).
    async fn execute<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error>;

    /// Describes a statement ([`Client::prepare`]).
    async fn prepare(&self, sql: &str) -> Result<Statement, Error>;

    /// Describes a statement with declared parameter types ([`Client::prepare_typed`]).
    async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error>;

    /// Runs statements with the simple protocol ([`Client::batch_execute`]).
    async fn batch_execute(&self, sql: &str) -> Result<(), Error>;

    /// Runs statements with the simple protocol and returns their results as text
    /// ([`Client::simple_query`]).
    async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error>;
}

/// Implements the trait by calling the type's own methods of the same names (inherent methods
/// win over trait methods in method resolution).
macro_rules! delegate {
    ($ty:ty) => {
        impl sealed::Sealed for $ty {}

        impl GenericClient for $ty {
            async fn query<T: ToStatement + ?Sized>(
                &self,
                statement: &T,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<Vec<Row>, Error> {
                <$ty>::query(self, statement, params).await
            }

            async fn query_one<T: ToStatement + ?Sized>(
                &self,
                statement: &T,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<Row, Error> {
                <$ty>::query_one(self, statement, params).await
            }

            async fn query_opt<T: ToStatement + ?Sized>(
                &self,
                statement: &T,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<Option<Row>, Error> {
                <$ty>::query_opt(self, statement, params).await
            }

            async fn execute<T: ToStatement + ?Sized>(
                &self,
                statement: &T,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<u64, Error> {
                <$ty>::execute(self, statement, params).await
            }

            async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
                <$ty>::prepare(self, sql).await
            }

            async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
                <$ty>::prepare_typed(self, sql, types).await
            }

            async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
                <$ty>::batch_execute(self, sql).await
            }

            async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
                <$ty>::simple_query(self, sql).await
            }
        }
    };
}

delegate!(Client);
delegate!(Transaction);
delegate!(TransactionHandle);
delegate!(Savepoint<'_>);
delegate!(Session);
