//! [`Client::session`]: one exclusive connection, with no transaction opened for you, for work
//! whose session state must stick across calls (`SET`, `search_path`, temporary tables,
//! advisory locks, `PREPARE`, a `BEGIN`/`COMMIT` of your own).
//!
//! It is built from the same parts as [`Client::begin`]'s handle: a connection checked out of
//! the worker's exclusive pool, kept in that worker's registry (`pinned.rs`), named by a
//! `Send + Sync` handle whose calls run there. The differences: nothing is sent when the
//! session starts, the shared connections' session check does not apply (only `LISTEN` and
//! `COPY` to or from the client are refused, see `session::check_session`), statements are
//! described on the session's own connection (its `search_path` or a temporary table may give
//! the same SQL another meaning there), and the end is a reset rather than a `COMMIT`.
//!
//! Ending: when the handle is dropped the connection is reset at once, on its worker, before
//! it goes back to the pool: `ROLLBACK` if a transaction was left open, then `DISCARD ALL`
//! (settings, temporary tables, advisory locks, prepared statements, `LISTEN`s all go), queued
//! behind whatever the session left in flight and bounded by the reset timeout. A connection
//! that cannot be reset is closed instead. So the next user never sees the session's state,
//! and its advisory locks are released as soon as the server gets there, not when the
//! connection is next checked out.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use corelane_pg_proto::types::{Oid, ToSql};
use corelane_runtime::dispatch;
use corelane_runtime::pool::Pooled;

use crate::client::Outcome;
use crate::exclusive::Exclusive;
use crate::pinned::{Descriptions, Pinnable, Pinned, Runner};
use crate::simple_query::SimpleQueryMessage;
use crate::statement::{Params, Statement};
use crate::to_statement::{self, ToStatement};
use crate::transaction::{self, CancelOnDrop, Transaction, TransactionOptions};
use crate::worker_state::{self, PgManager};
use crate::{Client, Error, Row};

/// How many statements a session remembers; past it, it forgets them all and describes again
/// as needed (a session is short-lived: this only bounds one that runs endless distinct SQL).
const REMEMBERED: usize = 256;

thread_local! {
    /// The sessions of this worker whose handles are alive.
    static OPEN: RefCell<HashMap<u64, SessionConn>> = RefCell::new(HashMap::new());
}

/// A session on its worker: the connection, checked out until this is dropped.
struct SessionConn {
    x: Exclusive,
    /// False once the session ended: calls still running stop before sending anything more.
    open: Rc<Cell<bool>>,
    /// `Some` until dropped.
    permit: Option<Pooled<PgManager>>,
}

impl Drop for SessionConn {
    fn drop(&mut self) {
        self.open.set(false);
        let Some(mut permit) = self.permit.take() else {
            return;
        };
        // Reset now, holding the connection until done, so that the session's locks go as
        // soon as the server gets there (a pooled connection is otherwise reset only when it
        // is next checked out).
        let reset = async move {
            if !worker_state::reset(&permit).await {
                permit.discard();
            }
        };
        // Refused only off a worker (a worker shutting down): the permit was dropped with the
        // future, and the pool resets the connection before its next use.
        let _ = corelane_runtime::task::spawn_detached(reset);
    }
}

/// The statement handle of a session's calls, on its worker.
struct SessionRunner {
    x: Exclusive,
    open: Rc<Cell<bool>>,
}

impl SessionRunner {
    fn check(&self) -> Result<(), Error> {
        if self.open.get() {
            Ok(())
        } else {
            Err(ended())
        }
    }
}

fn ended() -> Error {
    Error::runtime("this session has ended (its handle was dropped, or its worker stopped)")
}

impl Pinnable for SessionConn {
    type Runner = SessionRunner;

    fn registry() -> &'static std::thread::LocalKey<RefCell<HashMap<u64, SessionConn>>> {
        &OPEN
    }

    fn runner(&self) -> SessionRunner {
        SessionRunner {
            x: self.x.clone(),
            open: self.open.clone(),
        }
    }

    fn ended() -> Error {
        ended()
    }
}

impl Runner for SessionRunner {
    /// On the session's connection, not through the client's descriptions (see the module
    /// docs).
    async fn describe(&self, sql: &str) -> Result<Statement, Error> {
        self.check()?;
        self.x.conn.describe(sql).await
    }

    async fn describe_fresh(&self, sql: &str) -> Result<Statement, Error> {
        self.check()?;
        self.x.describe_fresh(sql).await
    }

    async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        self.check()?;
        self.x.prepare_typed(sql, types).await
    }

    async fn run_encoded(&self, stmt: &Statement, encoded: &Params) -> Result<Outcome, Error> {
        self.check()?;
        self.x.run_encoded(stmt, encoded).await
    }

    async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.check()?;
        self.x.batch_execute(sql).await
    }

    async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.check()?;
        self.x.simple_query(sql).await
    }
}

/// The statements a session described, on the caller's side (a session is usually driven by
/// one caller at a time: the lock is uncontended).
#[derive(Default)]
struct Remembered(Mutex<HashMap<String, Statement>>);

