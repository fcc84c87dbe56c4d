//! Transactions and savepoints, on an exclusive connection.
//!
//! The client's ordinary queries share pipelined connections: many callers' statements
//! interleave on one connection, so a `BEGIN` there would pull other callers into the
//! transaction. A transaction therefore runs on a connection checked out of the worker's
//! *exclusive* pool ([`Client::transaction`]) and only its own statements go there.
//!
//! # Lifecycle
//!
//! 1. Check out an exclusive connection (it comes reset, see below) and mark its session dirty.
//! 2. `BEGIN [ISOLATION LEVEL …] [READ ONLY | READ WRITE] [[NOT] DEFERRABLE]`.
//! 3. Run the caller's closure with a [`Transaction`] handle.
//! 4. `Ok` → `COMMIT`; `Err` → `ROLLBACK`; either is sent together with `DISCARD ALL` (one
//!    round trip), which also clears the connection's statement cache and the dirty mark.
//!    `COMMIT` refused, or answered `ROLLBACK` (the transaction had failed), is
//!    [`Error::is_commit_failed`].
//!
//! # Cancellation
//!
//! If the closure's future is dropped before step 4 completes, a guard queues `ROLLBACK` on the
//! connection at once (no await needed: it goes on the connection's FIFO), so locks are freed
//! as soon as the server reaches it, and the connection goes back to the pool still marked
//! dirty. The pool's `recycle` then sends `ROLLBACK` (when the last `ReadyForQuery` showed a
//! transaction) and `DISCARD ALL` before anyone else gets it, or closes it.
//!
//! A savepoint works the same way one level down: `SAVEPOINT`, the closure, then `RELEASE` on
//! `Ok` or `ROLLBACK TO` + `RELEASE` on `Err` or when dropped, so the enclosing transaction
//! carries on as if the savepoint's work never happened. Once that end is sent, dropping the
//! savepoint's future changes nothing: the end stands (a `ROLLBACK TO` queued behind a
//! `RELEASE` would name a savepoint that no longer exists, fail, and abort the enclosing
//! transaction).
//!
//! # Handles
//!
//! Each level (the transaction, each savepoint) has its own handle; only the innermost open one
//! works. A handle used after its level ended (e.g. smuggled out of the closure) returns an
//! error instead of touching a connection that is back in the pool.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use corelane_pg_proto::types::{Oid, ToSql};
use corelane_runtime::dispatch;
use corelane_runtime::pool::Pooled;

use crate::client::Client;
use crate::codec::Response;
use crate::connection::Connection;
use crate::exclusive::Exclusive;
use crate::row::Row;
use crate::simple_query::SimpleQueryMessage;
use crate::statement::{Params, Statement};
use crate::to_statement::{self, Target, ToStatement};
use crate::trace;
use crate::worker_state::PgManager;
use crate::Error;

/// A transaction isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// `READ UNCOMMITTED` (PostgreSQL runs it as `READ COMMITTED`).
    ReadUncommitted,
    /// `READ COMMITTED`, PostgreSQL's default.
    ReadCommitted,
    /// `REPEATABLE READ`: one snapshot for the whole transaction.
    RepeatableRead,
    /// `SERIALIZABLE`: may fail with SQLSTATE `40001`, to be retried.
    Serializable,
}

impl IsolationLevel {
    fn sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "ISOLATION LEVEL READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "ISOLATION LEVEL READ COMMITTED",
            IsolationLevel::RepeatableRead => "ISOLATION LEVEL REPEATABLE READ",
            IsolationLevel::Serializable => "ISOLATION LEVEL SERIALIZABLE",
        }
    }
}

/// How to `BEGIN` a transaction. Unset options keep the server's defaults.
///
/// ```
/// use corelane_postgres::{IsolationLevel, TransactionOptions};
///
/// let report = TransactionOptions::new()
///     .isolation(IsolationLevel::Serializable)
///     .read_only(true)
///     .deferrable(true);
/// # let _ = report;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransactionOptions {
    isolation: Option<IsolationLevel>,
    read_only: Option<bool>,
    deferrable: Option<bool>,
}

