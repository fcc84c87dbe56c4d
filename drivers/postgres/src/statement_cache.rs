//! One connection's prepared statements: SQL → server-side name, least recently used evicted.
//!
//! With a capacity of 0 nothing is named: every statement is parsed into the unnamed statement
//! (`""`) in the same request that runs it, so the server keeps nothing between requests (the
//! setting for pgbouncer in transaction mode, where a named statement may land on another
//! backend).

use std::collections::HashMap;
use std::sync::Arc;

use crate::statement::Column;

/// The name a request uses for its statement.
pub(crate) struct Named<'a> {
    /// The server-side name (`""`: the unnamed statement).
    pub(crate) name: &'a str,
    /// True when the request must `Parse` it first.
    pub(crate) parse: bool,
    /// The result columns the server reported for this statement on this connection, once a
    /// reply confirmed them (`None` before that, and for the unnamed statement).
    pub(crate) known: Option<&'a Arc<[Column]>>,
}

/// One named statement.
struct Entry {
    name: String,
    used: u64,
    known: Option<Arc<[Column]>>,
}

pub(crate) struct StatementCache {
    names: HashMap<Arc<str>, Entry>,
    capacity: usize,
    next_id: u64,
    clock: u64,
    /// Names the cache no longer holds whose statements may still exist on the server: each
    /// stays here until a request that `Close`s it is on its way to the server (see
    /// [`take_to_close`](Self::take_to_close)), so no name is forgotten unclosed.
    to_close: Vec<String>,
}

impl StatementCache {
    pub(crate) fn new(capacity: usize) -> Self {
        StatementCache {
            names: HashMap::new(),
            capacity,
            next_id: 0,
            clock: 0,
            to_close: Vec::new(),
        }
    }

    /// The names to `Close`, taken: the caller puts their `Close`s at the start of its
    /// request, and gives them back ([`close_again`](Self::close_again)) if that request is
    /// not sent after all. Nothing is allocated when there are none.
    pub(crate) fn take_to_close(&mut self) -> Vec<String> {
        std::mem::take(&mut self.to_close)
    }

    /// Names taken by [`take_to_close`](Self::take_to_close) whose `Close`s were not sent: the
    /// next request closes them.
    pub(crate) fn close_again(&mut self, names: Vec<String>) {
        if self.to_close.is_empty() {
            // Keeps the taken vector (and its capacity) instead of copying into a new one.
            self.to_close = names;
        } else {
            self.to_close.extend(names);
        }
    }

    /// The name of `sql`'s statement, marked as just used; created (to be parsed) when new.
    /// Borrowed: the caller encodes with the cache still borrowed, so no name is copied per
    /// query.
    pub(crate) fn name_for(&mut self, sql: &Arc<str>) -> Named<'_> {
        if self.capacity == 0 {
            return Named {
                name: "",
                parse: true,
                known: None,
            };
        }
        self.clock += 1;
        let clock = self.clock;
        let parse = !self.names.contains_key(&**sql);
        if parse {
            self.insert(sql.clone(), clock);
        }
        match self.names.get_mut(&**sql) {
            Some(entry) => {
                entry.used = clock;
                Named {
                    name: &entry.name,
                    parse,
                    known: entry.known.as_ref(),
                }
            }
            // Just inserted (the capacity is at least 1): not reached.
            None => Named {
                name: "",
                parse,
                known: None,
            },
        }
    }

    fn insert(&mut self, sql: Arc<str>, clock: u64) {
        if self.names.len() >= self.capacity {
            if let Some(oldest) = self
                .names
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(k, _)| k.clone())
            {
                if let Some(entry) = self.names.remove(&oldest) {
                    self.to_close.push(entry.name);
                }
            }
        }
        self.next_id += 1;
        let entry = Entry {
            name: format!("cl{}", self.next_id),
            used: clock,
            known: None,
        };
        self.names.insert(sql, entry);
    }

    /// Drops `sql`'s entry and closes its statement with the next request: a Parse that
    /// succeeded before a later failure left it on the server, and closing a statement that
    /// does not exist is not an error.
    pub(crate) fn forget(&mut self, sql: &str) {
        if let Some(entry) = self.names.remove(sql) {
            self.to_close.push(entry.name);
        }
    }

    /// Records the result columns the server reported for statement `name` of `sql` (when
    /// that is still the name the cache has for it).
    pub(crate) fn confirm(&mut self, sql: &str, name: &str, columns: Arc<[Column]>) {
        if let Some(entry) = self.names.get_mut(sql) {
            if entry.name == name {
                entry.known = Some(columns);
            }
        }
    }

    /// After `DISCARD ALL`: the server deallocated every prepared statement.
    pub(crate) fn clear(&mut self) {
        self.names.clear();
        self.to_close.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn capacity_zero_names_nothing() {
        let mut cache = StatementCache::new(0);
        let sql: Arc<str> = "SELECT 1".into();
        for _ in 0..3 {
            let named = cache.name_for(&sql);
            assert_eq!((named.name, named.parse), ("", true));
        }
        assert!(cache.names.is_empty() && cache.to_close.is_empty());
    }

    #[test]
    fn least_recently_used_is_evicted_and_closed() {
        let mut cache = StatementCache::new(2);
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        assert!(cache.name_for(&a).parse);
        assert!(cache.name_for(&b).parse);
        assert!(!cache.name_for(&a).parse);
        assert!(cache.name_for(&c).parse);
        assert_eq!(cache.take_to_close(), ["cl2"]);
        assert!(cache.take_to_close().is_empty());
        assert!(!cache.name_for(&a).parse);
        assert!(cache.name_for(&b).parse);
    }

    #[test]
    fn names_given_back_are_closed_with_the_next_request() {
        let mut cache = StatementCache::new(1);
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        cache.name_for(&a);
        cache.name_for(&b);
        let taken = cache.take_to_close();
        assert_eq!(taken, ["cl1"]);
        // Evicted while the taken names were out.
        cache.name_for(&c);
        cache.close_again(taken);
        let mut left = cache.take_to_close();
        left.sort();
        assert_eq!(left, ["cl1", "cl2"]);
    }
}
