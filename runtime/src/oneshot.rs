//! A one-shot channel for completing a caller that lives on another thread.
//!
//! Callers on the owning worker are completed without atomics (`Rc` slots); this channel is for
//! the others (a tokio task, a plain thread). A mutex is enough: one value crosses, once.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
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
        let waker = {
            let mut state = lock(&shared);
            if state.receiver_gone {
                return Err(value);
            }
            state.value = Some(value);
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
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
            let waker = {
                let mut state = lock(&shared);
                state.sender_gone = true;
                state.waker.take()
            };
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

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.receiver_gone = true;
        // Drop an unreceived value here, on the receiver's thread, not later on the sender's.
        state.value = None;
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
    fn send_to_dropped_receiver_returns_value() {
        let (tx, rx) = channel();
        drop(rx);
        assert!(tx.is_canceled());
        assert_eq!(tx.send(3u8), Err(3));
    }
}
