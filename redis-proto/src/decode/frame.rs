//! A complete top-level frame.

use crate::Value;

/// One complete top-level frame: a reply to a request, or an out-of-band push.
///
/// RESP3 pushes (`>`: pub/sub messages, client-tracking invalidations, …) can arrive between
/// replies; a driver routes them away from its queue of pending requests. Under RESP2, pub/sub
/// messages are ordinary arrays and arrive as `Reply`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Frame {
    /// A reply (any type but push) to the oldest pending request.
    Reply(Value),
    /// A top-level push frame's elements (usually the kind first, e.g. `message`, `invalidate`).
    Push(Vec<Value>),
}

impl Frame {
    /// True for a push.
    pub fn is_push(&self) -> bool {
        matches!(self, Frame::Push(_))
    }

    /// The frame as a value (a push becomes `Value::Push`).
    pub fn into_value(self) -> Value {
        match self {
            Frame::Reply(v) => v,
            Frame::Push(items) => Value::Push(items),
        }
    }

    pub(super) fn from_value(value: Value) -> Self {
        match value {
            Value::Push(items) => Frame::Push(items),
            other => Frame::Reply(other),
        }
    }
}
