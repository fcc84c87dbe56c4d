//! [`SharedPool`]: connections multiplexed by many callers at once (pipelining).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::balance::{choose, Choice, Loads};
use super::connect::{with_timeout, Connector};
use super::{Config, ConfigError, Expiry, ExpiryReason, Manager, PoolError};

/// A pool of pipelined connections on one worker, each used by many callers at once.
///
/// [`get_shared`](Self::get_shared) hands out a [`Shared`] handle to the least-loaded live
/// connection (round-robin among equals); a connection's load is its live handles plus
/// [`Manager::load`] (e.g. requests in flight). It opens a new connection only while below
/// [`Config::max_size`] and every live one already has [`Config::shared_target_load`] users;
/// at `max_size` it overloads the least-loaded one rather than wait. Callers wait only while no
/// connection is live and one is being opened.
///
/// Shared connections are vetted only with [`Manager::is_broken`] (they are never recycled or
/// health-checked: other callers are using them). Broken, discarded and lifetime-expired
/// connections leave the rotation at the next `get_shared` / [`reap_now`](Self::reap_now);
/// handles already given out keep working until dropped, so the number of sockets can exceed
/// `max_size` while such retired connections drain. The idle timeout applies to connections
/// with no users, keeping [`Config::min_idle`].
pub struct SharedPool<M: Manager> {
    inner: Rc<Inner<M>>,
}

struct Inner<M: Manager> {
    manager: M,
    config: Config,
    expiry: Expiry,
    connector: Connector,
    state: RefCell<State<M::Conn>>,
}

struct State<C> {
    conns: Vec<Rc<Entry<C>>>,
    cursor: usize,
    connecting: usize,
    /// Callers parked in [`Changed`].
    waiting: usize,
    /// Bumped whenever a connect ends or a connection leaves, to wake parked callers.
    generation: u64,
    wakers: Vec<Waker>,
    closed: bool,
}

struct Entry<C> {
    conn: C,
    users: Cell<usize>,
    created: Instant,
    last_used: Cell<Instant>,
    discarded: Cell<bool>,
}

/// Counters of a [`SharedPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedStatus {
    /// [`Config::max_size`].
    pub max_size: usize,
    /// Connections in the rotation.
    pub open: usize,
    /// Connects in progress.
    pub connecting: usize,
    /// Callers waiting for a connect in progress.
    pub waiting: usize,
    /// Handles alive on connections in the rotation.
    pub users: usize,
    /// Consecutive failed connects since the last success.
    pub connect_failures: u32,
}

impl<M: Manager> Clone for SharedPool<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Rc::clone(&self.inner),
        }
    }
}

impl<M: Manager> std::fmt::Debug for SharedPool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPool")
            .field("status", &self.status())
            .finish()
    }
}