impl TransactionOptions {
    /// The server's defaults (`BEGIN`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The isolation level.
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// `READ ONLY` (`true`) or `READ WRITE` (`false`).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// `DEFERRABLE` (`true`) or `NOT DEFERRABLE` (`false`); it matters only for a
    /// `SERIALIZABLE`, `READ ONLY` transaction, which then waits for a snapshot that cannot
    /// fail with a serialization error.
    pub fn deferrable(mut self, deferrable: bool) -> Self {
        self.deferrable = Some(deferrable);
        self
    }

    /// The `BEGIN` statement for these options.
    pub(crate) fn begin_sql(&self) -> String {
        let mut modes: Vec<&str> = Vec::with_capacity(3);
        if let Some(level) = self.isolation {
            modes.push(level.sql());
        }
        if let Some(read_only) = self.read_only {
            modes.push(if read_only { "READ ONLY" } else { "READ WRITE" });
        }
        if let Some(deferrable) = self.deferrable {
            modes.push(if deferrable {
                "DEFERRABLE"
            } else {
                "NOT DEFERRABLE"
            });
        }
        if modes.is_empty() {
            "BEGIN".to_owned()
        } else {
            format!("BEGIN {}", modes.join(", "))
        }
    }
}

/// State shared by the handles of one transaction.
struct Scope {
    /// The id of the innermost open level; 0 once the transaction ended.
    active: Cell<u64>,
    /// The next level id.
    next: Cell<u64>,
    /// Set when the caller on another thread stopped waiting.
    cancelled: Arc<AtomicBool>,
}

/// A transaction (or a savepoint inside one) in progress: its statements run on its own
/// connection, in order.
///
/// Given to the closure of [`Client::transaction`] or [`Transaction::savepoint`]; it works
/// until that closure's future completes. Statements may be issued concurrently from the
/// closure (e.g. joined futures): they are pipelined on the connection and run in the order
/// they were issued.
pub struct Transaction {
    /// The connection and its client (statements run through it after [`Self::check`]).
    x: Exclusive,
    scope: Rc<Scope>,
    /// This level's id (see [`Scope::active`]).
    level: u64,
    /// 0 for the transaction, n for the n-th nested savepoint.
    depth: u32,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("depth", &self.depth)
            .field("active", &(self.scope.active.get() == self.level))
            .finish_non_exhaustive()
    }
}

fn cancelled_error() -> Error {
    Error::runtime("the transaction was cancelled: its caller stopped waiting")
}

impl Transaction {
    /// Fails when this handle may not be used: its level ended, a savepoint inside it is open,
    /// or the caller went away.
    fn check(&self) -> Result<(), Error> {
        if self.scope.cancelled.load(Ordering::Relaxed) {
            return Err(cancelled_error());
        }
        if self.scope.active.get() != self.level {
            return Err(Error::runtime(
                "this transaction handle is not active: its transaction or savepoint has ended, \
                 or a savepoint inside it is open",
            ));
        }
        Ok(())
    }

