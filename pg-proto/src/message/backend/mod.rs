//! Backend (server → client) messages: incremental framing and parsing.
//!
//! [`Header::parse`] peeks at the next message without consuming it (to route asynchronous
//! messages or find a ReadyForQuery); [`Message::parse`] consumes one complete message.
//!
//! Framing is bounded: a length below 4 or above the maximum ([`DEFAULT_MAX_MESSAGE_LEN`]
//! unless given) is an [`Error`], and nothing is reserved from a claimed length: the buffer
//! grows only by what the caller actually reads into it.

mod auth;
mod error_fields;
mod reader;
mod row;
mod simple;

use bytes::{Buf, Bytes, BytesMut};

pub use self::auth::Authentication;
pub use self::error_fields::ErrorFields;
pub use self::reader::BytesStr;
use self::reader::Reader;
pub use self::row::{DataRow, Field, RowDescription};
pub use self::simple::{
    BackendKeyData, CommandComplete, CopyResponse, NegotiateProtocolVersion, Notification,
    ParameterDescription, ParameterStatus, TransactionStatus,
};
use crate::error::Error;

/// Default maximum length of one backend message: 256 MiB.
///
/// PostgreSQL's own limit on a single field is 1 GiB, but rows that large are rare and a
/// client buffering them whole is usually a mistake; raise it with
/// [`Message::parse_with_max`] when a workload needs more.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 256 * 1024 * 1024;

/// Backend message type bytes, for routing on a [`Header`] without parsing.
pub mod tag {
    /// Authentication*.
    pub const AUTHENTICATION: u8 = b'R';
    /// BackendKeyData.
    pub const BACKEND_KEY_DATA: u8 = b'K';
    /// BindComplete.
    pub const BIND_COMPLETE: u8 = b'2';
    /// CloseComplete.
    pub const CLOSE_COMPLETE: u8 = b'3';
    /// CommandComplete.
    pub const COMMAND_COMPLETE: u8 = b'C';
    /// CopyData.
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone.
    pub const COPY_DONE: u8 = b'c';
    /// CopyInResponse.
    pub const COPY_IN_RESPONSE: u8 = b'G';
    /// CopyOutResponse.
    pub const COPY_OUT_RESPONSE: u8 = b'H';
    /// CopyBothResponse.
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    /// DataRow.
    pub const DATA_ROW: u8 = b'D';
    /// EmptyQueryResponse.
    pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
    /// ErrorResponse.
    pub const ERROR_RESPONSE: u8 = b'E';
    /// FunctionCallResponse.
    pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
    /// NegotiateProtocolVersion.
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
    /// NoData.
    pub const NO_DATA: u8 = b'n';
    /// NoticeResponse.
    pub const NOTICE_RESPONSE: u8 = b'N';
    /// NotificationResponse.
    pub const NOTIFICATION_RESPONSE: u8 = b'A';
    /// ParameterDescription.
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    /// ParameterStatus.
    pub const PARAMETER_STATUS: u8 = b'S';
    /// ParseComplete.
    pub const PARSE_COMPLETE: u8 = b'1';
    /// PortalSuspended.
    pub const PORTAL_SUSPENDED: u8 = b's';
    /// ReadyForQuery.
    pub const READY_FOR_QUERY: u8 = b'Z';
    /// RowDescription.
    pub const ROW_DESCRIPTION: u8 = b'T';
}

/// The 5-byte header of a backend message: type byte and length (which counts itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    tag: u8,
    len: u32,
}

impl Header {
    /// Peeks at the header at the start of `buf` with the default size limit.
    /// `Ok(None)`: fewer than 5 bytes are buffered. Never consumes.
    pub fn parse(buf: &[u8]) -> Result<Option<Header>, Error> {
        Header::parse_with_max(buf, DEFAULT_MAX_MESSAGE_LEN)
    }

    /// Like [`Header::parse`] with an explicit maximum message length (the length field's value).
    pub fn parse_with_max(buf: &[u8], max: usize) -> Result<Option<Header>, Error> {
        let Some(head) = buf.get(..5) else {
            return Ok(None);
        };
        let tag = head[0];
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        if len < 4 {
            return Err(Error::LengthTooSmall {
                tag: char::from(tag),
                len,
            });
        }
        let len = len.unsigned_abs();
        if len as usize > max {
            return Err(Error::MessageTooLarge {
                tag: char::from(tag),
                len: len as usize,
                max,
            });
        }
        Ok(Some(Header { tag, len }))
    }

    /// The message type byte (see [`tag`]).
    pub fn tag(&self) -> u8 {
        self.tag
    }

    /// The length field: body length + 4.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Always false: the length counts itself. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Total bytes the message occupies on the wire: `len + 1`.
    pub fn frame_len(&self) -> usize {
        self.len as usize + 1
    }
}

