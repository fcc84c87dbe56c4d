//! This thread's spare argument buffers, so building a [`Cmd`](super::Cmd) per call (as every
//! typed command method does) reuses a buffer instead of allocating one (and growing it) each
//! time. A sans-IO stand-in for corelane-runtime's `SpareBuf`, which this crate cannot use.

use std::cell::RefCell;

use bytes::BytesMut;

/// Buffers kept per thread: a few commands built before any is dropped.
const SPARES: usize = 8;

/// Larger buffers (a command carrying a big value) are freed, not kept.
const MAX_SPARE_CAPACITY: usize = 4 * 1024;

/// Room a fresh buffer starts with: a typical command's arguments (name, key, small value)
/// fit, so adding them does not grow the buffer argument by argument.
const FRESH_CAPACITY: usize = 64;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer: one of this thread's spares, else a new one.
pub(crate) fn take() -> BytesMut {
    SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| BytesMut::with_capacity(FRESH_CAPACITY))
}

/// Keeps `buf` (cleared) for a later [`take`], unless it is unallocated, too large, or the
/// spares are full.
pub(crate) fn give(mut buf: BytesMut) {
    let capacity = buf.capacity();
    if capacity == 0 || capacity > MAX_SPARE_CAPACITY {
        return;
    }
    buf.clear();
    // During thread teardown the spares may be gone already: the buffer is then freed.
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < SPARES {
                s.push(buf);
            }
        }
    });
}