    /// How deep this handle is: 0 for the transaction, 1 for a savepoint in it, and so on.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Describes `sql` through the client's statement cache; a statement the client has not
    /// seen yet is described on this transaction's connection (so it may name tables created
    /// earlier in the transaction).
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.check()?;
        self.x.prepare(sql).await
    }

    /// Describes `sql` on this transaction's connection with the types it looked up forgotten
    /// (a user type may have changed: see `Client::run_statement`), and remembers it.
    pub(crate) async fn prepare_fresh(&self, sql: &str) -> Result<Statement, Error> {
        self.check()?;
        let stmt = self.x.describe_fresh(sql).await?;
        self.x.client.remember(stmt.clone());
        Ok(stmt)
    }

    /// Like [`prepare`](Self::prepare), with the parameter types declared (see
    /// [`Client::prepare_typed`]); described on this transaction's connection.
    pub async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        self.check()?;
        self.x.prepare_typed(sql, types).await
    }

    /// The statement `target` names: SQL described through [`prepare`](Self::prepare), a
    /// prepared statement as it is.
    async fn statement(&self, target: Target<'_>) -> Result<Statement, Error> {
        match target {
            Target::Sql(sql) => self.prepare(sql).await,
            Target::Prepared(stmt) => {
                self.check()?;
                Ok(stmt.clone())
            }
        }
    }

    /// Runs one statement in the transaction: its outcome.
    async fn run(
        &self,
        target: Target<'_>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<crate::client::Outcome, Error> {
        let stmt = self.statement(target).await?;
        let encoded = match stmt.encode(params) {
            Ok(encoded) => encoded,
            // A user type the statement was described with may have been dropped and created
            // again (see `Client::run_statement`). Nothing was sent, so the transaction is
            // intact: described afresh on this connection, the statement is encoded again.
            Err(e) if stmt.describe_again_for(&e) => {
                let again = self.prepare_fresh(&stmt.sql).await?;
                let encoded = again.encode(params)?;
                return self.run_encoded(&again, &encoded).await;
            }
            Err(e) => return Err(e),
        };
        self.run_encoded(&stmt, &encoded).await
    }

    /// Runs `stmt` with its parameters already encoded (on the caller's thread, by a
    /// [`TransactionHandle`](crate::TransactionHandle)): its outcome.
    pub(crate) async fn run_encoded(
        &self,
        stmt: &Statement,
        encoded: &Params,
    ) -> Result<crate::client::Outcome, Error> {
        self.check()?;
        self.x.run_encoded(stmt, encoded).await
    }

    /// Runs `statement` (SQL text or a prepared [`Statement`], see [`ToStatement`]) with
    /// `params` in the transaction and returns its rows.
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

    /// Runs a statement (SQL text or a prepared [`Statement`]) in the transaction and returns
    /// the rows it affected.
    pub async fn execute<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let outcome = self.run(to_statement::target(statement), params).await?;
        Ok(outcome.affected.unwrap_or(0))
    }

    /// Runs one or more statements with the simple protocol (no parameters) in the
    /// transaction. Transaction-control statements (`COMMIT`, `ROLLBACK`, `SAVEPOINT`) do not
    /// belong here: use the closures' results and [`savepoint`](Self::savepoint).
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.check()?;
        self.x.batch_execute(sql).await
    }

    /// Like [`Client::simple_query`], in the transaction (no session check: the
    /// connection is the transaction's own and is reset after it).
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.check()?;
        self.x.simple_query(sql).await
    }

    /// Queues `sql` (simple protocol) on the transaction's connection without waiting for its
    /// reply (see `Connection::send_and_forget`): it runs before anything sent later.
    pub(crate) fn send_and_forget(&self, sql: &str) {
        self.x.conn.send_and_forget(sql);
    }

    /// Runs `f` inside a savepoint (a nested transaction): `SAVEPOINT`, then `f`'s future with
    /// the savepoint's own handle, then `RELEASE SAVEPOINT` when it returns `Ok`, or
    /// `ROLLBACK TO SAVEPOINT` + `RELEASE SAVEPOINT` when it returns `Err` (whose error is
    /// returned) or is dropped. Either way this transaction carries on: after a rollback, as
    /// if the savepoint's statements never ran — including a failed one, which would otherwise
    /// have aborted the whole transaction.
    ///
    /// Savepoints nest (`f` may open its own). This handle is unusable while the savepoint is
    /// open (`&mut self`).
    ///
    /// Dropped before `f`'s future completes, the savepoint is rolled back. Dropped after,
    /// while its end is in flight, the end stands: a savepoint whose `f` succeeded keeps its
    /// work (its `RELEASE` was sent), one whose `f` failed is rolled back. Either way the
    /// enclosing transaction carries on unharmed.
    pub async fn savepoint<T, F, Fut>(&mut self, f: F) -> Result<T, Error>
    where
        F: FnOnce(Transaction) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        self.try_savepoint(f).await
    }

    /// [`savepoint`](Self::savepoint) for a closure that fails with the application's own
    /// error type `E` (any `E: From<Error>`): an `Err` rolls the savepoint back and is returned
    /// unchanged; the driver's own errors arrive converted by `E::from`. Name `E` at the call
    /// (`tx.try_savepoint::<_, AppError, _, _>(..)`) or on the closure's `Ok` when nothing
    /// else pins it.
    pub async fn try_savepoint<T, E, F, Fut>(&mut self, f: F) -> Result<T, E>
    where
        E: From<Error>,
        F: FnOnce(Transaction) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.check()?;
        let depth = self.depth.saturating_add(1);
        let name = format!("corelane_sp{depth}");
        let rollback = format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}");
        // Armed before SAVEPOINT is sent: dropped while it is in flight, the rollback queued
        // behind it undoes it (or, if it failed, fails in a transaction that had failed
        // already).
        let mut guard = SavepointGuard {
            conn: self.x.conn.clone(),
            scope: self.scope.clone(),
            parent: self.level,
            rollback: Some(rollback),
        };
        if let Response::Failed(e) = self.x.conn.simple(&format!("SAVEPOINT {name}")).await? {
            // No savepoint to undo.
            guard.rollback = None;
            return Err(Error::db(e).into());
        }
        let level = self.scope.next.get();
        self.scope.next.set(level.wrapping_add(1));
        self.scope.active.set(level);
        let inner = Transaction {
            x: self.x.clone(),
            scope: self.scope.clone(),
            level,
            depth,
        };
        let result = f(inner).await;
        self.scope.active.set(self.level);
        // From here on the savepoint's end is on its way, whatever happens to this future: the
        // guard must not queue a rollback behind it. After a RELEASE the savepoint no longer
        // exists, and `ROLLBACK TO` it would fail and abort the enclosing transaction. So a
        // savepoint dropped while its RELEASE is in flight keeps its work (its closure had
        // succeeded); one dropped while its rollback is in flight is rolled back.
        let rollback = guard.rollback.take().unwrap_or_default();
        let end = match &result {
            Ok(_) => format!("RELEASE SAVEPOINT {name}"),
            Err(_) => rollback,
        };
        let reply = self.x.conn.simple(&end).await;
        match (result, reply) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e.into()),
            (Ok(_), Ok(Response::Failed(e))) => Err(Error::db(e).into()),
            (Ok(value), Ok(_)) => Ok(value),
        }
    }
}

