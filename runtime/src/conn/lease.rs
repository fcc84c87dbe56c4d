//! Reading a registered connection from the caller's own task.

use std::cell::RefMut;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::BytesMut;

use super::core::{ConnCore, Registered};
use super::{CloseCause, Handler};

/// The right to read a registered connection from the calling task, bypassing the reader task
/// and the handler. While a lease lives, the reader task does not read; when it is dropped the
/// reader task resumes and first shows the handler whatever the lease left in the input.
///
/// This is how a batch on an idle connection reads its own replies (multi-poll, direct index).
pub struct ReadLease<H: Handler> {
    core: Rc<ConnCore<H>>,
}

impl<H: Handler> Registered<H> {
    /// Takes over reading from the reader task; `None` when someone else holds the lease or the
    /// connection is closed. See [`ReadLease`].
    pub fn take_reading(&self) -> Option<ReadLease<H>> {
        let core = self.core();
        core.claim_lease().then(|| ReadLease { core: core.clone() })
    }
}

impl<H: Handler> ReadLease<H> {
    /// The connection's input buffer: bytes received and not yet consumed.
    pub fn input(&self) -> RefMut<'_, BytesMut> {
        self.core.input()
    }

    /// Reads once more into the input buffer. `Ready(Ok(n))` appended `n > 0` bytes; end of
    /// stream and I/O errors close the connection (running `on_close`) and return its cause.
    ///
    /// Do not hold [`input`](Self::input) or any state the handler's `on_close` touches while
    /// calling this: closing runs `on_close` synchronously.
    pub fn poll_fill(&self, cx: &mut Context<'_>) -> Poll<Result<usize, CloseCause>> {
        self.core.poll_fill_leased(cx)
    }

    /// Wakes the task that last waited in [`poll_fill`](Self::poll_fill) (the lease is being
    /// taken from it).
    pub(crate) fn wake_holder(&self) {
        self.core.wake_lease_holder();
    }

    /// The close cause when the connection has closed.
    pub fn closed_cause(&self) -> Option<CloseCause> {
        if self.core.is_closed() {
            Some(self.core.cause().unwrap_or(CloseCause::Unregistered))
        } else {
            None
        }
    }

    /// Closes the connection (e.g. the lease holder found a protocol error).
    pub fn close(&self, cause: CloseCause) {
        self.core.close(cause);
    }
}

impl<H: Handler> Drop for ReadLease<H> {
    fn drop(&mut self) {
        self.core.end_lease();
    }
}

impl<H: Handler> std::fmt::Debug for ReadLease<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadLease").finish_non_exhaustive()
    }
}
