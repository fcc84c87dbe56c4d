//! Where replies go: a batch's slots, a caller on another thread, or nowhere.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Waker};

use super::RequestError;
use crate::oneshot;

/// The result slots of one batch, shared between the batch and its bridge-queue entries.
/// Same-worker only: no atomics.
pub(crate) struct Slots<R> {
    results: RefCell<Vec<Option<Result<R, RequestError>>>>,
    remaining: Cell<usize>,
    waker: Cell<Option<Rc<Waker>>>,
    /// The batch's future was dropped: replies still arrive (and must be read) but are dropped.
    abandoned: Cell<bool>,
}

impl<R> Slots<R> {
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(Slots {
            results: RefCell::new(Vec::new()),
            remaining: Cell::new(0),
            waker: Cell::new(None),
            abandoned: Cell::new(false),
        })
    }

    /// Prepares `n` empty slots for a new run.
    pub(crate) fn reset(&self, n: usize) {
        let mut results = self.results.borrow_mut();
        results.clear();
        results.resize_with(n, || None);
        self.remaining.set(n);
        self.abandoned.set(false);
        self.waker.take();
    }

    /// Stores a result without waking anyone: the direct path, where the batch itself reads.
    pub(crate) fn put(&self, k: usize, result: Result<R, RequestError>) {
        if let Some(slot) = self.results.borrow_mut().get_mut(k) {
            *slot = Some(result);
        }
        self.remaining.set(self.remaining.get().saturating_sub(1));
    }

    /// Stores a result delivered by the reader and wakes the batch when it was the last one.
    pub(crate) fn fill(&self, k: usize, result: Result<R, RequestError>) {
        if self.abandoned.get() {
            return;
        }
        self.put(k, result);
        if self.remaining.get() == 0 {
            if let Some(w) = self.waker.take() {
                w.wake_by_ref();
            }
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.remaining.get()
    }

    /// Remembers who to wake. Thousands of runs awaited by one task share one waker clone
    /// through `cache`: glommio counts a task's waker clones in an `i16` and aborts past it.
    pub(crate) fn register(&self, cx: &Context<'_>, cache: &WakerCache) {
        self.waker.set(Some(cache.get(cx)));
    }

    pub(crate) fn abandon(&self) {
        self.abandoned.set(true);
        self.waker.take();
    }

    pub(crate) fn take(&self, k: usize) -> Option<Result<R, RequestError>> {
        self.results.borrow_mut().get_mut(k).and_then(Option::take)
    }

    pub(crate) fn take_all(&self) -> Vec<Result<R, RequestError>> {
        std::mem::take(&mut *self.results.borrow_mut())
            .into_iter()
            .map(|r| r.unwrap_or(Err(RequestError::WorkerClosed)))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.results.borrow().len()
    }
}

/// Wakers of the tasks that recently ran requests on a connection, each shared (as one
/// `Rc<Waker>`) by all the runs of its task: a task with tens of thousands of runs in flight
/// must not clone its glommio waker once per run (the waker count is an `i16`).
///
/// Up to [`WAKER_CACHE_SIZE`] tasks are remembered, so tasks taking turns on one connection —
/// the bridge queue's usual case — find theirs instead of allocating a new `Rc` per request;
/// beyond that the oldest entry is replaced. An entry keeps its task's header alive until it
/// is replaced or the connection goes, a bounded amount.
#[derive(Default)]
pub(crate) struct WakerCache {
    entries: RefCell<Vec<Rc<Waker>>>,
    /// The entry replaced next once the cache is full.
    next: std::cell::Cell<usize>,
}

/// How many tasks' wakers a connection remembers (64 concurrent callers per worker is the
/// benchmarks' busy case; more only costs an allocation per request for the extra ones).
const WAKER_CACHE_SIZE: usize = 64;

impl WakerCache {
    fn get(&self, cx: &Context<'_>) -> Rc<Waker> {
        let mut entries = self.entries.borrow_mut();
        if let Some(w) = entries.iter().find(|w| w.will_wake(cx.waker())) {
            return w.clone();
        }
        let fresh = Rc::new(cx.waker().clone());
        if entries.len() < WAKER_CACHE_SIZE {
            entries.push(fresh.clone());
        } else {
            let at = self.next.get() % WAKER_CACHE_SIZE;
            if let Some(slot) = entries.get_mut(at) {
                *slot = fresh.clone();
            }
            self.next.set(at + 1);
        }
        fresh
    }
}

/// Where the reply of one bridge-queue entry goes.
pub(crate) enum Sink<R> {
    /// Slot `k` of a batch on this worker.
    Batch(Rc<Slots<R>>, usize),
    /// A caller on another thread.
    Remote(oneshot::Sender<Result<R, RequestError>>),
    /// A placeholder: the caller is gone, the reply is read and dropped.
    Discard,
}

impl<R> Sink<R> {
    pub(crate) fn deliver(self, result: Result<R, RequestError>) {
        match self {
            Sink::Batch(slots, k) => slots.fill(k, result),
            Sink::Remote(tx) => {
                // The receiver may be gone (its future dropped); the reply is then dropped.
                let _ = tx.send(result);
            }
            Sink::Discard => {}
        }
    }
}
