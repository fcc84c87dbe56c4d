//! The PostgreSQL reply matcher: which backend messages make up each request's reply.
//!
//! Every request queued on a connection says what ends its reply ([`Expect`]). Asynchronous
//! messages (notices, notifications, parameter status) can arrive between any two messages and
//! are routed aside. Within one pipelined batch (one `Sync` at the end), an error makes the
//! server skip every later statement until the `Sync`: those requests end as
//! [`Response::Skipped`] at once, and the `Sync`'s `ReadyForQuery` ends the batch.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use corelane_pg_proto::message::backend::{
    CommandComplete, DataRow, ErrorFields, Message, RowDescription, TransactionStatus,
};
use corelane_pg_proto::startup::{ends_turn, MAX_TURN};
use corelane_pg_proto::types::Oid;
use corelane_runtime::roundtrip::Codec;

use crate::data_rows::DataRows;
use crate::session::SessionWatch;

/// What ends one request's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// One turn of the startup: the server's messages up to the next one after which it
    /// waits for the client or is done (an authentication request, an error, the first
    /// `ReadyForQuery`), for the startup machine ([`Response::Handshake`]).
    AuthStep,
    /// `Parse`/`Describe`/`Sync`: parameter types and columns, until `ReadyForQuery`.
    Describe,
    /// `[Parse]`/`Bind`/`Execute`/`Sync`: rows, until `ReadyForQuery`.
    Execute,
    /// `[Parse]`/`Bind`/`Execute` in a batch without its own `Sync`: rows, until the
    /// command completes (or fails, or was skipped after an earlier failure).
    InBatch,
    /// The batch's `Sync`: until `ReadyForQuery`.
    Sync,
    /// A simple `Query` (possibly several statements): until `ReadyForQuery`.
    Simple,
    /// A simple `Query` whose every statement's columns, rows and completion are kept apart,
    /// in order ([`Response::SimpleParts`], for `simple_query`): until `ReadyForQuery`.
    SimpleQuery,
    /// A simple `Query` that starts a COPY: until `CopyInResponse` or `CopyOutResponse`
    /// (the connection is then in copy mode), or, when it does not start one (an error, or
    /// not a COPY), until `ReadyForQuery`.
    CopyStart,
    /// A `CopyData` message in COPY IN: the server does not answer it, so its reply is
    /// immediate ([`Response::CopySent`]); messages already received (an early error and its
    /// `ReadyForQuery`) are taken aside first.
    CopySend,
    /// `CopyDone` or `CopyFail` in COPY IN: until `ReadyForQuery` (at once when the server
    /// already ended the copy with an error).
    CopyEnd,
    /// The next piece of a COPY OUT: one or more `CopyData` payloads (up to
    /// [`COPY_CHUNK`] bytes), or the end (`CopyDone`, `CommandComplete`, `ReadyForQuery`).
    CopyChunk,
    /// The next piece of a streamed query (`[Parse]`/`Bind`/`Execute`/`Sync`, see
    /// `row_stream.rs`): rows costing about [`ROW_CHUNK`] bytes ([`Response::RowChunk`]), or
    /// the end: [`Response::Rows`] (no rows, the command tag) or [`Response::Failed`], at
    /// `ReadyForQuery`.
    RowChunk,
}

/// About how many bytes of rows one [`Expect::RowChunk`] reply gathers.
pub(crate) const ROW_CHUNK: usize = 64 * 1024;

/// How many bytes of COPY OUT data one [`Expect::CopyChunk`] reply gathers at most (more when
/// a single row is larger).
pub(crate) const COPY_CHUNK: usize = 64 * 1024;

/// Where the connection is in a COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyMode {
    None,
    In,
    Out,
}