impl Remembered {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Statement>) -> R) -> R {
        // A panic while holding it cannot leave the map inconsistent (single calls on a map).
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut map)
    }
}

impl Descriptions for Remembered {
    fn get(&self, sql: &str) -> Option<Statement> {
        self.with(|map| map.get(sql).cloned())
    }

    fn remember(&self, stmt: &Statement) {
        self.with(|map| {
            if map.len() >= REMEMBERED {
                map.clear();
            }
            map.insert(stmt.sql.to_string(), stmt.clone());
        });
    }

    /// Described again next time: the failure may come from DDL the session ran.
    fn failed(&self, sql: &str, _e: &Error) {
        self.with(|map| map.remove(sql));
    }
}

/// One connection of the client's, for you alone, with no transaction opened for you
/// ([`Client::session`]): `SET`, `search_path`, temporary tables, advisory locks, `PREPARE`d
/// statements and a `BEGIN`/`COMMIT` of your own stick across its calls, as they would on a
/// connection of your own.
///
/// The connection comes from the worker's pool of exclusive connections (the one transactions
/// use) and lives on that worker; the handle is `Send + Sync` and works from any thread — that
/// worker (no hop), another worker, tokio or a plain thread (through the worker's mailbox).
/// Statements issued concurrently through one handle are pipelined in the order issued.
/// Statements are described on the session's own connection and remembered by the handle
/// (not shared with the client, since the session's settings may give the same SQL another
/// meaning). The calls are not bounded by the query timeout.
///
/// **Allowed and refused.** Unlike the client's shared connections, a session takes `SET`,
/// `RESET`, `BEGIN`/`COMMIT`/`ROLLBACK`, `SAVEPOINT` and the rest. It refuses, with
/// [`Error::is_session_change`], `LISTEN` (a session does not deliver notifications: use
/// [`Client::listener`]) and `COPY ... FROM STDIN` / `TO STDOUT` (use [`Client::copy_in`] and
/// [`Client::copy_out`], which run on a connection of their own and so do not see the
/// session's temporary tables). A failing statement is an error of that call only: the session
/// carries on (inside a transaction you began, the server aborts that transaction, as usual).
///
/// **Transactions.** `BEGIN`/`COMMIT` by hand work; [`transaction`](Self::transaction) runs a
/// closure in one (committed or rolled back for you), leaving the session's state in place.
///
/// **Ending.** Drop the handle. Its connection is then reset on its worker before anyone else
/// uses it — `ROLLBACK` of a transaction you left open, then `DISCARD ALL` — so no setting,
/// temporary table, advisory lock or prepared statement of the session reaches the next user,
/// and its locks are released as soon as the server gets there. Dropped while a statement is
/// running, the reset waits behind it (up to a bound, past which the connection is closed).
/// The session holds one of the worker's exclusive connections ([`Config::exclusive_per_worker`])
/// until dropped.
///
/// [`Config::exclusive_per_worker`]: crate::Config::exclusive_per_worker
///
/// ```
/// # // Runs against a throwaway server (corelane-testkit, a dev-dependency: needs PostgreSQL's
/// # // binaries, as the integration tests do).
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = corelane_testkit::PgServer::start()?;
/// # let client = corelane_postgres::Client::connect(&server.url())?;
/// # futures_lite::future::block_on(async {
/// # client
/// #     .batch_execute(
/// #         "CREATE SCHEMA tenant_42; CREATE TABLE tenant_42.orders (id int8, due bool); \
/// #          INSERT INTO tenant_42.orders VALUES (1, true), (2, false)",
/// #     )
/// #     .await?;
/// let session = client.session().await?;
/// session.batch_execute("SET search_path = tenant_42").await?;
/// session.execute("CREATE TEMP TABLE batch (id int8)", &[]).await?;
/// session.execute("INSERT INTO batch SELECT id FROM orders WHERE due", &[]).await?;
/// let rows = session.query("SELECT id FROM batch", &[]).await?; // same connection
/// assert_eq!(rows.len(), 1);
/// drop(session); // reset: the temp table and the search_path go with it
/// # Ok::<(), corelane_postgres::Error>(())
/// # })?;
/// # Ok(()) }
/// ```
pub struct Session {
    /// The connection, on its worker.
    pinned: Pinned<SessionConn>,
    remembered: Remembered,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Checks out a connection for a [`Session`] (see there): on this worker when called on
    /// one, else on one reached through its mailbox. It waits for a free exclusive connection
    /// like [`transaction`](Self::transaction) does (up to [`Config::acquire_timeout`]).
    ///
    /// [`Config::acquire_timeout`]: crate::Config::acquire_timeout
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// let session = client.session().await?;
    /// let got: bool = session
    ///     .query_one("SELECT pg_try_advisory_lock(42)", &[])
    ///     .await?
    ///     .get(0)?;
    /// if got {
    ///     // ... work only one process at a time may do; the lock is held by this
    ///     // session's connection across calls ...
    ///     session.execute("SELECT pg_advisory_unlock(42)", &[]).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn session(&self) -> Result<Session, Error> {
        let client = self.clone();
        let fallback = || corelane_runtime::ClientHandle::fallback(self);
        dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                let permit = client.exclusive_connection().await?;
                let conn = (*permit).clone();
                // Whatever the session does, the connection is reset before its next user.
                conn.mark_session_dirty();
                let session = SessionConn {
                    x: Exclusive { client, conn },
                    open: Rc::new(Cell::new(true)),
                    permit: Some(permit),
                };
                // Made here, so that if the caller is gone by now the handle's drop ends the
                // session.
                Ok(Session {
                    pinned: Pinned::register(session)?,
                    remembered: Remembered::default(),
                })
            },
        )
        .await
        .map_err(Error::from)?
    }

    /// Runs `f` with a [`Session`] (see [`session`](Self::session)) and returns its result;
    /// the session ends (its connection is reset and returned) when `f`'s future completes or
    /// is dropped, unless `f` kept the handle.
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// let total: i64 = client
    ///     .with_session(|s| async move {
    ///         s.batch_execute("SET statement_timeout = '5s'; SET work_mem = '256MB'")
    ///             .await?;
    ///         s.query_one("SELECT sum(amount)::int8 FROM big_report", &[])
    ///             .await?
    ///             .get(0)
    ///     })
    ///     .await?;
    /// # let _ = total; Ok(()) }
    /// ```
    pub async fn with_session<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(Session) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let session = self.session().await?;
        f(session).await
    }
}

