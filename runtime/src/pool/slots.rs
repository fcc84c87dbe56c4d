//! Slot bookkeeping of the exclusive pool: idle connections, open count, FIFO waiters.
//!
//! No clock, no I/O, no awaits: the shell passes `now` in and owns every future. A *slot* is the
//! right to hold one connection; `open` counts the slots in use (idle connections, checked-out
//! permits, connects in progress) and never exceeds `max_size`.
//!
//! Invariant: while anyone waits, no slot is free and no connection is idle. A freed slot or a
//! returned connection goes straight to the oldest waiter (a *grant*), so a newcomer can never
//! overtake a waiter.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Waker;
use std::time::Instant;

use super::{Expiry, ExpiryReason};

/// A connection resting in the pool.
#[derive(Debug)]
pub(crate) struct Idle<C> {
    pub(crate) conn: C,
    pub(crate) created: Instant,
    pub(crate) last_used: Instant,
    /// Returned by a permit and not yet passed through `Manager::recycle`.
    pub(crate) dirty: bool,
}

/// What a waiter (or an immediate acquire) receives.
#[derive(Debug)]
pub(crate) enum Grant<C> {
    /// An idle connection, with the slot it occupies.
    Conn(Idle<C>),
    /// An empty slot: the holder may open a connection.
    Slot,
    /// The pool was closed.
    Closed,
}

/// One parked `get`.
#[derive(Debug)]
pub(crate) struct Waiter<C> {
    grant: RefCell<Option<Grant<C>>>,
    waker: RefCell<Option<Waker>>,
}

impl<C> Waiter<C> {
    /// Takes the grant, if one was handed over.
    pub(crate) fn take_grant(&self) -> Option<Grant<C>> {
        self.grant.borrow_mut().take()
    }