/// One request's reply.
#[derive(Debug)]
pub(crate) enum Response {
    /// One turn of the startup ([`Expect::AuthStep`]), for the startup machine. Notices went
    /// to the notice sink; parameter statuses were recorded and are here too.
    Handshake(Vec<Message>),
    Described {
        params: Vec<Oid>,
        columns: Option<RowDescription>,
    },
    Rows {
        rows: DataRows,
        complete: Option<CommandComplete>,
        /// The portal's description, when the request asked for one (`Describe` after `Bind`,
        /// see `Connection::encode_execute`): the rows' columns as the server sent them.
        described: Option<RowDescription>,
    },
    /// Skipped by the server after an earlier error in the same batch.
    Skipped,
    Synced,
    Failed(Box<ErrorFields>),
    /// The server entered COPY IN mode.
    CopyIn,
    /// The server entered COPY OUT mode.
    CopyOut,
    /// A `CopyData` went out; `ended` when the server already ended the copy (an error).
    CopySent {
        ended: bool,
    },
    /// COPY OUT data: whole `CopyData` payloads, concatenated.
    CopyChunk(Bytes),
    /// On a shared connection, the request ended with a transaction open (see `session.rs`):
    /// its work, and that of every request behind it, is rolled back when the connection
    /// closes.
    SessionChanged,
    /// Rows of a streamed query, in order.
    RowChunk(DataRows),
    /// What each statement of a simple `Query` returned, in order ([`Expect::SimpleQuery`]).
    SimpleParts(Vec<SimplePart>),
    /// The statement succeeded but its rows cost more than the cap
    /// ([`Config::max_result_bytes`](crate::Config::max_result_bytes)): they were read and
    /// dropped.
    TooLarge {
        limit: usize,
    },
}

/// One message of a simple `Query`'s reply that `simple_query` reports.
#[derive(Debug)]
pub(crate) enum SimplePart {
    /// The columns of the rows that follow.
    Columns(RowDescription),
    Row(DataRow),
    /// A statement ended.
    Complete(CommandComplete),
}

/// Where notices and notifications go.
pub(crate) type Notices = Arc<dyn Fn(&ErrorFields) + Send + Sync>;

#[derive(Default)]
struct Partial {
    params: Vec<Oid>,
    columns: Option<RowDescription>,
    rows: DataRows,
    complete: Option<CommandComplete>,
    error: Option<Box<ErrorFields>>,
    /// [`Expect::AuthStep`]'s messages so far.
    handshake: Vec<Message>,
    /// What the rows kept so far cost (see [`row_cost`]).
    row_bytes: usize,
    /// The result passed the cap: its rows were dropped, the rest are read and dropped.
    too_large: bool,
    /// [`Expect::SimpleQuery`]'s messages so far.
    simple: Vec<SimplePart>,
}

/// What keeping `row` costs: its bytes and its place in the result.
fn row_cost(row: &DataRow) -> usize {
    std::mem::size_of::<DataRow>().saturating_add(row.body().len())
}

pub(crate) struct PgCodec {
    partial: Partial,
    /// An error happened in the current batch: statements until `Sync` are skipped.
    batch_failed: bool,
    notices: Option<Notices>,
    max_message: usize,
    /// The transaction status of the last `ReadyForQuery` read (shared with the connection,
    /// which resets a session returned in a transaction).
    status: Rc<Cell<TransactionStatus>>,
    copy: CopyMode,
    /// COPY OUT data gathered for the next [`Response::CopyChunk`].
    copy_buf: BytesMut,
    /// Session changes on a shared connection (see `session.rs`).
    session: Rc<SessionWatch>,
    /// The most one reply's rows may cost ([`row_cost`]); past it the reply is
    /// [`Response::TooLarge`].
    max_result: usize,
    /// A streamed query's result is being read ([`Expect::RowChunk`]): its rows wait in the
    /// input between two requests.
    streaming: bool,
}

impl PgCodec {
    pub(crate) fn new(notices: Option<Notices>, max_message: usize) -> Self {
        PgCodec {
            partial: Partial::default(),
            batch_failed: false,
            notices,
            max_message,
            status: Rc::new(Cell::new(TransactionStatus::Idle)),
            copy: CopyMode::None,
            copy_buf: BytesMut::new(),
            max_result: usize::MAX,
            streaming: false,
            session: Rc::default(),
        }
    }

    /// What this codec learns about the session (see `session.rs`).
    pub(crate) fn session(&self) -> Rc<SessionWatch> {
        self.session.clone()
    }

    /// Caps what one reply's rows may cost (`None`: no cap). See [`Response::TooLarge`].
    pub(crate) fn with_max_result(mut self, max: Option<usize>) -> Self {
        self.max_result = max.unwrap_or(usize::MAX);
        self
    }

