//! Carrying worker-local state inside a `Send` future.
//!
//! A driver's call future must be `Send` for tokio users, yet on a worker it should hold the
//! connection's `Rc` state directly (no hop, no atomics). The path is chosen at the first poll,
//! so one future type serves both; the `!Send` part lives in a [`ThreadBound`], which is only
//! ever touched on the thread that created it.

use std::mem::ManuallyDrop;

thread_local! {
    static MARK: u8 = const { 0 };
}

/// An identity of the calling thread that costs no atomic: the address of a thread-local.
/// Two live threads never share it; a new thread may reuse a dead thread's address, which is
/// harmless here because the dead thread can no longer touch the value.
fn thread_mark() -> usize {
    MARK.with(|m| m as *const u8 as usize)
}

/// A value usable only on the thread that created it, that may still travel inside a `Send`
/// future. On any other thread it is inaccessible ([`get_mut`](Self::get_mut) returns `None`)
/// and, if dropped there, leaked rather than touched.
pub struct ThreadBound<T> {
    value: ManuallyDrop<T>,
    owner: usize,
}

// SAFETY: the inner value is only reached through `get_mut` and `Drop`, both of which check
// that the calling thread is the owner (the creator, or a later thread at the same TLS address
// after the creator died — then no other thread can reach the value either). Off the owner
// thread the value is neither read, written nor dropped; it is leaked. So no `!Send` content
// is ever accessed from two threads.
unsafe impl<T> Send for ThreadBound<T> {}

impl<T> ThreadBound<T> {
    /// Binds `value` to the calling thread.
    pub fn new(value: T) -> Self {
        ThreadBound {
            value: ManuallyDrop::new(value),
            owner: thread_mark(),
        }
    }

    /// True on the owning thread.
    pub fn is_owner(&self) -> bool {
        self.owner == thread_mark()
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
}
