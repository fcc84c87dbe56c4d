//! One connection on a worker: startup, authentication, the statement cache, and requests.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use bytes::BytesMut;
use corelane_pg_proto::message::backend::{
    BackendKeyData, ErrorFields, Message, TransactionStatus, DEFAULT_MAX_MESSAGE_LEN,
};
use corelane_pg_proto::message::frontend::{self, Target};
use corelane_pg_proto::types::{IsNull, Oid, Type};
use corelane_runtime::roundtrip::{Batch, OwnedRun, Pipe, RequestError};
use corelane_runtime::{Limits, SpareBuf};

use crate::codec::{Expect, PgCodec, Response};
use crate::config::Config;
use crate::session::{Change, SessionWatch};
use crate::statement::{result_formats, same_columns, Params, Statement};
use crate::statement_cache::{Named, StatementCache};
use crate::transport::{BindingChoice, Route, Transport};
use crate::type_cache::TypeCache;
use crate::Error;

/// SQLSTATE 26000: the prepared statement does not exist (e.g. after `DISCARD ALL`).
const INVALID_STATEMENT_NAME: &str = "26000";

/// True when `e` says the statement's result columns changed since the client described it
/// (DDL): 0A000 "cached plan must not change result type" from a statement this connection
/// prepared before the change, 08P01 "bind message has N result formats but query has M
/// columns" from one it prepared after. Both come from `Bind`, before anything ran: the
/// connection forgets the statement, and the client describes it again and retries once.
///
/// Also when a type the statement was described with no longer exists (dropped, maybe
/// created again under a new OID): the server cannot even plan the statement with the
/// parameter types it was given — XX000 "cache lookup failed for type N" from a statement
/// prepared before the drop, 42704 "type with OID N does not exist" from a `Parse` that
/// declares the old OID. Nothing ran either; described again, the statement gets the new
/// types (see [`crate::type_lookup`]). These two are told apart from other errors of their
/// codes by their message: XX000's is never translated, but 42704's is, so with a server whose
/// `lc_messages` is not English a `Parse` with a dropped type's OID (no statement cache, or a
/// statement evicted from it) reports that error instead of being retried.
pub(crate) fn is_stale_statement(e: &ErrorFields) -> bool {
    match e.code.code() {
        "0A000" | "08P01" => true,
        "XX000" => e.message.starts_with("cache lookup failed for type"),
        "42704" => e.message.starts_with("type with OID"),
        _ => false,
    }
}

/// What [`Connection::encode_execute`] sent for one statement.
pub(crate) struct Sent {
    /// A `Parse` was included.
    pub(crate) parsed: bool,
    /// The statement's name when the portal was described and the statement is a named one:
    /// the reply confirms its columns (see [`Connection::confirm`]).
    confirm: Option<String>,
    /// The names whose `Close`s lead the request (see [`Connection::encode_closes`]): given
    /// back to the cache if the request is refused unsent.
    closes: Vec<String>,
}

/// A connection on the current worker. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) pipe: Pipe<PgCodec>,
    cache: Rc<RefCell<StatementCache>>,
    /// Types looked up on this connection (see [`crate::type_lookup`]).
    pub(crate) types: Rc<RefCell<TypeCache>>,
    pub(crate) key: Option<BackendKeyData>,
    /// The status of the last `ReadyForQuery` (written by the codec).
    status: Rc<Cell<TransactionStatus>>,
    /// Set when an exclusive user may have changed the session (a transaction began); cleared
    /// by [`Connection::end_session`] once `DISCARD ALL` succeeded.
    session_dirty: Rc<Cell<bool>>,
    /// How this connection reached its server: where (and over what) a `CancelRequest` for
    /// it must go.
    pub(crate) route: Option<Route>,
    /// Calls in progress and the cancel gate (see [`crate::cancel`]).
    pub(crate) cancel: Rc<crate::cancel_gate::CancelState>,
    /// Session changes the codec saw (see [`crate::session`]).
    pub(crate) session: Rc<SessionWatch>,
}

fn encode_err(e: impl std::fmt::Display) -> Error {
    Error::type_error(e)
}