    /// Keeps `row` in the reply being read, unless the reply passed the cap: then its rows are
    /// dropped (and every later one), and the reply goes on being read to its end, so the
    /// connection stays in step.
    fn keep_row(&mut self, row: DataRow) {
        let p = &mut self.partial;
        if p.error.is_some() || p.too_large {
            return;
        }
        p.row_bytes = p.row_bytes.saturating_add(row_cost(&row));
        if p.row_bytes > self.max_result {
            p.too_large = true;
            p.rows = DataRows::default();
            p.simple = Vec::new();
            return;
        }
        p.rows.push(row);
    }

    /// Keeps one message of a [`Expect::SimpleQuery`] reply (rows under the same cap as
    /// [`keep_row`](Self::keep_row)'s).
    fn keep_simple(&mut self, part: SimplePart) {
        let p = &mut self.partial;
        if p.error.is_some() || p.too_large {
            return;
        }
        if let SimplePart::Row(row) = &part {
            p.row_bytes = p.row_bytes.saturating_add(row_cost(row));
            if p.row_bytes > self.max_result {
                p.too_large = true;
                p.simple = Vec::new();
                return;
            }
        }
        p.simple.push(part);
    }

    /// The reply of a statement that ended well: its rows, or [`Response::TooLarge`].
    fn rows(&self, p: Partial, complete: Option<CommandComplete>) -> Response {
        if p.too_large {
            return Response::TooLarge {
                limit: self.max_result,
            };
        }
        Response::Rows {
            rows: p.rows,
            complete,
            described: p.columns,
        }
    }

    /// One message received in COPY IN mode (the server sends nothing there but notices, or an
    /// error and then `ReadyForQuery`, which ends the copy).
    fn copy_in_message(&mut self, message: Message, expect: Expect) -> Result<(), WireError> {
        match message {
            Message::ErrorResponse(e) => {
                self.partial.error = Some(e);
                Ok(())
            }
            Message::ReadyForQuery(status) => {
                self.status.set(status);
                self.copy = CopyMode::None;
                Ok(())
            }
            other => Err(WireError::Unexpected(name(&other), expect)),
        }
    }

    /// The end of a COPY: a `ReadyForQuery` was read.
    fn copy_finished(&mut self) -> Response {
        self.copy = CopyMode::None;
        self.copy_buf = BytesMut::new();
        let p = self.take();
        match p.error {
            Some(e) => Response::Failed(e),
            None => Response::Rows {
                rows: DataRows::default(),
                complete: p.complete,
                described: None,
            },
        }
    }

