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
    Authentication, BackendKeyData, CommandComplete, DataRow, ErrorFields, Message, RowDescription,
    TransactionStatus,
};
use corelane_pg_proto::types::Oid;
use corelane_runtime::roundtrip::Codec;

/// What ends one request's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// One authentication challenge the client must answer (or an error); or, once the
    /// server accepts, everything up to the first `ReadyForQuery`: `SASLFinal`,
    /// `AuthenticationOk`, parameter status and key data arrive together and are one reply.
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
}

/// One request's reply.
#[derive(Debug)]
pub(crate) enum Response {
    Auth(Authentication),
    /// Authentication ended and the server is ready (`AuthenticationOk` was seen).
    Startup {
        key: Option<BackendKeyData>,
        /// The SCRAM server-final message, when one came (the caller verifies it).
        sasl_final: Option<Bytes>,
    },
    Described {
        params: Vec<Oid>,
        columns: Option<RowDescription>,
    },
    Rows {
        rows: Vec<DataRow>,
        complete: Option<CommandComplete>,
    },
    /// Skipped by the server after an earlier error in the same batch.
    Skipped,
    Synced,
    Failed(Box<ErrorFields>),
}

/// Where notices and notifications go.
pub(crate) type Notices = Arc<dyn Fn(&ErrorFields) + Send + Sync>;

#[derive(Default)]
struct Partial {
    params: Vec<Oid>,
    columns: Option<RowDescription>,
    rows: Vec<DataRow>,
    complete: Option<CommandComplete>,
    error: Option<Box<ErrorFields>>,
    key: Option<BackendKeyData>,
    auth_ok: bool,
    sasl_final: Option<Bytes>,
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
}

impl PgCodec {
    pub(crate) fn new(notices: Option<Notices>, max_message: usize) -> Self {
        PgCodec {
            partial: Partial::default(),
            batch_failed: false,
            notices,
            max_message,
            status: Rc::new(Cell::new(TransactionStatus::Idle)),
        }
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
            // LISTEN belongs on dedicated connections; a stray one is dropped here.
            Message::NotificationResponse(_) | Message::ParameterStatus(_) => true,
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
        if *expect == Expect::InBatch && self.batch_failed {
            return Ok(Some(Response::Skipped));
        }
        loop {
            let Some(message) = Message::parse_with_max(input, self.max_message)? else {
                return Ok(None);
            };
            if self.asynchronous(&message) {
                continue;
            }
            match (*expect, message) {
                (Expect::AuthStep, Message::Authentication(Authentication::Ok)) => {
                    self.partial.auth_ok = true
                }
                (Expect::AuthStep, Message::Authentication(Authentication::SaslFinal(data)))
                    if !self.partial.auth_ok && self.partial.sasl_final.is_none() =>
                {
                    self.partial.sasl_final = Some(data)
                }
                (Expect::AuthStep, Message::Authentication(auth))
                    if !self.partial.auth_ok && self.partial.sasl_final.is_none() =>
                {
                    return Ok(Some(Response::Auth(auth)))
                }
                (Expect::AuthStep, Message::ErrorResponse(e)) => {
                    self.take();
                    return Ok(Some(Response::Failed(e)));
                }
                (Expect::AuthStep, Message::BackendKeyData(key)) if self.partial.auth_ok => {
                    self.partial.key = Some(key)
                }
                (Expect::AuthStep, Message::NegotiateProtocolVersion(_)) => {}
                (Expect::AuthStep, Message::ReadyForQuery(_)) if !self.partial.auth_ok => {
                    return Err(WireError::Unexpected("ReadyForQuery", Expect::AuthStep))
                }
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
                    if let Some(e) = p.error {
                        return Ok(Some(Response::Failed(e)));
                    }
                    return Ok(Some(match expect {
                        Expect::AuthStep => Response::Startup {
                            key: p.key,
                            sasl_final: p.sasl_final,
                        },
                        Expect::Describe => Response::Described {
                            params: p.params,
                            columns: p.columns,
                        },
                        Expect::Sync => Response::Synced,
                        _ => Response::Rows {
                            rows: p.rows,
                            complete: p.complete,
                        },
                    }));
                }
                (
                    _,
                    Message::ParseComplete
                    | Message::BindComplete
                    | Message::CloseComplete
                    | Message::NoData,
                ) => {}
                (Expect::Describe, Message::ParameterDescription(d)) => {
                    self.partial.params = d.types
                }
                (Expect::Describe | Expect::Simple, Message::RowDescription(r)) => {
                    self.partial.columns = Some(r)
                }
                (Expect::Execute | Expect::InBatch | Expect::Simple, Message::DataRow(row)) => {
                    if self.partial.error.is_none() {
                        self.partial.rows.push(row);
                    }
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
                    return Ok(Some(Response::Rows {
                        rows: p.rows,
                        complete: Some(c),
                    }));
                }
                (Expect::InBatch, Message::EmptyQueryResponse | Message::PortalSuspended) => {
                    let p = self.take();
                    return Ok(Some(Response::Rows {
                        rows: p.rows,
                        complete: None,
                    }));
                }
                (expect, other) => return Err(WireError::Unexpected(name(&other), expect)),
            }
        }
    }

    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), WireError> {
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
