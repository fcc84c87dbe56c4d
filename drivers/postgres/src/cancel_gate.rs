//! The per-connection cancel gate: how many calls are in progress, and whether a cancel is in
//! flight (then no call may write). A leaf: the connection holds it, `cancel` drives it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Per-connection state: calls in progress, and the gate held while a cancel is in flight.
#[derive(Default)]
pub(crate) struct CancelState {
    /// Calls in progress on the connection (live [`Watch`](crate::cancel::Watch)es).
    pub(crate) active: Cell<usize>,
    /// A cancel is in flight: no call may write on the connection.
    pub(crate) draining: Cell<bool>,
    /// Calls waiting for the gate to open.
    waiters: RefCell<Vec<Waker>>,
}

impl CancelState {
    /// A cancel is in flight: no call may write on the connection until the gate opens.
    pub(crate) fn is_gated(&self) -> bool {
        self.draining.get()
    }

    pub(crate) fn open_gate(&self) {
        self.draining.set(false);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }
}

/// Waits until the connection's gate is open.
pub(crate) struct GateOpen<'a>(pub(crate) &'a CancelState);

impl Future for GateOpen<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let state = self.0;
        if !state.draining.get() {
            return Poll::Ready(());
        }
        let mut waiters = state.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
