//! One connection on a worker: startup, authentication, the statement cache, and requests.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;
use corelane_pg_proto::auth::{md5, scram::ScramSha256};
use corelane_pg_proto::message::backend::{
    Authentication, BackendKeyData, TransactionStatus, DEFAULT_MAX_MESSAGE_LEN,
};
use corelane_pg_proto::message::frontend::{self, Format, Target};
use corelane_pg_proto::types::IsNull;
use corelane_runtime::roundtrip::{Batch, OwnedRun, Pipe, RequestError};
use corelane_runtime::{Limits, SpareBuf, Stream};

use crate::codec::{Expect, PgCodec, Response};
use crate::config::Config;
use crate::statement::{Params, Statement};
use crate::Error;

/// SQLSTATE 26000: the prepared statement does not exist (e.g. after `DISCARD ALL`).
const INVALID_STATEMENT_NAME: &str = "26000";

/// A connection on the current worker. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) pipe: Pipe<PgCodec>,
    cache: Rc<RefCell<StatementCache>>,
    pub(crate) key: Option<BackendKeyData>,
    /// The status of the last `ReadyForQuery` (written by the codec).
    status: Rc<Cell<TransactionStatus>>,
    /// Set when an exclusive user may have changed the session (a transaction began); cleared
    /// by [`Connection::end_session`] once `DISCARD ALL` succeeded.
    session_dirty: Rc<Cell<bool>>,
    /// The address this connection reached: where a `CancelRequest` for it must go.
    pub(crate) server: Option<SocketAddr>,
    /// Calls in progress and the cancel gate (see [`crate::cancel`]).
    pub(crate) cancel: Rc<crate::cancel::CancelState>,
    /// The codec's COPY OUT pause switch (see [`crate::copy`]).
    pub(crate) copy_paused: Rc<Cell<bool>>,
}

/// Per-connection prepared statements: SQL → server-side name, least recently used evicted.
struct StatementCache {
    names: HashMap<Arc<str>, (String, u64)>,
    capacity: usize,
    next_id: u64,
    clock: u64,
    /// Evicted names to `Close` with the next request.
    to_close: Vec<String>,
}

impl StatementCache {
    /// The server-side name of `sql`'s statement, marked as just used. Borrowed: the caller
    /// encodes with the cache still borrowed, so no name is copied per query.
    fn lookup(&mut self, sql: &Arc<str>) -> Option<&str> {
        self.clock += 1;
        let clock = self.clock;
        self.names.get_mut(sql).map(|(name, used)| {
            *used = clock;
            name.as_str()
        })
    }

    fn insert(&mut self, sql: Arc<str>) -> String {
        if self.names.len() >= self.capacity {
            if let Some(oldest) = self
                .names
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                if let Some((name, _)) = self.names.remove(&oldest) {
                    self.to_close.push(name);
                }
            }
        }
        self.next_id += 1;
        self.clock += 1;
        let name = format!("cl{}", self.next_id);
        if self.capacity > 0 {
            self.names.insert(sql, (name.clone(), self.clock));
        }
        name
    }

    /// Drops `sql`'s entry and closes its statement with the next request: a Parse that
    /// succeeded before a later failure left it on the server, and closing a statement that
    /// does not exist is not an error.
    fn forget(&mut self, sql: &str) {
        if let Some((name, _)) = self.names.remove(sql) {
            self.to_close.push(name);
        }
    }

    /// After `DISCARD ALL`: the server deallocated every prepared statement.
    fn clear(&mut self) {
        self.names.clear();
        self.to_close.clear();
    }
}

fn encode_err(e: impl std::fmt::Display) -> Error {
    Error::type_error(e)
}

impl Connection {
    pub(crate) async fn open(config: &Config) -> Result<Connection, Error> {
        let limit = config.connect_timeout;
        match corelane_runtime::task::timeout(limit, Self::open_inner(config)).await {
            Some(result) => result,
            None => Err(Error::connect(
                format!("{}:{}", config.host, config.port),
                format!("timed out after {limit:?} (connect + authentication)"),
            )),
        }
    }