    fn decode_copy(
        &mut self,
        expect: Expect,
        input: &mut BytesMut,
    ) -> Result<Option<Response>, WireError> {
        match expect {
            Expect::CopySend => {
                while self.copy == CopyMode::In {
                    let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                        break;
                    };
                    if !self.asynchronous(&message) {
                        self.copy_in_message(message, expect)?;
                    }
                }
                Ok(Some(Response::CopySent {
                    ended: self.copy != CopyMode::In,
                }))
            }
            Expect::CopyEnd => loop {
                if self.copy != CopyMode::In {
                    return Ok(Some(self.copy_finished()));
                }
                let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                    return Ok(None);
                };
                if self.asynchronous(&message) {
                    continue;
                }
                match message {
                    Message::CommandComplete(c) => self.partial.complete = Some(c),
                    other => self.copy_in_message(other, expect)?,
                }
            },
            Expect::CopyChunk => loop {
                if self.copy_buf.len() >= COPY_CHUNK {
                    return Ok(Some(Response::CopyChunk(self.copy_buf.split().freeze())));
                }
                // Data gathered goes out before anything else is consumed: the end of the
                // copy comes as a reply of its own.
                let is_data = input.first() == Some(&b'd');
                if !is_data && !self.copy_buf.is_empty() {
                    return Ok(Some(Response::CopyChunk(self.copy_buf.split().freeze())));
                }
                let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                    if self.copy_buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(Response::CopyChunk(self.copy_buf.split().freeze())));
                };
                if self.asynchronous(&message) {
                    continue;
                }
                match message {
                    Message::CopyData(data) if self.copy == CopyMode::Out => {
                        self.copy_buf.extend_from_slice(&data)
                    }
                    Message::CopyDone if self.copy == CopyMode::Out => {}
                    Message::CommandComplete(c) => self.partial.complete = Some(c),
                    Message::ErrorResponse(e) => self.partial.error = Some(e),
                    Message::ReadyForQuery(status) => {
                        self.status.set(status);
                        return Ok(Some(self.copy_finished()));
                    }
                    other => return Err(WireError::Unexpected(name(&other), expect)),
                }
            },
            // CopyStart
            _ => loop {
                let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                    return Ok(None);
                };
                if self.asynchronous(&message) {
                    continue;
                }
                match message {
                    Message::CopyInResponse(_) => {
                        self.copy = CopyMode::In;
                        return Ok(Some(Response::CopyIn));
                    }
                    Message::CopyOutResponse(_) => {
                        self.copy = CopyMode::Out;
                        self.copy_buf = BytesMut::new();
                        return Ok(Some(Response::CopyOut));
                    }
                    Message::ErrorResponse(e) => self.partial.error = Some(e),
                    Message::CommandComplete(c) => self.partial.complete = Some(c),
                    // Not a COPY: its rows are dropped (the caller reports the misuse).
                    Message::RowDescription(_)
                    | Message::DataRow(_)
                    | Message::EmptyQueryResponse => {}
                    Message::ReadyForQuery(status) => {
                        self.status.set(status);
                        return Ok(Some(self.copy_finished()));
                    }
                    other => return Err(WireError::Unexpected(name(&other), expect)),
                }
            },
        }
    }

    /// One [`Expect::RowChunk`] reply: the rows gathered go out before anything else is
    /// consumed (the end comes as a reply of its own), and as soon as the input runs dry, so
    /// the caller never waits for rows that are in.
    fn decode_row_chunk(&mut self, input: &mut BytesMut) -> Result<Option<Response>, WireError> {
        self.streaming = true;
        loop {
            let gathered = self.partial.rows.len() > 0;
            if self.partial.row_bytes >= ROW_CHUNK || (gathered && input.first() != Some(&b'D')) {
                return Ok(Some(self.take_row_chunk()));
            }
            let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                return Ok(gathered.then(|| self.take_row_chunk()));
            };
            if self.asynchronous(&message) {
                continue;
            }
            match message {
                Message::DataRow(row) => {
                    if self.partial.error.is_none() {
                        self.partial.row_bytes =
                            self.partial.row_bytes.saturating_add(row_cost(&row));
                        self.partial.rows.push(row);
                    }
                }
                Message::ParseComplete
                | Message::BindComplete
                | Message::NoData
                | Message::EmptyQueryResponse
                | Message::PortalSuspended => {}
                Message::CommandComplete(c) => self.partial.complete = Some(c),
                Message::ErrorResponse(e) => self.partial.error = Some(e),
                Message::ReadyForQuery(status) => {
                    self.status.set(status);
                    self.batch_failed = false;
                    self.streaming = false;
                    let p = self.take();
                    return Ok(Some(match p.error {
                        Some(e) => Response::Failed(e),
                        None => Response::Rows {
                            rows: DataRows::default(),
                            complete: p.complete,
                            described: p.columns,
                        },
                    }));
                }
                other => return Err(WireError::Unexpected(name(&other), Expect::RowChunk)),
            }
        }
    }

    /// One [`Expect::AuthStep`] reply: messages are gathered, not interpreted (the startup
    /// machine does that), up to the end of the server's turn.
    fn decode_handshake(&mut self, input: &mut BytesMut) -> Result<Option<Response>, WireError> {
        loop {
            let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                return Ok(None);
            };
            // Notices go to the sink as always; a parameter status is recorded and kept.
            let parameter = matches!(message, Message::ParameterStatus(_));
            if self.asynchronous(&message) && !parameter {
                continue;
            }
            if let Message::ReadyForQuery(status) = message {
                self.status.set(status);
            }
            if self.partial.handshake.len() >= MAX_TURN {
                return Err(WireError::Unexpected(
                    "a startup turn too long",
                    Expect::AuthStep,
                ));
            }
            let ends = ends_turn(&message);
            self.partial.handshake.push(message);
            if ends {
                let messages = std::mem::take(&mut self.partial.handshake);
                return Ok(Some(Response::Handshake(messages)));
            }
        }
    }

    fn take_row_chunk(&mut self) -> Response {
        self.partial.row_bytes = 0;
        Response::RowChunk(std::mem::take(&mut self.partial.rows))
    }

    /// Where this codec records the status of each `ReadyForQuery` it reads.
    pub(crate) fn status(&self) -> Rc<Cell<TransactionStatus>> {
        self.status.clone()
    }

    fn take(&mut self) -> Partial {
        std::mem::take(&mut self.partial)
    }

    /// Handles messages that may come at any time. True when consumed.
    fn asynchronous(&mut self, message: &Message) -> bool {
        match message {
            Message::NoticeResponse(fields) => {
                if let Some(sink) = &self.notices {
                    sink(fields);
                }
                true
            }
            // LISTEN belongs on dedicated connections; a stray one is dropped here. Either
            // after startup says a shared connection's session changed: it is retired.
            Message::NotificationResponse(_) => {
                self.session.on_session_report();
                true
            }
            Message::ParameterStatus(p) => {
                self.session.on_parameter(&p.name, &p.value);
                true
            }
            _ => false,
        }
    }
}

