//! The client handle: `Clone + Send + Sync`, usable on the loop's workers and off them.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane_pg_proto::message::backend::RowDescription;
use corelane_pg_proto::types::ToSql;
use corelane_runtime::client::PerWorker;
use corelane_runtime::{dispatch, dispatch_from, resolve, ClientHandle, Provider, ServerProvider};

use crate::cancel;
use crate::codec::Response;
use crate::config::Config;
use crate::connection::{is_stale_statement, Connection};
use crate::data_rows::DataRows;
use crate::described;
use crate::execute::Execute;
use crate::pipeline;
use crate::row::Row;
use crate::statement::{Column, Params, Statement};
use crate::to_statement::{self, Target, ToStatement};
use crate::trace;
use crate::worker_state::{self, WorkerPools};
use crate::Error;

/// A PostgreSQL client. Cheap to clone; clones share the per-worker connections.
///
/// On a worker of its event loop a query uses that worker's connection (no hop); elsewhere
/// (tokio, plain threads) it runs on a worker through its mailbox. Concurrent queries on one
/// worker share the connection (pipelined through its bridge queue).
///
/// Because the connection is shared, a statement that would change its session for everyone
/// — transaction control, `SET`/`RESET`, `LISTEN`, `COPY ... FROM STDIN`/`TO STDOUT` — is
/// refused by `query`, `execute`, `pipeline`, `batch_execute` and `simple_query` with
/// [`Error::is_session_change`] (its message names the API to use: [`transaction`] or [`begin`],
/// [`listener`], [`copy_in`], [`copy_out`]); a setting changed in a way that cannot be seen
/// before sending (e.g. `set_config` in a function) makes the connection leave the pool.
///
/// # What is shared and what is not
///
/// Two calls of the client may run on different connections (another worker's, or another of
/// this worker's), so nothing one call leaves in a session is there for the next — which is
/// why the shared connections refuse statements that would leave something:
///
/// - **Shared, pipelined connections** (`query`, `query_one`, `query_opt`, `execute`,
///   `prepare`, `pipeline`, `batch_execute`, `simple_query` on the client itself): no session
///   state. Settings come from the [`Config`] (`options`, startup parameters) and are
///   the same on every connection; for anything else use one of the following.
/// - **A transaction** ([`transaction`] or [`begin`]): one connection for its whole life;
///   `SET LOCAL`, temporary tables and locks last until it ends, and the connection is reset
///   (`DISCARD ALL`) before its next user.
/// - **A session** ([`session`] or [`with_session`]): one connection, no transaction opened
///   for you: `SET`, `search_path`, temporary tables, advisory locks, `PREPARE` and your own
///   `BEGIN`/`COMMIT` stick across its calls until the [`Session`](crate::Session) is dropped;
///   then the connection is reset before anyone else uses it.
/// - **The listener** ([`listener`]): a connection of its own, reconnected and re-`LISTEN`ed
///   by the listener. `COPY` ([`copy_in`], [`copy_out`]) and [`query_stream`] check out a
///   connection for the one operation (so they do not see a session's temporary tables).
/// - **Prepared statements** are cached per connection (parsed on each connection at first
///   use there, re-prepared if the server lost one); their descriptions ([`Statement`]) are
///   remembered per client on each thread and work on any connection. A session describes on
///   its own connection and remembers its statements itself.
///
/// [`session`]: Client::session
/// [`query_stream`]: Client::query_stream
/// [`with_session`]: Client::with_session
/// [`transaction`]: Client::transaction
/// [`begin`]: Client::begin
/// [`listener`]: Client::listener
/// [`copy_in`]: Client::copy_in
/// [`copy_out`]: Client::copy_out
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    /// This handle's query timeout (the config's, unless set by [`Client::with_query_timeout`]).
    query_timeout: Option<Duration>,
}

