//! The connections registered on this worker, so shutdown can close each one.

use std::cell::RefCell;
use std::rc::Weak;

use super::CloseCause;

/// Something the worker can close at shutdown.
pub(crate) trait Closeable {
    fn close_with(&self, cause: CloseCause);
    fn is_closed(&self) -> bool;
}

thread_local! {
    static REGISTERED: RefCell<Vec<Weak<dyn Closeable>>> = const { RefCell::new(Vec::new()) };
}

/// Remembers a connection. Dead entries are swept when the list doubles, so the list stays
/// proportional to the live connections.
pub(crate) fn add(conn: Weak<dyn Closeable>) {
    REGISTERED.with(|list| {
        let mut list = list.borrow_mut();
        if list.len() >= 64 && list.len().is_power_of_two() {
            list.retain(|c| c.upgrade().is_some_and(|c| !c.is_closed()));
        }
        list.push(conn);
    });
}

/// Closes every live connection on this worker with `cause`.
pub(crate) fn close_all(cause: &CloseCause) {
    // An `on_close` may register a new connection (reconnect-on-close); registering is refused
    // once the worker is shutting down, so this loop ends.
    loop {
        let conns = REGISTERED.with(|list| std::mem::take(&mut *list.borrow_mut()));
        if conns.is_empty() {
            return;
        }
        for conn in conns.iter().filter_map(Weak::upgrade) {
            conn.close_with(cause.clone());
        }
    }
}
