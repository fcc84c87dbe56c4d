//! The thread-local map from client to its state on this worker, and the handle that owns it.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::gather::{gather, Answer};
use super::{Counters, Health, Stats, WorkerHealth, WorkerStats};
use crate::provider::Provider;

/// A client's state on one worker (its pools, its counters).
pub trait WorkerState: 'static {
    /// Called on the worker when the client is dropped: close the pools (connections close
    /// when their last user is done).
    fn close(&self);

    /// The state's counters, if it keeps [`Counters`]: with the `metrics` feature, each
    /// worker then publishes [`stats`](Self::stats) every
    /// `metrics::PUBLISH_EVERY` (feature `metrics`) while the state lives.
    fn counters(&self) -> Option<&Counters> {
        None
    }

    /// The counters now, with the worker's connection counts (what `stats()` reports).
    fn stats(&self, worker: usize) -> WorkerStats {
        self.counters()
            .map_or_else(|| WorkerStats::empty(worker), |c| c.snapshot(Some(worker)))
    }
}

/// One entry of the map: the state, and how to close it without knowing its type.
struct Entry {
    state: Rc<dyn Any>,
    close: fn(&dyn Any),
}

fn close_as<S: WorkerState>(state: &dyn Any) {
    if let Some(state) = state.downcast_ref::<S>() {
        state.close();
    }
}

thread_local! {
    /// Client key → its state on this worker.
    static STATES: RefCell<HashMap<u64, Entry>> = RefCell::new(HashMap::new());
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// Removes client `key`'s state on this worker and closes it.
fn forget(key: u64) {
    let removed = STATES.with(|s| s.borrow_mut().remove(&key));
    if let Some(entry) = removed {
        (entry.close)(&*entry.state);
    }
}

/// This worker's state for client `key`, if it was made here.
fn find<S: WorkerState>(key: u64) -> Option<Rc<S>> {
    let state = STATES.with(|s| s.borrow().get(&key).map(|e| e.state.clone()))?;
    state.downcast::<S>().ok()
}

/// A client's state of type `S` on each of its workers, owned by the client handle.
///
/// `Send + Sync` (the states themselves stay on their workers). Dropping it forgets the state
/// on every worker: a job submitted to each removes it and calls [`WorkerState::close`]. A
/// worker that has shut down has nothing left to forget.
pub struct PerWorker<S: WorkerState> {
    key: u64,
    workers: Provider,
    _state: PhantomData<fn() -> S>,
}

impl<S: WorkerState> std::fmt::Debug for PerWorker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerWorker")
            .field("key", &self.key)
            .field("workers", &self.workers.num_workers())
            .finish()
    }
}

impl<S: WorkerState> PerWorker<S> {
    /// A new client's (empty) state on `workers`.
    pub fn new(workers: Provider) -> Self {
        PerWorker {
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            workers,
            _state: PhantomData,
        }
    }

    /// A number unique to this client in the process (for a driver's own per-thread caches).
    pub fn key(&self) -> u64 {
        self.key
    }

    /// The workers the state lives on.
    pub fn workers(&self) -> &Provider {
        &self.workers
    }

    /// This worker's state, made by `make` on first use. Call it on one of the workers; on
    /// another thread it makes (and keeps) a state for that thread.
    pub fn local<E>(&self, make: impl FnOnce() -> Result<S, E>) -> Result<Rc<S>, E> {
        if let Some(found) = find::<S>(self.key) {
            return Ok(found);
        }
        let state = Rc::new(make()?);
        let entry = Entry {
            state: state.clone(),
            close: close_as::<S>,
        };
        STATES.with(|s| s.borrow_mut().insert(self.key, entry));
        #[cfg(feature = "metrics")]
        if state.counters().is_some() {
            if let Some(worker) = crate::WorkerLoop::current() {
                let _ = crate::task::spawn_detached(publish(Rc::downgrade(&state), worker.id()));
            }
        }
        Ok(state)
    }

