//! [`Client::begin`]: a transaction as a value ([`TransactionHandle`]), beside the closure API
//! ([`Client::transaction`]), usable on a worker and off the loop.
//!
//! The transaction lives where its exclusive connection does: on one worker, in that worker's
//! registry of open transactions (see `pinned.rs`, shared with [`Session`](crate::Session)),
//! made by the same machinery as the closure API (`transaction::begin`, `Open::finish`). The
//! handle is `Send + Sync` and names it (the worker and an id); each call runs there — inline
//! when called on that worker, through its mailbox otherwise — with its parameters encoded on
//! the caller's thread.
//!
//! Ending: `commit` and `rollback` take the transaction out of the registry and end it
//! (`COMMIT`/`ROLLBACK` with `DISCARD ALL`, one round trip). A handle dropped without either
//! takes it out too — at once on its worker, by a mailbox job elsewhere (in order after the
//! drop of any call of the handle still running there) — and dropping it queues `ROLLBACK`;
//! the connection goes back to the pool marked dirty, and `PgManager::recycle` resets it before
//! its next user. A `commit` or `rollback` whose future is dropped leaves the same path: the
//! handle it owns is dropped with it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use corelane_pg_proto::types::{Oid, ToSql};
use corelane_runtime::dispatch;

use crate::client::Outcome;
use crate::pinned::{Descriptions, Pinnable, Pinned, Runner};
use crate::simple_query::SimpleQueryMessage;
use crate::statement::{Params, Statement};
use crate::to_statement::{self, ToStatement};
use crate::transaction::{self, Open, Transaction, TransactionOptions};
use crate::{Client, Error, Row};

thread_local! {
    /// The transactions begun by handles on this worker and not ended yet.
    static OPEN: RefCell<HashMap<u64, Open>> = RefCell::new(HashMap::new());
}

impl Pinnable for Open {
    type Runner = Transaction;

    fn registry() -> &'static std::thread::LocalKey<RefCell<HashMap<u64, Open>>> {
        &OPEN
    }

    fn runner(&self) -> Transaction {
        self.handle()
    }

    fn ended() -> Error {
        Error::runtime("this transaction has ended (committed, rolled back, or its worker stopped)")
    }
}

/// A handle's statements run through the transaction's own (checked) methods.
impl Runner for Transaction {
    async fn describe(&self, sql: &str) -> Result<Statement, Error> {
        Transaction::prepare(self, sql).await
    }

    async fn describe_fresh(&self, sql: &str) -> Result<Statement, Error> {
        self.prepare_fresh(sql).await
    }

    async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        Transaction::prepare_typed(self, sql, types).await
    }

    async fn run_encoded(&self, stmt: &Statement, encoded: &Params) -> Result<Outcome, Error> {
        Transaction::run_encoded(self, stmt, encoded).await
    }

    async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        Transaction::batch_execute(self, sql).await
    }

    async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        Transaction::simple_query(self, sql).await
    }
}

/// A handle remembers what it describes with the client's descriptions of its thread.
impl Descriptions for Client {
    fn get(&self, sql: &str) -> Option<Statement> {
        self.described(sql)
    }

    fn remember(&self, stmt: &Statement) {
        Client::remember(self, stmt.clone());
    }

    fn failed(&self, _sql: &str, _e: &Error) {}
}

/// A transaction begun by [`Client::begin`]: statements run in it until
/// [`commit`](Self::commit) or [`rollback`](Self::rollback); dropped without either, it is
/// rolled back.
///
/// It runs on a connection of its own (an exclusive one, as [`Client::transaction`]'s), on one
/// worker; the handle is `Send + Sync` and works from any thread — that worker (no hop),
/// another worker, tokio or a plain thread (through the worker's mailbox). Statements issued
/// concurrently through one handle are pipelined in the order issued. Every way out resets the
/// connection before its next user (`DISCARD ALL`: no `SET`, temp table or advisory lock
/// survives). The calls are not bounded by the query timeout (as in [`Client::transaction`]).
///
/// Savepoints: [`savepoint`](Self::savepoint).
///
/// ```
/// # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = corelane_testkit::PgServer::start()?;
/// # let client = corelane_postgres::Client::connect(&server.url())?;
/// # let client = &client;
/// # futures_lite::future::block_on(async {
/// # client.batch_execute("CREATE TABLE account (id int4 PRIMARY KEY, balance int8); INSERT INTO account VALUES (1, 100), (2, 0)").await?;
/// let tx = client.begin().await?;
/// tx.execute("UPDATE account SET balance = balance - $1 WHERE id = 1", &[&10i64]).await?;
/// tx.execute("UPDATE account SET balance = balance + $1 WHERE id = 2", &[&10i64]).await?;
/// tx.commit().await?; // dropped instead, it would have rolled back
/// # Ok::<(), corelane_postgres::Error>(())
/// # })?;
/// # Ok(()) }
/// ```
pub struct TransactionHandle {
    client: Client,
    /// The open transaction, on its worker.
    pinned: Pinned<Open>,
    /// Savepoints opened through this handle so far (each gets its own name).
    pub(crate) savepoints: u64,
}