/// Rolls a savepoint back if its future is dropped before it ended.
struct SavepointGuard {
    conn: Connection,
    scope: Rc<Scope>,
    parent: u64,
    /// `Some` while the savepoint is open: the statements that undo it.
    rollback: Option<String>,
}

impl Drop for SavepointGuard {
    fn drop(&mut self) {
        if let Some(rollback) = self.rollback.take() {
            self.scope.active.set(self.parent);
            self.conn.send_and_forget(&rollback);
        }
    }
}

/// Holds the exclusive connection for the whole transaction; rolls back if dropped before
/// the transaction ended (its future was cancelled). Then the permit returns the connection
/// to the pool, still marked dirty, so it is reset before its next use. (No permit: the
/// transaction runs in a [`Session`](crate::Session), which holds the connection.)
struct TransactionGuard {
    conn: Connection,
    open: bool,
    _permit: Option<Pooled<PgManager>>,
}

impl Drop for TransactionGuard {
    fn drop(&mut self) {
        if self.open {
            self.conn.send_and_forget("ROLLBACK");
        }
    }
}

/// Runs a whole transaction on `permit`'s connection (on its worker). See the module docs.
/// The outer error: `BEGIN` failed (`f` never ran); the inner result: `f`'s, after its end.
pub(crate) async fn run<T, E, F, Fut>(
    client: Client,
    permit: Pooled<PgManager>,
    options: TransactionOptions,
    cancelled: Arc<AtomicBool>,
    f: F,
) -> Result<Result<T, E>, Error>
where
    E: From<Error>,
    F: FnOnce(Transaction) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let open = begin(client, permit, options, cancelled).await?;
    let result = f(open.handle()).await;
    Ok(open.finish(result).await)
}

/// A transaction begun on this worker and not ended yet: dropped, it is rolled back (see
/// [`TransactionGuard`]).
pub(crate) struct Open {
    tx: Transaction,
    guard: TransactionGuard,
    /// The connection is the transaction's own: its end resets the session too (`DISCARD
    /// ALL`). False in a session, whose state outlives its transactions.
    reset: bool,
}

impl Drop for Open {
    fn drop(&mut self) {
        // No handle works once the transaction is ended or abandoned.
        self.tx.scope.active.set(0);
    }
}

impl Open {
    /// A handle on the transaction (level 0), for its statements.
    pub(crate) fn handle(&self) -> Transaction {
        Transaction {
            x: self.tx.x.clone(),
            scope: self.tx.scope.clone(),
            level: self.tx.level,
            depth: self.tx.depth,
        }
    }