    /// This worker's state if it has been made here.
    pub fn local_if_made(&self) -> Option<Rc<S>> {
        find::<S>(self.key)
    }

    /// Runs `ask` on every worker with that worker's state (`None` when the client has not
    /// been used there yet) and collects the answers in worker order. A worker that does not
    /// answer within `deadline` (busy, stuck, or shut down) gives [`Answer::NoReply`], and its
    /// `ask` future is dropped there.
    ///
    /// Never blocks a worker: on a worker, it awaits the others' answers like any other task.
    /// The future is `Send`, so a tokio task can await it.
    pub async fn gather<T, F, Fut>(&self, deadline: Duration, ask: F) -> Vec<Answer<T>>
    where
        T: Send + 'static,
        F: Fn(usize, Option<Rc<S>>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let key = self.key;
        gather(&self.workers, deadline, move |worker| {
            let ask = ask.clone();
            move || ask(worker, find::<S>(key))
        })
        .await
    }
}

/// Publishes `state`'s stats as metrics every `PUBLISH_EVERY`, until the state is gone.
#[cfg(feature = "metrics")]
async fn publish<S: WorkerState>(state: std::rc::Weak<S>, worker: usize) {
    loop {
        crate::task::sleep(super::metrics::PUBLISH_EVERY).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        if let Some(counters) = state.counters() {
            counters.publish(&state.stats(worker));
        }
    }
}

/// How long [`PerWorker::stats`] waits for a worker: a worker answers as soon as its current
/// task yields, so only a stuck one takes longer.
pub const STATS_DEADLINE: Duration = Duration::from_secs(1);

/// How long [`PerWorker::health`] waits for a worker; the driver's round trip to the server
/// should take at most three quarters of it ([`HEALTH_CHECK_WITHIN`]), so a slow server shows
/// as unreachable rather than as a dead worker.
pub const HEALTH_DEADLINE: Duration = Duration::from_secs(4);

/// How long a driver's health check may wait for the server (see [`HEALTH_DEADLINE`]).
pub const HEALTH_CHECK_WITHIN: Duration = Duration::from_secs(3);

impl<S: WorkerState> PerWorker<S> {
    /// Every worker's [`WorkerState::stats`] (zeros where the client was not used yet), each
    /// also published as metrics (feature `metrics`): what a driver's `stats()` returns.
    pub async fn stats(&self) -> Stats {
        let answers = self
            .gather(STATS_DEADLINE, |worker, state| async move {
                state.map_or_else(
                    || WorkerStats::empty(worker),
                    |s| {
                        let stats = s.stats(worker);
                        if let Some(counters) = s.counters() {
                            counters.publish(&stats);
                        }
                        stats
                    },
                )
            })
            .await;
        let unanswered = answers
            .iter()
            .filter(|a| !matches!(a, Answer::Replied(_)))
            .count();
        Stats::new(
            answers.into_iter().filter_map(Answer::replied).collect(),
            unanswered,
        )
    }

    /// Runs the driver's `check` on every worker (it reaches the server and reports, see
    /// [`WorkerHealth::answered`]); a worker that does not answer within [`HEALTH_DEADLINE`]
    /// is reported dead ([`WorkerHealth::unanswered`]). What a driver's `health()` returns.
    pub async fn health<F, Fut>(&self, check: F) -> Health
    where
        F: Fn(usize) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = WorkerHealth> + 'static,
    {
        let answers = self
            .gather(HEALTH_DEADLINE, move |worker, _| check(worker))
            .await;
        Health::new(
            answers
                .into_iter()
                .enumerate()
                .map(|(n, a)| a.replied().unwrap_or_else(|| WorkerHealth::unanswered(n)))
                .collect(),
        )
    }
}

impl<S: WorkerState> Drop for PerWorker<S> {
    fn drop(&mut self) {
        let key = self.key;
        for n in 0..self.workers.num_workers() {
            if let Some(worker) = self.workers.worker(n) {
                let _ = worker.submit(move || forget(key));
            }
        }
    }
}
