//! [`Client::begin`]: a transaction as a value ([`TransactionHandle`]), beside the closure API
//! ([`Client::transaction`]), usable on a worker and off the loop.
//!
//! The transaction lives where its exclusive connection does: on one worker, in that worker's
//! registry of open transactions (a thread-local map, no lock), made by the same machinery as
//! the closure API (`transaction::begin`, `Open::finish`). The handle is `Send + Sync` and
//! names it (the worker and an id); each call runs there — inline when called on that worker,
//! through its mailbox otherwise — with its parameters encoded on the caller's thread.
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
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use corelane_pg_proto::types::{Oid, ToSql};
use corelane_runtime::{dispatch, EventLoopProvider, WorkerLoop};

use crate::client::Outcome;
use crate::simple_query::SimpleQueryMessage;
use crate::statement::Statement;
use crate::to_statement::{self, Target, ToStatement};
use crate::transaction::{self, Open, Transaction, TransactionOptions};
use crate::{worker_state, Client, Error, Row};

thread_local! {
    /// The transactions begun by handles on this worker and not ended yet.
    static OPEN: RefCell<HashMap<u64, Open>> = RefCell::new(HashMap::new());
}

/// Ids of handles, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

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
/// ```no_run
/// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
/// let tx = client.begin().await?;
/// tx.execute("UPDATE account SET balance = balance - $1 WHERE id = 1", &[&10i64]).await?;
/// tx.execute("UPDATE account SET balance = balance + $1 WHERE id = 2", &[&10i64]).await?;
/// tx.commit().await?; // dropped instead, it would have rolled back
/// # Ok(()) }
/// ```
pub struct TransactionHandle {
    client: Client,
    worker: WorkerLoop,
    id: u64,
    /// False once the transaction was ended by this handle (then dropping it does nothing).
    live: bool,
    /// Savepoints opened through this handle so far (each gets its own name).
    pub(crate) savepoints: u64,
}

impl std::fmt::Debug for TransactionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionHandle")
            .field("worker", &self.worker.id())
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The one worker a transaction lives on, as a provider for `dispatch`: inline on it,
/// through its mailbox from anywhere else.
struct OneWorker(WorkerLoop);

impl EventLoopProvider for OneWorker {
    fn num_workers(&self) -> usize {
        1
    }

    fn worker(&self, n: usize) -> Option<&WorkerLoop> {
        (n == 0).then_some(&self.0)
    }
}

fn ended() -> Error {
    Error::runtime("this transaction has ended (committed, rolled back, or its worker stopped)")
}

/// Takes transaction `id` out of this worker's registry.
fn take(id: u64) -> Option<Open> {
    OPEN.try_with(|open| open.borrow_mut().remove(&id))
        .ok()
        .flatten()
}

