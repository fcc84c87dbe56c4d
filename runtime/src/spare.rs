//! Spare byte buffers, kept per thread, for owned buffers that live for one call.
//!
//! Some buffers cannot be the connection's own: a request that may cross to another worker must
//! own its bytes (a pipeline copied out of the caller's `&Pipeline`, a query's parameters
//! encoded on the caller's thread). Allocating one per call is most of what a hot loop would
//! otherwise allocate, so a [`SpareBuf`] takes its buffer from this thread's spares and gives
//! it back when dropped. In steady state (a caller issuing one call after another) no call
//! allocates.
//!
//! A buffer dropped on another thread than the one it came from joins that thread's spares:
//! the global allocator does not care, and both threads stay bounded.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use bytes::BytesMut;

/// Buffers kept per thread: enough for a few calls built before any completes; beyond it,
/// dropped buffers are freed.
const SPARES: usize = 8;

/// Buffers that grew larger are freed rather than kept, so one huge pipeline does not pin its
/// memory for the thread's lifetime.
const MAX_SPARE_CAPACITY: usize = 16 * 1024;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A `BytesMut` from this thread's spares, returned to them on drop. Dereferences to the
/// `BytesMut`; always empty when taken.
pub struct SpareBuf {
    buf: BytesMut,
}

impl SpareBuf {
    /// An empty buffer: a spare one when this thread has one, else a new (unallocated) one.
    pub fn new() -> Self {
        let spare = SPARE
            .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
            .ok()
            .flatten();
        SpareBuf {
            buf: spare.unwrap_or_default(),
        }
    }
}

impl Default for SpareBuf {
    fn default() -> Self {
        SpareBuf::new()
    }
}

impl Drop for SpareBuf {
    fn drop(&mut self) {
        let capacity = self.buf.capacity();
        if capacity == 0 || capacity > MAX_SPARE_CAPACITY {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
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
}

impl Clone for SpareBuf {
    fn clone(&self) -> Self {
        let mut copy = SpareBuf::new();
        copy.extend_from_slice(&self.buf);
        copy
    }
}

impl Deref for SpareBuf {
    type Target = BytesMut;
    fn deref(&self) -> &BytesMut {
        &self.buf
    }
}

impl DerefMut for SpareBuf {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

impl std::fmt::Debug for SpareBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpareBuf")
            .field("len", &self.buf.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::SpareBuf;

    #[test]
    fn reused_after_drop_and_always_empty() {
        let mut a = SpareBuf::new();
        a.extend_from_slice(b"hello");
        let ptr = a.as_ptr();
        drop(a);
        let b = SpareBuf::new();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr, "the dropped buffer is handed out again");
        assert!(b.capacity() >= 5);
    }

    #[test]
    fn large_buffers_are_not_kept() {
        let mut a = SpareBuf::new();
        a.resize(super::MAX_SPARE_CAPACITY + 1, 0);
        drop(a);
        assert!(SpareBuf::new().capacity() <= super::MAX_SPARE_CAPACITY);
    }
}
