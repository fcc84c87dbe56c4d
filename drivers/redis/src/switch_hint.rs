//! What the sentinels' `+switch-master` events taught a client: which master was replaced.
//! Shared by every worker of one client; read on the call path only as one atomic load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::addr::Addr;

/// The replaced master, if any, behind a generation counter (bumped at each change) so that a
/// connection compares addresses once per change, not once per call.
#[derive(Clone, Default)]
pub(crate) struct SwitchHint(Arc<HintState>);

#[derive(Default)]
struct HintState {
    generation: AtomicU64,
    replaced: Mutex<Option<Addr>>,
    /// `+switch-master` events for our master acted on.
    switches: AtomicU64,
    /// The watcher's `SUBSCRIBE` was confirmed on its current connection.
    subscribed: AtomicBool,
}

// Settings compare by where the master is asked for, not by what a client learnt.
impl PartialEq for SwitchHint {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SwitchHint {}

impl std::fmt::Debug for SwitchHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchHint")
            .field("switches", &self.switches())
            .finish_non_exhaustive()
    }
}

impl SwitchHint {
    fn replaced_lock(&self) -> MutexGuard<'_, Option<Addr>> {
        // Each section leaves the value whole: a poisoned lock is still consistent.
        self.0.replaced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes when the replaced master does.
    pub(crate) fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    /// True when a `+switch-master` named `addr` as the master it replaced.
    pub(crate) fn is_replaced(&self, addr: &Addr) -> bool {
        self.replaced_lock().as_ref() == Some(addr)
    }

    /// A `+switch-master` from `old`.
    pub(crate) fn record(&self, old: Addr) {
        *self.replaced_lock() = Some(old);
        self.0.switches.fetch_add(1, Ordering::Relaxed);
        self.0.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Every sentinel names `addr` again although an event said it was replaced: a later
    /// failover went back to it while we were not subscribed. Trust the sentinels.
    pub(crate) fn forget(&self, addr: &Addr) {
        let mut replaced = self.replaced_lock();
        if replaced.as_ref() == Some(addr) {
            *replaced = None;
            drop(replaced);
            self.0.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// `+switch-master` events for our master acted on.
    pub(crate) fn switches(&self) -> u64 {
        self.0.switches.load(Ordering::Relaxed)
    }

    pub(crate) fn set_subscribed(&self, subscribed: bool) {
        self.0.subscribed.store(subscribed, Ordering::Release);
    }

    pub(crate) fn is_subscribed(&self) -> bool {
        self.0.subscribed.load(Ordering::Acquire)
    }
}
