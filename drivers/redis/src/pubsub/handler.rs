//! The registered connection's handler: decodes RESP as it arrives, hands messages to the
//! inbox, matches confirmations to requests, and stops taking messages when the inbox is full.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use corelane_redis_proto::{Decoder, Value};
use corelane_runtime::{CloseCause, Handler};

use super::message::{classify, Action, Event, Message, SubKind};
use super::shared::{Shared, Waiter};
use crate::Error;

/// A (un)subscribe command written and not yet fully confirmed. The server confirms each name
/// of a command with its own frame, in command order, so the head of the FIFO owns the next
/// confirmation of its kind.
pub(crate) struct Pending {
    pub(crate) action: Action,
    pub(crate) names: Vec<Bytes>,
    pub(crate) remaining: usize,
    /// Completed when the last confirmation arrives. A resubscribe carries the waiters of
    /// every request it covers.
    pub(crate) waiters: Vec<Waiter>,
}

/// Worker-local state of one connection, shared by its handler and its connection task.
/// Borrows are never held across a call into the connection (closing runs `on_close`).
#[derive(Default)]
pub(crate) struct Local {
    /// Replies to handshake commands, in order.
    replies: RefCell<VecDeque<Value>>,
    pending: RefCell<VecDeque<Pending>>,
    closed: RefCell<Option<CloseCause>>,
    /// The handshake is over: plain replies are no longer expected (errors still are: a
    /// refused subscribe).
    handshaken: Cell<bool>,
}

impl Local {
    pub(crate) fn next_reply(&self) -> Option<Value> {
        self.replies.borrow_mut().pop_front()
    }

    pub(crate) fn closed(&self) -> Option<CloseCause> {
        self.closed.borrow().clone()
    }

    pub(crate) fn set_handshaken(&self) {
        self.handshaken.set(true);
    }

    pub(crate) fn push_pending(&self, pending: Pending) {
        self.pending.borrow_mut().push_back(pending);
    }

    /// Removes the newest pending command (its write was refused).
    pub(crate) fn pop_newest(&self) -> Option<Pending> {
        self.pending.borrow_mut().pop_back()
    }

    /// Everything still unconfirmed (the connection is gone).
    pub(crate) fn take_pending(&self) -> VecDeque<Pending> {
        std::mem::take(&mut *self.pending.borrow_mut())
    }

    /// One confirmation of `action` (for `name`) arrived.
    fn confirm(&self, shared: &Shared, action: Action, name: Option<Bytes>) {
        let finished = {
            let mut pending = self.pending.borrow_mut();
            match pending.front_mut() {
                Some(head) if head.action == action => {
                    head.remaining = head.remaining.saturating_sub(1);
                    if head.remaining == 0 {
                        pending.pop_front()
                    } else {
                        None
                    }
                }
                // Unsolicited (a cluster node dropping shard subscriptions when a slot moves):
                // nothing waits for it. The channel is no longer subscribed, so it is no
                // longer listed as wanted either (a reconnection would only be refused with
                // MOVED); the cluster subscriber sees it gone and subscribes it elsewhere.
                _ => {
                    if !action.subscribe && action.kind == SubKind::Shard {
                        if let Some(name) = name {
                            shared.unwant(SubKind::Shard, &[name]);
                        }
                    }
                    None
                }
            }
        };
        if let Some(done) = finished {
            done.waiters.into_iter().for_each(Waiter::succeed);
        }
    }

    /// The server refused the head command (ACL, unknown command, …).
    fn refuse(&self, shared: &Shared, error: Error) {
        let head = self.pending.borrow_mut().pop_front();
        if let Some(head) = head {
            if head.action.subscribe {
                shared.unwant(head.action.kind, &head.names);
            }
            for waiter in head.waiters {
                let _ = waiter.done.send(Err(error.clone()));
            }
        }
        shared.set_error(error);
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
        let mut room = self.shared.room();
        loop {
            if room == 0 {
                room = self.shared.deliver(&mut self.batch);
                if room == 0 {
                    if input.is_empty() {
                        return Ok(());
                    }
                    if self.shared.pause_if_full() {
                        // Backpressure: leave the rest in the input buffer; the connection
                        // task stops the reads until the consumer has drained half the inbox.
                        self.shared.wake_task_local();
                        return Ok(());
                    }
                    // The consumer made room meanwhile.
                    room = self.shared.room();
                    continue;
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
                        room = self.shared.deliver(&mut self.batch);
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
        let _room = self.shared.deliver(&mut self.batch);
        result
    }

    fn on_close(&mut self, cause: &CloseCause) {
        *self.local.closed.borrow_mut() = Some(cause.clone());
        self.shared.wake_task_local();
    }
}
