//! Savepoints of a [`TransactionHandle`]: `SAVEPOINT` now, then `RELEASE` or `ROLLBACK TO`
//! (+ `RELEASE`), or the rollback when the savepoint is dropped.
//!
//! Whether a savepoint's end was sent is decided on the transaction's worker, where every
//! statement of the transaction is sent: the end's job marks it ended before sending, and a
//! dropped savepoint's job (at once on that worker, else through its mailbox, after any job
//! of the same thread) queues the rollback only when nothing ended it. So a `RELEASE` that
//! went out is never followed by a `ROLLBACK TO` of a savepoint that no longer exists (which
//! would fail and abort the whole transaction), and a savepoint whose end never went out is
//! rolled back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use corelane_pg_proto::types::{Oid, ToSql};

use crate::simple_query::SimpleQueryMessage;
use crate::statement::Statement;
use crate::to_statement::ToStatement;
use crate::transaction_handle::TransactionHandle;
use crate::{Error, Row};

/// A savepoint of a [`TransactionHandle`] ([`TransactionHandle::savepoint`]): statements run
/// in the transaction as usual; [`release`](Self::release) keeps their work,
/// [`rollback`](Self::rollback) (or dropping the savepoint) undoes it — including a failed
/// statement's, after which the transaction carries on. The handle is borrowed meanwhile.
///
/// ```no_run
/// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
/// let mut tx = client.begin().await?;
/// tx.execute("INSERT INTO orders (id) VALUES (1)", &[]).await?;
/// let sp = tx.savepoint().await?;
/// if sp.execute("INSERT INTO orders (id) VALUES (1)", &[]).await.is_err() {
///     sp.rollback().await?; // the duplicate is undone; the first insert stays
/// } else {
///     sp.release().await?;
/// }
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct Savepoint<'a> {
    handle: &'a mut TransactionHandle,
    name: String,
    /// Set on the worker when the savepoint's end is sent (see the module docs).
    ended: Arc<AtomicBool>,
}

impl std::fmt::Debug for Savepoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Savepoint")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TransactionHandle {
    /// Opens a savepoint (`SAVEPOINT`) in the transaction; see [`Savepoint`]. Savepoints nest
    /// ([`Savepoint::savepoint`]).
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>, Error> {
        self.savepoints += 1;
        let name = format!("corelane_hsp{}", self.savepoints);
        self.batch_execute(&format!("SAVEPOINT {name}")).await?;
        Ok(Savepoint {
            handle: self,
            name,
            ended: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Savepoint<'_> {
    /// Sends `end` (marking the savepoint ended first, on the worker) and waits for its reply.
    async fn end(&self, end: String) -> Result<(), Error> {
        let ended = self.ended.clone();
        self.handle
            .on_worker(move |tx| async move {
                if ended.swap(true, Ordering::Relaxed) {
                    return Ok(());
                }
                tx.batch_execute(&end).await
            })
            .await
    }

    /// Keeps the savepoint's work (`RELEASE SAVEPOINT`).
    pub async fn release(self) -> Result<(), Error> {
        self.end(format!("RELEASE SAVEPOINT {}", self.name)).await
    }

    /// Undoes the savepoint's work (`ROLLBACK TO SAVEPOINT` + `RELEASE SAVEPOINT`); the
    /// transaction carries on.
    pub async fn rollback(self) -> Result<(), Error> {
        self.end(rollback_sql(&self.name)).await
    }

    /// Opens a savepoint inside this one.
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>, Error> {
        self.handle.savepoint().await
    }

    /// [`TransactionHandle::prepare`].
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.handle.prepare(sql).await
    }

    /// [`TransactionHandle::prepare_typed`].
    pub async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        self.handle.prepare_typed(sql, types).await
    }

    /// [`TransactionHandle::query`].
    pub async fn query<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.handle.query(statement, params).await
    }

    /// [`TransactionHandle::query_one`].
    pub async fn query_one<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        self.handle.query_one(statement, params).await
    }

    /// [`TransactionHandle::query_opt`].
    pub async fn query_opt<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.handle.query_opt(statement, params).await
    }

    /// [`TransactionHandle::execute`].
    pub async fn execute<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        self.handle.execute(statement, params).await
    }

    /// [`TransactionHandle::batch_execute`].
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.handle.batch_execute(sql).await
    }

    /// [`TransactionHandle::simple_query`].
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.handle.simple_query(sql).await
    }
}

fn rollback_sql(name: &str) -> String {
    format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        let ended = self.ended.clone();
        let sql = rollback_sql(&self.name);
        self.handle.on_worker_now(move |tx| {
            if !ended.swap(true, Ordering::Relaxed) {
                tx.send_and_forget(&sql);
            }
        });
    }
}
