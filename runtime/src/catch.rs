//! Catching a panic of one task so it cannot take its worker down.
//!
//! glommio lets a panic in a task's poll unwind out of the executor's run loop, which ends the
//! worker thread and with it every connection and task of that core. Each task the runtime
//! spawns is therefore wrapped in [`CatchUnwind`]: a panic ends that task only, and whoever
//! awaits it gets a [`Panicked`] error instead of a value.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// A task (a future run on a worker, or a job submitted to one) panicked. The worker caught the
/// panic and lives on; what the task had done before panicking stays done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a task panicked on the worker: {message}")]
pub struct Panicked {
    message: String,
}

impl Panicked {
    /// Builds the error from a caught panic's payload.
    pub fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-string payload".to_owned()
        };
        Panicked { message }
    }

    /// The panic's message (`"a panic with a non-string payload"` when it had none).
    pub fn message(&self) -> &str {
        &self.message
    }
}

thread_local! {
    /// The panic counter of the worker this thread runs, if any. The worker sets it when it
    /// attaches to the thread and clears it when it leaves, so this module needs nothing
    /// of the worker's.
    static PANIC_COUNTER: RefCell<Option<Arc<AtomicU64>>> = const { RefCell::new(None) };
}

/// Makes caught panics on this thread count into `counter` (`None`: count nowhere).
pub(crate) fn count_panics_into(counter: Option<Arc<AtomicU64>>) {
    // `try_`: also called while the thread unwinds or tears down its thread-locals.
    let _ = PANIC_COUNTER.try_with(|c| {
        if let Ok(mut slot) = c.try_borrow_mut() {
            *slot = counter;
        }
    });
}

/// Counts a caught panic against the calling thread's worker, if it is one.
fn count_panic() {
    let _ = PANIC_COUNTER.try_with(|c| {
        if let Ok(slot) = c.try_borrow() {
            if let Some(counter) = slot.as_ref() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

/// Runs `f`, turning a panic into [`Panicked`]. The panic is counted in the current worker's
/// stats ([`WorkerLoop::panics`](crate::WorkerLoop::panics)).
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        count_panic();
        Panicked::from_payload(&*payload)
    })
}

/// A future that resolves to `Err(Panicked)` instead of unwinding when polling `F` panics.
/// A panicked future is dropped at once (its destructors run on the worker, as for any task).
pub(crate) struct CatchUnwind<F> {
    fut: Option<F>,
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(fut: F) -> Self {
        CatchUnwind { fut: Some(fut) }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out while `Some` (it is only
        // dropped in place by `set(None)`), and `CatchUnwind` has no `Drop` impl or `Unpin`
        // impl that would move it.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `slot` stays where it is for as long as it is `Some`.
        let mut slot = unsafe { Pin::new_unchecked(&mut this.fut) };
        let Some(fut) = slot.as_mut().as_pin_mut() else {
            // Polled again after it finished: the awaiter already had its output.
            return Poll::Pending;
        };
        match catch(|| fut.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                slot.set(None);
                Poll::Ready(Ok(v))
            }
            Err(panicked) => {
                // A destructor that panics again is caught too; the task is over either way.
                let _ = catch(|| slot.set(None));
                Poll::Ready(Err(panicked))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_future_becomes_an_error() {
        let out: Result<u8, Panicked> = futures_lite::future::block_on(CatchUnwind::new(async {
            panic!("boom {}", 7);
        }));
        assert_eq!(
            out.map_err(|e| e.message().to_owned()),
            Err("boom 7".into())
        );
    }

    #[test]
    fn a_future_that_finishes_passes_its_output_through() {
        let out = futures_lite::future::block_on(CatchUnwind::new(async { 5u8 }));
        assert_eq!(out, Ok(5));
    }

    #[test]
    fn a_static_str_payload_keeps_its_message() {
        let out: Result<(), Panicked> = catch(|| std::panic::panic_any("plain"));
        assert_eq!(out.map_err(|e| e.message().to_owned()), Err("plain".into()));
    }
}
