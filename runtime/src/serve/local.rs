//! One server's state on one worker: its shutdown events, its open connections and what
//! became of them, and the worker's registry of servers (so a shutdown job, or the worker's
//! own exit, finds them).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::event::Event;

/// Counters of one server over all its workers, readable from any thread. Touched once per
/// connection (accept, close), never per request.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) accepted: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
}

/// One server on one worker. Holds only cells and events (no task handles), so it may outlive
/// the tasks that use it in any order.
pub(crate) struct WorkerServe {
    pub(crate) id: u64,
    /// Fired first: the accept loop stops and closes its listener.
    pub(crate) stop: Event,
    /// Fired by the accept loop once its listener is closed.
    pub(crate) accept_done: Event,
    /// Fired second: connections finish what they are doing and close ([`Drain`]).
    pub(crate) draining: Event,
    /// Fired at the deadline: every connection still open is dropped, closing its socket.
    pub(crate) cut: Event,
    /// Fired when the last connection closes after `draining`.
    pub(crate) all_closed: Event,
    live: Cell<usize>,
    drained: Cell<u64>,
    cut_count: Cell<u64>,
    pub(crate) stats: Arc<Stats>,
}

thread_local! {
    /// The servers on this worker. Weak: the accept loop and the connection tasks own the
    /// state; an entry whose tasks are gone (the executor dropped them) just fails to upgrade.
    static SERVERS: RefCell<Vec<(u64, Weak<WorkerServe>)>> = const { RefCell::new(Vec::new()) };
}

impl WorkerServe {
    pub(crate) fn register(id: u64, stats: Arc<Stats>) -> Rc<WorkerServe> {
        let ws = Rc::new(WorkerServe {
            id,
            stop: Event::default(),
            accept_done: Event::default(),
            draining: Event::default(),
            cut: Event::default(),
            all_closed: Event::default(),
            live: Cell::new(0),
            drained: Cell::new(0),
            cut_count: Cell::new(0),
            stats,
        });
        SERVERS.with(|s| {
            let mut servers = s.borrow_mut();
            servers.retain(|(_, w)| w.strong_count() > 0);
            servers.push((id, Rc::downgrade(&ws)));
        });
        ws
    }

    /// Takes server `id` out of this worker's registry.
    pub(crate) fn take(id: u64) -> Option<Rc<WorkerServe>> {
        SERVERS.with(|s| {
            let mut servers = s.borrow_mut();
            let at = servers.iter().position(|(sid, _)| *sid == id)?;
            servers.swap_remove(at).1.upgrade()
        })
    }

    /// Takes every server out of this worker's registry (the worker is exiting).
    pub(crate) fn take_all() -> Vec<Rc<WorkerServe>> {
        SERVERS.with(|s| {
            s.borrow_mut()
                .drain(..)
                .filter_map(|(_, w)| w.upgrade())
                .collect()
        })
    }

    /// Connections of this server open on this worker.
    pub(crate) fn live(&self) -> usize {
        self.live.get()
    }

    /// Connections that closed on their own after draining began, and connections cut.
    pub(crate) fn outcome(&self) -> (u64, u64) {
        (self.drained.get(), self.cut_count.get())
    }

    /// Stops everything at once: no more accepts, every connection told to drain and cut.
    pub(crate) fn abort(&self) {
        self.stop.fire();
        self.draining.fire();
        self.cut.fire();
        if self.live.get() == 0 {
            self.all_closed.fire();
        }
    }
}

/// Counts one open connection for as long as it lives, and on drop records how it ended.
pub(crate) struct ConnGuard(Rc<WorkerServe>);

impl ConnGuard {
    pub(crate) fn new(ws: Rc<WorkerServe>) -> ConnGuard {
        ws.live.set(ws.live.get() + 1);
        ConnGuard(ws)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let ws = &self.0;
        ws.live.set(ws.live.get().saturating_sub(1));
        ws.stats.closed.fetch_add(1, Ordering::Relaxed);
        if ws.cut.is_fired() {
            ws.cut_count.set(ws.cut_count.get() + 1);
        } else if ws.draining.is_fired() {
            ws.drained.set(ws.drained.get() + 1);
        }
        if ws.live.get() == 0 && ws.draining.is_fired() {
            ws.all_closed.fire();
        }
    }
}

/// Fires `accept_done` however the accept loop ends (stopped, dropped with its executor, or a
/// panic), after its listener is gone.
pub(crate) struct AcceptDone(pub(crate) Rc<WorkerServe>);

impl Drop for AcceptDone {
    fn drop(&mut self) {
        self.0.accept_done.fire();
    }
}

/// A connection's view of its server's shutdown, handed to the connection handler.
///
/// When the server's [`shutdown`](super::Serving::shutdown) begins, [`draining`](Self::draining)
/// completes: the handler should finish the request in flight and close (for HTTP/1.1: answer,
/// then stop keep-alive; `serve_http` does this for hyper). A handler that ignores it is cut
/// at the deadline.
#[derive(Clone)]
pub struct Drain(pub(crate) Rc<WorkerServe>);

impl Drain {
    /// True once the server has begun shutting down.
    pub fn is_draining(&self) -> bool {
        self.0.draining.is_fired()
    }

    /// Completes when the server begins shutting down (at once if it has).
    pub async fn draining(&self) {
        self.0.draining.wait().await;
    }
}

impl std::fmt::Debug for Drain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain")
            .field("server", &self.0.id)
            .field("draining", &self.is_draining())
            .finish()
    }
}
