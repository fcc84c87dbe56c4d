//! A one-shot channel for completing a caller that lives on another thread.
//!
//! Callers on the owning worker are completed without atomics (`Rc` slots); this channel is for
//! the others (a tokio task, a plain thread). A mutex is enough: one value crosses, once.
//!
//! The sender may register work to run when the receiver gives up ([`Sender::on_cancel`]), so
//! work whose result nobody awaits any more can stop (see
//! [`WorkerLoop::spawn`](crate::WorkerLoop::spawn)).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Work registered by the sender for when the receiver gives up.
pub type OnCancel = Box<dyn FnOnce() + Send>;

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// See [`Sender::on_cancel`].
    on_cancel: Option<OnCancel>,
    sender_gone: bool,
    receiver_gone: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, State<T>> {
    // A poisoned lock only means another thread panicked while holding it; the state itself is
    // a plain Option and stays consistent, so keep going.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Creates a connected sender and receiver.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        value: None,
        waker: None,
        on_cancel: None,
        sender_gone: false,
        receiver_gone: false,
    }));
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver { shared },
    )
}

/// The sending half: `send` once, or drop it to tell the receiver no value will come.
pub struct Sender<T> {
    shared: Option<Shared<T>>,
}

/// The receiving half: a future of the value, or [`Canceled`] when the sender was dropped.
pub struct Receiver<T> {
    shared: Shared<T>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sender was dropped without a value")]
pub struct Canceled;

impl<T> Sender<T> {
    /// Sends the value; gives it back when the receiver is gone.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let Some(shared) = self.shared.take() else {
            return Err(value);
        };
        let (waker, on_cancel) = {
            let mut state = lock(&shared);
            if state.receiver_gone {
                return Err(value);
            }
            state.value = Some(value);
            state.sender_gone = true;
            (state.waker.take(), state.on_cancel.take())
        };
        // No longer needed; dropped here, on the sender's thread, outside the lock.
        drop(on_cancel);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Registers `f` for the receiver to take when it gives up before a value was sent (see
    /// [`Receiver::close`]; a plain drop of the receiver runs it there). Gives `f` back when
    /// the receiver is already gone. Replaces an earlier registration.
    pub fn on_cancel(&self, f: OnCancel) -> Result<(), OnCancel> {
        let Some(shared) = &self.shared else {
            return Err(f);
        };
        let mut state = lock(shared);
        if state.receiver_gone {
            return Err(f);
        }
        state.on_cancel = Some(f);
        Ok(())
    }

    /// True when the receiver was dropped, so a value would be thrown away.
    pub fn is_canceled(&self) -> bool {
        self.shared.as_ref().is_none_or(|s| lock(s).receiver_gone)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let (waker, on_cancel) = {
                let mut state = lock(&shared);
                state.sender_gone = true;
                (state.waker.take(), state.on_cancel.take())
            };
            drop(on_cancel);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.shared);
        if let Some(value) = state.value.take() {
            return Poll::Ready(Ok(value));
        }
        if state.sender_gone {
            return Poll::Ready(Err(Canceled));
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Receiver<T> {
    /// Gives up on the value, as dropping the receiver does, and returns the sender's
    /// [`on_cancel`](Sender::on_cancel) work (if the sender registered some and has not sent
    /// yet) for the caller to run where it belongs, instead of running it here.
    pub fn close(&mut self) -> Option<OnCancel> {
        let (value, on_cancel) = {
            let mut state = lock(&self.shared);
            state.receiver_gone = true;
            (state.value.take(), state.on_cancel.take())
        };
        // An unreceived value is dropped here, on the receiver's thread, not later on the
        // sender's; outside the lock.
        drop(value);
        on_cancel
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(on_cancel) = self.close() {
            on_cancel();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_crosses_threads() {
        let (tx, rx) = channel();
        std::thread::spawn(move || tx.send(7u32).unwrap());
        assert_eq!(futures_lite::future::block_on(rx), Ok(7));
    }

    #[test]
    fn dropped_sender_cancels() {
        let (tx, rx) = channel::<u8>();
        drop(tx);
        assert_eq!(futures_lite::future::block_on(rx), Err(Canceled));
    }

    #[test]
    fn a_dropped_receiver_runs_on_cancel_and_a_sent_value_clears_it() {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = channel::<u8>();
        let flag = ran.clone();
        assert!(tx
            .on_cancel(Box::new(
                move || flag.store(true, std::sync::atomic::Ordering::SeqCst)
            ))
            .is_ok());
        drop(rx);
        assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
        assert!(tx.on_cancel(Box::new(|| {})).is_err());

        let (tx, mut rx) = channel::<u8>();
        assert!(tx
            .on_cancel(Box::new(|| panic!("ran after a send")))
            .is_ok());
        tx.send(1).unwrap();
        assert!(rx.close().is_none());
    }

    #[test]
    fn send_to_dropped_receiver_returns_value() {
        let (tx, rx) = channel();
        drop(rx);
        assert!(tx.is_canceled());
        assert_eq!(tx.send(3u8), Err(3));
    }
}
