//! Counting the heap allocations of one thread, for tests that bound allocations per
//! operation. A test binary installs [`ThreadCountingAlloc`] as its global allocator; the thread
//! under test (a worker) brackets the measured operations with [`start_counting`] and
//! [`stop_counting`]. Other threads' allocations are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting `alloc`, `alloc_zeroed` and `realloc` on threads that turned
/// counting on. Install with `#[global_allocator] static A: ThreadCountingAlloc = ThreadCountingAlloc;`.
pub struct ThreadCountingAlloc;

fn count() {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards unchanged to the system allocator; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for ThreadCountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Starts counting this thread's allocations from zero.
pub fn start_counting() {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
}

/// Stops counting on this thread and returns how many allocations it made since
/// [`start_counting`].
pub fn stop_counting() -> u64 {
    COUNTING.with(|on| on.set(false));
    COUNT.with(Cell::get)
}