    /// Remembers the task to wake when a grant arrives.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match slot.as_ref() {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    fn give(&self, grant: Grant<C>) {
        *self.grant.borrow_mut() = Some(grant);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// The state machine behind [`Pool`](super::Pool).
#[derive(Debug)]
pub(crate) struct Slots<C> {
    max_size: usize,
    open: usize,
    /// LIFO: the most recently returned connection is reused first, so surplus ones age out.
    idle: VecDeque<Idle<C>>,
    waiters: VecDeque<Rc<Waiter<C>>>,
    closed: bool,
}

impl<C> Slots<C> {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            max_size,
            open: 0,
            idle: VecDeque::new(),
            waiters: VecDeque::new(),
            closed: false,
        }
    }

    /// Slots in use: idle + checked out + connecting.
    pub(crate) fn open(&self) -> usize {
        self.open
    }

    pub(crate) fn idle_len(&self) -> usize {
        self.idle.len()
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// An immediate grant, or `None` when the caller must [`enqueue`](Self::enqueue).
    pub(crate) fn try_acquire(&mut self) -> Option<Grant<C>> {
        if self.closed {
            return Some(Grant::Closed);
        }
        if !self.waiters.is_empty() {
            return None;
        }
        if let Some(idle) = self.idle.pop_back() {
            return Some(Grant::Conn(idle));
        }
        if self.open < self.max_size {
            self.open += 1;
            return Some(Grant::Slot);
        }
        None
    }

    /// A slot for `Pool::fill`: only when nobody waits, a slot is free and fewer than
    /// `min_idle` connections are idle.
    pub(crate) fn try_reserve_for_fill(&mut self, min_idle: usize) -> bool {
        if self.closed || !self.waiters.is_empty() || self.idle.len() >= min_idle {
            return false;
        }
        if self.open < self.max_size {
            self.open += 1;
            return true;
        }
        false
    }

    /// Parks a caller at the back of the FIFO.
    pub(crate) fn enqueue(&mut self) -> Rc<Waiter<C>> {
        let waiter = Rc::new(Waiter {
            grant: RefCell::new(None),
            waker: RefCell::new(None),
        });
        self.waiters.push_back(Rc::clone(&waiter));
        waiter
    }

    /// A parked caller gave up: removes it and passes on any grant it had not consumed.
    pub(crate) fn cancel(&mut self, waiter: &Rc<Waiter<C>>) -> Option<Idle<C>> {
        self.waiters.retain(|w| !Rc::ptr_eq(w, waiter));
        match waiter.take_grant() {
            Some(Grant::Conn(idle)) => self.put_back(idle).err(),
            Some(Grant::Slot) => {
                self.release_slot();
                None
            }
            Some(Grant::Closed) | None => None,
        }
    }

    /// A holder's slot is free again (its connection was closed or detached).
    pub(crate) fn release_slot(&mut self) {
        if !self.closed {
            if let Some(waiter) = self.waiters.pop_front() {
                waiter.give(Grant::Slot);
                return;
            }
        }
        self.open = self.open.saturating_sub(1);
    }

    /// A holder returns a live connection with its slot. `Err` hands it back for the caller to
    /// drop outside any borrow (the pool is closed); its slot is already released then.
    pub(crate) fn put_back(&mut self, idle: Idle<C>) -> Result<(), Idle<C>> {
        if self.closed {
            self.open = self.open.saturating_sub(1);
            return Err(idle);
        }
        match self.waiters.pop_front() {
            Some(waiter) => waiter.give(Grant::Conn(idle)),
            None => self.idle.push_back(idle),
        }
        Ok(())
    }

    /// The holder of a slot whose connection was rejected takes another idle connection
    /// instead of opening one: the two slots merge into one.
    pub(crate) fn swap_for_idle(&mut self) -> Option<Idle<C>> {
        let idle = self.idle.pop_back()?;
        self.open = self.open.saturating_sub(1);
        Some(idle)
    }

    /// Removes idle connections that are expired at `now` or broken, keeping at least `min_idle`
    /// against the idle timeout (never against lifetime or breakage). Freed slots go to waiters.
    pub(crate) fn reap(
        &mut self,
        now: Instant,
        expiry: &Expiry,
        min_idle: usize,
        mut is_broken: impl FnMut(&C) -> bool,
    ) -> Vec<Idle<C>> {
        let mut removed = Vec::new();
        let mut kept = VecDeque::with_capacity(self.idle.len());
        // Oldest first: the surplus beyond `min_idle` is the least recently used.
        let mut remaining = self.idle.len();
        while let Some(idle) = self.idle.pop_front() {
            remaining -= 1;
            let reason = expiry.expired(idle.created, idle.last_used, now);
            let keep_for_min = kept.len() + remaining < min_idle;
            let drop_it = is_broken(&idle.conn)
                || reason == Some(ExpiryReason::MaxLifetime)
                || (reason == Some(ExpiryReason::IdleTimeout) && !keep_for_min);
            if drop_it {
                removed.push(idle);
            } else {
                kept.push_back(idle);
            }
        }
        self.idle = kept;
        for _ in 0..removed.len() {
            self.release_slot();
        }
        removed
    }

    /// Closes the pool: waiters get [`Grant::Closed`]; idle connections are handed back to drop.
    pub(crate) fn close(&mut self) -> Vec<Idle<C>> {
        self.closed = true;
        for waiter in self.waiters.drain(..) {
            waiter.give(Grant::Closed);
        }
        let idle: Vec<_> = self.idle.drain(..).collect();
        self.open = self.open.saturating_sub(idle.len());
        idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn idle(n: u32, at: Instant) -> Idle<u32> {
        Idle {
            conn: n,
            created: at,
            last_used: at,
            dirty: false,
        }
    }

    #[test]
    fn never_exceeds_max_and_grants_fifo() {
        let t0 = Instant::now();
        let mut s = Slots::<u32>::new(2);
        assert!(matches!(s.try_acquire(), Some(Grant::Slot)));
        assert!(matches!(s.try_acquire(), Some(Grant::Slot)));
        assert!(s.try_acquire().is_none());
        assert_eq!(s.open(), 2);
        let a = s.enqueue();
        let b = s.enqueue();
        // A newcomer cannot overtake waiters even if something frees.
        s.put_back(idle(1, t0)).unwrap();
        assert!(s.try_acquire().is_none());
        assert!(matches!(
            a.take_grant(),
            Some(Grant::Conn(Idle { conn: 1, .. }))
        ));
        s.release_slot();
        assert!(matches!(b.take_grant(), Some(Grant::Slot)));
        assert_eq!(s.open(), 2);
        assert_eq!(s.waiting(), 0);
    }

    #[test]
    fn cancelled_waiter_passes_its_grant_on() {
        let t0 = Instant::now();
        let mut s = Slots::<u32>::new(1);
        assert!(matches!(s.try_acquire(), Some(Grant::Slot)));
        let a = s.enqueue();
        let b = s.enqueue();
        s.put_back(idle(7, t0)).unwrap();
        // `a` got the conn but was dropped before consuming it: `b` inherits it.
        assert!(s.cancel(&a).is_none());
        assert!(matches!(
            b.take_grant(),
            Some(Grant::Conn(Idle { conn: 7, .. }))
        ));
        // `b` drops its slot with nobody waiting: the slot is free.
        s.release_slot();
        assert_eq!(s.open(), 0);
        // A waiter cancelled before any grant just leaves the queue.
        assert!(matches!(s.try_acquire(), Some(Grant::Slot)));
        let c = s.enqueue();
        assert!(s.cancel(&c).is_none());
        assert_eq!(s.waiting(), 0);
        s.release_slot();
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn idle_is_lifo() {
        let t0 = Instant::now();
        let mut s = Slots::<u32>::new(3);
        for _ in 0..2 {
            assert!(s.try_acquire().is_some());
        }
        s.put_back(idle(1, t0)).unwrap();
        s.put_back(idle(2, t0)).unwrap();
        assert!(matches!(
            s.try_acquire(),
            Some(Grant::Conn(Idle { conn: 2, .. }))
        ));
    }

    #[test]
    fn reap_respects_min_idle_and_lifetime() {
        let t0 = Instant::now();
        let expiry = Expiry {
            max_lifetime: Some(Duration::from_secs(100)),
            idle_timeout: Some(Duration::from_secs(10)),
            health_check_after: None,
        };
        let mut s = Slots::<u32>::new(4);
        for _ in 0..4 {
            assert!(s.try_acquire().is_some());
        }
        for n in 0..4 {
            s.put_back(idle(n, t0)).unwrap();
        }
        // Before the idle timeout nothing goes.
        assert!(s
            .reap(t0 + Duration::from_secs(9), &expiry, 1, |_| false)
            .is_empty());
        // After it, all but min_idle go; the newest survives.
        let gone = s.reap(t0 + Duration::from_secs(10), &expiry, 1, |_| false);
        assert_eq!(gone.len(), 3);
        assert_eq!(s.idle_len(), 1);
        assert_eq!(s.open(), 1);
        // Lifetime ignores min_idle.
        let gone = s.reap(t0 + Duration::from_secs(100), &expiry, 1, |_| false);
        assert_eq!(gone.len(), 1);
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn reap_drops_broken_and_feeds_waiters() {
        let t0 = Instant::now();
        let mut s = Slots::<u32>::new(1);
        assert!(s.try_acquire().is_some());
        s.put_back(idle(5, t0)).unwrap();
        let gone = s.reap(t0, &Expiry::default(), 0, |c| *c == 5);
        assert_eq!(gone.len(), 1);
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn close_wakes_waiters_and_rejects_returns() {
        let t0 = Instant::now();
        let mut s = Slots::<u32>::new(1);
        assert!(s.try_acquire().is_some());
        let w = s.enqueue();
        assert!(s.close().is_empty());
        assert!(matches!(w.take_grant(), Some(Grant::Closed)));
        assert!(matches!(s.try_acquire(), Some(Grant::Closed)));
        assert!(s.put_back(idle(1, t0)).is_err());
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn swap_for_idle_merges_slots() {
        let t0 = Instant::now();
        let mut s = Slots::<u32>::new(2);
        assert!(s.try_acquire().is_some());
        assert!(s.try_acquire().is_some());
        s.put_back(idle(1, t0)).unwrap();
        assert_eq!(s.open(), 2);
        assert!(s.swap_for_idle().is_some());
        assert_eq!(s.open(), 1);
        assert!(s.swap_for_idle().is_none());
    }
}