/// One backend message. Bodies share the received buffer (frozen `Bytes`), no copy.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `R`: an authentication request or outcome.
    Authentication(Authentication),
    /// `K`: the cancellation key.
    BackendKeyData(BackendKeyData),
    /// `2`.
    BindComplete,
    /// `3`.
    CloseComplete,
    /// `C`: a command finished.
    CommandComplete(CommandComplete),
    /// `d`: COPY OUT data.
    CopyData(Bytes),
    /// `c`: end of COPY OUT data.
    CopyDone,
    /// `G`: the server is ready for COPY FROM STDIN data.
    CopyInResponse(CopyResponse),
    /// `H`: COPY TO STDOUT data follows.
    CopyOutResponse(CopyResponse),
    /// `W`: streaming replication copy both ways.
    CopyBothResponse(CopyResponse),
    /// `D`: one row.
    DataRow(DataRow),
    /// `I`: the query string was empty.
    EmptyQueryResponse,
    /// `E`: an error (boxed: it is large and rare).
    ErrorResponse(Box<ErrorFields>),
    /// `N`: a notice (same fields as an error).
    NoticeResponse(Box<ErrorFields>),
    /// `V`: a function call result; `None` is NULL.
    FunctionCallResponse(Option<Bytes>),
    /// `v`: protocol version negotiation.
    NegotiateProtocolVersion(NegotiateProtocolVersion),
    /// `n`: the statement/portal returns no rows.
    NoData,
    /// `A`: a NOTIFY.
    NotificationResponse(Notification),
    /// `t`: parameter types of a statement.
    ParameterDescription(ParameterDescription),
    /// `S`: a run-time parameter's value.
    ParameterStatus(ParameterStatus),
    /// `1`.
    ParseComplete,
    /// `s`: Execute's row limit was reached.
    PortalSuspended,
    /// `Z`: ready for a new query, with the transaction status.
    ReadyForQuery(TransactionStatus),
    /// `T`: the columns of the rows that follow.
    RowDescription(RowDescription),
}

impl Message {
    /// Parses one message off the front of `buf` with the default size limit.
    ///
    /// `Ok(None)`: the message is incomplete and nothing was consumed (read more and call
    /// again). `Ok(Some)`: exactly one message was consumed. `Err`: the stream is corrupt; what
    /// was consumed is unspecified and the connection should be closed.
    pub fn parse(buf: &mut BytesMut) -> Result<Option<Message>, Error> {
        Message::parse_with_max(buf, DEFAULT_MAX_MESSAGE_LEN)
    }

    /// Like [`Message::parse`] with an explicit maximum message length.
    pub fn parse_with_max(buf: &mut BytesMut, max: usize) -> Result<Option<Message>, Error> {
        let Some(header) = Header::parse_with_max(buf, max)? else {
            return Ok(None);
        };
        if buf.len() < header.frame_len() {
            // Deliberately no `reserve(frame_len)`: a hostile length must not size an allocation.
            return Ok(None);
        }
        let mut frame = buf.split_to(header.frame_len()).freeze();
        frame.advance(5);
        Message::parse_body(header.tag, frame).map(Some)
    }

    /// Parses a body whose header was already read.
    pub fn parse_body(tag: u8, body: Bytes) -> Result<Message, Error> {
        let r = Reader::new(tag, body);
        let empty = |r: Reader, m: Message| r.finish().map(|()| m);
        Ok(match tag {
            tag::AUTHENTICATION => Message::Authentication(Authentication::parse(r)?),
            tag::BACKEND_KEY_DATA => Message::BackendKeyData(BackendKeyData::parse(r)?),
            tag::BIND_COMPLETE => empty(r, Message::BindComplete)?,
            tag::CLOSE_COMPLETE => empty(r, Message::CloseComplete)?,
            tag::COMMAND_COMPLETE => Message::CommandComplete(CommandComplete::parse(r)?),
            tag::COPY_DATA => {
                let mut r = r;
                Message::CopyData(r.rest())
            }
            tag::COPY_DONE => empty(r, Message::CopyDone)?,
            tag::COPY_IN_RESPONSE => Message::CopyInResponse(CopyResponse::parse(r)?),
            tag::COPY_OUT_RESPONSE => Message::CopyOutResponse(CopyResponse::parse(r)?),
            tag::COPY_BOTH_RESPONSE => Message::CopyBothResponse(CopyResponse::parse(r)?),
            tag::DATA_ROW => {
                let mut r = r;
                Message::DataRow(DataRow::parse(r.rest())?)
            }
            tag::EMPTY_QUERY_RESPONSE => empty(r, Message::EmptyQueryResponse)?,
            tag::ERROR_RESPONSE => Message::ErrorResponse(Box::new(ErrorFields::parse(r)?)),
            tag::NOTICE_RESPONSE => Message::NoticeResponse(Box::new(ErrorFields::parse(r)?)),
            tag::FUNCTION_CALL_RESPONSE => {
                Message::FunctionCallResponse(simple::function_call_response(r)?)
            }
            tag::NEGOTIATE_PROTOCOL_VERSION => {
                Message::NegotiateProtocolVersion(NegotiateProtocolVersion::parse(r)?)
            }
            tag::NO_DATA => empty(r, Message::NoData)?,
            tag::NOTIFICATION_RESPONSE => Message::NotificationResponse(Notification::parse(r)?),
            tag::PARAMETER_DESCRIPTION => {
                Message::ParameterDescription(ParameterDescription::parse(r)?)
            }
            tag::PARAMETER_STATUS => Message::ParameterStatus(ParameterStatus::parse(r)?),
            tag::PARSE_COMPLETE => empty(r, Message::ParseComplete)?,
            tag::PORTAL_SUSPENDED => empty(r, Message::PortalSuspended)?,
            tag::READY_FOR_QUERY => Message::ReadyForQuery(TransactionStatus::parse(r)?),
            tag::ROW_DESCRIPTION => Message::RowDescription(RowDescription::parse(r)?),
            other => return Err(Error::UnknownTag(char::from(other))),
        })
    }
}

#[cfg(test)]
mod tests;
