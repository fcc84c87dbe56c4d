//! The cache's data, without I/O or clocks (the caller passes `now`): replies by key, a clock
//! (second-chance) eviction order, and the reads in flight that an invalidation must spoil.
//!
//! Call order: [`Store::get`] before sending a cacheable read; on a miss sent over a tracking
//! connection, [`Store::begin_read`], then either [`Store::fill`] with its reply or
//! [`Store::end_read`] alone (failed or dropped call). Invalidations ([`Store::invalidate`],
//! [`Store::flush`]) may arrive at any point in between.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corelane_redis_proto::Value;

use super::CacheStats;

/// Bounds of one worker's store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_entries: usize,
    pub(crate) max_bytes: usize,
    pub(crate) ttl: Option<Duration>,
}

/// What a read sent to the server remembers, to tell at its reply whether an invalidation of
/// its key (or a flush) arrived meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    epoch: u64,
    seq: u64,
}

/// One cached reply of a key: the command's other arguments (name uppercased) and its value.
struct Reply {
    args: Box<[Box<[u8]>]>,
    value: Value,
    bytes: usize,
    expires: Option<Instant>,
}

/// Everything cached for one key; evicted and invalidated as a whole.
struct Slot {
    /// Tells this slot from an older one of the same key in the clock ring.
    id: u64,
    referenced: bool,
    replies: Vec<Reply>,
}

/// Reads of a key in flight.
struct Pending {
    readers: u32,
    /// `seq` of the last invalidation of the key while reads were in flight.
    invalidated_at: u64,
}

pub(crate) struct Store {
    limits: Limits,
    slots: HashMap<Rc<[u8]>, Slot>,
    /// Keys in insertion order with their slot id; an entry whose slot is gone (or has another
    /// id) is stale and skipped.
    ring: VecDeque<(Rc<[u8]>, u64)>,
    pending: HashMap<Rc<[u8]>, Pending>,
    next_id: u64,
    /// Bumped by every flush: a read begun before it must not fill.
    epoch: u64,
    /// Counts invalidations.
    seq: u64,
    entries: usize,
    bytes: usize,
    pub(crate) stats: CacheStats,
}

/// Per-reply bookkeeping on top of the payload bytes, so that many tiny replies still count.
const REPLY_OVERHEAD: usize = 64;

impl Store {
    pub(crate) fn new(limits: Limits) -> Self {
        Store {
            limits,
            slots: HashMap::new(),
            ring: VecDeque::new(),
            pending: HashMap::new(),
            next_id: 0,
            epoch: 0,
            seq: 0,
            entries: 0,
            bytes: 0,
            stats: CacheStats::default(),
        }
    }

    /// The cached reply of the command whose key is `key` and other arguments `args`.
    pub(crate) fn get<'a, I: Iterator<Item = &'a [u8]>>(
        &mut self,
        key: &[u8],
        args: impl Fn() -> I,
        now: Instant,
    ) -> Option<Value> {
        let Some(slot) = self.slots.get_mut(key) else {
            self.stats.misses += 1;
            return None;
        };
        let Some(at) = slot.replies.iter().position(|r| same_args(&r.args, args())) else {
            self.stats.misses += 1;
            return None;
        };
        if slot.replies[at].expires.is_some_and(|t| now >= t) {
            let gone = slot.replies.swap_remove(at);
            self.entries -= 1;
            self.bytes -= gone.bytes;
            self.stats.expired += 1;
            self.stats.misses += 1;
            if slot.replies.is_empty() {
                self.remove_slot(key);
            }
            return None;
        }
        slot.referenced = true;
        self.stats.hits += 1;
        Some(slot.replies[at].value.clone())
    }

    /// A read of `key` is about to be sent.
    pub(crate) fn begin_read(&mut self, key: &Rc<[u8]>) -> Ticket {
        self.pending
            .entry(key.clone())
            .or_insert(Pending {
                readers: 0,
                invalidated_at: 0,
            })
            .readers += 1;
        Ticket {
            epoch: self.epoch,
            seq: self.seq,
        }
    }

