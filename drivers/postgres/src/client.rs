//! The client handle: `Clone + Send + Sync`, usable on the loop's workers and off them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corelane_pg_proto::types::ToSql;
use corelane_runtime::{dispatch, resolve, Provider, ServerProvider};

use crate::codec::Response;
use crate::config::Config;
use crate::connection::Connection;
use crate::row::Row;
use crate::statement::{Params, Statement};
use crate::transaction::{self, Transaction, TransactionOptions};
use crate::worker_state;
use crate::Error;

/// Statements the client remembers (SQL → types); past this it starts over.
const MAX_DESCRIBED: usize = 4096;

/// A PostgreSQL client. Cheap to clone; clones share the per-worker connections.
///
/// On a worker of its event loop a query uses that worker's connection (no hop); elsewhere
/// (tokio, plain threads) it runs on a worker through its mailbox. Concurrent queries on one
/// worker share the connection (pipelined through its bridge queue).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    config: Config,
    workers: Provider,
    next_worker: AtomicUsize,
    described: Mutex<HashMap<Arc<str>, Statement>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
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
    /// A client for a URL or key=value string (see [`Config::parse`]) on the shared
    /// standalone loop. Connections open lazily on each worker.
    pub fn connect(params: &str) -> Result<Client, Error> {
        Client::new(Config::parse(params)?)
    }

    /// A client on the shared standalone loop.
    pub fn new(config: Config) -> Result<Client, Error> {
        let workers = resolve(None).map_err(Error::runtime)?;
        Ok(Client::with_workers(config, workers))
    }

    /// A client whose connections live on a thread-per-core server's own workers.
    pub fn with_server(config: Config, server: &dyn ServerProvider) -> Result<Client, Error> {
        let workers = resolve(Some(server)).map_err(Error::runtime)?;
        Ok(Client::with_workers(config, workers))
    }

    fn with_workers(config: Config, workers: Provider) -> Client {
        Client {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                config,
                workers,
                next_worker: AtomicUsize::new(0),
                described: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Runs `op` with a connection of the worker this call runs on.
    async fn on_connection<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        let id = self.inner.id;
        let config = self.inner.config.clone();
        let fallback = self.inner.next_worker.fetch_add(1, Ordering::Relaxed);
        dispatch(&*self.inner.workers, fallback, move || async move {
            let conn = worker_state::connection(id, &config).await?;
            op(conn).await
        })
        .await
        .map_err(Error::from)?
    }

    /// Describes `sql` (parameter types, result columns); remembered per client.
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        if let Some(found) = self.described(sql) {
            return Ok(found);
        }
        let owned = sql.to_owned();
        let stmt = self
            .on_connection(move |conn| async move { conn.describe(&owned).await })
            .await?;
        self.remember(stmt.clone());
        Ok(stmt)
    }

    /// The statement the client already described for `sql`, if any.
    pub(crate) fn described(&self, sql: &str) -> Option<Statement> {
        self.lock_described().get(sql).cloned()
    }

    /// Remembers a described statement for every later use of its SQL.
    pub(crate) fn remember(&self, stmt: Statement) {
        let mut described = self.lock_described();
        if described.len() >= MAX_DESCRIBED {
            described.clear();
        }
        described.insert(stmt.sql.clone(), stmt);
    }

    fn lock_described(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Statement>> {
        self.inner
            .described
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `sql` with `params` (extended protocol, prepared and cached per connection) and
    /// returns its rows.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let stmt = self.prepare(sql).await?;
        let encoded = stmt.encode(params)?;
        let out = self.run_one(stmt, encoded).await?;
        Ok(out.rows)
    }

    /// Like [`query`](Self::query), for exactly one row.
    pub async fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            1 => rows.pop().ok_or_else(|| Error::row_count(0)),
            n => Err(Error::row_count(n)),
        }
    }

    /// Like [`query`](Self::query), for zero or one row.
    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(Error::row_count(n)),
        }
    }

    /// Runs a statement and returns the rows it affected.
    pub async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        let stmt = self.prepare(sql).await?;
        let encoded = stmt.encode(params)?;
        Ok(self.run_one(stmt, encoded).await?.affected.unwrap_or(0))
    }

    async fn run_one(&self, stmt: Statement, params: Params) -> Result<Outcome, Error> {
        self.on_connection(move |conn| async move {
            let response = conn.execute(&stmt, &params).await?;
            outcome(&stmt, response)
        })
        .await
    }

    /// Runs one or more statements with the simple protocol (no parameters, text results).
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        let owned = sql.to_owned();
        self.on_connection(move |conn| async move {
            match conn.simple(&owned).await? {
                Response::Failed(e) => Err(Error::db(e)),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Runs statements as ONE pipelined batch on one connection with a single `Sync` at the
    /// end: one round trip for all of them.
    ///
    /// Each slot reports its own outcome. When a statement fails, the server skips every later
    /// statement of the batch until the `Sync`: their slots report the skip as an error
    /// ("skipped after an earlier error"), and nothing of them ran. Outside an explicit
    /// transaction, statements before the failure stay committed (each ran in the batch's
    /// implicit transaction only if the batch is wrapped in `BEGIN`/`COMMIT`).
    pub async fn pipeline(
        &self,
        items: &[(&str, &[&(dyn ToSql + Sync)])],
    ) -> Result<Vec<Result<Outcome, Error>>, Error> {
        let mut prepared = Vec::with_capacity(items.len());
        for (sql, params) in items {
            let stmt = self.prepare(sql).await?;
            let encoded = stmt.encode(params)?;
            prepared.push((stmt, encoded));
        }
        self.on_connection(move |conn| async move {
            let replies = conn.execute_batch(&prepared).await?;
            Ok(prepared
                .iter()
                .zip(replies)
                .map(|((stmt, _), reply)| outcome(stmt, reply))
                .collect())
        })
        .await
    }

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
    /// back: on a worker, `f`'s future is dropped and `ROLLBACK` is queued on the connection
    /// at once; from another thread, the transaction's next statement (or its `COMMIT`) fails
    /// and it rolls back. Either way the connection is reset before anyone else uses it.
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
    /// ```no_run
    /// # async fn demo(client: &corelane_postgres::Client) -> Result<(), corelane_postgres::Error> {
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
    /// # let _ = balance; Ok(()) }
    /// ```
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
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut cancel = CancelOnDrop(Some(cancelled.clone()));
        let client = self.clone();
        let id = self.inner.id;
        let config = self.inner.config.clone();
        let fallback = self.inner.next_worker.fetch_add(1, Ordering::Relaxed);
        let out = dispatch(&*self.inner.workers, fallback, move || async move {
            let permit = worker_state::exclusive(id, &config).await?;
            transaction::run(client, permit, options, cancelled, f).await
        })
        .await
        .map_err(Error::from);
        cancel.0 = None;
        out?
    }
}

/// Tells a transaction running on another thread that its caller stopped waiting (set when
/// dropped still armed).
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

pub(crate) fn outcome(stmt: &Statement, response: Response) -> Result<Outcome, Error> {
    match response {
        Response::Rows { rows, complete } => Ok(Outcome {
            rows: rows
                .into_iter()
                .map(|data| Row {
                    columns: stmt.columns.clone(),
                    data,
                })
                .collect(),
            affected: complete.and_then(|c| c.rows()),
        }),
        Response::Failed(e) => Err(Error::db(e)),
        Response::Skipped => Err(Error::skipped()),
        _ => Err(Error::protocol("unexpected reply to Execute")),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let id = self.id;
        for n in 0..self.workers.num_workers() {
            if let Some(worker) = self.workers.worker(n) {
                let _ = worker.submit(move || worker_state::forget(id));
            }
        }
    }
}
