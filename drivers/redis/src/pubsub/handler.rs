//! The registered connection's handler: decodes RESP as it arrives, hands messages to the
//! inbox, matches confirmations to requests, and stops taking messages when the inbox is full.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use corelane_redis_proto::{Decoder, Value};
use corelane_runtime::session::Link;
use corelane_runtime::{CloseCause, Handler};

use super::message::{classify, Action, Event, Message, SubKind};
use super::shared::Shared;
use crate::Error;

/// A (un)subscribe command written and not yet fully confirmed. The server confirms each name
/// of a command with its own frame, in command order, so the head of the FIFO owns the next
/// confirmation of its kind. Its waiters are in the
/// [`Pending`](corelane_runtime::session::Pending) entry: a resubscribe carries
/// the waiters of every request it covers.
pub(crate) struct Command {
    pub(crate) action: Action,
    pub(crate) names: Vec<Bytes>,
    pub(crate) remaining: usize,
}

/// Worker-local state of one connection, shared by its handler and its connection task.
/// Borrows are never held across a call into the connection (closing runs `on_close`).
#[derive(Default)]
pub(crate) struct Local {
    /// Replies to handshake commands, in order.
    replies: RefCell<VecDeque<Value>>,
    /// Commands written and not yet confirmed (entry before bytes), and the close.
    pub(crate) link: Link<Command, Error>,
    /// The handshake is over: plain replies are no longer expected (errors still are: a
    /// refused subscribe).
    handshaken: Cell<bool>,
}

impl Local {
    pub(crate) fn next_reply(&self) -> Option<Value> {
        self.replies.borrow_mut().pop_front()
    }

    pub(crate) fn set_handshaken(&self) {
        self.handshaken.set(true);
    }

    /// One confirmation of `action` (for `name`) arrived.
    fn confirm(&self, shared: &Shared, action: Action, name: Option<Bytes>) {
        let head_done = self.link.pending().with_front(|head| match head {
            Some(head) if head.detail.action == action => {
                head.detail.remaining = head.detail.remaining.saturating_sub(1);
                Some(head.detail.remaining == 0)
            }
            _ => None,
        });
        match head_done {
            Some(true) => {
                if let Some(done) = self.link.pending().pop_front() {
                    done.succeed();
                }
            }
            Some(false) => {}
            // Unsolicited (a cluster node dropping shard subscriptions when a slot moves):
            // nothing waits for it. The channel is no longer subscribed, so it is no longer
            // listed as wanted either (a reconnection would only be refused with MOVED); the
            // cluster subscriber sees it gone and subscribes it elsewhere.
            None => {
                if !action.subscribe && action.kind == SubKind::Shard {
                    if let Some(name) = name {
                        shared.with_wanted(|w| w.unwant(SubKind::Shard, &[name]));
                    }
                }
            }
        }
    }

    /// The server refused the head command (ACL, unknown command, …).
    fn refuse(&self, shared: &Shared, error: Error) {
        if let Some(head) = self.link.pending().pop_front() {
            if head.detail.action.subscribe {
                let Command { action, names, .. } = &head.detail;
                shared.with_wanted(|w| w.unwant(action.kind, names));
            }
            head.fail(&error);
        }
        shared.status().set_error(error);
    }
}

/// How many frames `on_recv` decodes before handing its batch of messages to the inbox, so
/// one lock and one consumer wake serve many messages without holding a big batch.
const DELIVER_EVERY: usize = 64;

pub(crate) struct PubSubHandler {
    decoder: Decoder,
    shared: Arc<Shared>,
    local: Rc<Local>,
    batch: Vec<Message>,
}

impl PubSubHandler {
    pub(crate) fn new(shared: Arc<Shared>, local: Rc<Local>) -> Self {
        PubSubHandler {
            decoder: Decoder::new(),
            shared,
            local,
            batch: Vec::new(),
        }
    }

    fn decode(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        let mut room = self.shared.inbox().room();
        loop {
            if room == 0 {
                if input.is_empty() {
                    // Nothing left to read: `on_recv` delivers the batch.
                    return Ok(());
                }
                match self.shared.make_room(&mut self.batch) {
                    Some(now) => room = now,
                    // Backpressure: leave the rest in the input buffer; the connection task
                    // stops the reads until the consumer has drained half the inbox.
                    None => return Ok(()),
                }
            }
            let frame = match self.decoder.decode(input) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(e) => return Err(CloseCause::protocol(e)),
            };
            match classify(frame)? {
                Event::Message(message) => {
                    self.batch.push(message);
                    room -= 1;
                    if self.batch.len() >= DELIVER_EVERY {
                        room = self.shared.inbox().deliver(&mut self.batch);
                    }
                }
                Event::Confirm(action, name) => self.local.confirm(&self.shared, action, name),
                Event::Ignore => {}
                Event::Reply(Value::Error(e) | Value::BlobError(e))
                    if self.local.handshaken.get() =>
                {
                    self.local.refuse(&self.shared, Error::server(e));
                }
                Event::Reply(value) => {
                    if !self.local.handshaken.get() {
                        self.local.replies.borrow_mut().push_back(value);
                        self.shared.wake_task_local();
                    }
                    // After the handshake a plain reply answers nothing we sent: dropped.
                }
            }
        }
    }
}

impl Handler for PubSubHandler {
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        let result = self.decode(input);
        // Messages decoded before a protocol error are genuine: deliver them too.
        let _room = self.shared.inbox().deliver(&mut self.batch);
        result
    }

    fn on_close(&mut self, cause: &CloseCause) {
        self.local.link.on_close(cause, &self.shared);
    }
}
