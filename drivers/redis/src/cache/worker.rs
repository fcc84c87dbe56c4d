//! One client's cache on one worker: the store, the tracking connections that keep it
//! current, and what a call does with it (look up, begin a read, fill).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Instant;

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::roundtrip::Pipe;

use super::cacheable::{cacheable_key, other_args};
use super::store::{Limits, Store, Ticket};
use super::{CacheConfig, CacheStats};
use crate::codec::{PushSink, RespCodec};

pub(crate) struct WorkerCache {
    config: CacheConfig,
    store: RefCell<Store>,
    /// Set when an invalidation arrived while the store was in use (it cannot be, by
    /// construction: a guard, not a path): the next access flushes instead of trusting it.
    missed: Cell<bool>,
    /// The live connections whose `CLIENT TRACKING` keeps the store current. When one
    /// closes, the server forgets what it tracked: the next access notices and flushes.
    tracking: RefCell<Vec<Pipe<RespCodec>>>,
    /// Connections whose `CLIENT TRACKING` the server refused (they fill nothing).
    refused: Cell<u64>,
    /// Stands for "now" when there is no TTL (nothing then expires): no clock read per call.
    made: Instant,
}

impl WorkerCache {
    pub(crate) fn new(config: &CacheConfig) -> Rc<WorkerCache> {
        Rc::new(WorkerCache {
            store: RefCell::new(Store::new(Limits {
                max_entries: config.max_entries,
                max_bytes: config.max_bytes,
                ttl: config.ttl,
            })),
            config: config.clone(),
            missed: Cell::new(false),
            tracking: RefCell::new(Vec::new()),
            refused: Cell::new(0),
            made: Instant::now(),
        })
    }

    pub(crate) fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The push sink of a tracking connection: invalidations go to the store, and every push
    /// (invalidations included) still goes to `user` ([`Config::on_push`](crate::Config::on_push)).
    /// Holds the cache weakly: the cache holds the connection.
    pub(crate) fn sink(self: &Rc<Self>, user: Option<PushSink>) -> PushSink {
        let cache = Rc::downgrade(self);
        Rc::new(move |frame: Vec<Value>| {
            if let Some(cache) = Weak::upgrade(&cache) {
                cache.on_push(&frame);
            }
            if let Some(user) = &user {
                user(frame);
            }
        })
    }

    /// `>invalidate [key…]` removes those keys; `>invalidate nil` (FLUSHALL, FLUSHDB, the
    /// server's tracking table overflowing) removes everything.
    fn on_push(&self, frame: &[Value]) {
        let [kind, keys] = frame else {
            return;
        };
        if kind.as_bytes().map(|b| &b[..]) != Some(b"invalidate") {
            return;
        }
        let Ok(mut store) = self.store.try_borrow_mut() else {
            self.missed.set(true);
            return;
        };
        match keys {
            Value::Array(keys) | Value::Set(keys) => {
                for key in keys {
                    match key.as_bytes() {
                        Some(key) => store.invalidate(key),
                        // Not a key we can match: trust nothing.
                        None => store.flush(),
                    }
                }
            }
            _ => store.flush(),
        }
    }

    fn now(&self) -> Instant {
        if self.config.ttl.is_some() {
            Instant::now()
        } else {
            self.made
        }
    }

    /// A new connection that tracks for this cache.
    pub(crate) fn track(&self, pipe: Pipe<RespCodec>) {
        self.tracking.borrow_mut().push(pipe);
    }

    /// A connection whose `CLIENT TRACKING` was refused.
    pub(crate) fn refused(&self) {
        self.refused.set(self.refused.get() + 1);
    }

    /// The client is closing: nothing is tracked any more.
    pub(crate) fn close(&self) {
        self.tracking.borrow_mut().clear();
        self.store.borrow_mut().flush();
    }

    /// Flushes when a tracking connection closed (or an invalidation was missed) since the
    /// last access: the server no longer tells us about the keys read through it.
    fn check(&self, store: &mut Store) {
        let mut tracking = self.tracking.borrow_mut();
        let before = tracking.len();
        tracking.retain(|pipe| !pipe.is_closed());
        if tracking.len() != before || self.missed.replace(false) {
            store.flush();
        }
    }

    /// The cached reply of `cmd`, or `None` (not cacheable, or a miss).
    pub(crate) fn lookup(&self, cmd: &Cmd) -> Option<Value> {
        let key = self.key_of(cmd)?;
        let mut store = self.store.borrow_mut();
        self.check(&mut store);
        store.get(key, || other_args(cmd), self.now())
    }

    fn key_of<'a>(&self, cmd: &'a Cmd) -> Option<&'a [u8]> {
        let key = cacheable_key(cmd)?;
        match &self.config.broadcast {
            // In BCAST mode the server reports changes to keys under the prefixes only.
            Some(prefixes) if !prefixes.is_empty() => prefixes
                .iter()
                .any(|p| key.starts_with(p.as_bytes()))
                .then_some(key),
            _ => Some(key),
        }
    }

    /// `cmd` (a miss) is about to be sent on a tracking connection: its reply may fill.
    pub(crate) fn begin_read(self: &Rc<Self>, cmd: &Cmd) -> Option<PendingRead> {
        let key: Rc<[u8]> = Rc::from(self.key_of(cmd)?);
        let ticket = self.store.borrow_mut().begin_read(&key);
        Some(PendingRead {
            cache: self.clone(),
            key,
            ticket,
        })
    }

    /// Counters and size.
    pub(crate) fn stats(&self) -> CacheStats {
        let mut store = self.store.borrow_mut();
        self.check(&mut store);
        let mut stats = store.snapshot();
        stats.tracking_connections = self.tracking.borrow().len() as u64;
        stats.tracking_refused = self.refused.get();
        stats
    }
}

/// A cacheable read in flight; ends (releasing its key) when dropped.
pub(crate) struct PendingRead {
    cache: Rc<WorkerCache>,
    key: Rc<[u8]>,
    ticket: Ticket,
}

impl PendingRead {
    /// The read's reply arrived: cache it unless it is an error or was spoiled meanwhile.
    pub(crate) fn complete(self, cmd: &Cmd, value: &Value) {
        if matches!(
            value,
            Value::Error(_) | Value::BlobError(_) | Value::Push(_)
        ) {
            return;
        }
        let cache = &self.cache;
        let mut store = cache.store.borrow_mut();
        cache.check(&mut store);
        let args = other_args(cmd).enumerate().map(|(i, a)| -> Box<[u8]> {
            if i == 0 {
                a.to_ascii_uppercase().into()
            } else {
                a.into()
            }
        });
        store.fill(&self.key, args, value, self.ticket, cache.now());
    }
}

impl Drop for PendingRead {
    fn drop(&mut self) {
        match self.cache.store.try_borrow_mut() {
            Ok(mut store) => store.end_read(&self.key),
            // Dropped while the store is in use (cannot happen: `complete` drops it after);
            // a leftover pending entry only spoils later fills of this key, never serves.
            Err(_) => self.cache.missed.set(true),
        }
    }
}