impl Connection {
    /// Opens a connection to the first configured host that accepts one and fits
    /// `target_session_attrs` (see [`crate::host_select`]); each host's attempt is bounded by
    /// the connect timeout.
    pub(crate) async fn open(config: &Config) -> Result<Connection, Error> {
        crate::host_select::connect(config, |one| async move {
            crate::transport::establish(&one, |transport| Self::open_on(&one, transport)).await
        })
        .await
    }

    async fn open_on(config: &Config, transport: Transport) -> Result<Connection, Error> {
        let binding = transport.binding();
        let Transport { stream, route, .. } = transport;
        let notices = config.on_notice.as_ref().map(|n| n.0.clone());
        let codec =
            PgCodec::new(notices, DEFAULT_MAX_MESSAGE_LEN).with_max_result(config.max_result_bytes);
        let status = codec.status();
        let session = codec.session();
        let pipe = Pipe::new(stream, codec, Limits::default()).map_err(Error::runtime)?;
        let mut conn = Connection {
            pipe,
            cache: Rc::new(RefCell::new(StatementCache::new(
                config.statement_cache_size,
            ))),
            types: Rc::default(),
            key: None,
            status,
            session_dirty: Rc::new(Cell::new(false)),
            route: Some(route),
            cancel: Rc::default(),
            session,
        };
        conn.startup(config, &binding).await?;
        Ok(conn)
    }

