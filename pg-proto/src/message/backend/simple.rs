//! The small backend messages: key data, statuses, command tags, COPY and notifications.

use std::fmt;

use super::reader::{BytesStr, Reader};
use crate::error::Error;
use crate::message::frontend::Format;
use crate::types::Oid;

/// BackendKeyData: the key for CancelRequest. The secret is redacted from `Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BackendKeyData {
    /// Backend process id.
    pub process_id: i32,
    /// Secret key (keep it secret: anyone holding it can cancel this session's queries).
    pub secret_key: i32,
}

impl fmt::Debug for BackendKeyData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendKeyData")
            .field("process_id", &self.process_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl BackendKeyData {
    pub(crate) fn parse(mut r: Reader) -> Result<Self, Error> {
        let process_id = r.i32("process id")?;
        let secret_key = r.i32("secret key")?;
        r.finish()?;
        Ok(BackendKeyData {
            process_id,
            secret_key,
        })
    }
}

/// CommandComplete: the command tag, e.g. `INSERT 0 5`, `SELECT 3`, `BEGIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandComplete {
    /// The tag.
    pub tag: BytesStr,
}

impl CommandComplete {
    pub(crate) fn parse(mut r: Reader) -> Result<Self, Error> {
        let tag = r.cstr("command tag")?;
        r.finish()?;
        Ok(CommandComplete { tag })
    }

    /// The row count at the end of the tag (`INSERT 0 5` → 5), if the tag has one.
    pub fn rows(&self) -> Option<u64> {
        let (_, last) = self.tag.rsplit_once(' ')?;
        last.parse().ok()
    }
}

/// Transaction status reported by ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransactionStatus {
    /// `I`: idle, not in a transaction block.
    Idle,
    /// `T`: in a transaction block.
    InTransaction,
    /// `E`: in a failed transaction block (queries rejected until rollback).
    Failed,
}

impl TransactionStatus {
    pub(crate) fn parse(mut r: Reader) -> Result<Self, Error> {
        let s = match r.u8("transaction status")? {
            b'I' => TransactionStatus::Idle,
            b'T' => TransactionStatus::InTransaction,
            b'E' => TransactionStatus::Failed,
            _ => return Err(r.invalid("transaction status")),
        };
        r.finish()?;
        Ok(s)
    }
}

/// CopyInResponse, CopyOutResponse or CopyBothResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResponse {
    /// Overall format: text or binary.
    pub format: Format,
    /// Per-column formats (all text when `format` is text).
    pub column_formats: Vec<Format>,
}

fn format(r: &Reader, code: i16) -> Result<Format, Error> {
    match code {
        0 => Ok(Format::Text),
        1 => Ok(Format::Binary),
        _ => Err(r.invalid("format code")),
    }
}

impl CopyResponse {
    pub(crate) fn parse(mut r: Reader) -> Result<Self, Error> {
        let overall = match r.u8("copy format")? {
            0 => Format::Text,
            1 => Format::Binary,
            _ => return Err(r.invalid("copy format")),
        };
        let n = r.count("column count", 2)?;
        let mut column_formats = Vec::with_capacity(n);
        for _ in 0..n {
            let code = r.i16("column format")?;
            column_formats.push(format(&r, code)?);
        }
        r.finish()?;
        Ok(CopyResponse {
            format: overall,
            column_formats,
        })
    }
}

/// NotificationResponse: a NOTIFY delivered to this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Process id of the notifying backend.
    pub process_id: i32,
    /// Channel name.
    pub channel: BytesStr,
    /// Payload (empty if none).
    pub payload: BytesStr,
}

impl Notification {
    pub(crate) fn parse(mut r: Reader) -> Result<Self, Error> {
        let process_id = r.i32("process id")?;
        let channel = r.cstr("channel")?;
        let payload = r.cstr("payload")?;
        r.finish()?;
        Ok(Notification {
            process_id,
            channel,
            payload,
        })
    }
}

/// ParameterStatus: a run-time parameter's current value (`server_version`, `TimeZone`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterStatus {
    /// Parameter name.
    pub name: BytesStr,
    /// Current value.
    pub value: BytesStr,
}

impl ParameterStatus {
    pub(crate) fn parse(mut r: Reader) -> Result<Self, Error> {
        let name = r.cstr("parameter name")?;
        let value = r.cstr("parameter value")?;
        r.finish()?;
        Ok(ParameterStatus { name, value })
    }
}

/// ParameterDescription: the types of a statement's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterDescription {
    /// Parameter type OIDs, in order.
    pub types: Vec<Oid>,
}

impl ParameterDescription {
    pub(crate) fn parse(mut r: Reader) -> Result<Self, Error> {
        // PostgreSQL sends the count as Int16 but allows up to 65535 parameters; read unsigned.
        let n = usize::from(r.i16("parameter count")? as u16);
        if n.saturating_mul(4) > r.remaining() {
            return Err(r.short("parameter types"));
        }
        let mut types = Vec::with_capacity(n);
        for _ in 0..n {
            types.push(r.u32("parameter type")?);
        }
        r.finish()?;
        Ok(ParameterDescription { types })
    }
}

/// NegotiateProtocolVersion: the server supports an older minor version or lacks options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateProtocolVersion {
    /// Newest minor protocol version the server supports.
    pub newest_minor: i32,
    /// Protocol options (`_pq_.*`) the server did not recognize.
    pub unrecognized: Vec<BytesStr>,
}

impl NegotiateProtocolVersion {
    pub(crate) fn parse(mut r: Reader) -> Result<Self, Error> {
        let newest_minor = r.i32("newest minor version")?;
        let n = r.i32("option count")?;
        let n = usize::try_from(n).map_err(|_| r.invalid("option count"))?;
        if n > r.remaining() {
            return Err(r.short("option names"));
        }
        let mut unrecognized = Vec::with_capacity(n);
        for _ in 0..n {
            unrecognized.push(r.cstr("option name")?);
        }
        r.finish()?;
        Ok(NegotiateProtocolVersion {
            newest_minor,
            unrecognized,
        })
    }
}

/// FunctionCallResponse: the result of a (legacy) function call; `None` is NULL.
pub(crate) fn function_call_response(mut r: Reader) -> Result<Option<bytes::Bytes>, Error> {
    let len = r.i32("result length")?;
    let value = if len == -1 {
        None
    } else {
        let len = usize::try_from(len).map_err(|_| r.invalid("result length"))?;
        Some(r.bytes(len, "result value")?)
    };
    r.finish()?;
    Ok(value)
}