    /// A read of `key` ended (with or without a fill).
    pub(crate) fn end_read(&mut self, key: &[u8]) {
        if let Some(p) = self.pending.get_mut(key) {
            p.readers = p.readers.saturating_sub(1);
            if p.readers == 0 {
                self.pending.remove(key);
            }
        }
    }

    /// Caches the reply of a read begun with `ticket`, unless its key was invalidated (or the
    /// store flushed) since: the reply may then predate the change, and the invalidation that
    /// would remove it is already spent. The read stays begun: call [`end_read`](Self::end_read).
    pub(crate) fn fill(
        &mut self,
        key: &Rc<[u8]>,
        args: impl Iterator<Item = Box<[u8]>>,
        value: &Value,
        ticket: Ticket,
        now: Instant,
    ) -> bool {
        let spoiled = ticket.epoch != self.epoch
            || self
                .pending
                .get(&**key)
                .is_some_and(|p| p.invalidated_at > ticket.seq);
        if spoiled {
            self.stats.fills_dropped += 1;
            return false;
        }
        let args: Box<[Box<[u8]>]> = args.collect();
        let bytes = REPLY_OVERHEAD
            + key.len()
            + args.iter().map(|a| a.len()).sum::<usize>()
            + value_bytes(value);
        if bytes > self.limits.max_bytes || self.limits.max_entries == 0 {
            return false;
        }
        let expires = self.limits.ttl.and_then(|ttl| now.checked_add(ttl));
        let reply = Reply {
            args,
            value: value.clone(),
            bytes,
            expires,
        };
        let slot = match self.slots.get_mut(&**key) {
            Some(slot) => slot,
            None => {
                self.next_id += 1;
                let id = self.next_id;
                self.ring.push_back((key.clone(), id));
                self.slots.entry(key.clone()).or_insert(Slot {
                    id,
                    referenced: false,
                    replies: Vec::new(),
                })
            }
        };
        match slot.replies.iter().position(|r| r.args == reply.args) {
            Some(at) => {
                let old = std::mem::replace(&mut slot.replies[at], reply);
                self.bytes -= old.bytes;
            }
            None => {
                slot.replies.push(reply);
                self.entries += 1;
            }
        }
        self.bytes += bytes;
        self.stats.fills += 1;
        while self.entries > self.limits.max_entries || self.bytes > self.limits.max_bytes {
            if !self.evict_one() {
                break;
            }
        }
        self.compact_ring();
        true
    }

    /// The server says `key` changed: its replies go, and reads of it in flight must not fill.
    pub(crate) fn invalidate(&mut self, key: &[u8]) {
        self.seq += 1;
        self.stats.invalidations += 1;
        if let Some(p) = self.pending.get_mut(key) {
            p.invalidated_at = self.seq;
        }
        self.remove_slot(key);
    }

    /// Everything goes (the server flushed, or tracking was lost), reads in flight included.
    pub(crate) fn flush(&mut self) {
        self.epoch += 1;
        self.stats.flushes += 1;
        self.slots.clear();
        self.ring.clear();
        self.entries = 0;
        self.bytes = 0;
    }

    /// The counters, with the current size.
    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            entries: self.entries as u64,
            bytes: self.bytes as u64,
            ..self.stats
        }
    }

    fn remove_slot(&mut self, key: &[u8]) {
        if let Some(slot) = self.slots.remove(key) {
            for r in &slot.replies {
                self.bytes -= r.bytes;
            }
            self.entries -= slot.replies.len();
        }
    }

    /// Evicts the first key in the ring not used since the hand last passed it.
    fn evict_one(&mut self) -> bool {
        while let Some((key, id)) = self.ring.pop_front() {
            let Some(slot) = self.slots.get_mut(&*key) else {
                continue;
            };
            if slot.id != id {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                self.ring.push_back((key, id));
                continue;
            }
            self.stats.evictions += slot.replies.len() as u64;
            self.remove_slot(&key);
            return true;
        }
        false
    }

    /// Drops stale ring entries once they outnumber the live ones (invalidated keys leave
    /// theirs behind), so the ring stays proportional to the store.
    fn compact_ring(&mut self) {
        if self.ring.len() > 2 * self.slots.len() + 32 {
            let slots = &self.slots;
            self.ring
                .retain(|(key, id)| slots.get(&**key).is_some_and(|s| s.id == *id));
        }
    }
}