    pub(crate) async fn call(
        &self,
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut),
    ) -> Result<Response, Error> {
        let reply = self.pipe.call(expect, encode).await.map_err(Error::from);
        self.session_checked(reply)
    }

    /// A reply saying a shared connection's session changed becomes the caller's error, and
    /// the connection closes at once: its other requests in flight fail as closed (their work
    /// ran in the transaction left open, which the server rolls back), none reports success.
    fn session_checked(&self, reply: Result<Response, Error>) -> Result<Response, Error> {
        match reply {
            Ok(Response::SessionChanged) => {
                self.pipe.close();
                Err(Error::session_change(Change::Transaction))
            }
            other => other,
        }
    }

    async fn startup(&mut self, config: &Config, binding: &BindingChoice) -> Result<(), Error> {
        let session = crate::handshake::run(&mut PipeTurn(self), config, binding).await?;
        self.key = session.key_data;
        Ok(())
    }

    /// The one text value of a one-row, one-column simple query.
    async fn show(&self, sql: &str) -> Result<String, Error> {
        match self.simple(sql).await? {
            Response::Rows { rows, .. } => match rows.at_most_one() {
                Ok(Some(row)) => match row.get(0) {
                    Some(Some(value)) => Ok(String::from_utf8_lossy(value).into_owned()),
                    _ => Err(Error::protocol(format!("{sql}: no value"))),
                },
                _ => Err(Error::protocol(format!("{sql}: not one row"))),
            },
            Response::Failed(e) => Err(Error::db(e)),
            _ => Err(Error::protocol(format!("unexpected reply to {sql}"))),
        }
    }

    /// Parse + Describe: parameter types and result columns.
    pub(crate) async fn describe(&self, sql: &str) -> Result<Statement, Error> {
        self.describe_typed(sql, None).await
    }

    /// [`describe_typed`](Self::describe_typed) after forgetting the types this connection
    /// looked up: for a statement described again because DDL may have changed a type in
    /// place (same OID, other labels or fields; see [`crate::type_lookup`]).
    pub(crate) async fn describe_fresh(
        &self,
        sql: &str,
        declared: Option<&[Oid]>,
    ) -> Result<Statement, Error> {
        self.types_may_have_changed();
        self.describe_typed(sql, declared).await
    }

    /// Parse + Describe with the parameter types the caller declared (`Some`, as for
    /// `prepare_typed`: a type 0 is left for the server to infer), or all inferred (`None`).
    pub(crate) async fn describe_typed(
        &self,
        sql: &str,
        declared: Option<&[Oid]>,
    ) -> Result<Statement, Error> {
        let mut out = BytesMut::new();
        frontend::parse(
            "",
            sql,
            declared.unwrap_or_default().iter().copied(),
            &mut out,
        )
        .map_err(encode_err)?;
        frontend::describe(Target::Statement, "", &mut out).map_err(encode_err)?;
        frontend::sync(&mut out);
        match self
            .call(Expect::Describe, |b| b.extend_from_slice(&out))
            .await?
        {
            Response::Described { params, columns } => {
                let column_oids = columns
                    .iter()
                    .flat_map(|d| d.fields.iter().map(|f| f.type_oid));
                self.resolve_types(params.iter().copied().chain(column_oids))
                    .await?;
                let types = self.types.borrow();
                let resolve = |oid| types.resolve(oid);
                let params = params.into_iter().map(resolve).collect();
                Ok(match declared {
                    Some(declared) => Statement::typed(sql, declared, params, columns, &resolve),
                    None => Statement::new(sql, params, columns, &resolve),
                })
            }
            Response::Failed(e) => Err(Error::db(e)),
            _ => Err(Error::protocol("unexpected reply to Describe")),
        }
    }

    /// Encodes a `Close` for every statement the cache let go of (evicted, or forgotten after a
    /// failure), and takes their names: the cache no longer knows them, so these `Close`s are
    /// the only ones those statements will get.
    ///
    /// Called at the start of a request, right after the previous request's `Sync`: after an
    /// error the server skips every message up to the next `Sync`, `Close` included, so a
    /// `Close` placed behind a statement of the same segment is lost whenever that statement
    /// fails — a pipeline with a failing statement, or an orphaned one (its call dropped) that
    /// a cancel interrupted — and its statement stays on the server for the connection's
    /// lifetime. Leading the request, nothing before it in the segment can have failed, and
    /// closing a statement that does not exist is not an error. Names a statement evicts while
    /// its request is encoded wait for the next request; a batch closes them itself, and
    /// calls this in front of its later statements too (see
    /// [`encode_batch`](Self::encode_batch)).
    ///
    /// The caller gives the names back ([`not_sent`](Self::not_sent)) if the request is not
    /// sent after all.
    fn encode_closes(&self, out: &mut BytesMut) -> Result<Vec<String>, Error> {
        let mut cache = self.cache.borrow_mut();
        let names = cache.take_to_close();
        let encoded = names
            .iter()
            .try_for_each(|name| frontend::close(Target::Statement, name, out));
        match encoded {
            Ok(()) => Ok(names),
            Err(e) => {
                cache.close_again(names);
                Err(encode_err(e))
            }
        }
    }

    /// A request that was encoded but does not reach the server (an encoding error, or the
    /// connection refused it: outbound buffer full): its `Close`s go with the next request, and
    /// the statements it would have parsed (`parsed`) are forgotten, since the server never saw
    /// their `Parse`.
    fn not_sent<'s>(&self, closes: Vec<String>, parsed: impl IntoIterator<Item = &'s str>) {
        let mut cache = self.cache.borrow_mut();
        cache.close_again(closes);
        for sql in parsed {
            cache.forget(sql);
        }
    }

    /// Appends `[Parse] Bind [Describe] Execute` for one statement (no Sync; the pending
    /// `Close`s are the caller's, see [`encode_closes`](Self::encode_closes)).
    ///
    /// The rows are decoded with the columns the client assumes for the statement, so these
    /// must be the server's: whenever this connection has no confirmation of them (a new
    /// `Parse`, a statement whose earlier reply is not in yet, or columns that differ from the
    /// ones confirmed here, as after DDL another connection saw), the request describes its
    /// portal, and the reply's `RowDescription` gives the types and formats the rows really
    /// came in (see [`Connection::confirm`]). A statement whose result type changed on the
    /// server since this connection prepared it fails at `Bind` (0A000), before running.
    fn encode_execute(
        &self,
        stmt: &Statement,
        params: &Params,
        out: &mut BytesMut,
    ) -> Result<Sent, Error> {
        let mut cache = self.cache.borrow_mut();
        // The cache stays borrowed while encoding (nothing here awaits or runs user code).
        let Named { name, parse, known } = cache.name_for(&stmt.key);
        if parse {
            frontend::parse(name, &stmt.sql, stmt.params.iter().map(Type::oid), out)
                .map_err(encode_err)?;
        }
        // Formats as the server knows the statement here, when it told us.
        let (formats, describe) = match known {
            Some(known) => (known, !same_columns(known, &stmt.columns)),
            None => (&stmt.columns, true),
        };
        frontend::bind(
            "",
            name,
            params.formats().iter().copied(),
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
            result_formats(formats),
            out,
        )
        .map_err(encode_err)?;
        if describe {
            frontend::describe(Target::Portal, "", out).map_err(encode_err)?;
        }
        frontend::execute("", 0, out).map_err(encode_err)?;
        Ok(Sent {
            parsed: parse,
            // Named statements only: the unnamed one is parsed (and described) every time.
            confirm: (describe && !name.is_empty()).then(|| name.to_owned()),
            closes: Vec::new(),
        })
    }

    /// After a reply to a request that described its portal (see
    /// [`encode_execute`](Self::encode_execute)): records the columns the server reported for
    /// the statement, so later requests bind and decode with them and skip the `Describe`.
    fn confirm(&self, stmt: &Statement, sent: &Sent, response: &Response) {
        let (
            Some(name),
            Response::Rows {
                described: Some(described),
                ..
            },
        ) = (&sent.confirm, response)
        else {
            return;
        };
        let columns = if stmt.matches(described) {
            // The same list the caller's cache holds: later checks compare pointers.
            stmt.columns.clone()
        } else {
            let types = self.types.borrow();
            let resolve = |oid| types.get(oid).unwrap_or_else(|| stmt.type_for(oid));
            stmt.refreshed(described, &resolve).columns
        };
        self.cache.borrow_mut().confirm(&stmt.key, name, columns);
    }

    /// DDL may have altered types in place (a statement went stale, or was lost): the
    /// looked-up types are looked up again when next needed (see [`crate::type_lookup`]).
    fn types_may_have_changed(&self) {
        self.types.borrow_mut().clear();
    }

    /// Starts one statement (`[Close…][Parse] Bind [Describe] Execute Sync`) as a run that owns
    /// its batch, so [`crate::attempts::Attempts`] can hold it by value. Also returns what was
    /// sent, for [`Connection::retry_execute`] and [`Connection::finish_execute`].
    pub(crate) fn start_execute(
        &self,
        stmt: &Statement,
        params: &Params,
    ) -> Result<(OwnedRun<PgCodec>, Sent), Error> {
        // Encoded aside first (an encoding error must send nothing), in a spare buffer
        // so a query does not allocate (and grow) one each time.
        let mut out = SpareBuf::new();
        let closes = self.encode_closes(&mut out)?;
        let mut sent = match self.encode_execute(stmt, params, &mut out) {
            Ok(sent) => sent,
            Err(e) => {
                self.not_sent(closes, [&*stmt.key]);
                return Err(e);
            }
        };
        sent.closes = closes;
        frontend::sync(&mut out);
        // A spare batch of this connection: no allocation once warm.
        let mut batch = self.pipe.take_batch();
        batch.push(Expect::Execute, |b| b.extend_from_slice(&out));
        Ok((self.pipe.run_owned(batch), sent))
    }

    /// The reply of a run of `stmt` from [`Connection::start_execute`] (which returned `sent`)
    /// that has completed with `outcome`; its batch goes back to the connection's spares.
    pub(crate) fn finish_execute(
        &self,
        stmt: &Statement,
        sent: &mut Sent,
        run: OwnedRun<PgCodec>,
        outcome: Result<(), RequestError>,
    ) -> Result<Response, Error> {
        if let Err(e) = &outcome {
            // Refused unsent while the connection stays open (outbound buffer full).
            if !e.is_closed() {
                let closes = std::mem::take(&mut sent.closes);
                self.not_sent(closes, sent.parsed.then_some(&*stmt.key));
            }
        }
        let mut batch = run.into_batch();
        let reply = match outcome {
            Ok(()) => batch.take(0).unwrap_or(Err(RequestError::WorkerClosed)),
            Err(e) => Err(e),
        };
        self.pipe.recycle_batch(batch);
        self.session_checked(reply.map_err(Error::from))
    }

    /// After attempt `attempt` (from 0) of a statement answered `response`: records the
    /// columns the reply confirmed, forgets the statement's name when the server may not have
    /// it (or has it with other result columns), and says whether to run it again (once, when
    /// the server lost it: 26000).
    pub(crate) fn retry_execute(
        &self,
        stmt: &Statement,
        sent: &Sent,
        response: &Response,
        attempt: u32,
    ) -> bool {
        let Response::Failed(e) = response else {
            self.confirm(stmt, sent, response);
            return false;
        };
        let lost = e.code.code() == INVALID_STATEMENT_NAME;
        if lost || is_stale_statement(e) {
            self.types_may_have_changed();
        }
        // A failed Parse may have left no statement behind: never reuse the name.
        if sent.parsed || lost || is_stale_statement(e) {
            self.cache.borrow_mut().forget(&stmt.key);
        }
        lost && attempt == 0
    }

    /// Runs statements as one pipelined batch with a single `Sync`: each slot gets its own
    /// outcome; after a failure the server skips the rest until the `Sync` (what that means for
    /// the statements before the failure: see `pipeline.rs`).
    pub(crate) async fn execute_batch(
        &self,
        items: &[(Statement, Params)],
    ) -> Result<Vec<Response>, Error> {
        let replies = self.execute_batch_once(items).await?;
        // A statement another caller's failed batch never parsed (its Parse was skipped after
        // the failure), or one a `DEALLOCATE` removed, answers 26000 here. Nothing after it
        // ran, and the failure rolled back everything the batch's transaction did before it:
        // the whole batch runs again, with fresh Parses. Unless a statement before it ended a
        // transaction (a `COMMIT`): its work stays, so nothing runs again and the slots tell
        // what happened.
        let Some(k) = crate::pipeline::first_failure(&replies) else {
            return Ok(replies);
        };
        let lost = matches!(replies.get(k), Some(Response::Failed(e)) if e.code.code() == INVALID_STATEMENT_NAME);
        let sqls = items.iter().map(|(stmt, _)| &*stmt.sql);
        if !lost || crate::pipeline::failed_transaction_start(&replies, sqls, k) != 0 {
            return Ok(replies);
        }
        for (stmt, _) in items.get(k..).unwrap_or_default() {
            self.cache.borrow_mut().forget(&stmt.key);
        }
        self.execute_batch_once(items).await
    }

    /// Encodes `items` into `batch` as one pipelined segment ending in `Sync`, followed, when
    /// the batch's own statements evicted any from the cache, by a second segment closing them
    /// (`Close…` `Sync`). Returns what was sent for each statement and every name the batch
    /// closes (to give back should the batch not be sent).
    ///
    /// `Close`s that were pending lead the batch (see [`encode_closes`](Self::encode_closes)).
    /// A statement evicted by an earlier statement of the batch is closed in front of the next
    /// statement too, so that a long batch through a small cache does not pile its statements
    /// up on the server; but that `Close` is skipped when a statement before it fails, so it is
    /// sent again in the closing segment, which no failure of the batch can reach (closing it
    /// twice is not an error). The closing segment goes out in the same write as the batch:
    /// it is sent even if the call is dropped before its replies are in.
    fn encode_batch(
        &self,
        items: &[(Statement, Params)],
        batch: &mut Batch<PgCodec>,
    ) -> Result<(Vec<Sent>, Vec<String>), Error> {
        let mut sent = Vec::with_capacity(items.len());
        let mut out = SpareBuf::new();
        let mut closed = self.encode_closes(&mut out)?;
        // The names evicted by the batch's statements.
        let mut evicted = Vec::new();
        for (k, (stmt, params)) in items.iter().enumerate() {
            let encoded = if k == 0 {
                self.encode_execute(stmt, params, &mut out)
            } else {
                self.encode_closes(&mut out).and_then(|mut names| {
                    evicted.append(&mut names);
                    self.encode_execute(stmt, params, &mut out)
                })
            };
            match encoded {
                Ok(s) => sent.push(s),
                Err(e) => {
                    closed.append(&mut evicted);
                    // This statement's Parse may have been encoded before the error.
                    let parsed = parsed_sqls(items, &sent).chain([&*stmt.key]);
                    self.not_sent(closed, parsed);
                    return Err(e);
                }
            }
            batch.push(Expect::InBatch, |b| b.extend_from_slice(&out));
            out.clear();
        }
        batch.push(Expect::Sync, frontend::sync);
        // Those the last statement evicted have not been closed at all yet.
        evicted.append(&mut self.cache.borrow_mut().take_to_close());
        if !evicted.is_empty() {
            let encoded = evicted
                .iter()
                .try_for_each(|name| frontend::close(Target::Statement, name, &mut out));
            if let Err(e) = encoded {
                closed.append(&mut evicted);
                self.not_sent(closed, parsed_sqls(items, &sent));
                return Err(encode_err(e));
            }
            frontend::sync(&mut out);
            // Its reply (`CloseComplete`s, `ReadyForQuery`) is not looked at: the server does
            // not fail a `Close` of a missing name, and if the connection dies its statements
            // die with it.
            batch.push(Expect::Sync, |b| b.extend_from_slice(&out));
        }
        closed.append(&mut evicted);
        Ok((sent, closed))
    }

    async fn execute_batch_once(
        &self,
        items: &[(Statement, Params)],
    ) -> Result<Vec<Response>, Error> {
        let mut batch: Batch<PgCodec> = self.pipe.take_batch();
        let (sent, closed) = self.encode_batch(items, &mut batch)?;
        if let Err(e) = self.pipe.run(&mut batch).await {
            // Refused unsent while the connection stays open (outbound buffer full).
            if !e.is_closed() {
                self.not_sent(closed, parsed_sqls(items, &sent));
            }
            return Err(Error::from(e));
        }
        let mut replies = Vec::with_capacity(items.len());
        for k in 0..items.len() {
            let reply = batch
                .take(k)
                .unwrap_or(Err(RequestError::WorkerClosed))
                .map_err(Error::from)?;
            if let (Some((stmt, _)), Some(sent)) = (items.get(k), sent.get(k)) {
                let forget = match &reply {
                    Response::Failed(e) => {
                        if is_stale_statement(e) || e.code.code() == INVALID_STATEMENT_NAME {
                            self.types_may_have_changed();
                        }
                        sent.parsed || is_stale_statement(e)
                    }
                    Response::Skipped => sent.parsed,
                    _ => {
                        self.confirm(stmt, sent, &reply);
                        false
                    }
                };
                if forget {
                    self.cache.borrow_mut().forget(&stmt.key);
                }
            }
            replies.push(reply);
        }
        if let Some(sync) = batch.take(items.len()) {
            self.session_checked(sync.map_err(Error::from))?;
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

    /// Simple-protocol query whose reply keeps each statement's columns, rows and completion
    /// apart ([`Response::SimpleParts`], for `simple_query`).
    pub(crate) async fn simple_parts(&self, sql: &str) -> Result<Response, Error> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).map_err(encode_err)?;
        self.call(Expect::SimpleQuery, |b| b.extend_from_slice(&out))
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

/// The cache keys of the statements of a batch whose `Parse` was encoded (`sent`, from the
/// first).
fn parsed_sqls<'a>(
    items: &'a [(Statement, Params)],
    sent: &'a [Sent],
) -> impl Iterator<Item = &'a str> + 'a {
    items
        .iter()
        .zip(sent)
        .filter(|(_, sent)| sent.parsed)
        .map(|((stmt, _), _)| &*stmt.key)
}

