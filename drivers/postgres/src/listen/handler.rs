//! The registered connection's handler: parses backend messages as they arrive, hands
//! notifications to the inbox, matches `ReadyForQuery` to requests, and stops taking
//! notifications when the inbox is full.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;
use corelane_pg_proto::message::backend::{tag, Header, Message};
use corelane_runtime::session::Link;
use corelane_runtime::{CloseCause, Handler};

use super::shared::{unwant, Shared};
use super::Notification;
use crate::Error;

/// The largest backend message accepted on a listener connection. A NOTIFY payload is at
/// most 8000 bytes by default; errors and parameter statuses are small.
pub(crate) const MAX_MESSAGE: usize = 1024 * 1024;

/// A simple `Query` written and not yet answered with `ReadyForQuery` (its waiters are in
/// the [`Pending`](corelane_runtime::session::Pending) entry: a re-`LISTEN` carries the waiters of every request it covers).
pub(crate) struct Query {
    /// The channel of a `LISTEN` (forgotten if the server refuses it).
    pub(crate) listen: Option<String>,
    /// The first error the server sent for it.
    pub(crate) error: Option<Error>,
}

/// Worker-local state of one connection, shared by its handler and its connection task.
/// Borrows are never held across a call into the connection (closing runs `on_close`).
#[derive(Default)]
pub(crate) struct Local {
    /// Messages during startup and authentication, in order, for the connection task.
    startup: RefCell<VecDeque<Message>>,
    /// Queries written and not yet answered (entry before bytes), and the close.
    pub(crate) link: Link<Query, Error>,
    /// Startup is over: messages answer queries or are notifications.
    ready: Cell<bool>,
    /// `default_transaction_read_only` and `in_hot_standby` as reported during startup
    /// (for `target_session_attrs`).
    reported: Cell<(Option<bool>, Option<bool>)>,
}

impl Local {
    pub(crate) fn next_startup(&self) -> Option<Message> {
        self.startup.borrow_mut().pop_front()
    }

    /// `default_transaction_read_only` and `in_hot_standby` as reported during startup.
    pub(crate) fn reported_read_only(&self) -> (Option<bool>, Option<bool>) {
        self.reported.get()
    }

    pub(crate) fn set_ready(&self) {
        self.ready.set(true);
    }

    /// The server reported an error for the head query (its `ReadyForQuery` follows).
    fn fail_head(&self, shared: &Shared, error: Error) {
        let unsolicited = self.link.pending().with_front(|head| match head {
            Some(head) if head.detail.error.is_none() => {
                head.detail.error = Some(error);
                None
            }
            Some(_) => None,
            // Unsolicited (e.g. the FATAL sent before `pg_terminate_backend` closes us).
            None => Some(error),
        });
        if let Some(error) = unsolicited {
            shared.status().set_error(error);
        }
    }

    /// `ReadyForQuery`: the head query is answered.
    fn complete_head(&self, shared: &Shared) -> Result<(), CloseCause> {
        let Some(head) = self.link.pending().pop_front() else {
            return Err(CloseCause::protocol(
                "ReadyForQuery while no query was waiting",
            ));
        };
        match head.detail.error.clone() {
            None => head.succeed(),
            Some(error) => {
                if let Some(channel) = &head.detail.listen {
                    unwant(shared, channel);
                }
                shared.status().set_error(error.clone());
                head.fail(&error);
            }
        }
        Ok(())
    }
}

/// How many notifications `on_recv` parses before handing its batch to the inbox, so one
/// lock and one consumer wake serve many without holding a big batch.
const DELIVER_EVERY: usize = 64;

pub(crate) struct ListenHandler {
    shared: Arc<Shared>,
    local: Rc<Local>,
    batch: Vec<Notification>,
}

impl ListenHandler {
    pub(crate) fn new(shared: Arc<Shared>, local: Rc<Local>) -> Self {
        ListenHandler {
            shared,
            local,
            batch: Vec::new(),
        }
    }

    fn decode(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        let mut room = self.shared.inbox().room();
        loop {
            let header = match Header::parse_with_max(input, MAX_MESSAGE) {
                Ok(Some(header)) => header,
                Ok(None) => return Ok(()),
                Err(e) => return Err(CloseCause::protocol(e)),
            };
            if header.tag() == tag::NOTIFICATION_RESPONSE && self.local.ready.get() && room == 0 {
                match self.shared.make_room(&mut self.batch) {
                    Some(now) => room = now,
                    // Backpressure: leave the rest in the input buffer; the connection task
                    // stops the reads until the consumer has drained half the inbox.
                    None => return Ok(()),
                }
            }
            let message = match Message::parse_with_max(input, MAX_MESSAGE) {
                Ok(Some(message)) => message,
                Ok(None) => return Ok(()),
                Err(e) => return Err(CloseCause::protocol(e)),
            };
            if !self.local.ready.get() {
                match message {
                    Message::NoticeResponse(_) => {}
                    Message::ParameterStatus(p) => {
                        let (mut read_only, mut standby) = self.local.reported.get();
                        match &*p.name {
                            "default_transaction_read_only" => read_only = Some(&*p.value == "on"),
                            "in_hot_standby" => standby = Some(&*p.value == "on"),
                            _ => {}
                        }
                        self.local.reported.set((read_only, standby));
                    }
                    other => {
                        self.local.startup.borrow_mut().push_back(other);
                        self.shared.wake_task_local();
                    }
                }
                continue;
            }
            match message {
                Message::NotificationResponse(n) => {
                    self.batch.push(Notification {
                        channel: n.channel.as_str().to_owned(),
                        payload: n.payload.as_str().to_owned(),
                        process_id: n.process_id,
                    });
                    room = room.saturating_sub(1);
                    if self.batch.len() >= DELIVER_EVERY {
                        room = self.shared.inbox().deliver(&mut self.batch);
                    }
                }
                Message::ErrorResponse(e) => self.local.fail_head(&self.shared, Error::db(e)),
                Message::ReadyForQuery(_) => self.local.complete_head(&self.shared)?,
                Message::CommandComplete(_)
                | Message::EmptyQueryResponse
                | Message::NoticeResponse(_)
                | Message::ParameterStatus(_) => {}
                _ => {
                    return Err(CloseCause::protocol(
                        "unexpected message on a LISTEN connection",
                    ))
                }
            }
        }
    }
}

impl Handler for ListenHandler {
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        let result = self.decode(input);
        // Notifications parsed before a protocol error are genuine: deliver them too.
        let _room = self.shared.inbox().deliver(&mut self.batch);
        result
    }

    fn on_close(&mut self, cause: &CloseCause) {
        self.local.link.on_close(cause, &self.shared);
    }
}