/// A protocol violation on the connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error(transparent)]
    Parse(#[from] corelane_pg_proto::Error),
    #[error("unexpected message {0} while waiting for {1:?}")]
    Unexpected(&'static str, Expect),
    #[error("a message arrived while no request was waiting")]
    Unsolicited,
    #[error("a statement left a transaction open on a shared connection (use Client::transaction()); closed, so the server rolls it back")]
    TransactionLeftOpen,
}

fn name(m: &Message) -> &'static str {
    match m {
        Message::Authentication(_) => "Authentication",
        Message::BackendKeyData(_) => "BackendKeyData",
        Message::BindComplete => "BindComplete",
        Message::CloseComplete => "CloseComplete",
        Message::CommandComplete(_) => "CommandComplete",
        Message::CopyData(_) => "CopyData",
        Message::CopyDone => "CopyDone",
        Message::CopyInResponse(_) => "CopyInResponse",
        Message::CopyOutResponse(_) => "CopyOutResponse",
        Message::DataRow(_) => "DataRow",
        Message::EmptyQueryResponse => "EmptyQueryResponse",
        Message::ErrorResponse(_) => "ErrorResponse",
        Message::NoData => "NoData",
        Message::ParameterDescription(_) => "ParameterDescription",
        Message::ParseComplete => "ParseComplete",
        Message::PortalSuspended => "PortalSuspended",
        Message::ReadyForQuery(_) => "ReadyForQuery",
        Message::RowDescription(_) => "RowDescription",
        _ => "another message",
    }
}

impl Codec for PgCodec {
    type Reply = Response;
    type Expect = Expect;
    type Error = WireError;

