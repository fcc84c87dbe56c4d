//! [`Pooled`]: the RAII permit of an exclusive checkout.

use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::Instant;

use super::inner::Inner;
use super::slots::Idle;
use super::Manager;

/// A connection checked out of a [`Pool`](super::Pool), holding one of its slots.
///
/// Dereferences to the connection. Dropping it gives the connection back to the pool, or closes
/// it and frees the slot when it is broken ([`Manager::is_broken`]), past
/// [`Config::max_lifetime`](super::Config::max_lifetime), marked with [`Pooled::discard`], or the
/// pool was closed. A returned connection is [recycled](Manager::recycle) before its next
/// checkout. Either way the slot is never leaked.
pub struct Pooled<M: Manager> {
    inner: Rc<Inner<M>>,
    /// `None` only after [`Pooled::detach`].
    conn: Option<M::Conn>,
    created: Instant,
    discard: bool,
}

impl<M: Manager> Pooled<M> {
    pub(crate) fn new(inner: Rc<Inner<M>>, conn: M::Conn, created: Instant) -> Self {
        Self {
            inner,
            conn: Some(conn),
            created,
            discard: false,
        }
    }

    /// Marks the connection to be closed instead of returned when this permit drops (e.g. after
    /// an error that may have left it out of step).
    pub fn discard(&mut self) {
        self.discard = true;
    }

    /// Sets or clears the discard mark: a driver marks a connection before an operation that
    /// would leave it unusable if cancelled (a blocking command) and clears the mark when the
    /// operation completes.
    pub fn set_discard(&mut self, discard: bool) {
        self.discard = discard;
    }

    /// Whether [`Pooled::discard`] was called.
    pub fn is_discarded(&self) -> bool {
        self.discard
    }

    /// Takes the connection out of the pool for good; its slot is freed now, so the pool may
    /// open a replacement.
    pub fn detach(mut self) -> M::Conn {
        let conn = self.conn.take();
        self.inner.slots.borrow_mut().release_slot();
        match conn {
            Some(conn) => conn,
            None => unreachable_detached(),
        }
    }

    /// When the connection was opened.
    pub fn created_at(&self) -> Instant {
        self.created
    }

    fn conn_ref(&self) -> &M::Conn {
        match &self.conn {
            Some(conn) => conn,
            // `conn` is `None` only inside `detach`, which consumes `self`.
            None => unreachable_detached(),
        }
    }
}

#[cold]
fn unreachable_detached() -> ! {
    // Only reachable if `detach` stopped consuming the permit; abort rather than unwind through
    // the executor (ARCHITECTURE.md invariant 5).
    std::process::abort()
}

impl<M: Manager> Deref for Pooled<M> {
    type Target = M::Conn;

    fn deref(&self) -> &M::Conn {
        self.conn_ref()
    }
}

impl<M: Manager> DerefMut for Pooled<M> {
    fn deref_mut(&mut self) -> &mut M::Conn {
        match &mut self.conn {
            Some(conn) => conn,
            None => unreachable_detached(),
        }
    }
}

impl<M: Manager> std::fmt::Debug for Pooled<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled")
            .field("created", &self.created)
            .field("discard", &self.discard)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Drop for Pooled<M> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let now = Instant::now();
        let keep = !self.discard
            && !self.inner.manager.is_broken(&conn)
            && !self.inner.expiry.lifetime_over(self.created, now);
        if !keep {
            self.inner.slots.borrow_mut().release_slot();
            drop(conn);
            return;
        }
        let refused = self
            .inner
            .slots
            .borrow_mut()
            .put_back(Idle {
                conn,
                created: self.created,
                last_used: now,
                dirty: true,
            })
            .err();
        // Dropped outside the borrow.
        drop(refused);
    }
}