pub(crate) struct Inner {
    /// Unique to this client in the process: keys its per-thread statement descriptions.
    pub(crate) id: u64,
    pub(crate) config: Arc<Config>,
    /// This client's pools and counters on each worker (forgotten on every worker when the
    /// last handle drops).
    pub(crate) states: PerWorker<WorkerPools>,
    pub(crate) next_worker: AtomicUsize,
    /// Alive as long as the client: the per-thread description caches drop a dead client's
    /// entries (see `described.rs`).
    alive: Arc<()>,
}

/// Statements run through `corelane_runtime::dispatch_from` (see `execute_response`).
impl ClientHandle for Client {
    fn workers(&self) -> &dyn corelane_runtime::EventLoopProvider {
        &**self.inner.states.workers()
    }

    fn fallback(&self) -> usize {
        self.inner.next_worker.fetch_add(1, Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("query_timeout", &self.query_timeout)
            .finish_non_exhaustive()
    }
}

/// What one statement of a pipeline produced.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The rows (empty for statements that return none).
    pub rows: Vec<Row>,
    /// Rows affected, from the command tag (`INSERT 0 5` → 5), when it says.
    pub affected: Option<u64>,
}

impl Client {
    /// A client for a URL or key=value string (see [`Config::parse`]: libpq's keywords, `PG*`
    /// environment defaults, `~/.pgpass`) on the shared standalone loop. Connections open
    /// lazily on each worker: nothing is checked here ([`check`](Self::check) connects now).
    pub fn connect(params: &str) -> Result<Client, Error> {
        Client::new(Config::parse(params)?)
    }

    /// A client on the shared standalone loop. Connections open lazily, on first use on each
    /// worker ([`new_checked`](Self::new_checked) connects once now). Fails
    /// ([`Error::is_config`]) when [`Config::max_connections`] is below two per worker.
    pub fn new(config: Config) -> Result<Client, Error> {
        let workers = resolve(None).map_err(Error::runtime)?;
        Client::with_workers(config, workers)
    }

    /// A client whose connections live on a thread-per-core server's own workers.
    pub fn with_server(config: Config, server: &dyn ServerProvider) -> Result<Client, Error> {
        let workers = resolve(Some(server)).map_err(Error::runtime)?;
        Client::with_workers(config, workers)
    }

    /// Fails ([`Error::is_config`]) when [`Config::max_connections`] is below two per worker.
    fn with_workers(config: Config, workers: Provider) -> Result<Client, Error> {
        config.check_budget(workers.num_workers())?;
        let states = PerWorker::new(workers);
        Ok(Client {
            query_timeout: config.query_timeout,
            inner: Arc::new(Inner {
                id: states.key(),
                config: Arc::new(config),
                states,
                next_worker: AtomicUsize::new(0),
                alive: Arc::new(()),
            }),
        })
    }