    /// Ends the transaction: `COMMIT` when `result` is `Ok` (its value is returned when the
    /// commit succeeds), `ROLLBACK` when it is `Err` (returned as it is); either with
    /// `DISCARD ALL` unless in a session (see [`Open::reset`]). The driver's own errors
    /// (cancelled, `COMMIT` refused, connection lost) arrive as `E::from`.
    pub(crate) async fn finish<T, E: From<Error>>(mut self, result: Result<T, E>) -> Result<T, E> {
        let scope = self.tx.scope.clone();
        let conn = self.tx.x.conn.clone();
        let reset = self.reset;
        let guard = &mut self.guard;
        // No handle works from here on, whatever the closure kept.
        scope.active.set(0);
        let result = match result {
            Ok(_) if scope.cancelled.load(Ordering::Relaxed) => Err(cancelled_error().into()),
            other => other,
        };
        match result {
            Ok(value) => {
                let reply = end_with(&conn, "COMMIT", reset).await;
                guard.open = false;
                match reply? {
                    Some(Response::Rows {
                        complete: Some(c), ..
                    }) if &*c.tag == "COMMIT" => Ok(value),
                    // The server answers COMMIT of a failed transaction with a ROLLBACK tag.
                    Some(Response::Rows { .. }) => Err(Error::commit_failed(None).into()),
                    Some(Response::Failed(e)) => Err(Error::commit_failed(Some(e)).into()),
                    _ => Err(Error::protocol("unexpected reply to COMMIT").into()),
                }
            }
            Err(e) => {
                if end_with(&conn, "ROLLBACK", reset).await.is_ok() {
                    guard.open = false;
                }
                Err(e)
            }
        }
    }

    /// Rolls the transaction back (with `DISCARD ALL` unless in a session); the error says why
    /// it could not be sent or answered (the connection is then reset or closed before its
    /// next use).
    pub(crate) async fn rollback(mut self) -> Result<(), Error> {
        self.tx.scope.active.set(0);
        let reply = end_with(&self.tx.x.conn, "ROLLBACK", self.reset).await?;
        self.guard.open = false;
        match reply {
            Some(Response::Failed(e)) => Err(Error::db(e)),
            _ => Ok(()),
        }
    }
}

/// Sends `end` (`COMMIT`, `ROLLBACK`), with `DISCARD ALL` when `reset` (see [`Open::reset`]):
/// `end`'s reply.
async fn end_with(conn: &Connection, end: &str, reset: bool) -> Result<Option<Response>, Error> {
    if reset {
        conn.end_session(Some(end)).await
    } else {
        conn.simple(end).await.map(Some)
    }
}

/// Begins a transaction (`BEGIN` with `options`) on `permit`'s connection, on its worker: the
/// open transaction, rolled back if dropped before it is finished.
pub(crate) async fn begin(
    client: Client,
    permit: Pooled<PgManager>,
    options: TransactionOptions,
    cancelled: Arc<AtomicBool>,
) -> Result<Open, Error> {
    let conn = (*permit).clone();
    // From here on the session may differ from a fresh one until `end_session` succeeds.
    conn.mark_session_dirty();
    start(Exclusive { client, conn }, Some(permit), options, cancelled).await
}

/// Begins a transaction in a session, on `x` (the session's connection, on its worker): ended
/// by `COMMIT` or `ROLLBACK` alone, so the session's own state outlives it.
pub(crate) async fn begin_in_session(
    x: Exclusive,
    options: TransactionOptions,
    cancelled: Arc<AtomicBool>,
) -> Result<Open, Error> {
    start(x, None, options, cancelled).await
}

/// `BEGIN` on `x`'s connection; `permit`, when given, is held until the transaction ends (and
/// makes its end reset the session).
async fn start(
    x: Exclusive,
    permit: Option<Pooled<PgManager>>,
    options: TransactionOptions,
    cancelled: Arc<AtomicBool>,
) -> Result<Open, Error> {
    let conn = x.conn.clone();
    let reset = permit.is_some();
    // Armed before BEGIN is sent: if this future is dropped while BEGIN is in flight, the
    // ROLLBACK queued behind it ends the transaction (or warns that there is none).
    let guard = TransactionGuard {
        conn: conn.clone(),
        open: true,
        _permit: permit,
    };
    if let Response::Failed(e) = conn.simple(&options.begin_sql()).await? {
        return Err(Error::db(e));
    }
    let scope = Rc::new(Scope {
        active: Cell::new(1),
        next: Cell::new(2),
        cancelled,
    });
    let tx = Transaction {
        x,
        scope,
        level: 1,
        depth: 0,
    };
    Ok(Open { tx, guard, reset })
}