    async fn open_inner(config: &Config) -> Result<Connection, Error> {
        let addr = format!("{}:{}", config.host, config.port);
        let addrs: Vec<SocketAddr> =
            corelane_runtime::task::resolve_host(&config.host, config.port)
                .await
                .map_err(|e| Error::connect(&addr, e))?;
        let mut last = None;
        let mut stream = None;
        let mut server = None;
        for sa in addrs {
            match Stream::connect_tcp_timeout(sa, config.connect_timeout).await {
                Ok(s) => {
                    stream = Some(s);
                    server = Some(sa);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            Error::connect(
                &addr,
                last.map_or_else(|| "no address".to_owned(), |e| e.to_string()),
            )
        })?;
        let notices = config.on_notice.as_ref().map(|n| n.0.clone());
        let codec = PgCodec::new(notices, DEFAULT_MAX_MESSAGE_LEN);
        let status = codec.status();
        let copy_paused = codec.copy_paused();
        let pipe = Pipe::new(stream, codec, Limits::default()).map_err(Error::runtime)?;
        let mut conn = Connection {
            pipe,
            cache: Rc::new(RefCell::new(StatementCache {
                names: HashMap::new(),
                capacity: config.statement_cache_size,
                next_id: 0,
                clock: 0,
                to_close: Vec::new(),
            })),
            key: None,
            status,
            session_dirty: Rc::new(Cell::new(false)),
            server,
            cancel: Rc::default(),
            copy_paused,
        };
        conn.startup(config).await?;
        Ok(conn)
    }

    async fn call(
        &self,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut),
    ) -> Result<Response, Error> {
        self.pipe.call(expect, encode).await.map_err(Error::from)
    }

