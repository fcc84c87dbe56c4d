//! The statements a client has described (SQL → parameter types and result columns), kept per
//! thread: each worker (and each other thread that calls the client, e.g. a tokio worker)
//! holds its own bounded LRU, so a query takes no lock and touches no memory another core
//! writes. A thread learns a statement once, by describing it; the caches of two threads may
//! disagree after DDL, which is harmless: parameter types are sent with every `Parse`, and rows
//! are decoded with the columns the server reported for the statement actually executed (see
//! `statement_cache.rs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::statement::Statement;

/// Statements one thread remembers per client. Past it, the least recently used quarter is
/// dropped at once, so eviction costs O(1) per insert on average.
pub(crate) const CAPACITY: usize = 4096;

/// One client's statements on this thread.
struct PerClient {
    id: u64,
    /// Dead once the client is dropped: its entries go at the next insert on this thread.
    alive: Weak<()>,
    entries: HashMap<Arc<str>, (Statement, u64)>,
    clock: u64,
}

thread_local! {
    /// A handful of clients per thread at most in practice: a vector, searched linearly.
    static DESCRIBED: RefCell<Vec<PerClient>> = const { RefCell::new(Vec::new()) };
}

/// The statement client `id` described for `sql` on this thread, marked as just used.
pub(crate) fn get(id: u64, sql: &str) -> Option<Statement> {
    // `try_with`: during a thread's teardown the cache may be gone (then nothing is known).
    DESCRIBED
        .try_with(|d| {
            let mut d = d.borrow_mut();
            let client = d.iter_mut().find(|c| c.id == id)?;
            client.clock += 1;
            let clock = client.clock;
            let (stmt, used) = client.entries.get_mut(sql)?;
            *used = clock;
            Some(stmt.clone())
        })
        .ok()
        .flatten()
}

/// Remembers `stmt` for client `id` (alive while `alive` is) on this thread, replacing what
/// was known for its SQL.
pub(crate) fn remember(id: u64, alive: &Arc<()>, stmt: Statement) {
    let _ = DESCRIBED.try_with(|d| {
        let mut d = d.borrow_mut();
        d.retain(|c| c.alive.strong_count() > 0);
        let at = match d.iter().position(|c| c.id == id) {
            Some(at) => at,
            None => {
                d.push(PerClient {
                    id,
                    alive: Arc::downgrade(alive),
                    entries: HashMap::new(),
                    clock: 0,
                });
                d.len() - 1
            }
        };
        let Some(client) = d.get_mut(at) else {
            return;
        };
        if client.entries.len() >= CAPACITY && !client.entries.contains_key(&stmt.sql) {
            evict_quarter(&mut client.entries);
        }
        client.clock += 1;
        client
            .entries
            .insert(stmt.sql.clone(), (stmt, client.clock));
    });
}

/// Forgets what client `id` knows about `sql` on this thread (it is described again at its
/// next use).
pub(crate) fn forget(id: u64, sql: &str) {
    let _ = DESCRIBED.try_with(|d| {
        if let Some(client) = d.borrow_mut().iter_mut().find(|c| c.id == id) {
            client.entries.remove(sql);
        }
    });
}

/// Drops everything client `id` left on this thread.
pub(crate) fn drop_client(id: u64) {
    let _ = DESCRIBED.try_with(|d| d.borrow_mut().retain(|c| c.id != id));
}

/// Drops the least recently used quarter of `entries`.
fn evict_quarter(entries: &mut HashMap<Arc<str>, (Statement, u64)>) {
    let mut clocks: Vec<u64> = entries.values().map(|(_, used)| *used).collect();
    let cut = clocks.len() / 4;
    if cut == 0 {
        entries.clear();
        return;
    }
    let (_, threshold, _) = clocks.select_nth_unstable(cut - 1);
    let threshold = *threshold;
    entries.retain(|_, (_, used)| *used > threshold);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stmt(sql: &str) -> Statement {
        Statement::new(
            sql,
            Vec::new(),
            None,
            &corelane_pg_proto::types::Type::from_oid_or_unresolved,
        )
    }

    #[test]
    fn bounded_and_least_recently_used_first() {
        let alive = Arc::new(());
        for i in 0..CAPACITY {
            remember(7, &alive, stmt(&format!("q{i}")));
        }
        // Touched: survives the eviction.
        assert!(get(7, "q0").is_some());
        remember(7, &alive, stmt("new"));
        assert!(get(7, "q0").is_some() && get(7, "new").is_some());
        assert!(get(7, "q1").is_none(), "the oldest quarter went");
        assert!(get(7, &format!("q{}", CAPACITY - 1)).is_some());
        let count = DESCRIBED.with(|d| d.borrow()[0].entries.len());
        assert!(count <= CAPACITY, "{count}");
        drop_client(7);
        assert!(get(7, "new").is_none());
    }

    #[test]
    fn a_dropped_clients_entries_go() {
        let alive = Arc::new(());
        remember(1, &alive, stmt("a"));
        drop(alive);
        let other = Arc::new(());
        remember(2, &other, stmt("b"));
        assert!(get(1, "a").is_none());
        assert!(get(2, "b").is_some());
        forget(2, "b");
        assert!(get(2, "b").is_none());
    }
}