impl Client {
    /// Runs `f` in a transaction on a connection of its own (no other caller's statements
    /// interleave), on a worker: this worker when called on one, else one reached through its
    /// mailbox, so it works from tokio and plain threads too.
    ///
    /// `BEGIN` (with `options`) runs first; then `f`'s future, with a [`Transaction`] handle
    /// for the statements; then `COMMIT` when it returns `Ok`, `ROLLBACK` when it returns
    /// `Err` (whose error is returned). A `COMMIT` the server refuses (a deferred constraint,
    /// a serialization failure) or answers with `ROLLBACK` (a statement failed and `f`
    /// ignored it) is an error with [`Error::is_commit_failed`]: nothing of the transaction
    /// persists. If the connection fails during `COMMIT` the outcome is unknown and the error
    /// is [`Error::is_closed`].
    ///
    /// **Cancellation.** Dropping this future before `COMMIT` is sent rolls the transaction
    /// back: `f`'s future is dropped on its worker (at once on a worker; from another thread,
    /// at the worker's next turn) and `ROLLBACK` is queued on the connection. Either way the
    /// connection is reset before anyone else uses it.
    ///
    /// The connection comes from a per-worker pool of exclusive connections, and goes back
    /// reset: `COMMIT`/`ROLLBACK` is sent with `DISCARD ALL` in one round trip, so a `SET`,
    /// `LISTEN`, temp table or advisory lock of one transaction never reaches the next.
    ///
    /// `f` and its future run on the worker: like any task there they must not block or
    /// panic (a panic takes the worker's executor down). `SERIALIZABLE` transactions should
    /// be retried when the error's [`code`](Error::code) is `40001`, whether a statement or
    /// the `COMMIT` failed.
    ///
    /// ```
    /// # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = corelane_testkit::PgServer::start()?;
    /// # let client = corelane_postgres::Client::connect(&server.url())?;
    /// # let client = &client;
    /// # futures_lite::future::block_on(async {
    /// # client.batch_execute("CREATE TABLE account (id int4 PRIMARY KEY, balance int8); INSERT INTO account VALUES (1, 100); CREATE TABLE audit (note text)").await?;
    /// use corelane_postgres::{IsolationLevel, TransactionOptions};
    ///
    /// let options = TransactionOptions::new().isolation(IsolationLevel::Serializable);
    /// let balance: i64 = client
    ///     .transaction(options, |mut tx| async move {
    ///         tx.execute("UPDATE account SET balance = balance - $1 WHERE id = 1", &[&10i64])
    ///             .await?;
    ///         tx.savepoint(|sp| async move {
    ///             sp.execute("INSERT INTO audit (note) VALUES ('debit')", &[]).await
    ///         })
    ///         .await?;
    ///         tx.query_one("SELECT balance FROM account WHERE id = 1", &[])
    ///             .await?
    ///             .get(0)
    ///     })
    ///     .await?;
    /// # let _ = balance;
    /// # Ok::<(), corelane_postgres::Error>(())
    /// # })?;
    /// # Ok(()) }
    /// ```
    ///
    /// For a closure that fails with the application's own error type, see
    /// [`try_transaction`](Self::try_transaction).
    // Why two methods: generic over the closure's error type `E`, every closure that uses `?`
    // and ends in `Ok(..)` stops compiling (nothing pins `E`: "type annotations needed"). So
    // this one stays on `Error`, the common case, and `try_transaction` names `E`.
    pub async fn transaction<T, F, Fut>(
        &self,
        options: TransactionOptions,
        f: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Transaction) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        trace::run(
            trace::span(self.config(), "TRANSACTION", None),
            async move { self.transaction_core(options, f).await? },
        )
        .await
    }

    /// [`transaction`](Self::transaction) for a closure that fails with the application's own
    /// error type `E` (any `E: From<Error> + Send`): an `Err` from `f` rolls the transaction
    /// back and comes back unchanged, so the caller can match on its own variants; the
    /// driver's errors (no connection, `BEGIN` or `COMMIT` refused, the statements' errors
    /// `f` passed on with `?`) arrive as `E::from(error)`. Everything else — the connection,
    /// cancellation, the reset — is as in [`transaction`](Self::transaction).
    ///
    /// Use `transaction` when the closure only passes on driver errors (its `?` needs no
    /// annotation); use this one when it decides to roll back for a reason of its own. `E` is
    /// pinned by the closure's error, or named at the call
    /// (`client.try_transaction::<_, AppError, _, _>(..)`).
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) {
    /// use corelane_postgres::{Error, TransactionOptions};
    ///
    /// #[derive(Debug)]
    /// enum AppError {
    ///     OutOfStock { sku: String },
    ///     Db(Error),
    /// }
    /// impl From<Error> for AppError {
    ///     fn from(e: Error) -> AppError {
    ///         AppError::Db(e)
    ///     }
    /// }
    ///
    /// let reserved = client
    ///     .try_transaction(TransactionOptions::new(), |tx| async move {
    ///         let left: i32 = tx
    ///             .query_one("UPDATE stock SET qty = qty - 1 WHERE sku = 'A1' RETURNING qty", &[])
    ///             .await?
    ///             .get(0)?;
    ///         if left < 0 {
    ///             // Rolled back: the stock is as it was.
    ///             return Err(AppError::OutOfStock { sku: "A1".into() });
    ///         }
    ///         Ok(left)
    ///     })
    ///     .await;
    /// match reserved {
    ///     Ok(left) => println!("{left} left"),
    ///     Err(AppError::OutOfStock { sku }) => println!("{sku} is out of stock"),
    ///     Err(AppError::Db(e)) => println!("database: {e}"),
    /// }
    /// # }
    /// ```
    pub async fn try_transaction<T, E, F, Fut>(
        &self,
        options: TransactionOptions,
        f: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
        F: FnOnce(Transaction) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
    {
        // The span records the driver's failures before `f` ran; what `f` returns is the
        // application's to judge.
        trace::run(
            trace::span(self.config(), "TRANSACTION", None),
            self.transaction_core(options, f),
        )
        .await
        .unwrap_or_else(|e| Err(E::from(e)))
    }

    /// Runs a transaction on a worker: the outer error when none began (no connection, no
    /// worker, `BEGIN` refused), else `f`'s result after the transaction's end.
    async fn transaction_core<T, E, F, Fut>(
        &self,
        options: TransactionOptions,
        f: F,
    ) -> Result<Result<T, E>, Error>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
        F: FnOnce(Transaction) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
    {
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut cancel = CancelOnDrop(Some(cancelled.clone()));
        let client = self.clone();
        let fallback = || corelane_runtime::ClientHandle::fallback(self);
        let out = dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                let permit = client.exclusive_connection().await?;
                run(client, permit, options, cancelled, f).await
            },
        )
        .await
        .map_err(Error::from);
        cancel.0 = None;
        out?
    }
}

/// Tells a transaction running on another thread that its caller stopped waiting (set when
/// dropped still armed).
pub(crate) struct CancelOnDrop(pub(crate) Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_statements() {
        assert_eq!(TransactionOptions::new().begin_sql(), "BEGIN");
        assert_eq!(
            TransactionOptions::new()
                .isolation(IsolationLevel::Serializable)
                .read_only(true)
                .deferrable(true)
                .begin_sql(),
            "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE"
        );
        assert_eq!(
            TransactionOptions::new()
                .isolation(IsolationLevel::RepeatableRead)
                .read_only(false)
                .deferrable(false)
                .begin_sql(),
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ WRITE, NOT DEFERRABLE"
        );
        assert_eq!(
            TransactionOptions::new()
                .isolation(IsolationLevel::ReadCommitted)
                .begin_sql(),
            "BEGIN ISOLATION LEVEL READ COMMITTED"
        );
        assert_eq!(
            TransactionOptions::new()
                .isolation(IsolationLevel::ReadUncommitted)
                .begin_sql(),
            "BEGIN ISOLATION LEVEL READ UNCOMMITTED"
        );
    }
}