    fn decode(
        &mut self,
        expect: &Expect,
        input: &mut BytesMut,
    ) -> Result<Option<Response>, WireError> {
        if self.session.is_poisoned() {
            return Err(WireError::TransactionLeftOpen);
        }
        if *expect == Expect::InBatch && self.batch_failed {
            return Ok(Some(Response::Skipped));
        }
        if matches!(
            expect,
            Expect::CopyStart | Expect::CopySend | Expect::CopyEnd | Expect::CopyChunk
        ) {
            return self.decode_copy(*expect, input);
        }
        if *expect == Expect::RowChunk {
            return self.decode_row_chunk(input);
        }
        if *expect == Expect::AuthStep {
            return self.decode_handshake(input);
        }
        loop {
            let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                return Ok(None);
            };
            if self.asynchronous(&message) {
                continue;
            }
            match (*expect, message) {
                (_, Message::ErrorResponse(e)) => {
                    if *expect == Expect::InBatch {
                        self.batch_failed = true;
                        self.take();
                        return Ok(Some(Response::Failed(e)));
                    }
                    // Until ReadyForQuery, then report it.
                    self.partial.error = Some(e);
                }
                (_, Message::ReadyForQuery(status)) if *expect != Expect::InBatch => {
                    self.status.set(status);
                    self.batch_failed = false;
                    let p = self.take();
                    if status != TransactionStatus::Idle && self.session.is_shared() {
                        self.session.poison();
                        return Ok(Some(Response::SessionChanged));
                    }
                    if let Some(e) = p.error {
                        return Ok(Some(Response::Failed(e)));
                    }
                    return Ok(Some(match expect {
                        Expect::Describe => Response::Described {
                            params: p.params,
                            columns: p.columns,
                        },
                        Expect::Sync => Response::Synced,
                        Expect::SimpleQuery if p.too_large => Response::TooLarge {
                            limit: self.max_result,
                        },
                        Expect::SimpleQuery => Response::SimpleParts(p.simple),
                        _ => {
                            let mut p = p;
                            let complete = p.complete.take();
                            self.rows(p, complete)
                        }
                    }));
                }
                (_, Message::ParseComplete | Message::BindComplete | Message::CloseComplete) => {}
                (Expect::SimpleQuery, Message::RowDescription(r)) => {
                    self.keep_simple(SimplePart::Columns(r))
                }
                (Expect::SimpleQuery, Message::DataRow(row)) => {
                    self.keep_simple(SimplePart::Row(row))
                }
                (Expect::SimpleQuery, Message::CommandComplete(c)) => {
                    self.keep_simple(SimplePart::Complete(c))
                }
                (Expect::SimpleQuery, Message::EmptyQueryResponse) => {}
                // A described statement or portal that returns no rows.
                (Expect::Describe | Expect::Execute | Expect::InBatch, Message::NoData) => {
                    self.partial.columns = Some(RowDescription { fields: Vec::new() })
                }
                (Expect::Describe, Message::ParameterDescription(d)) => {
                    self.partial.params = d.types
                }
                (
                    Expect::Describe | Expect::Simple | Expect::Execute | Expect::InBatch,
                    Message::RowDescription(r),
                ) => self.partial.columns = Some(r),
                (Expect::Execute | Expect::InBatch | Expect::Simple, Message::DataRow(row)) => {
                    self.keep_row(row)
                }
                (Expect::Execute | Expect::Simple, Message::CommandComplete(c)) => {
                    self.partial.complete = Some(c)
                }
                (
                    Expect::Execute | Expect::Simple,
                    Message::EmptyQueryResponse | Message::PortalSuspended,
                ) => {}
                (Expect::InBatch, Message::CommandComplete(c)) => {
                    let p = self.take();
                    return Ok(Some(self.rows(p, Some(c))));
                }
                (Expect::InBatch, Message::EmptyQueryResponse | Message::PortalSuspended) => {
                    let p = self.take();
                    return Ok(Some(self.rows(p, None)));
                }
                (expect, other) => return Err(WireError::Unexpected(name(&other), expect)),
            }
        }
    }

    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), WireError> {
        if self.session.is_poisoned() {
            return Err(WireError::TransactionLeftOpen);
        }
        match self.copy {
            // Between two `CopyData` sends the loop may read an early error (and the
            // `ReadyForQuery` that ends the copy): kept for the `CopyEnd` reply.
            CopyMode::In => {
                while self.copy == CopyMode::In {
                    let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                        return Ok(());
                    };
                    if !self.asynchronous(&message) {
                        self.copy_in_message(message, Expect::CopySend)?;
                    }
                }
            }
            // COPY OUT data waits in the input for the pump's next `CopyChunk` (the pump holds
            // reading back meanwhile, so this is only what arrived with the last reply).
            CopyMode::Out => return Ok(()),
            // Likewise the rest of a streamed query's result.
            CopyMode::None if self.streaming => return Ok(()),
            CopyMode::None => {}
        }
        loop {
            let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                return Ok(());
            };
            // A FATAL error before the server closes (e.g. terminated by an administrator)
            // arrives with no request waiting; the close that follows reports it.
            if self.asynchronous(&message) || matches!(message, Message::ErrorResponse(_)) {
                continue;
            }
            return Err(WireError::Unsolicited);
        }
    }
}
