//! A set-once, worker-local event that any number of tasks can wait for.
//!
//! Each waiter keeps one slot for its waker and replaces it on every poll, so a task that is
//! polled a million times while waiting (a connection task waits for "cut" beside its I/O)
//! still holds one slot, not a million wakers.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub(crate) struct Event {
    inner: RefCell<Inner>,
}

#[derive(Default)]
struct Inner {
    fired: bool,
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Event {
    /// Fires the event (once; later calls do nothing) and wakes every waiter.
    pub(crate) fn fire(&self) {
        let wakers: Vec<Waker> = {
            let mut inner = self.inner.borrow_mut();
            if inner.fired {
                return;
            }
            inner.fired = true;
            inner.slots.iter_mut().filter_map(Option::take).collect()
        };
        // Woken outside the borrow: a waker may run code that looks at this event.
        for waker in wakers {
            waker.wake();
        }
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.inner.borrow().fired
    }

    /// Completes once the event has fired (at once if it already has).
    pub(crate) fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            slot: None,
        }
    }
}

/// The future of [`Event::wait`].
pub(crate) struct Wait<'a> {
    event: &'a Event,
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.event.inner.borrow_mut();
        if inner.fired {
            drop(inner);
            self.release();
            return Poll::Ready(());
        }
        let slot = match self.slot {
            Some(slot) => slot,
            None => match inner.free.pop() {
                Some(slot) => slot,
                None => {
                    inner.slots.push(None);
                    inner.slots.len() - 1
                }
            },
        };
        if let Some(entry) = inner.slots.get_mut(slot) {
            match entry {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *entry = Some(cx.waker().clone()),
            }
        }
        drop(inner);
        self.slot = Some(slot);
        Poll::Pending
    }
}

impl Wait<'_> {
    fn release(&mut self) {
        if let Some(slot) = self.slot.take() {
            let mut inner = self.event.inner.borrow_mut();
            if let Some(entry) = inner.slots.get_mut(slot) {
                *entry = None;
            }
            inner.free.push(slot);
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_waiter_polled_often_keeps_one_slot_and_is_woken_once() {
        let event = Event::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut wait = Box::pin(event.wait());
        for _ in 0..100 {
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(event.inner.borrow().slots.len(), 1);
        event.fire();
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        // A waiter that comes after the event is ready at once.
        let mut late = Box::pin(event.wait());
        assert!(late.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_dropped_waiter_frees_its_slot_for_the_next() {
        let event = Event::default();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut first = Box::pin(event.wait());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        drop(first);
        let mut second = Box::pin(event.wait());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        assert_eq!(event.inner.borrow().slots.len(), 1);
    }
}
