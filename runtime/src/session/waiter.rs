//! Someone waiting for a request to take effect.

use crate::oneshot;

/// Completes a caller waiting for its (un)subscribe: `Ok` once the server confirmed it.
#[derive(Debug)]
pub struct Waiter<E> {
    subscribe: bool,
    done: oneshot::Sender<Result<(), E>>,
}

impl<E> Waiter<E> {
    /// A waiter for a subscribe (`subscribe`) or an unsubscribe, and its receiving end.
    pub fn new(subscribe: bool) -> (Self, oneshot::Receiver<Result<(), E>>) {
        let (done, rx) = oneshot::channel();
        (Waiter { subscribe, done }, rx)
    }

    /// True when it waits for a subscribe.
    pub fn is_subscribe(&self) -> bool {
        self.subscribe
    }

    /// The request took effect.
    pub fn succeed(self) {
        // A receiver that gave up wants no answer.
        let _ = self.done.send(Ok(()));
    }

    /// The request failed with `error`.
    pub fn fail(self, error: E) {
        let _ = self.done.send(Err(error));
    }

    /// The request could not be applied on a connection. An unsubscribe still succeeds: with
    /// no connection there is no subscription, and the name is no longer subscribed again. A
    /// subscribe fails, but its name stays wanted and is subscribed on the next connection.
    pub fn connection_failed(self, error: &E)
    where
        E: Clone,
    {
        if self.subscribe {
            self.fail(error.clone());
        } else {
            self.succeed();
        }
    }
}

/// One request queued for the connection task, with its waiter.
#[derive(Debug)]
pub struct Op<R, E> {
    /// What to send (as [`Wanted::apply`](super::Wanted::apply) gave it back).
    pub request: R,
    /// Who waits for it.
    pub waiter: Waiter<E>,
}