impl<M: Manager> SharedPool<M> {
    /// A pool that opens connections through `manager`; opens nothing yet.
    pub fn new(manager: M, config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            inner: Rc::new(Inner {
                manager,
                expiry: Expiry::from_config(&config),
                connector: Connector::new(&config),
                config,
                state: RefCell::new(State {
                    conns: Vec::new(),
                    cursor: 0,
                    connecting: 0,
                    waiting: 0,
                    generation: 0,
                    wakers: Vec::new(),
                    closed: false,
                }),
            }),
        })
    }

    /// The manager this pool was built with.
    pub fn manager(&self) -> &M {
        &self.inner.manager
    }

    /// The configuration this pool was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Current counters.
    pub fn status(&self) -> SharedStatus {
        let state = self.inner.state.borrow();
        SharedStatus {
            max_size: self.inner.config.max_size,
            open: state.conns.len(),
            connecting: state.connecting,
            waiting: state.waiting,
            users: state.conns.iter().map(|e| e.users.get()).sum(),
            connect_failures: self.inner.connector.failures(),
        }
    }

    /// A handle to a live connection (see the type docs for the choice).
    ///
    /// When a connection must be opened, this caller opens it (after any backoff) and gets its
    /// error if that fails; callers that were waiting on it then retry. Bounded by
    /// [`Config::acquire_timeout`]; cancel-safe.
    pub async fn get_shared(&self) -> Result<Shared<M::Conn>, PoolError<M::Error>> {
        with_timeout(self.inner.config.acquire_timeout, self.get_inner())
            .await
            .unwrap_or(Err(PoolError::Timeout))
    }

    /// [`get_shared`](Self::get_shared), asking [`Manager::check_out`] of the connection
    /// chosen before it is handed out: one it refuses is discarded and the pool chooses again
    /// (or opens one). For a driver's cold path, where a check that costs a system call is
    /// affordable (the hot path, [`try_get_shared`](Self::try_get_shared), asks nothing). At
    /// most `max_size + 1` connections are refused; after that the next one is handed out
    /// unchecked, so a server that closes every new connection at once cannot keep a caller
    /// here.
    pub async fn get_checked(&self) -> Result<Shared<M::Conn>, PoolError<M::Error>> {
        let mut checks = self.inner.config.max_size.saturating_add(1);
        loop {
            let handle = match self.try_get_shared() {
                Some(handle) => handle,
                None => self.get_shared().await?,
            };
            if checks == 0 || self.inner.manager.check_out(&handle) {
                return Ok(handle);
            }
            checks -= 1;
            handle.discard();
        }
    }

    /// A handle to a live connection without waiting: `Some` when [`get_shared`] would return
    /// an existing connection at once, `None` when it would have to open one or wait (call
    /// [`get_shared`] then). The hot path of drivers: no future, no allocation.
    ///
    /// [`get_shared`]: SharedPool::get_shared
    pub fn try_get_shared(&self) -> Option<Shared<M::Conn>> {
        let now = Instant::now();
        self.reap_at(now);
        let mut state = self.inner.state.borrow_mut();
        if state.closed {
            return None;
        }
        let loads = Loads {
            len: state.conns.len(),
            cursor: state.cursor,
            connecting: state.connecting,
            waiting: state.waiting,
            max_size: self.inner.config.max_size,
            target: self.inner.config.shared_target_load,
        };
        let conns = &state.conns;
        let manager = &self.inner.manager;
        let Choice::Use(idx) = choose(loads, |i| load_of(manager, conns, i)) else {
            return None;
        };
        let entry = state.conns.get(idx).map(Rc::clone)?;
        state.cursor = idx.wrapping_add(1);
        Some(Shared::new(entry, now))
    }

    async fn get_inner(&self) -> Result<Shared<M::Conn>, PoolError<M::Error>> {
        loop {
            let now = Instant::now();
            self.reap_at(now);
            let (choice, seen) = {
                let mut state = self.inner.state.borrow_mut();
                if state.closed {
                    return Err(PoolError::Closed);
                }
                let loads = Loads {
                    len: state.conns.len(),
                    cursor: state.cursor,
                    connecting: state.connecting,
                    waiting: state.waiting,
                    max_size: self.inner.config.max_size,
                    target: self.inner.config.shared_target_load,
                };
                let conns = &state.conns;
                let manager = &self.inner.manager;
                let choice = choose(loads, |i| load_of(manager, conns, i));
                match choice {
                    Choice::Use(idx) => {
                        if let Some(entry) = state.conns.get(idx) {
                            let handle = Shared::new(Rc::clone(entry), now);
                            state.cursor = idx.wrapping_add(1);
                            return Ok(handle);
                        }
                    }
                    Choice::Connect => state.connecting += 1,
                    Choice::Wait => {}
                }
                (choice, state.generation)
            };
            match choice {
                Choice::Connect => return self.connect().await,
                // Only when the chosen index vanished, which cannot happen under one borrow.
                Choice::Use(_) => continue,
                Choice::Wait => {
                    Changed {
                        inner: &self.inner,
                        seen,
                        parked: false,
                    }
                    .await
                }
            }
        }
    }

    /// Opens a connection for the caller that chose [`Choice::Connect`] (`connecting` already
    /// counts it) and puts it in the rotation.
    async fn connect(&self) -> Result<Shared<M::Conn>, PoolError<M::Error>> {
        let _connecting = ConnectingGuard { inner: &self.inner };
        let conn = self.inner.connector.connect(&self.inner.manager).await?;
        let now = Instant::now();
        let mut state = self.inner.state.borrow_mut();
        if state.closed {
            drop(state);
            drop(conn);
            return Err(PoolError::Closed);
        }
        let entry = Rc::new(Entry {
            conn,
            users: Cell::new(0),
            created: now,
            last_used: Cell::new(now),
            discarded: Cell::new(false),
        });
        state.conns.push(Rc::clone(&entry));
        Ok(Shared::new(entry, now))
    }

    /// Removes broken, discarded and expired connections from the rotation; returns how many.
    /// `get_shared` calls it itself; there is no background reaper.
    pub fn reap_now(&self) -> usize {
        self.reap_at(Instant::now())
    }

    fn reap_at(&self, now: Instant) -> usize {
        let inner = &*self.inner;
        let removed = {
            let mut state = inner.state.borrow_mut();
            // The common case, on every call's hot path: nothing to evict. Checked first so
            // that case allocates nothing (the rebuild below needs two vectors).
            let any_candidate = state.conns.iter().any(|entry| {
                entry.discarded.get()
                    || inner.manager.is_broken(&entry.conn)
                    || inner
                        .expiry
                        .expired(entry.created, entry.last_used.get(), now)
                        .is_some()
            });
            if !any_candidate {
                return 0;
            }
            let mut removed = Vec::new();
            let mut kept = Vec::with_capacity(state.conns.len());
            let mut remaining = state.conns.len();
            for entry in state.conns.drain(..) {
                remaining -= 1;
                let idle = entry.users.get() == 0;
                let reason = inner
                    .expiry
                    .expired(entry.created, entry.last_used.get(), now);
                let keep_for_min = kept.len() + remaining < inner.config.min_idle;
                let evict = entry.discarded.get()
                    || inner.manager.is_broken(&entry.conn)
                    || reason == Some(ExpiryReason::MaxLifetime)
                    || (idle && reason == Some(ExpiryReason::IdleTimeout) && !keep_for_min);
                if evict {
                    removed.push(entry);
                } else {
                    kept.push(entry);
                }
            }
            state.conns = kept;
            removed
        };
        if !removed.is_empty() {
            notify(&inner.state);
        }
        // Closed here (if no handle holds them), outside the borrow.
        removed.len()
    }

    /// Closes the pool: connections leave the rotation (each closes when its last handle drops)
    /// and pending or future `get_shared` calls fail with [`PoolError::Closed`].
    pub fn close(&self) {
        let conns = {
            let mut state = self.inner.state.borrow_mut();
            state.closed = true;
            std::mem::take(&mut state.conns)
        };
        notify(&self.inner.state);
        drop(conns);
    }
}

