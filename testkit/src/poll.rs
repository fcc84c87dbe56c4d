//! Driving a future by hand, as a `select!` that lost would.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls `fut` once (so it sends its request) and drops it: what a `select!` does to the branch
/// that lost. Panics (it is for tests) if the future finished at that first poll.
pub fn poll_once_then_drop<F: Future + Unpin>(mut fut: F) {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(
        matches!(Pin::new(&mut fut).poll(&mut cx), Poll::Pending),
        "the future finished at its first poll"
    );
    drop(fut);
}
