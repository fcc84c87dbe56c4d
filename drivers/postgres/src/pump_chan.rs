//! The bounded channel between a pump on a worker and a stream anywhere (COPY OUT data,
//! streamed rows).
//!
//! The pump reads a big result from an exclusive connection in pieces and pushes each piece
//! here; the stream (on any thread) takes them. The pump asks for [`Sender::room`] before it
//! reads the next piece, so at most [`CAPACITY`] pieces wait: a slow consumer holds the pump
//! back, the pump holds the connection's reading back, and TCP holds the server back.
//!
//! Wakes that cross threads go through the pump's worker's mailbox (glommio notices a foreign
//! wake of an ordinary task only at its next timer tick, its mailbox at once). Every lock is
//! held for a few instructions, never across an await.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use corelane_runtime::{Dispatch, WorkerLoop};

/// Pieces in flight between the pump and the stream.
pub(crate) const CAPACITY: usize = 16;

struct State<M> {
    items: VecDeque<M>,
    sender_gone: bool,
    receiver_gone: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
    /// The pump's worker: a wake from another thread goes through its mailbox.
    worker: Option<WorkerLoop>,
}

struct Chan<M>(Mutex<State<M>>);

impl<M> Chan<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // Poisoned only if a thread panicked inside one of the short sections below, each of
        // which leaves the state consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A channel: the pump's end and the stream's end.
pub(crate) fn channel<M>() -> (Sender<M>, Receiver<M>) {
    let chan = Arc::new(Chan(Mutex::new(State {
        items: VecDeque::new(),
        sender_gone: false,
        receiver_gone: false,
        rx_waker: None,
        tx_waker: None,
        worker: None,
    })));
    (Sender(chan.clone()), Receiver { chan, pump: None })
}

fn wake_pump(waker: Option<Waker>, worker: Option<WorkerLoop>) {
    let Some(waker) = waker else { return };
    match worker {
        Some(worker) if !worker.is_current() => {
            if let Err(_refused) = worker.submit(move || waker.wake()) {
                // The worker is shutting down: nothing to wake.
            }
        }
        _ => waker.wake(),
    }
}

/// The pump's end.
pub(crate) struct Sender<M>(Arc<Chan<M>>);

impl<M> Sender<M> {
    /// Records the calling worker as the pump's: call it first thing on the worker.
    pub(crate) fn on_this_worker(&self) {
        self.0.lock().worker = WorkerLoop::current();
    }

    /// Waits until there is room for one more piece. False when the stream was dropped.
    pub(crate) async fn room(&self) -> bool {
        futures_lite::future::poll_fn(|cx| {
            let mut s = self.0.lock();
            if s.receiver_gone {
                return Poll::Ready(false);
            }
            if s.items.len() < CAPACITY {
                return Poll::Ready(true);
            }
            match &s.tx_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => s.tx_waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// Hands a piece to the stream.
    pub(crate) fn push(&self, msg: M) {
        let waker = {
            let mut s = self.0.lock();
            s.items.push_back(msg);
            s.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<M> Drop for Sender<M> {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.lock();
            s.sender_gone = true;
            s.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The stream's end; also runs the pump when it lives in the stream's own task (a caller on
/// the pump's worker).
pub(crate) struct Receiver<M> {
    chan: Arc<Chan<M>>,
    pump: Option<Dispatch<()>>,
}

impl<M> Receiver<M> {
    /// The pump's future (from `dispatch`): polled by [`poll_recv`](Self::poll_recv) when it
    /// runs locally, dropped with this receiver.
    pub(crate) fn set_pump<F: std::future::Future<Output = ()> + 'static>(
        &mut self,
        pump: Dispatch<(), F>,
    ) {
        self.pump = Some(pump.boxed());
    }

    /// The next piece; `None` once the pump is gone and every piece was taken.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<M>> {
        if let Some(pump) = &mut self.pump {
            if Pin::new(pump).poll(cx).is_ready() {
                self.pump = None;
            }
        }
        let (msg, waker, worker) = {
            let mut s = self.chan.lock();
            match s.items.pop_front() {
                Some(msg) => {
                    let waker = s.tx_waker.take();
                    (msg, waker, s.worker.clone())
                }
                None if s.sender_gone => return Poll::Ready(None),
                None => {
                    match &s.rx_waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => s.rx_waker = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
            }
        };
        wake_pump(waker, worker);
        Poll::Ready(Some(msg))
    }
}

impl<M> Drop for Receiver<M> {
    fn drop(&mut self) {
        let (waker, worker) = {
            let mut s = self.chan.lock();
            s.receiver_gone = true;
            s.items.clear();
            (s.tx_waker.take(), s.worker.clone())
        };
        // A local pump is dropped here (its guard closes the connection); a remote one sees
        // `receiver_gone` and stops.
        self.pump = None;
        wake_pump(waker, worker);
    }
}