/// The load of connection `i`: its live handles plus the work the manager sees on it.
fn load_of<M: Manager>(manager: &M, conns: &[Rc<Entry<M::Conn>>], i: usize) -> usize {
    conns.get(i).map_or(usize::MAX, |e| {
        e.users.get().saturating_add(manager.load(&e.conn))
    })
}

/// Wakes every parked caller so it decides again.
fn notify<C>(state: &RefCell<State<C>>) {
    let wakers = {
        let mut state = state.borrow_mut();
        state.generation = state.generation.wrapping_add(1);
        std::mem::take(&mut state.wakers)
    };
    for waker in wakers {
        waker.wake();
    }
}

/// Counts one connect in progress; on every exit (success, error, cancellation) uncounts it
/// and wakes the waiters.
struct ConnectingGuard<'a, M: Manager> {
    inner: &'a Inner<M>,
}

impl<M: Manager> Drop for ConnectingGuard<'_, M> {
    fn drop(&mut self) {
        {
            let mut state = self.inner.state.borrow_mut();
            state.connecting = state.connecting.saturating_sub(1);
        }
        notify(&self.inner.state);
    }
}

/// Resolves once the pool's generation moves past `seen`; counted in `waiting` while parked.
struct Changed<'a, M: Manager> {
    inner: &'a Inner<M>,
    seen: u64,
    parked: bool,
}

impl<M: Manager> Future for Changed<'_, M> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.inner.state.borrow_mut();
        if state.generation != this.seen || state.closed {
            if this.parked {
                state.waiting = state.waiting.saturating_sub(1);
                this.parked = false;
            }
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        if !this.parked {
            state.waiting += 1;
            this.parked = true;
        }
        Poll::Pending
    }
}

impl<M: Manager> Drop for Changed<'_, M> {
    fn drop(&mut self) {
        if self.parked {
            let mut state = self.inner.state.borrow_mut();
            state.waiting = state.waiting.saturating_sub(1);
        }
    }
}

/// A handle to a connection of a [`SharedPool`], shared with other callers.
///
/// Dereferences to the connection (shared access: the connection multiplexes its users itself,
/// e.g. through the runtime's bridge queue). Cloning adds a user; dropping removes one. The
/// pool counts users to spread load and never closes a connection a handle still points to.
pub struct Shared<C> {
    entry: Rc<Entry<C>>,
}

impl<C> Shared<C> {
    fn new(entry: Rc<Entry<C>>, now: Instant) -> Self {
        entry.users.set(entry.users.get().saturating_add(1));
        entry.last_used.set(now);
        Self { entry }
    }

    /// Users of this connection (live handles, this one included).
    pub fn users(&self) -> usize {
        self.entry.users.get()
    }

    /// Takes this connection out of the rotation at the next pool scan (e.g. after a protocol
    /// error). Handles already given out keep working; it closes when the last one drops.
    pub fn discard(&self) {
        self.entry.discarded.set(true);
    }

    /// When the connection was opened.
    pub fn created_at(&self) -> Instant {
        self.entry.created
    }

    /// Whether two handles point to the same connection.
    pub fn same_conn(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.entry, &other.entry)
    }
}

impl<C> Deref for Shared<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.entry.conn
    }
}

impl<C> Clone for Shared<C> {
    fn clone(&self) -> Self {
        let entry = &self.entry;
        entry.users.set(entry.users.get().saturating_add(1));
        Self {
            entry: Rc::clone(entry),
        }
    }
}

impl<C> Drop for Shared<C> {
    fn drop(&mut self) {
        let users = self.entry.users.get().saturating_sub(1);
        self.entry.users.set(users);
        if users == 0 {
            self.entry.last_used.set(Instant::now());
        }
    }
}

impl<C> std::fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("users", &self.users())
            .field("created", &self.entry.created)
            .finish_non_exhaustive()
    }
}