impl Session {
    /// Describes `sql` on the session's connection (remembered by this handle).
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        crate::session::check_session(sql)?;
        self.pinned.prepare(&self.remembered, sql).await
    }

    /// Like [`prepare`](Self::prepare), with the parameter types declared (see
    /// [`Client::prepare_typed`]).
    pub async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        crate::session::check_session(sql)?;
        self.pinned.prepare_typed(sql, types).await
    }

    /// Runs `statement` (SQL text or a prepared [`Statement`]) with `params` on the session's
    /// connection and returns its rows.
    pub async fn query<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let target = to_statement::target(statement);
        Ok(self
            .pinned
            .run(&self.remembered, target, params)
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

    /// Runs a statement on the session's connection and returns the rows it affected.
    pub async fn execute<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let target = to_statement::target(statement);
        let outcome = self.pinned.run(&self.remembered, target, params).await?;
        Ok(outcome.affected.unwrap_or(0))
    }

    /// Runs statements with the simple protocol on the session's connection: `SET`,
    /// `BEGIN`/`COMMIT` and the like belong here.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        crate::session::check_session(sql)?;
        self.pinned.batch_execute(sql).await
    }

    /// Like [`Client::simple_query`], on the session's connection.
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        crate::session::check_session(sql)?;
        self.pinned.simple_query(sql).await
    }

    /// Runs `f` in a transaction on the session's connection, as [`Client::transaction`] does
    /// (`BEGIN` with `options`, `f`'s future with a [`Transaction`] handle, then `COMMIT` on
    /// `Ok` or `ROLLBACK` on `Err`, a refused `COMMIT` as [`Error::is_commit_failed`], and a
    /// rollback when this future is dropped), except that the end is `COMMIT` or `ROLLBACK`
    /// alone: the session's settings, temporary tables and locks outlive the transaction. The
    /// session is borrowed meanwhile, so no other call of it lands in the transaction. Not for
    /// use inside a transaction begun by hand (`BEGIN` would only warn, and the `COMMIT` would
    /// end that one).
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// use corelane_postgres::TransactionOptions;
    ///
    /// let mut session = client.session().await?;
    /// session.execute("CREATE TEMP TABLE staged (id int8)", &[]).await?;
    /// session
    ///     .transaction(TransactionOptions::new(), |tx| async move {
    ///         tx.execute("INSERT INTO staged SELECT id FROM orders WHERE due", &[]).await?;
    ///         tx.execute("DELETE FROM orders WHERE id IN (SELECT id FROM staged)", &[])
    ///             .await?;
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let staged = session.query("SELECT id FROM staged", &[]).await?; // still there
    /// # let _ = staged; Ok(()) }
    /// ```
    pub async fn transaction<T, F, Fut>(
        &mut self,
        options: TransactionOptions,
        f: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Transaction) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        self.try_transaction(options, f).await
    }

    /// [`transaction`](Self::transaction) for a closure that fails with the application's own
    /// error type `E: From<Error>`, as [`Client::try_transaction`]: an `Err` from `f` rolls
    /// the transaction back and comes back unchanged; the driver's errors arrive as
    /// `E::from`.
    pub async fn try_transaction<T, E, F, Fut>(
        &mut self,
        options: TransactionOptions,
        f: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
        F: FnOnce(Transaction) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
    {
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut cancel = CancelOnDrop(Some(cancelled.clone()));
        // The outer error: no transaction began (`f` never ran); the inner result is `f`'s.
        let out = self
            .pinned
            .on_worker(move |session| async move {
                session.check()?;
                let open =
                    transaction::begin_in_session(session.x.clone(), options, cancelled).await?;
                let result = f(open.handle()).await;
                Ok(open.finish(result).await)
            })
            .await;
        cancel.0 = None;
        out.unwrap_or_else(|e| Err(E::from(e)))
    }
}