/// The startup's turns go through the connection's pipe: each is one request, whose reply
/// gathers the server's messages up to where it waits for the client.
struct PipeTurn<'a>(&'a Connection);

impl crate::handshake::Turn for PipeTurn<'_> {
    async fn turn(&mut self, out: &[u8]) -> Result<Vec<Message>, Error> {
        match self
            .0
            .call(Expect::AuthStep, |b| b.extend_from_slice(out))
            .await?
        {
            Response::Handshake(messages) => Ok(messages),
            _ => Err(Error::protocol("unexpected reply during startup")),
        }
    }
}

/// libpq 16's tests of `target_session_attrs`: the parameters the server reported at startup
/// when it reported them, else a query.
impl crate::host_select::Candidate for Connection {
    async fn read_only(&self) -> Result<bool, Error> {
        match self.session.reported_read_only() {
            (Some(default_read_only), Some(hot_standby)) => Ok(default_read_only || hot_standby),
            _ => Ok(self.show("SHOW transaction_read_only").await? == "on"),
        }
    }

    async fn in_hot_standby(&self) -> Result<bool, Error> {
        match self.session.reported_read_only() {
            (_, Some(hot_standby)) => Ok(hot_standby),
            _ => Ok(self.show("SELECT pg_catalog.pg_is_in_recovery()").await? == "t"),
        }
    }

    fn close(&self) {
        self.pipe.close();
    }
}
