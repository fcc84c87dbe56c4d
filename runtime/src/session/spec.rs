//! What a driver plugs into a session: its types, and the meaning of a request.

use crate::CloseCause;

/// A driver's kind of session: the messages it streams, the names it keeps wanted, its error.
pub trait Spec: 'static {
    /// A pushed message (a pub/sub message, a notification).
    type Message: Send + 'static;
    /// The set of wanted names and the requests that change it.
    type Wanted: Wanted;
    /// The driver's error type.
    type Error: Clone + Send + 'static;

    /// The error of a connection that closed with `cause` — and, with
    /// [`CloseCause::Unregistered`], of a request made after the consumer dropped the session.
    fn closed_error(cause: CloseCause) -> Self::Error;

    /// The error of a request the connection task can no longer take (it ended: its worker
    /// shut down).
    fn ended_error() -> Self::Error;
}

/// The names a session keeps subscribed across reconnections, and how a request changes them.
///
/// It lives behind the session's lock: its methods must be quick and call nothing back.
pub trait Wanted: Default + Clone + Send + 'static {
    /// One (un)subscribe request, as the consumer made it.
    type Request: Send + 'static;

    /// Records `request` in the set and gives back what to send, or `None` when there is
    /// nothing to send (an "unsubscribe all" of nothing): its waiter is done at once.
    ///
    /// A request that changes nothing is still sent, so its waiter resolves only once the
    /// server has confirmed (an earlier identical request may be in flight).
    fn apply(&mut self, request: Self::Request) -> Option<Self::Request>;

    /// True when `request` subscribes (see [`Waiter::connection_failed`](super::Waiter::connection_failed)).
    fn subscribes(request: &Self::Request) -> bool;

    /// The requests that subscribe everything wanted on a fresh connection, in order.
    fn resubscribe(&self) -> Vec<Self::Request>;
}
