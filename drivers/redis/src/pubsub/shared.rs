//! What a subscriber plugs into the runtime's session toolkit ([`corelane_runtime::session`]):
//! its message and error types, and what a (un)subscribe means for the wanted names of its
//! three kinds.

use std::collections::BTreeSet;

use bytes::Bytes;
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::session::{self, Spec, Wanted};
use corelane_runtime::CloseCause;

use super::message::{Action, Message, SubKind};
use crate::Error;

/// Names per command when resubscribing, so a subscriber with very many channels sends
/// several moderate commands rather than one huge one.
const RESUBSCRIBE_CHUNK: usize = 512;

/// A subscriber's session: pub/sub messages, subscriptions, the driver's error.
pub(crate) struct PubSub;

impl Spec for PubSub {
    type Message = Message;
    type Wanted = Subscriptions;
    type Error = Error;

    fn closed_error(cause: CloseCause) -> Error {
        Error::from(RequestError::Closed(cause))
    }

    fn ended_error() -> Error {
        Error::worker_closed()
    }
}

/// The state shared by the [`Subscriber`](super::Subscriber) and its connection task.
pub(crate) type Shared = session::Shared<PubSub>;
/// Someone waiting for an (un)subscribe.
pub(crate) type Waiter = session::Waiter<Error>;

/// One (un)subscribe command: `names` empty on an unsubscribe means every name of that kind.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) action: Action,
    pub(crate) names: Vec<Bytes>,
}

/// What is subscribed (or will be on the next connection), per kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subscriptions {
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shards: BTreeSet<Bytes>,
}

impl Subscriptions {
    fn of(&mut self, kind: SubKind) -> &mut BTreeSet<Bytes> {
        match kind {
            SubKind::Channel => &mut self.channels,
            SubKind::Pattern => &mut self.patterns,
            SubKind::Shard => &mut self.shards,
        }
    }

    /// The subscribed names of `kind`.
    pub(crate) fn list(&mut self, kind: SubKind) -> Vec<Bytes> {
        self.of(kind).iter().cloned().collect()
    }

    /// The server refused a subscribe (or dropped a shard subscription): stop asking for
    /// those names.
    pub(crate) fn unwant(&mut self, kind: SubKind, names: &[Bytes]) {
        let wanted = self.of(kind);
        for name in names {
            wanted.remove(name);
        }
    }
}

impl Wanted for Subscriptions {
    type Request = Request;

    fn apply(&mut self, request: Request) -> Option<Request> {
        let Request { action, names } = request;
        let wanted = self.of(action.kind);
        let names = if action.subscribe {
            wanted.extend(names.iter().cloned());
            names
        } else if names.is_empty() {
            std::mem::take(wanted).into_iter().collect()
        } else {
            for name in &names {
                wanted.remove(name);
            }
            names
        };
        // An unsubscribe-all of nothing: nothing to send.
        (!names.is_empty()).then_some(Request { action, names })
    }

    fn subscribes(request: &Request) -> bool {
        request.action.subscribe
    }

    fn resubscribe(&self) -> Vec<Request> {
        let mut commands = Vec::new();
        for (kind, wanted) in [
            (SubKind::Channel, &self.channels),
            (SubKind::Pattern, &self.patterns),
            (SubKind::Shard, &self.shards),
        ] {
            let action = Action {
                subscribe: true,
                kind,
            };
            let mut names = wanted.iter().cloned().peekable();
            while names.peek().is_some() {
                let names = names.by_ref().take(RESUBSCRIBE_CHUNK).collect();
                commands.push(Request { action, names });
            }
        }
        commands
    }
}

/// The error of a request made on a dropped subscriber.
pub(crate) fn subscriber_closed() -> Error {
    PubSub::closed_error(CloseCause::Unregistered)
}