impl std::fmt::Debug for TransactionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionHandle")
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Begins a transaction with the server's defaults and returns its handle (see
    /// [`TransactionHandle`]); [`begin_with`](Self::begin_with) takes options.
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// let tx = client.begin().await?;
    /// let n = tx.execute("DELETE FROM sessions WHERE expired", &[]).await?;
    /// if n > 1000 {
    ///     tx.rollback().await?; // too many: leave them
    /// } else {
    ///     tx.commit().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn begin(&self) -> Result<TransactionHandle, Error> {
        self.begin_with(TransactionOptions::new()).await
    }

    /// Begins a transaction with `options` (isolation, read only, deferrable) on a connection
    /// of its own, on this worker when called on one (else on one reached through its
    /// mailbox), and returns its handle.
    pub async fn begin_with(
        &self,
        options: TransactionOptions,
    ) -> Result<TransactionHandle, Error> {
        let client = self.clone();
        let fallback = || corelane_runtime::ClientHandle::fallback(self);
        dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                let permit = client.exclusive_connection().await?;
                let open = transaction::begin(
                    client.clone(),
                    permit,
                    options,
                    Arc::new(AtomicBool::new(false)),
                )
                .await?;
                // Made here, so that if the caller is gone by now the handle's drop rolls
                // the transaction back.
                Ok(TransactionHandle {
                    client,
                    pinned: Pinned::register(open)?,
                    savepoints: 0,
                })
            },
        )
        .await
        .map_err(Error::from)?
    }
}

impl TransactionHandle {
    /// Runs `f` with a statement handle on the transaction, on its worker.
    pub(crate) async fn on_worker<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Transaction) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, Error>> + 'static,
    {
        self.pinned.on_worker(f).await
    }

    /// Runs `job` with a statement handle on the transaction on its worker, without waiting
    /// (see `Pinned::on_worker_now`).
    pub(crate) fn on_worker_now(&self, job: impl FnOnce(Transaction) + Send + 'static) {
        self.pinned.on_worker_now(job);
    }

    /// Describes `sql` (through the client's descriptions on this thread; a statement not
    /// known yet is described on the transaction's connection, so it may name tables the
    /// transaction created).
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.pinned.prepare(&self.client, sql).await
    }

    /// Like [`prepare`](Self::prepare), with the parameter types declared (see
    /// [`Client::prepare_typed`]).
    pub async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        self.pinned.prepare_typed(sql, types).await
    }

    /// Runs `statement` (SQL text or a prepared [`Statement`]) with `params` in the
    /// transaction and returns its rows.
    pub async fn query<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let target = to_statement::target(statement);
        Ok(self.pinned.run(&self.client, target, params).await?.rows)
    }

    /// Like [`query`](Self::query), for exactly one row.
    pub async fn query_one<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        crate::row::exactly_one(self.query(statement, params).await?)
    }

    /// Like [`query`](Self::query), for zero or one row.
    pub async fn query_opt<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        crate::row::at_most_one(self.query(statement, params).await?)
    }

    /// Runs a statement in the transaction and returns the rows it affected.
    pub async fn execute<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let target = to_statement::target(statement);
        let outcome = self.pinned.run(&self.client, target, params).await?;
        Ok(outcome.affected.unwrap_or(0))
    }

    /// Runs statements with the simple protocol in the transaction (`SET LOCAL` belongs
    /// here; `COMMIT`/`ROLLBACK` do not: use [`commit`](Self::commit) and
    /// [`rollback`](Self::rollback)).
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.pinned.batch_execute(sql).await
    }

    /// Like [`Client::simple_query`], in the transaction.
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.pinned.simple_query(sql).await
    }

    /// Commits. A `COMMIT` the server refuses (a deferred constraint, a serialization
    /// failure) or answers with `ROLLBACK` (a statement of the transaction failed) is an error
    /// with [`Error::is_commit_failed`]: nothing of the transaction persists. If the
    /// connection fails during `COMMIT` the outcome is unknown ([`Error::is_closed`]).
    pub async fn commit(mut self) -> Result<(), Error> {
        self.pinned.end(|open| open.finish(Ok(()))).await
    }

    /// Rolls back: nothing of the transaction persists.
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.pinned.end(Open::rollback).await
    }
}