    /// [`new`](Self::new), then [`check`](Self::check): a client whose server was reached
    /// and accepted its credentials, or the error saying why not. For start-up code that
    /// should fail fast on a wrong password or an unreachable host.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), corelane_postgres::Error> {
    /// use corelane_postgres::{Client, Config};
    ///
    /// let client = Client::new_checked(Config::parse("host=/var/run/postgresql dbname=app")?).await?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub async fn new_checked(config: Config) -> Result<Client, Error> {
        let client = Client::new(config)?;
        client.check().await?;
        Ok(client)
    }

    /// Opens one connection to the server on a worker, runs startup and authentication (and
    /// the [`target_session_attrs`](Config::target_session_attrs) check), and closes it:
    /// `Ok` when the client can connect, else the reason — [`Error::is_connect`] (unreachable
    /// host, refused port, no such socket, timeout after [`Config::connect_timeout`], a server
    /// that is not the wanted kind), [`Error::is_auth`] (wrong or missing password), or the
    /// server's error (e.g. SQLSTATE `3D000`, no such database). The client's pooled
    /// connections still open lazily, as usual. Works on a worker of the loop and off it
    /// (tokio, plain threads), like every other call.
    pub async fn check(&self) -> Result<(), Error> {
        let config = self.inner.config.clone();
        let fallback = || ClientHandle::fallback(self);
        dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                let conn = Connection::open(&config).await?;
                conn.pipe.close();
                Ok(())
            },
        )
        .await
        .map_err(Error::from)?
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A handle on the same connections (a clone) whose calls time out after `timeout`
    /// instead of the configured [`Config::query_timeout`]; `None` waits as long as the
    /// server takes.
    ///
    /// The timeout bounds each call (`query`, `query_one`, `query_opt`, `execute`,
    /// `pipeline`, `batch_execute`, `prepare`) from the moment it is issued, including the
    /// wait for a connection; it runs on the worker, so it works the same from tokio or plain
    /// threads. Past it the call fails with [`Error::is_timeout`], and what it sent is
    /// cancelled on the server (`CancelRequest` on a side connection) **when that cannot hit
    /// another caller's statement**: the cancel is sent only once no other call is in
    /// progress on the connection, and no statement is written on the connection until the
    /// cancel has landed and the connection has drained to `ReadyForQuery` (then it serves
    /// on) — or it is closed and replaced when that is not sure within a few seconds. While
    /// other calls share the connection, the timed-out statement is left to finish and its
    /// reply is discarded. Dropping a call's future is handled the same way, on a worker or
    /// off the loop (from tokio, e.g. by `tokio::time::timeout`, or a plain thread: the call's
    /// work on its worker is dropped there at once). The full argument is in the crate's
    /// source (`cancel.rs`).
    ///
    /// Statements inside [`transaction`](Self::transaction) are not bounded by it.
    ///
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
    /// use std::time::Duration;
    ///
    /// let quick = client.with_query_timeout(Some(Duration::from_millis(100)));
    /// match quick.query("SELECT pg_sleep(10)", &[]).await {
    ///     Err(e) if e.is_timeout() => {} // cancelled on the server
    ///     other => { other?; }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn with_query_timeout(&self, timeout: Option<Duration>) -> Client {
        Client {
            inner: self.inner.clone(),
            query_timeout: timeout.filter(|d| !d.is_zero()),
        }
    }

    /// This handle's query timeout (see [`with_query_timeout`](Self::with_query_timeout)).
    pub fn query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }

    /// The deadline of a call issued now.
    pub(crate) fn deadline(&self) -> Option<(Instant, Duration)> {
        // A timeout too large for a deadline (past ~100 years) is no timeout.
        self.query_timeout
            .and_then(|d| corelane_runtime::deadline::after(Instant::now(), d).map(|at| (at, d)))
    }

    /// The statement `target` names, ready to run: SQL is described (or found described);
    /// a prepared statement is used as it is, unless `again` (its columns changed since it was
    /// described, or a type it uses may have: it is described afresh, with the types of the
    /// connection that describes it looked up again). Either is refused when it would change the session
    /// of a shared connection (a statement prepared in a transaction may).
    pub(crate) async fn resolve(
        &self,
        target: Target<'_>,
        again: bool,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Statement, Error> {
        // The describing paths are boxed: they are cold, and inline they would make every
        // statement's future (and the copies of it) kilobytes larger.
        match target {
            Target::Sql(sql) if again => Box::pin(self.prepare_again(sql, deadline)).await,
            Target::Sql(sql) => self.prepare_by(sql, deadline).await,
            Target::Prepared(stmt) => {
                crate::session::check_statement(stmt)?;
                if !again {
                    Ok(stmt.clone())
                } else if stmt.is_typed() {
                    Box::pin(
                        self.describe_typed(
                            &stmt.sql,
                            stmt.params
                                .iter()
                                .map(corelane_pg_proto::types::Type::oid)
                                .collect(),
                            true,
                            deadline,
                        ),
                    )
                    .await
                } else {
                    Box::pin(self.prepare_again(&stmt.sql, deadline)).await
                }
            }
        }
    }

    /// This worker's pools and counters for this client, made on first use (call it on one of
    /// the client's workers).
    pub(crate) fn worker_pools(&self) -> Result<std::rc::Rc<WorkerPools>, Error> {
        worker_state::pools(&self.inner.config, &self.inner.states)
    }

    /// A connection of this client on this worker for exclusive use, checked out until the
    /// permit drops.
    pub(crate) async fn exclusive_connection(
        &self,
    ) -> Result<corelane_runtime::pool::Pooled<worker_state::PgManager>, Error> {
        worker_state::exclusive(&self.inner.config, &self.inner.states).await
    }

    /// Runs `op` with a connection of the worker this call runs on, under `deadline` (see
    /// [`crate::cancel`]).
    pub(crate) async fn on_connection<T, F, Fut>(
        &self,
        deadline: Option<(Instant, Duration)>,
        op: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        self.on_connection_batch(deadline, None, op).await
    }

    /// [`on_connection`](Self::on_connection) for a pipeline of `pipeline` statements (its
    /// size is recorded).
    async fn on_connection_batch<T, F, Fut>(
        &self,
        deadline: Option<(Instant, Duration)>,
        pipeline: Option<usize>,
        op: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        let client = self.clone();
        let fallback = || ClientHandle::fallback(self);
        dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                let counters = client.worker_pools()?.counters.clone();
                if let Some(size) = pipeline {
                    counters.batch(size);
                }
                let in_flight = counters.begin();
                // Built in place inside the race (no copy of the call's future is kept beside it:
                // futures are large in debug builds, and a remote call's is spawned by value).
                let result = futures_lite::FutureExt::or(
                    async {
                        let conn =
                            cancel::connection(&client.inner.config, &client.inner.states).await?;
                        // Before the call's future: dropped after it (see `Watch`).
                        let _watch = cancel::Watch::new(&conn);
                        op(conn).await
                    },
                    cancel::expire(deadline),
                )
                .await;
                worker_state::record(in_flight, &result);
                result
            },
        )
        .await
        .map_err(Error::from)?
    }

    /// Describes `sql` (parameter types, result columns); remembered per client on each thread
    /// that calls it (a bounded LRU per worker, no lock: see `described.rs`).
    ///
    /// The [`Statement`] runs anywhere ([`ToStatement`]): on this worker, another one, or off
    /// the loop; each connection parses it on first use.
    ///
    /// ```
    /// # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = corelane_testkit::PgServer::start()?;
    /// # let client = corelane_postgres::Client::connect(&server.url())?;
    /// # let client = &client;
    /// # futures_lite::future::block_on(async {
    /// # client.batch_execute("CREATE TABLE log (line text)").await?;
    /// let insert = client.prepare("INSERT INTO log (line) VALUES ($1)").await?;
    /// for line in ["a", "b"] {
    ///     client.execute(&insert, &[&line]).await?;
    /// }
    /// # Ok::<(), corelane_postgres::Error>(())
    /// # })?;
    /// # Ok(()) }
    /// ```
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.prepare_by(sql, self.deadline()).await
    }

    pub(crate) async fn prepare_by(
        &self,
        sql: &str,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Statement, Error> {
        // Every statement bound for a shared connection comes through here (see
        // `session.rs`): a session change is refused before anything is sent. A statement
        // described before carries its classification (its SQL is not lexed again); one
        // remembered from a transaction may change the session, and is refused the same.
        if let Some(found) = self.described(sql) {
            crate::session::check_statement(&found)?;
            return Ok(found);
        }
        crate::session::check(sql)?;
        // Boxed: the cold path, kept out of the future of every statement that finds its
        // description here.
        Box::pin(self.describe_and_remember(sql, deadline)).await
    }

    /// Describes `sql` on a connection and remembers it (see [`prepare_by`](Self::prepare_by)).
    async fn describe_and_remember(
        &self,
        sql: &str,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Statement, Error> {
        let owned = sql.to_owned();
        let stmt = self
            .on_connection(
                deadline,
                move |conn| async move { conn.describe(&owned).await },
            )
            .await?;
        self.remember(stmt.clone());
        Ok(stmt)
    }

    /// Describes `sql` again, with the types the describing connection looked up forgotten
    /// (DDL may have changed one in place), and remembers it: for a statement that went stale.
    pub(crate) async fn prepare_again(
        &self,
        sql: &str,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Statement, Error> {
        crate::session::check(sql)?;
        let owned = sql.to_owned();
        let stmt = self
            .on_connection(deadline, move |conn| async move {
                conn.describe_fresh(&owned, None).await
            })
            .await?;
        self.remember(stmt.clone());
        Ok(stmt)
    }

    /// The statement the client already described for `sql` on this thread, if any.
    pub(crate) fn described(&self, sql: &str) -> Option<Statement> {
        described::get(self.inner.id, sql)
    }

    /// Remembers a described statement for every later use of its SQL on this thread (not one
    /// with declared parameter types: see [`prepare_typed`](Self::prepare_typed)).
    pub(crate) fn remember(&self, stmt: Statement) {
        if !stmt.is_typed() {
            described::remember(self.inner.id, &self.inner.alive, stmt)
        }
    }

    /// Runs `statement` (SQL text or a prepared [`Statement`], see [`ToStatement`]) with
    /// `params` (extended protocol, prepared and cached per connection) and returns its rows.
    ///
    /// ```
    /// # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = corelane_testkit::PgServer::start()?;
    /// # let client = corelane_postgres::Client::connect(&server.url())?;
    /// # let client = &client;
    /// # futures_lite::future::block_on(async {
    /// # client.batch_execute("CREATE TABLE users (id int4, name text); INSERT INTO users VALUES (11, 'ada')").await?;
    /// for row in client.query("SELECT id, name FROM users WHERE id > $1", &[&10i32]).await? {
    ///     let (id, name): (i32, String) = (row.get(0)?, row.get(1)?);
    ///     # let _ = (id, name);
    /// }
    /// # Ok::<(), corelane_postgres::Error>(())
    /// # })?;
    /// # Ok(()) }
    /// ```
    pub async fn query<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let target = to_statement::target(statement);
        trace::run(trace::span(self.config(), "", Some(target.sql())), async {
            let (stmt, response) = self.run_statement(target, params).await?;
            Ok(outcome(self, &stmt, response)?.rows)
        })
        .await
    }

    /// Like [`query`](Self::query), for exactly one row.
    pub async fn query_one<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let target = to_statement::target(statement);
        trace::run(trace::span(self.config(), "", Some(target.sql())), async {
            let (columns, rows) = self.query_data(target, params).await?;
            match rows.at_most_one() {
                Ok(Some(data)) => Ok(Row { columns, data }),
                Ok(None) => Err(Error::row_count(0)),
                Err(n) => Err(Error::row_count(n)),
            }
        })
        .await
    }

    /// Like [`query`](Self::query), for zero or one row.
    pub async fn query_opt<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let target = to_statement::target(statement);
        trace::run(trace::span(self.config(), "", Some(target.sql())), async {
            let (columns, rows) = self.query_data(target, params).await?;
            match rows.at_most_one() {
                Ok(data) => Ok(data.map(|data| Row { columns, data })),
                Err(n) => Err(Error::row_count(n)),
            }
        })
        .await
    }

    /// Runs `sql` and returns its rows as received, with their columns: `query_one` and
    /// `query_opt` build their single `Row` from it without first collecting a `Vec<Row>`.
    async fn query_data(
        &self,
        target: Target<'_>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(Arc<[Column]>, DataRows), Error> {
        let (stmt, response) = self.run_statement(target, params).await?;
        let (rows, _, described) = raw_outcome(response)?;
        Ok((self.reply_columns(&stmt, described.as_ref()), rows))
    }

    /// Describes (or finds the description of) `sql`, then runs it with `params`: the
    /// statement and its response. When the server says the statement's result columns
    /// changed since it was described (DDL: 0A000 or 08P01 from `Bind`, before anything ran;
    /// or a type it used was dropped, see [`is_stale_statement`]), the description is
    /// forgotten, and the statement described again and run once more; so is it when a
    /// parameter of a user-defined type refuses its value (the type may have been created
    /// again with other labels or fields since the statement was described).
    async fn run_statement(
        &self,
        target: Target<'_>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(Statement, Response), Error> {
        let deadline = self.deadline();
        let mut retried = false;
        // Apart from `retried`: a statement described again for its parameters may still go
        // stale on the connection that prepared the old one, which costs one more try.
        let mut encode_retried = false;
        loop {
            let stmt = self
                .resolve(target, retried || encode_retried, deadline)
                .await?;
            let encoded = match stmt.encode(params) {
                Ok(encoded) => encoded,
                // A parameter of a type the statement was described with before DDL dropped
                // and created it again (the old labels or fields refuse the value): described
                // again, the statement has the type's new OID, looked up afresh.
                Err(e) if !encode_retried && stmt.has_user_types() && e.is_wrong_type() => {
                    described::forget(self.inner.id, &stmt.sql);
                    encode_retried = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let response = self
                .execute_response(stmt.clone(), encoded, deadline)
                .await?;
            self.forget_if_stale(&stmt.sql, &response);
            match &response {
                Response::Failed(e) if !retried && is_stale_statement(e) => retried = true,
                _ => return Ok((stmt, response)),
            }
        }
    }

    /// Forgets the description of `sql` on this thread when `response` says its result columns
    /// changed since it was described (see [`is_stale_statement`]).
    pub(crate) fn forget_if_stale(&self, sql: &str, response: &Response) {
        if matches!(response, Response::Failed(e) if is_stale_statement(e)) {
            described::forget(self.inner.id, sql);
        }
    }

    /// The columns a reply's rows are decoded with: the statement's, unless the reply
    /// described them otherwise (the table changed since the statement was described); then
    /// the ones described, and the statement is remembered with its new columns.
    pub(crate) fn reply_columns(
        &self,
        stmt: &Statement,
        described: Option<&RowDescription>,
    ) -> Arc<[Column]> {
        match described {
            Some(d) if !stmt.matches(d) => {
                let resolve = |oid| stmt.type_for(oid);
                let refreshed = stmt.refreshed(d, &resolve);
                if refreshed.is_resolved() {
                    self.remember(refreshed);
                } else {
                    // A type this thread never saw: described again (and looked up) next time.
                    described::forget(self.inner.id, &stmt.sql);
                }
                Statement::columns_as_sent(d, &resolve)
            }
            _ => stmt.columns.clone(),
        }
    }

    /// Runs one prepared statement on a shared connection and returns its response: an
    /// [`Execute`], run in place on one of the client's workers, spawned on one from anywhere
    /// else (see `execute.rs`).
    async fn execute_response(
        &self,
        stmt: Statement,
        params: Params,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Response, Error> {
        let run = dispatch_from(self, move |client: &Client| {
            let (config, states) = (&client.inner.config, &client.inner.states);
            Execute::new(config, states, stmt, params, deadline)
        });
        // `Execute` is `Unpin`: moved to another thread after it started, it ends with an
        // error there instead of aborting the process.
        run.movable().await.map_err(Error::from)?
    }

    /// Runs a statement (SQL text or a prepared [`Statement`]) and returns the rows it
    /// affected.
    pub async fn execute<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let target = to_statement::target(statement);
        trace::run(trace::span(self.config(), "", Some(target.sql())), async {
            let (_, response) = self.run_statement(target, params).await?;
            let (_, affected, _) = raw_outcome(response)?;
            Ok(affected.unwrap_or(0))
        })
        .await
    }

    /// Runs one or more statements with the simple protocol (no parameters, text results).
    ///
    /// Statements that would change the session of the shared connection (transaction
    /// control, `SET`, `LISTEN`, `COPY ... FROM STDIN`) are refused with
    /// [`Error::is_session_change`]; so are they by `query`, `execute` and `pipeline`.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        trace::run(trace::span(self.config(), "", Some(sql)), async {
            crate::session::check(sql)?;
            let owned = sql.to_owned();
            self.on_connection(self.deadline(), move |conn| async move {
                match conn.simple(&owned).await? {
                    Response::Failed(e) => Err(Error::db(e)),
                    _ => Ok(()),
                }
            })
            .await
        })
        .await
    }

    /// Runs statements as ONE pipelined batch on one connection with a single `Sync` at the
    /// end: one round trip for all of them.
    ///
    /// Each slot reports its own outcome. The statements run in one transaction, the batch's
    /// (PostgreSQL's implicit transaction of the statements before a `Sync`), so the batch is
    /// all or nothing. When a statement fails, its slot has its error and:
    ///
    /// - every later statement was skipped by the server (nothing of it ran): its slot's error
    ///   has [`Error::is_skipped`];
    /// - every earlier statement ran but was **rolled back** with the batch's transaction: its
    ///   slot's error has [`Error::is_rolled_back`], and
    ///   [`rolled_back_by`](Error::rolled_back_by) gives the failing statement's error. Nothing
    ///   of the batch persists.
    ///
    /// Only statements that end a transaction themselves split the batch: work before a
    /// `COMMIT` or `ROLLBACK`, or before a statement PostgreSQL runs outside any transaction
    /// block (`VACUUM`, `CREATE DATABASE`, `CREATE INDEX CONCURRENTLY`, ...), was committed
    /// (or rolled back) by it, and those slots report what they did. A `BEGIN` in the batch
    /// does not: inside the explicit block it opens, a failure aborts the whole transaction,
    /// which can then only roll back, so the slots before the failure report rolled back just
    /// the same. (Transaction control belongs in [`transaction`](Self::transaction), whose
    /// statements keep their own semantics: a failure there aborts the transaction, and its
    /// `COMMIT` reports [`Error::is_commit_failed`].)
    ///
    /// When the server lost a prepared statement the batch uses (SQLSTATE 26000, e.g. after
    /// `DEALLOCATE`), the whole batch runs again once, re-preparing its statements — or, when
    /// a statement before it committed, not at all (the slots then report the 26000 error and
    /// what was rolled back).
    pub async fn pipeline(
        &self,
        items: &[(&str, &[&(dyn ToSql + Sync)])],
    ) -> Result<Vec<Result<Outcome, Error>>, Error> {
        let span = trace::span(self.config(), "PIPELINE", None);
        trace::batch_size(&span, items.len());
        trace::run(span, self.pipeline_untraced(items)).await
    }

    async fn pipeline_untraced(
        &self,
        items: &[(&str, &[&(dyn ToSql + Sync)])],
    ) -> Result<Vec<Result<Outcome, Error>>, Error> {
        let deadline = self.deadline();
        let mut retried = false;
        let mut encode_retried = false;
        'batch: loop {
            let mut prepared = Vec::with_capacity(items.len());
            for (sql, params) in items {
                let stmt = self.prepare_by(sql, deadline).await?;
                let encoded = match stmt.encode(params) {
                    Ok(encoded) => encoded,
                    // As in `run_statement`: a user type may have been created again.
                    Err(e) if !encode_retried && stmt.has_user_types() && e.is_wrong_type() => {
                        // Described afresh here, so the next round finds it described.
                        self.prepare_again(&stmt.sql, deadline).await?;
                        encode_retried = true;
                        continue 'batch;
                    }
                    Err(e) => return Err(e),
                };
                prepared.push((stmt, encoded));
            }
            let (prepared, replies) = self
                .on_connection_batch(deadline, Some(items.len()), move |conn| async move {
                    let replies = conn.execute_batch(&prepared).await?;
                    Ok((prepared, replies))
                })
                .await?;
            // A statement described before DDL changed its columns failed at `Bind`, so
            // nothing after it ran and everything before it was rolled back (unless a
            // statement before it committed): describe it again and run the batch once more.
            let failed = pipeline::first_failure(&replies);
            if let Some((k, (sql, _))) = failed.and_then(|k| Some((k, items.get(k)?))) {
                if let Some(reply) = replies.get(k) {
                    self.forget_if_stale(sql, reply);
                }
                let stale =
                    matches!(replies.get(k), Some(Response::Failed(e)) if is_stale_statement(e));
                let sqls = prepared.iter().map(|(stmt, _)| &*stmt.sql);
                if stale && !retried && pipeline::failed_transaction_start(&replies, sqls, k) == 0 {
                    retried = true;
                    continue;
                }
            }
            return Ok(self.settle(&prepared, replies));
        }
    }

    /// Each slot's outcome of a pipelined batch: the statements before a failure that were rolled
    /// back with it say so (see `pipeline.rs`).
    fn settle(
        &self,
        prepared: &[(Statement, Params)],
        replies: Vec<Response>,
    ) -> Vec<Result<Outcome, Error>> {
        let failed = pipeline::first_failure(&replies);
        let undone_from = failed.map(|k| {
            let sqls = prepared.iter().map(|(stmt, _)| &*stmt.sql);
            pipeline::failed_transaction_start(&replies, sqls, k)
        });
        let mut outcomes: Vec<Result<Outcome, Error>> = prepared
            .iter()
            .zip(replies)
            .map(|((stmt, _), reply)| outcome(self, stmt, reply))
            .collect();
        if let (Some(k), Some(from)) = (failed, undone_from) {
            let cause = match outcomes.get(k) {
                Some(Err(e)) => e.clone(),
                _ => Error::protocol("a failed statement lost its error"),
            };
            for slot in outcomes.iter_mut().take(k).skip(from) {
                if slot.is_ok() {
                    *slot = Err(Error::rolled_back(cause.clone()));
                }
            }
        }
        outcomes
    }
}

