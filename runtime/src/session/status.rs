//! A session's status, readable from any thread: connected, connection count, the current
//! connection's id, the last error.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while holding it; the slot is always whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// See the module docs.
#[derive(Debug)]
pub struct Status<E> {
    connected: AtomicBool,
    connects: AtomicU64,
    /// The server's id of the current connection (PostgreSQL's backend pid); 0: none.
    id: AtomicI64,
    last_error: Mutex<Option<E>>,
}

impl<E> Default for Status<E> {
    fn default() -> Self {
        Status {
            connected: AtomicBool::new(false),
            connects: AtomicU64::new(0),
            id: AtomicI64::new(0),
            last_error: Mutex::new(None),
        }
    }
}

impl<E: Clone> Status<E> {
    /// A connection is up, with the server's id for it (`Some`, 0 for none), or gone
    /// (`None`).
    pub fn set_connected(&self, id: Option<i64>) {
        if id.is_some() {
            self.connects.fetch_add(1, Ordering::Relaxed);
        }
        self.id.store(id.unwrap_or(0), Ordering::Release);
        self.connected.store(id.is_some(), Ordering::Release);
    }

    /// True while a connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// How many connections were established.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// The server's id of the current connection; `None` while disconnected or when the
    /// server gave none.
    pub fn connection_id(&self) -> Option<i64> {
        match self.id.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }

    /// Records the latest error (kept after recovery, for diagnostics).
    pub fn set_error(&self, error: E) {
        *lock(&self.last_error) = Some(error);
    }

    /// The latest error.
    pub fn last_error(&self) -> Option<E> {
        lock(&self.last_error).clone()
    }
}
