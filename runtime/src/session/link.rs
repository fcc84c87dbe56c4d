//! What a connection's handler and the connection task share on the worker.

use std::cell::RefCell;

use super::{Confirmations, Shared, Spec};
use crate::CloseCause;

/// The worker-local state of one session connection, shared (`Rc`) by its handler and the
/// connection task: the [`Confirmations`] and the close. A driver keeps one in its own
/// handler state, next to what its handshake needs.
#[derive(Debug)]
pub struct Link<T, E> {
    pending: Confirmations<T, E>,
    closed: RefCell<Option<CloseCause>>,
}

impl<T, E> Default for Link<T, E> {
    fn default() -> Self {
        Link {
            pending: Confirmations::default(),
            closed: RefCell::new(None),
        }
    }
}

impl<T, E> Link<T, E> {
    /// Requests written and not yet confirmed.
    pub fn pending(&self) -> &Confirmations<T, E> {
        &self.pending
    }

    /// Why the connection closed, once it has.
    pub fn closed(&self) -> Option<CloseCause> {
        self.closed.borrow().clone()
    }

    /// Call from the handler's `on_close`: records the cause and wakes the connection task.
    pub fn on_close<S: Spec>(&self, cause: &CloseCause, shared: &Shared<S>) {
        *self.closed.borrow_mut() = Some(cause.clone());
        shared.wake_task_local();
    }
}