fn same_args<'a>(stored: &[Box<[u8]>], mut args: impl Iterator<Item = &'a [u8]>) -> bool {
    for (i, s) in stored.iter().enumerate() {
        let Some(a) = args.next() else {
            return false;
        };
        // The command name (first) is stored uppercased and compared without case.
        let same = if i == 0 {
            s.eq_ignore_ascii_case(a)
        } else {
            **s == *a
        };
        if !same {
            return false;
        }
    }
    args.next().is_none()
}

/// About how much memory `value` holds: payload bytes plus a fixed cost per element. Walks
/// the value with a stack of its own (a deep reply must not exhaust the thread's stack).
fn value_bytes(value: &Value) -> usize {
    let node = std::mem::size_of::<Value>();
    let mut total = 0usize;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        total = total.saturating_add(node);
        match v {
            Value::SimpleString(b) | Value::BulkString(b) | Value::BigNumber(b) => {
                total = total.saturating_add(b.len());
            }
            Value::Verbatim { text, .. } => total = total.saturating_add(text.len()),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => pending.extend(items),
            Value::Map(pairs) => {
                for (k, v) in pairs {
                    pending.push(k);
                    pending.push(v);
                }
            }
            _ => {}
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max_entries: usize, max_bytes: usize) -> Store {
        Store::new(Limits {
            max_entries,
            max_bytes,
            ttl: None,
        })
    }

    fn key(s: &str) -> Rc<[u8]> {
        Rc::from(s.as_bytes())
    }

    fn get_args() -> std::iter::Once<&'static [u8]> {
        std::iter::once(&b"get"[..])
    }

    fn put(s: &mut Store, k: &str, v: &str, now: Instant) -> bool {
        let k = key(k);
        let t = s.begin_read(&k);
        let ok = s.fill(
            &k,
            std::iter::once(Box::from(&b"GET"[..])),
            &Value::BulkString(v.to_owned().into()),
            t,
            now,
        );
        s.end_read(&k);
        ok
    }

    fn bulk(v: &str) -> Option<Value> {
        Some(Value::BulkString(v.to_owned().into()))
    }

    #[test]
    fn hit_after_fill_and_miss_after_invalidation() {
        let now = Instant::now();
        let mut s = store(10, 1 << 20);
        assert_eq!(s.get(b"k", get_args, now), None);
        assert!(put(&mut s, "k", "v", now));
        assert_eq!(s.get(b"k", get_args, now), bulk("v"));
        // Another command of the same key is another reply.
        assert_eq!(s.get(b"k", || std::iter::once(&b"STRLEN"[..]), now), None);
        s.invalidate(b"k");
        assert_eq!(s.get(b"k", get_args, now), None);
        let st = s.snapshot();
        assert_eq!(
            (st.hits, st.misses, st.invalidations, st.entries),
            (1, 3, 1, 0)
        );
        assert!(s.pending.is_empty());
    }

    #[test]
    fn an_invalidation_during_the_read_spoils_its_fill() {
        let now = Instant::now();
        let mut s = store(10, 1 << 20);
        let k = key("k");
        let t = s.begin_read(&k);
        s.invalidate(b"k");
        // A read begun after the invalidation may fill; the earlier one may not.
        let later = s.begin_read(&k);
        let v = Value::BulkString("old".into());
        assert!(!s.fill(&k, std::iter::once(Box::from(&b"GET"[..])), &v, t, now));
        s.end_read(&k);
        assert_eq!(s.get(b"k", get_args, now), None);
        assert!(s.fill(&k, std::iter::once(Box::from(&b"GET"[..])), &v, later, now));
        s.end_read(&k);
        assert_eq!(s.snapshot().fills_dropped, 1);
        // Another key's invalidation spoils nothing.
        let t = s.begin_read(&k);
        s.invalidate(b"other");
        assert!(s.fill(&k, std::iter::once(Box::from(&b"GET"[..])), &v, t, now));
        s.end_read(&k);
    }

    #[test]
    fn a_flush_during_the_read_spoils_its_fill() {
        let now = Instant::now();
        let mut s = store(10, 1 << 20);
        let k = key("k");
        let t = s.begin_read(&k);
        s.flush();
        let v = Value::BulkString("old".into());
        assert!(!s.fill(&k, std::iter::once(Box::from(&b"GET"[..])), &v, t, now));
        s.end_read(&k);
        assert!(s.pending.is_empty());
    }

    #[test]
    fn evicts_at_the_entry_bound_sparing_recently_used_keys() {
        let now = Instant::now();
        let mut s = store(3, 1 << 20);
        for k in ["a", "b", "c"] {
            assert!(put(&mut s, k, "v", now));
        }
        // `a` is used: the hand spares it once and takes `b`.
        assert!(s.get(b"a", get_args, now).is_some());
        assert!(put(&mut s, "d", "v", now));
        let st = s.snapshot();
        assert_eq!((st.entries, st.evictions), (3, 1));
        assert!(s.get(b"a", get_args, now).is_some());
        assert!(s.get(b"b", get_args, now).is_none());
        assert!(s.get(b"c", get_args, now).is_some());
        assert!(s.get(b"d", get_args, now).is_some());
    }

    #[test]
    fn evicts_at_the_byte_bound_and_skips_replies_larger_than_it() {
        let now = Instant::now();
        let one = REPLY_OVERHEAD + 1 + 3 + std::mem::size_of::<Value>() + 100;
        let mut s = store(1000, 2 * one);
        let big = "x".repeat(100);
        assert!(put(&mut s, "a", &big, now));
        assert!(put(&mut s, "b", &big, now));
        assert_eq!(s.snapshot().bytes, 2 * one as u64);
        assert!(put(&mut s, "c", &big, now));
        assert_eq!(s.snapshot().entries, 2);
        assert!(s.snapshot().bytes <= 2 * one as u64);
        assert!(!put(&mut s, "huge", &"y".repeat(10 * one), now));
        assert!(s.get(b"huge", get_args, now).is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let now = Instant::now();
        let mut s = Store::new(Limits {
            max_entries: 10,
            max_bytes: 1 << 20,
            ttl: Some(Duration::from_secs(5)),
        });
        assert!(put(&mut s, "k", "v", now));
        assert!(s
            .get(b"k", get_args, now + Duration::from_secs(4))
            .is_some());
        assert!(s
            .get(b"k", get_args, now + Duration::from_secs(5))
            .is_none());
        let st = s.snapshot();
        assert_eq!((st.expired, st.entries, st.bytes), (1, 0, 0));
    }

    #[test]
    fn the_ring_stays_proportional_under_churn() {
        let now = Instant::now();
        let mut s = store(1000, 1 << 20);
        for round in 0..1000 {
            assert!(put(&mut s, "k", &round.to_string(), now));
            s.invalidate(b"k");
        }
        assert!(s.ring.len() <= 2 * s.slots.len() + 33);
        assert_eq!(s.snapshot().entries, 0);
    }

    #[test]
    fn deep_values_are_measured_without_recursion() {
        let mut v = Value::Integer(1);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert!(value_bytes(&v) > 100_000);
        // Dropping it recursively would overflow: take it apart by hand.
        let mut v = Some(v);
        while let Some(Value::Array(mut items)) = v.take() {
            v = items.pop();
        }
    }
}
