//! Carrying worker-local state inside a `Send` future.
//!
//! A driver's call future must be `Send` for tokio users, yet on a worker it should hold the
//! connection's `Rc` state directly (no hop, no atomics). The path is chosen at the first poll,
//! so one future type serves both; the `!Send` part lives in a [`ThreadBound`], which is only
//! ever touched on the thread that created it.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};

/// The last thread id handed out; ids start at 1 (0 means "not assigned yet").
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
}

/// An identity of the calling thread that no other thread ever gets, not even one started
/// after this one died (the address of a thread-local, used before, can be reused by a new
/// thread, which would then pass for the owner of a dead thread's values). One atomic
/// increment per thread, on its first call; a thread-local read after that.
pub(crate) fn thread_id() -> u64 {
    THREAD_ID.with(|id| {
        let current = id.get();
        if current != 0 {
            return current;
        }
        // u64: at a billion threads a second it wraps after 584 years.
        let fresh = NEXT_THREAD_ID
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        id.set(fresh);
        fresh
    })
}

/// A value usable only on the thread that created it, that may still travel inside a `Send`
/// future. On any other thread it is inaccessible ([`get_mut`](Self::get_mut) returns `None`)
/// and, if dropped there, leaked rather than touched.
pub struct ThreadBound<T> {
    value: ManuallyDrop<T>,
    owner: u64,
}

// SAFETY: the inner value is only reached through `get_mut`, `into_inner` and `Drop`, all of
// which check that the calling thread is the owner (the creator: thread ids are never reused,
// see `thread_id`). Off the owner
// thread the value is neither read, written nor dropped; it is leaked. So no `!Send` content
// is ever accessed from two threads.
unsafe impl<T> Send for ThreadBound<T> {}

impl<T> ThreadBound<T> {
    /// Binds `value` to the calling thread.
    pub fn new(value: T) -> Self {
        ThreadBound {
            value: ManuallyDrop::new(value),
            owner: thread_id(),
        }
    }

    /// The owning thread's identity (see `thread_id`).
    pub(crate) fn owner_id(&self) -> u64 {
        self.owner
    }

    /// True on the owning thread.
    pub fn is_owner(&self) -> bool {
        self.owner == thread_id()
    }

    /// The value, on the owning thread; `None` elsewhere.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.is_owner() {
            Some(&mut self.value)
        } else {
            None
        }
    }
}

impl<T> ThreadBound<T> {
    /// The value, on the owning thread; `None` elsewhere (the value is then leaked).
    pub fn into_inner(self) -> Option<T> {
        let mut this = std::mem::ManuallyDrop::new(self);
        if this.is_owner() {
            // SAFETY: `this` is never dropped (ManuallyDrop), so the value is moved out exactly
            // once, on the owning thread.
            Some(unsafe { ManuallyDrop::take(&mut this.value) })
        } else {
            None
        }
    }
}

impl<T> Drop for ThreadBound<T> {
    fn drop(&mut self) {
        if self.is_owner() {
            // SAFETY: dropped exactly once, here, on the owning thread; never used after.
            unsafe { ManuallyDrop::drop(&mut self.value) };
        }
        // Off the owner: leak. Touching the value (even its refcounts) could race with the
        // owner thread.
    }
}

impl<T> std::fmt::Debug for ThreadBound<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadBound")
            .field("is_owner", &self.is_owner())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::ThreadBound;
    use std::rc::Rc;

    #[test]
    fn usable_on_owner_inaccessible_and_leaked_elsewhere() {
        let shared = Rc::new(5);
        let mut bound = ThreadBound::new(shared.clone());
        assert_eq!(bound.get_mut().map(|v| **v), Some(5));
        assert_eq!(Rc::strong_count(&shared), 2);
        drop(bound);
        assert_eq!(Rc::strong_count(&shared), 1, "dropped on the owner");

        let bound = ThreadBound::new(vec![1u8, 2, 3]);
        std::thread::spawn(move || {
            let mut bound = bound;
            assert!(!bound.is_owner());
            assert!(bound.get_mut().is_none());
            drop(bound); // leaked, not dropped, on the foreign thread
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_started_after_the_owner_died_is_not_the_owner() {
        // Threads that start after another one exits often get its stack and TLS block back, so
        // an identity taken from a thread-local's address would repeat.
        let bound = std::thread::spawn(|| ThreadBound::new(Rc::new(7u32)))
            .join()
            .unwrap();
        let bound = std::sync::Arc::new(std::sync::Mutex::new(Some(bound)));
        for _ in 0..64 {
            let bound = bound.clone();
            std::thread::spawn(move || {
                let mut guard = bound.lock().unwrap();
                let b = guard.as_mut().unwrap();
                assert!(!b.is_owner(), "a new thread passed for the dead owner");
                assert!(b.get_mut().is_none());
            })
            .join()
            .unwrap();
        }
        // Leaked here (the owner is gone), never dropped on a thread that does not own it.
        std::mem::forget(bound.lock().unwrap().take());
    }
}
