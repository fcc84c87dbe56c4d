//! What a listener plugs into the runtime's session toolkit ([`corelane_runtime::session`]):
//! its message and error types, and what `LISTEN`/`UNLISTEN` mean for the wanted channels.

use std::collections::BTreeSet;

use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::session::{self, Spec, Wanted};
use corelane_runtime::CloseCause;

use super::Notification;
use crate::Error;

/// A listener's session: notifications, channels, the driver's error.
pub(crate) struct Listen;

impl Spec for Listen {
    type Message = Notification;
    type Wanted = Channels;
    type Error = Error;

    fn closed_error(cause: CloseCause) -> Error {
        Error::from(RequestError::Closed(cause))
    }

    fn ended_error() -> Error {
        Error::worker_closed()
    }
}

/// The state shared by the [`Listener`](super::Listener) and its connection task.
pub(crate) type Shared = session::Shared<Listen>;
/// Someone waiting for a `LISTEN`/`UNLISTEN`.
pub(crate) type Waiter = session::Waiter<Error>;

/// What one request asks of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Listen(String),
    Unlisten(String),
    UnlistenAll,
}

/// The channels listened to (or to be, on the next connection).
#[derive(Debug, Clone, Default)]
pub(crate) struct Channels(pub(crate) BTreeSet<String>);

impl Wanted for Channels {
    type Request = Action;

    fn apply(&mut self, action: Action) -> Option<Action> {
        match &action {
            Action::Listen(channel) => {
                self.0.insert(channel.clone());
            }
            Action::Unlisten(channel) => {
                self.0.remove(channel);
            }
            Action::UnlistenAll => self.0.clear(),
        }
        // Always sent, even when the set did not change: the future then resolves only once
        // the server has confirmed (an earlier identical request may be in flight).
        Some(action)
    }

    fn subscribes(action: &Action) -> bool {
        matches!(action, Action::Listen(_))
    }

    fn resubscribe(&self) -> Vec<Action> {
        self.0.iter().cloned().map(Action::Listen).collect()
    }
}

/// The server refused a `LISTEN`: stop asking for that channel.
pub(crate) fn unwant(shared: &Shared, channel: &str) {
    shared.with_wanted(|wanted| wanted.0.remove(channel));
}
