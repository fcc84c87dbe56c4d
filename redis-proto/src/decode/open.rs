//! An aggregate whose header has been read and whose elements are still arriving.

use crate::Value;

/// Which aggregate is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Array,
    Set,
    Push,
    Map,
    Attribute,
}

/// The elements received so far.
#[derive(Debug)]
enum Items {
    List(Vec<Value>),
    Pairs {
        pairs: Vec<(Value, Value)>,
        key: Option<Value>,
    },
    /// An attribute: its elements are decoded and dropped.
    Discard,
}

/// One level of the decoder's resume stack.
#[derive(Debug)]
pub(super) struct Open {
    kind: Kind,
    /// Elements still expected (a map's pair counts as two).
    remaining: usize,
    items: Items,
}

/// Smallest encoding of one element (`_\r\n`): preallocation never exceeds what the bytes
/// already received could hold.
const MIN_ELEMENT_LEN: usize = 3;

impl Open {
    /// Opens an aggregate expecting `count` elements (pairs for maps and attributes, already
    /// doubled by the caller into `elements`). `available` is the number of bytes received
    /// after the header: the preallocation is `min(count, available / MIN_ELEMENT_LEN)`, so a
    /// peer claiming a huge count gets no memory it has not sent bytes for.
    pub(super) fn new(kind: Kind, elements: usize, available: usize) -> Self {
        let items = match kind {
            Kind::Array | Kind::Set | Kind::Push => Items::List(Vec::with_capacity(
                elements.min(available / MIN_ELEMENT_LEN),
            )),
            Kind::Map => Items::Pairs {
                pairs: Vec::with_capacity((elements / 2).min(available / (2 * MIN_ELEMENT_LEN))),
                key: None,
            },
            Kind::Attribute => Items::Discard,
        };
        Self {
            kind,
            remaining: elements,
            items,
        }
    }

    /// Adds one element; returns true when the aggregate is now complete.
    pub(super) fn push(&mut self, value: Value) -> bool {
        match &mut self.items {
            Items::List(list) => list.push(value),
            Items::Pairs { pairs, key } => match key.take() {
                Some(k) => pairs.push((k, value)),
                None => *key = Some(value),
            },
            Items::Discard => {}
        }
        self.remaining = self.remaining.saturating_sub(1);
        self.remaining == 0
    }

    /// The finished value; `None` for an attribute, which the decoder drops.
    pub(super) fn finish(self) -> Option<Value> {
        match (self.kind, self.items) {
            (Kind::Array, Items::List(v)) => Some(Value::Array(v)),
            (Kind::Set, Items::List(v)) => Some(Value::Set(v)),
            (Kind::Push, Items::List(v)) => Some(Value::Push(v)),
            (Kind::Map, Items::Pairs { pairs, .. }) => Some(Value::Map(pairs)),
            _ => None,
        }
    }

    /// Capacity of the element buffer (for the allocation tests).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        match &self.items {
            Items::List(v) => v.capacity(),
            Items::Pairs { pairs, .. } => pairs.capacity(),
            Items::Discard => 0,
        }
    }
}
