//! What a call sends, and how its replies become one value.

use bytes::BytesMut;
use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::roundtrip::{Batch, RequestError};
use corelane_runtime::SpareBuf;

use crate::codec::RespCodec;
use crate::Error;

/// One call's request: a command, or a pipeline (optionally wrapped in MULTI/EXEC).
#[derive(Debug, Clone)]
pub(crate) enum Request {
    One(Cmd),
    Many {
        /// Every command's bytes, back to back (with MULTI/EXEC when atomic).
        bytes: SpareBuf,
        /// Replies to read: one per command (+2 when atomic).
        replies: usize,
        atomic: bool,
    },
}

impl Request {
    /// The number of commands of a pipeline (`None` for one command).
    pub(crate) fn pipeline_size(&self) -> Option<usize> {
        match self {
            Request::One(_) => None,
            Request::Many {
                replies, atomic, ..
            } => Some(replies.saturating_sub(if *atomic { 2 } else { 0 })),
        }
    }

    /// Puts the request into `batch`: one entry per reply.
    pub(crate) fn fill(&self, batch: &mut Batch<RespCodec>) {
        match self {
            Request::One(cmd) => batch.push((), |buf: &mut BytesMut| cmd.write_to(buf)),
            // An empty pipeline sends nothing and waits for nothing.
            Request::Many { replies: 0, .. } => {}
            Request::Many { bytes, replies, .. } => {
                batch.push((), |buf| buf.extend_from_slice(bytes));
                for _ in 1..*replies {
                    batch.push((), |_| {});
                }
            }
        }
    }

    /// The call's value from the batch's slots: the reply of a single command, an array of a
    /// pipeline's replies (server errors stay values inside it), or the `EXEC` reply of an
    /// atomic pipeline (nil: a watched key changed).
    pub(crate) fn assemble(&self, batch: &mut Batch<RespCodec>) -> Result<Value, Error> {
        match self {
            Request::One(_) => take(batch, 0),
            Request::Many {
                replies,
                atomic: false,
                ..
            } => {
                // Sized once: collecting `Result`s would grow the vector step by step.
                let mut values = Vec::with_capacity(*replies);
                for k in 0..*replies {
                    values.push(take(batch, k)?);
                }
                Ok(Value::Array(values))
            }
            Request::Many {
                replies,
                atomic: true,
                ..
            } => {
                // MULTI's OK and each QUEUED: a queuing error makes EXEC fail with EXECABORT,
                // which is the error to report, so only transport errors matter here.
                for k in 0..replies.saturating_sub(1) {
                    take(batch, k)?;
                }
                match take(batch, replies.saturating_sub(1))? {
                    Value::Null(_) => Err(Error::exec_aborted()),
                    exec => Ok(exec),
                }
            }
        }
    }
}

fn take(batch: &mut Batch<RespCodec>, k: usize) -> Result<Value, Error> {
    match batch.take(k) {
        Some(reply) => reply.map_err(Error::from),
        None => Err(RequestError::WorkerClosed.into()),
    }
}