    async fn startup(&mut self, config: &Config) -> Result<(), Error> {
        let mut params: Vec<(&str, &str)> = vec![
            ("user", config.user.as_str()),
            ("database", config.get_dbname()),
            ("client_encoding", "UTF8"),
        ];
        if let Some(name) = &config.application_name {
            params.push(("application_name", name));
        }
        if let Some(options) = &config.options {
            params.push(("options", options));
        }
        for (k, v) in &config.params {
            params.push((k, v));
        }
        let mut startup = BytesMut::new();
        frontend::startup(params.iter().copied(), &mut startup).map_err(encode_err)?;
        let mut reply = self
            .call(Expect::AuthStep, |b| b.extend_from_slice(&startup))
            .await?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            let auth = match reply {
                Response::Auth(auth) => auth,
                Response::Startup { key, sasl_final } => {
                    match (&mut scram, sasl_final) {
                        (Some(s), Some(data)) => {
                            s.finish(&data).map_err(|e| Error::auth(e.to_string()))?
                        }
                        (None, Some(_)) => {
                            return Err(Error::auth("SASL final without a SASL exchange"))
                        }
                        _ => {}
                    }
                    if let Some(scram) = &scram {
                        // AuthenticationOk before a verified SASLFinal: the server did not
                        // prove it knows the password.
                        scram
                            .ensure_verified()
                            .map_err(|e| Error::auth(e.to_string()))?;
                    }
                    self.key = key;
                    return Ok(());
                }
                Response::Failed(e) => return Err(Error::db(e)),
                _ => return Err(Error::protocol("unexpected reply during authentication")),
            };
            let password = || {
                config
                    .password
                    .as_ref()
                    .map(|p| p.expose().as_bytes())
                    .ok_or_else(|| {
                        Error::auth("the server asks for a password and none is configured")
                    })
            };
            let mut out = BytesMut::new();
            match auth {
                Authentication::CleartextPassword => {
                    frontend::password_message(password()?, &mut out).map_err(encode_err)?;
                }
                Authentication::Md5Password { salt } => {
                    let hashed = md5::hash(config.user.as_bytes(), password()?, salt);
                    frontend::password_message(hashed.as_bytes(), &mut out).map_err(encode_err)?;
                }
                Authentication::Sasl { mechanisms } => {
                    if !mechanisms.iter().any(|m| &**m == "SCRAM-SHA-256") {
                        return Err(Error::auth(
                            "the server offers no SASL mechanism this client supports (SCRAM-SHA-256)",
                        ));
                    }
                    let s =
                        ScramSha256::new(password()?).map_err(|e| Error::auth(e.to_string()))?;
                    frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut out)
                        .map_err(encode_err)?;
                    scram = Some(s);
                }
                Authentication::SaslContinue(data) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| Error::auth("SASL continue without a SASL exchange"))?;
                    scram_continue(s, &data).await?;
                    frontend::sasl_response(s.message(), &mut out).map_err(encode_err)?;
                }
                other => {
                    return Err(Error::auth(format!(
                        "unsupported authentication method requested by the server: {other:?}"
                    )))
                }
            }
            reply = self
                .call(Expect::AuthStep, |b| b.extend_from_slice(&out))
                .await?;
        }
    }

    /// Parse + Describe: parameter types and result columns.
    pub(crate) async fn describe(&self, sql: &str) -> Result<Statement, Error> {
        let mut out = BytesMut::new();
        frontend::parse("", sql, [], &mut out).map_err(encode_err)?;
        frontend::describe(Target::Statement, "", &mut out).map_err(encode_err)?;
        frontend::sync(&mut out);
        match self
            .call(Expect::Describe, |b| b.extend_from_slice(&out))
            .await?
        {
            Response::Described { params, columns } => Ok(Statement::new(sql, params, columns)),
            Response::Failed(e) => Err(Error::db(e)),
            _ => Err(Error::protocol("unexpected reply to Describe")),
        }
    }

    /// Appends `[Close…][Parse] Bind Execute` for one statement (no Sync). Returns whether a
    /// Parse was included.
    fn encode_execute(
        &self,
        stmt: &Statement,
        params: &Params,
        out: &mut BytesMut,
    ) -> Result<bool, Error> {
        let mut cache = self.cache.borrow_mut();
        for name in cache.to_close.drain(..) {
            frontend::close(Target::Statement, &name, out).map_err(encode_err)?;
        }
        // The cache stays borrowed while encoding (nothing here awaits or runs user code).
        // A known statement's name is used in place; only a new one is created (and owned).
        let fresh = match cache.lookup(&stmt.sql) {
            Some(_) => None,
            None => Some(cache.insert(stmt.sql.clone())),
        };
        let parse = fresh.is_some();
        let name = match &fresh {
            Some(name) => name.as_str(),
            None => cache
                .lookup(&stmt.sql)
                .ok_or_else(|| Error::protocol("statement cache lost an entry"))?,
        };
        if parse {
            frontend::parse(name, &stmt.sql, stmt.params.iter().copied(), out)
                .map_err(encode_err)?;
        }
        frontend::bind(
            "",
            name,
            [Format::Binary],
            params.iter(),
            |value, buf| -> Result<IsNull, std::convert::Infallible> {
                match value {
                    Some(bytes) => {
                        buf.extend_from_slice(bytes);
                        Ok(IsNull::No)
                    }
                    None => Ok(IsNull::Yes),
                }
            },
            stmt.result_formats(),
            out,
        )
        .map_err(encode_err)?;
        frontend::execute("", 0, out).map_err(encode_err)?;
        Ok(parse)
    }

    /// Runs one statement; re-prepares and retries once when the server lost it (26000).
    pub(crate) async fn execute(
        &self,
        stmt: &Statement,
        params: &Params,
    ) -> Result<Response, Error> {
        for attempt in 0..2 {
            let (mut run, parsed) = self.start_execute(stmt, params)?;
            let outcome = (&mut run).await;
            let response = self.finish_execute(run, outcome)?;
            if self.retry_execute(stmt, parsed, &response, attempt) {
                continue;
            }
            return Ok(response);
        }
        Err(Error::protocol("statement retry loop ended"))
    }

    /// Starts one statement (`[Close…][Parse] Bind Execute Sync`) as a run that owns its batch,
    /// so [`crate::execute::Execute`] can hold it by value. Also returns whether a Parse was
    /// included, for [`Connection::retry_execute`].
    pub(crate) fn start_execute(
        &self,
        stmt: &Statement,
        params: &Params,
    ) -> Result<(OwnedRun<PgCodec>, bool), Error> {
        // Encoded aside first (an encoding error must send nothing), in a spare buffer
        // so a query does not allocate (and grow) one each time.
        let mut out = SpareBuf::new();
        let parsed = self.encode_execute(stmt, params, &mut out)?;
        frontend::sync(&mut out);
        // A spare batch of this connection: no allocation once warm.
        let mut batch = self.pipe.take_batch();
        batch.push(Expect::Execute, |b| b.extend_from_slice(&out));
        Ok((self.pipe.run_owned(batch), parsed))
    }

    /// The reply of a run from [`Connection::start_execute`] that has completed with
    /// `outcome`; its batch goes back to the connection's spares.
    pub(crate) fn finish_execute(
        &self,
        run: OwnedRun<PgCodec>,
        outcome: Result<(), RequestError>,
    ) -> Result<Response, Error> {
        let mut batch = run.into_batch();
        let reply = match outcome {
            Ok(()) => batch.take(0).unwrap_or(Err(RequestError::WorkerClosed)),
            Err(e) => Err(e),
        };
        self.pipe.recycle_batch(batch);
        reply.map_err(Error::from)
    }

    /// After attempt `attempt` (from 0) of a statement answered `response`: forgets the
    /// statement's name when the server may not have it, and says whether to run it again
    /// (once, when the server lost it: 26000).
    pub(crate) fn retry_execute(
        &self,
        stmt: &Statement,
        parsed: bool,
        response: &Response,
        attempt: u32,
    ) -> bool {
        let Response::Failed(e) = response else {
            return false;
        };
        let lost = e.code.code() == INVALID_STATEMENT_NAME;
        // A failed Parse may have left no statement behind: never reuse the name.
        if parsed || lost {
            self.cache.borrow_mut().forget(&stmt.sql);
        }
        lost && attempt == 0
    }

    /// Runs statements as one pipelined batch with a single `Sync`: each slot gets its own
    /// outcome; after a failure the server skips the rest until the `Sync`.
    pub(crate) async fn execute_batch(
        &self,
        items: &[(Statement, Params)],
    ) -> Result<Vec<Response>, Error> {
        let mut replies = self.execute_batch_once(items).await?;
        // A statement another caller's failed batch never parsed (its Parse was skipped after
        // the failure) answers 26000 here. Everything before that slot ran and everything
        // after it was skipped, so re-running from that slot, with fresh Parses, is safe.
        let lost = replies.iter().position(
            |r| matches!(r, Response::Failed(e) if e.code.code() == INVALID_STATEMENT_NAME),
        );
        if let Some(k) = lost {
            let rest = items.get(k..).unwrap_or_default();
            for (stmt, _) in rest {
                self.cache.borrow_mut().forget(&stmt.sql);
            }
            let again = self.execute_batch_once(rest).await?;
            replies.truncate(k);
            replies.extend(again);
        }
        Ok(replies)
    }

    async fn execute_batch_once(
        &self,
        items: &[(Statement, Params)],
    ) -> Result<Vec<Response>, Error> {
        let mut batch: Batch<PgCodec> = self.pipe.take_batch();
        let mut parsed = Vec::with_capacity(items.len());
        for (stmt, params) in items {
            let mut out = SpareBuf::new();
            parsed.push(self.encode_execute(stmt, params, &mut out)?);
            batch.push(Expect::InBatch, |b| b.extend_from_slice(&out));
        }
        batch.push(Expect::Sync, frontend::sync);
        self.pipe.run(&mut batch).await.map_err(Error::from)?;
        let mut replies = Vec::with_capacity(items.len());
        for k in 0..items.len() {
            let reply = batch
                .take(k)
                .unwrap_or(Err(RequestError::WorkerClosed))
                .map_err(Error::from)?;
            if matches!(reply, Response::Failed(_) | Response::Skipped)
                && parsed.get(k) == Some(&true)
            {
                if let Some((stmt, _)) = items.get(k) {
                    self.cache.borrow_mut().forget(&stmt.sql);
                }
            }
            replies.push(reply);
        }
        if let Some(Err(e)) = batch.take(items.len()) {
            return Err(e.into());
        }
        self.pipe.recycle_batch(batch);
        Ok(replies)
    }

    /// Simple-protocol query (one or more statements, no parameters).
    pub(crate) async fn simple(&self, sql: &str) -> Result<Response, Error> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).map_err(encode_err)?;
        self.call(Expect::Simple, |b| b.extend_from_slice(&out))
            .await
    }

    /// The transaction status of the last `ReadyForQuery` read on this connection.
    pub(crate) fn transaction_status(&self) -> TransactionStatus {
        self.status.get()
    }

    /// Marks the session as possibly changed by an exclusive user (`SET`, `LISTEN`, temp
    /// tables, an open transaction): it must be reset before anyone else uses it.
    pub(crate) fn mark_session_dirty(&self) {
        self.session_dirty.set(true);
    }

    /// True when the session must be reset ([`end_session`](Self::end_session)) before reuse:
    /// marked dirty, or the last `ReadyForQuery` said a transaction is open.
    pub(crate) fn needs_reset(&self) -> bool {
        self.session_dirty.get() || self.transaction_status() != TransactionStatus::Idle
    }

    /// Ends an exclusive use in one round trip: `end` (e.g. `COMMIT`, `ROLLBACK`), then
    /// `DISCARD ALL`, as two simple queries in one write. Returns `end`'s reply.
    ///
    /// Once `DISCARD ALL` succeeds the session is as fresh as after startup: no transaction,
    /// settings reset, no LISTEN, no temp tables, no advisory locks, and no prepared
    /// statements (so this connection's statement cache is cleared too). If it fails, that is
    /// not `end`'s error: the connection just stays marked for a reset (see
    /// [`needs_reset`](Self::needs_reset)).
    pub(crate) async fn end_session(&self, end: Option<&str>) -> Result<Option<Response>, Error> {
        let mut batch: Batch<PgCodec> = self.pipe.take_batch();
        let mut out = BytesMut::new();
        if let Some(sql) = end {
            frontend::query(sql, &mut out).map_err(encode_err)?;
            batch.push_bytes(Expect::Simple, &out);
            out.clear();
        }
        frontend::query("DISCARD ALL", &mut out).map_err(encode_err)?;
        batch.push_bytes(Expect::Simple, &out);
        self.pipe.run(&mut batch).await.map_err(Error::from)?;
        let replies = batch.take_all();
        self.pipe.recycle_batch(batch);
        let mut replies = replies.into_iter();
        let mut next = || {
            replies
                .next()
                .unwrap_or(Err(RequestError::WorkerClosed))
                .map_err(Error::from)
        };
        let first = match end {
            Some(_) => Some(next()?),
            None => None,
        };
        // Forget every prepared statement: DISCARD ALL deallocated them. (Were it to have
        // failed, forgetting costs a Parse later, never an error: new names are never reused.)
        self.cache.borrow_mut().clear();
        if matches!(next(), Ok(Response::Rows { .. })) {
            self.session_dirty.set(false);
        }
        Ok(first)
    }

    /// Queues `sql` (simple protocol) and throws its reply away: for `Drop` paths, which cannot
    /// await. The request is on the connection's queue when this returns, so it runs before
    /// anything sent later. If it cannot be queued the connection is closed instead (the
    /// server then rolls back whatever was open), never left out of step.
    pub(crate) fn send_and_forget(&self, sql: &str) {
        let mut out = BytesMut::new();
        if frontend::query(sql, &mut out).is_err() {
            self.pipe.close();
            return;
        }
        let (reply_to, mut reply) = corelane_runtime::oneshot::channel();
        self.pipe
            .send_remote(Expect::Simple, |b| b.extend_from_slice(&out), reply_to);
        // `send_remote` reports a refusal (closed, outbound buffer full) at once, through the
        // channel; a queued request leaves it pending.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(Ok(Err(_))) = std::pin::Pin::new(&mut reply).poll(&mut cx) {
            self.pipe.close();
        }
    }
}

/// SCRAM's server-first step. Its PBKDF2 (as many iterations as the server asks, up to the
/// client's cap: up to about a second of CPU) runs on the worker's blocking thread, not on the
/// worker, whose other connections would otherwise stall for that long.
pub(crate) async fn scram_continue(
    scram: &mut ScramSha256,
    server_first: &[u8],
) -> Result<(), Error> {
    let job = scram
        .begin_update(server_first)
        .map_err(|e| Error::auth(e.to_string()))?;
    let salted = corelane_runtime::task::blocking(move || job.run()).await;
    scram
        .complete_update(salted)
        .map_err(|e| Error::auth(e.to_string()))
}
