//! The handler's queue of requests written and not yet confirmed.
//!
//! Entry before bytes: a request's entry is pushed before its bytes are written, so its
//! confirmation always finds it. Confirmations come in request order, so the head owns the
//! next one. The queue is worker-local, shared by the handler and the connection task
//! (`Rc`); no borrow is held across a call into the connection (closing runs `on_close`).

use std::cell::RefCell;
use std::collections::VecDeque;

use super::Waiter;
use crate::WriteError;

/// One request written and not yet confirmed: the driver's `detail` and who waits for it.
/// A resubscribe carries the waiters of every request it covers.
#[derive(Debug)]
pub struct Pending<T, E> {
    /// What the driver needs to match and settle the confirmation.
    pub detail: T,
    /// Completed when it is confirmed.
    pub waiters: Vec<Waiter<E>>,
}

impl<T, E: Clone> Pending<T, E> {
    /// Confirmed: every waiter succeeds.
    pub fn succeed(self) {
        self.waiters.into_iter().for_each(Waiter::succeed);
    }

    /// Refused: every waiter fails with `error`.
    pub fn fail(self, error: &E) {
        for waiter in self.waiters {
            waiter.fail(error.clone());
        }
    }
}

/// The FIFO; see the module docs.
#[derive(Debug)]
pub struct Confirmations<T, E> {
    queue: RefCell<VecDeque<Pending<T, E>>>,
}

impl<T, E> Default for Confirmations<T, E> {
    fn default() -> Self {
        Confirmations {
            queue: RefCell::new(VecDeque::new()),
        }
    }
}

impl<T, E> Confirmations<T, E> {
    /// Queues `entry`, then runs `write` (its bytes). A write refused because the outbound
    /// buffer is full (the server is not reading) gives the entry back with the error, for the
    /// caller to settle. On a closed connection the entry stays: it is carried to the next
    /// connection with [`take_waiters`](Self::take_waiters).
    pub fn push_then_write(
        &self,
        entry: Pending<T, E>,
        write: impl FnOnce() -> Result<(), WriteError>,
    ) -> Option<(Pending<T, E>, WriteError)> {
        self.queue.borrow_mut().push_back(entry);
        match write() {
            Ok(()) | Err(WriteError::Closed(_)) => None,
            Err(error) => self.pop_newest().map(|refused| (refused, error)),
        }
    }

    /// Removes the newest entry (its write was refused).
    pub fn pop_newest(&self) -> Option<Pending<T, E>> {
        self.queue.borrow_mut().pop_back()
    }

    /// Removes the head entry (it is answered).
    pub fn pop_front(&self) -> Option<Pending<T, E>> {
        self.queue.borrow_mut().pop_front()
    }

    /// Runs `f` on the head entry, if any (e.g. to count a confirmation, or record an error
    /// its final answer will report).
    pub fn with_front<R>(&self, f: impl FnOnce(Option<&mut Pending<T, E>>) -> R) -> R {
        f(self.queue.borrow_mut().front_mut())
    }

    /// The waiters of everything still unconfirmed, in order (the connection is gone).
    pub fn take_waiters(&self) -> Vec<Waiter<E>> {
        let all = std::mem::take(&mut *self.queue.borrow_mut());
        all.into_iter().flat_map(|p| p.waiters).collect()
    }

    /// How many entries wait.
    pub fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }
}