/// A statement's outcome (its rows decoded as the reply says, see
/// [`Client::reply_columns`]), or its error.
pub(crate) fn outcome(
    client: &Client,
    stmt: &Statement,
    response: Response,
) -> Result<Outcome, Error> {
    let (rows, affected, described) = raw_outcome(response)?;
    let columns = client.reply_columns(stmt, described.as_ref());
    Ok(Outcome {
        rows: rows
            .into_iter()
            .map(|data| Row {
                columns: columns.clone(),
                data,
            })
            .collect(),
        affected,
    })
}

/// The received rows, the affected count and the portal's description (when the request
/// asked for it) of an Execute's response, or its error.
fn raw_outcome(
    response: Response,
) -> Result<(DataRows, Option<u64>, Option<RowDescription>), Error> {
    match response {
        Response::Rows {
            rows,
            complete,
            described,
        } => Ok((rows, complete.and_then(|c| c.rows()), described)),
        Response::Failed(e) => Err(Error::db(e)),
        Response::Skipped => Err(Error::skipped()),
        Response::TooLarge { limit } => Err(Error::result_too_large(limit)),
        _ => Err(Error::protocol("unexpected reply to Execute")),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The pools go with `states` (dropped after this); the descriptions are ours to drop.
        let id = self.id;
        described::drop_client(id);
        let workers = self.states.workers();
        for n in 0..workers.num_workers() {
            if let Some(worker) = workers.worker(n) {
                let _ = worker.submit(move || described::drop_client(id));
            }
        }
    }
}