/// A statement handle on transaction `id` of this worker.
pub(crate) fn handle(id: u64) -> Result<Transaction, Error> {
    OPEN.try_with(|open| open.borrow().get(&id).map(Open::handle))
        .ok()
        .flatten()
        .ok_or_else(ended)
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
        let fallback = self.inner.next_worker.fetch_add(1, Ordering::Relaxed);
        dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                let worker = WorkerLoop::current()
                    .ok_or_else(|| Error::runtime("begin ran off its worker"))?;
                let permit = worker_state::exclusive(&client).await?;
                let open = transaction::begin(
                    client.clone(),
                    permit,
                    options,
                    Arc::new(AtomicBool::new(false)),
                )
                .await?;
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                OPEN.try_with(|registry| registry.borrow_mut().insert(id, open))
                    .map_err(|_| Error::runtime("the worker is shutting down"))?;
                // Made here, so that if the caller is gone by now the handle's drop rolls
                // the transaction back.
                Ok(TransactionHandle {
                    client,
                    worker,
                    id,
                    live: true,
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
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        let id = self.id;
        dispatch(&OneWorker(self.worker.clone()), 0, move || async move {
            f(handle(id)?).await
        })
        .await
        .map_err(Error::from)?
    }

    /// Describes `sql` (through the client's descriptions on this thread; a statement not
    /// known yet is described on the transaction's connection, so it may name tables the
    /// transaction created).
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        if let Some(found) = self.client.described(sql) {
            return Ok(found);
        }
        let owned = sql.to_owned();
        let stmt = self
            .on_worker(move |tx| async move { tx.prepare(&owned).await })
            .await?;
        self.client.remember(stmt.clone());
        Ok(stmt)
    }

    /// Like [`prepare`](Self::prepare), with the parameter types declared (see
    /// [`Client::prepare_typed`]).
    pub async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        let owned = sql.to_owned();
        let types = types.to_vec();
        self.on_worker(move |tx| async move { tx.prepare_typed(&owned, &types).await })
            .await
    }

    /// Runs one statement: its parameters are encoded here, the statement there.
    async fn run(
        &self,
        target: Target<'_>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Outcome, Error> {
        let stmt = match target {
            Target::Sql(sql) => self.prepare(sql).await?,
            Target::Prepared(stmt) => stmt.clone(),
        };
        let (stmt, encoded) = match stmt.encode(params) {
            Ok(encoded) => (stmt, encoded),
            // See `Transaction::run`: nothing was sent, the transaction is intact.
            Err(e) if stmt.describe_again_for(&e) => {
                let sql = stmt.sql.clone();
                let again = self
                    .on_worker(move |tx| async move { tx.prepare_fresh(&sql).await })
                    .await?;
                let encoded = again.encode(params)?;
                (again, encoded)
            }
            Err(e) => return Err(e),
        };
        self.on_worker(move |tx| async move { tx.run_encoded(&stmt, &encoded).await })
            .await
    }

    /// Runs `statement` (SQL text or a prepared [`Statement`]) with `params` in the
    /// transaction and returns its rows.
    pub async fn query<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        Ok(self
            .run(to_statement::target(statement), params)
            .await?
            .rows)
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
        let outcome = self.run(to_statement::target(statement), params).await?;
        Ok(outcome.affected.unwrap_or(0))
    }

    /// Runs statements with the simple protocol in the transaction (`SET LOCAL` belongs
    /// here; `COMMIT`/`ROLLBACK` do not: use [`commit`](Self::commit) and
    /// [`rollback`](Self::rollback)).
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        let owned = sql.to_owned();
        self.on_worker(move |tx| async move { tx.batch_execute(&owned).await })
            .await
    }

    /// Like [`Client::simple_query`], in the transaction.
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        let owned = sql.to_owned();
        self.on_worker(move |tx| async move { tx.simple_query(&owned).await })
            .await
    }

    /// Commits. A `COMMIT` the server refuses (a deferred constraint, a serialization
    /// failure) or answers with `ROLLBACK` (a statement of the transaction failed) is an error
    /// with [`Error::is_commit_failed`]: nothing of the transaction persists. If the
    /// connection fails during `COMMIT` the outcome is unknown ([`Error::is_closed`]).
    pub async fn commit(mut self) -> Result<(), Error> {
        let id = self.id;
        let result = dispatch(&OneWorker(self.worker.clone()), 0, move || async move {
            take(id).ok_or_else(ended)?.finish(Ok(())).await
        })
        .await
        .map_err(Error::from);
        // Ended by the work above, whatever its outcome (dropped before here, the handle
        // rolls back whatever it did not end).
        self.live = false;
        result?
    }

    /// Rolls back: nothing of the transaction persists.
    pub async fn rollback(mut self) -> Result<(), Error> {
        let id = self.id;
        let result = dispatch(&OneWorker(self.worker.clone()), 0, move || async move {
            take(id).ok_or_else(ended)?.rollback().await
        })
        .await
        .map_err(Error::from);
        self.live = false;
        result?
    }
}

impl TransactionHandle {
    /// Runs `job` with a statement handle on the transaction on its worker, without waiting:
    /// at once on that worker, else by a mailbox job that runs before any call this thread
    /// makes next. Nothing runs when the transaction has ended.
    pub(crate) fn on_worker_now(&self, job: impl FnOnce(Transaction) + Send + 'static) {
        let id = self.id;
        let run = move || {
            if let Ok(tx) = handle(id) {
                job(tx);
            }
        };
        if self.worker.is_current() {
            run();
        } else {
            // Refused only when the worker is closing: its connections go with it.
            let _ = self.worker.submit(run);
        }
    }
}

impl Drop for TransactionHandle {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        let id = self.id;
        // Dropping the transaction queues its ROLLBACK (see `TransactionGuard`); outside the
        // registry's borrow.
        if self.worker.is_current() {
            drop(take(id));
        } else {
            // Refused only when the worker is closing: its connections go with it.
            let _ = self.worker.submit(move || drop(take(id)));
        }
    }
}
