//! A batch of requests built by the caller, then sent with [`Pipe::run`](super::Pipe::run).

use std::rc::Rc;

use bytes::BytesMut;

use super::slots::Slots;
use super::{Codec, RequestError};

/// Requests to send together, and afterwards their replies, slot `k` for request `k`.
///
/// Build it with [`push`](Batch::push), send it with [`Pipe::run`](super::Pipe::run), then read
/// the replies with [`take`](Batch::take) or [`take_all`](Batch::take_all). Running empties the
/// requests; [`clear`](Batch::clear) and push again to reuse the buffers, which is how a hot loop
/// runs batches without allocating.
///
/// A request the server does not answer (memcached's `noreply`, a fire-and-forget message) is
/// added with [`push_no_reply`](Batch::push_no_reply): its bytes go out in their place among
/// the others, but it has no reply slot. Reply slots are numbered over the requests that
/// expect a reply, in push order.
pub struct Batch<C: Codec> {
    pub(crate) expects: Vec<C::Expect>,
    pub(crate) bytes: BytesMut,
    pub(crate) slots: Rc<Slots<C::Reply>>,
}

impl<C: Codec> Default for Batch<C> {
    fn default() -> Self {
        Batch {
            expects: Vec::new(),
            bytes: BytesMut::new(),
            slots: Slots::new(),
        }
    }
}

impl<C: Codec> std::fmt::Debug for Batch<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("requests", &self.expects.len())
            .field("bytes", &self.bytes.len())
            .field("replies", &self.slots.len())
            .finish()
    }
}

impl<C: Codec> Batch<C> {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `requests` requests and `bytes` encoded bytes.
    pub fn with_capacity(requests: usize, bytes: usize) -> Self {
        Batch {
            expects: Vec::with_capacity(requests),
            bytes: BytesMut::with_capacity(bytes),
            slots: Slots::new(),
        }
    }

    /// Adds one request: `encode` appends its bytes, `expect` describes its reply.
    pub fn push(&mut self, expect: C::Expect, encode: impl FnOnce(&mut BytesMut)) {
        // All or nothing: a panicking encoder must not leave bytes without an entry.
        crate::conn::append_whole(&mut self.bytes, encode);
        self.expects.push(expect);
    }

    /// Adds one request the server sends no reply to: its bytes go out between those of the
    /// requests pushed before and after it, and it takes no reply slot and no bridge-queue
    /// entry, so the replies around it stay matched to their own requests. A batch of only
    /// such requests completes as soon as its bytes are queued for writing.
    ///
    /// Only for requests that truly get no reply: a reply the server sends anyway would be
    /// taken for the next request's (the codec's reply check, or its `unsolicited`, is then
    /// the only guard).
    pub fn push_no_reply(&mut self, encode: impl FnOnce(&mut BytesMut)) {
        crate::conn::append_whole(&mut self.bytes, encode);
    }

    /// Adds one request whose bytes are already encoded.
    pub fn push_bytes(&mut self, expect: C::Expect, bytes: &[u8]) {
        self.push(expect, |buf| buf.extend_from_slice(bytes));
    }

    /// Requests pushed and not yet sent that expect a reply (those added with
    /// [`push_no_reply`](Self::push_no_reply) are not counted).
    pub fn len(&self) -> usize {
        self.expects.len()
    }

    /// True when nothing is waiting to be sent (no request, with or without a reply).
    pub fn is_empty(&self) -> bool {
        self.expects.is_empty() && self.bytes.is_empty()
    }

    /// How many reply slots the last run left (taken or not).
    pub fn replies(&self) -> usize {
        self.slots.len()
    }

    /// Takes the reply of request `k` of the last run. `None` when already taken or out of range.
    pub fn take(&mut self, k: usize) -> Option<Result<C::Reply, RequestError>> {
        self.slots.take(k)
    }

    /// Takes every reply of the last run, in request order.
    pub fn take_all(&mut self) -> Vec<Result<C::Reply, RequestError>> {
        self.slots.take_all()
    }

    /// Drops unsent requests and the last run's replies, keeping the buffers.
    pub fn clear(&mut self) {
        self.expects.clear();
        self.bytes.clear();
        if Rc::strong_count(&self.slots) == 1 {
            self.slots.reset(0);
        } else {
            self.slots = Slots::new();
        }
    }
}
