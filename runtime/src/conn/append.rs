//! Writing a request into an outgoing buffer whole or not at all (a leaf: the connection core,
//! its write-back and the round trip's batches all use it).

use bytes::BytesMut;

/// Appends what `encode` writes to `buf`, or nothing at all: if `encode` unwinds, the bytes it
/// wrote are cut off again, so a panicking encoder (caught by the mailbox) cannot leave half a
/// request on the wire.
pub(crate) fn append_whole(buf: &mut BytesMut, encode: impl FnOnce(&mut BytesMut)) {
    struct Rollback<'a> {
        buf: &'a mut BytesMut,
        mark: usize,
        done: bool,
    }
    impl Drop for Rollback<'_> {
        fn drop(&mut self) {
            if !self.done {
                self.buf.truncate(self.mark);
            }
        }
    }
    let mark = buf.len();
    let mut guard = Rollback {
        buf,
        mark,
        done: false,
    };
    encode(guard.buf);
    guard.done = true;
}
