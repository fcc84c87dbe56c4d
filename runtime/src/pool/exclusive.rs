//! [`Pool`]: exclusive checkout of connections on one worker.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::connect::{with_timeout, Connector};
use super::inner::Inner;
use super::slots::{Grant, Idle, Slots, Waiter};
use super::{Config, ConfigError, Expiry, Manager, PoolError, Pooled};

/// A pool of connections on one worker, each checked out by one caller at a time.
///
/// `Pool` is a cheap `Rc` handle (`Clone`, `!Send`): create one per worker per server.
/// See the [module docs](super) for the checkout, return and cancellation rules.
pub struct Pool<M: Manager> {
    inner: Rc<Inner<M>>,
}

/// A snapshot of a pool's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// [`Config::max_size`].
    pub max_size: usize,
    /// Slots in use: idle + checked out + being opened. Never above `max_size`.
    pub open: usize,
    /// Idle connections.
    pub idle: usize,
    /// Callers parked in `get`, waiting for a slot.
    pub waiting: usize,
    /// Consecutive failed connects since the last success.
    pub connect_failures: u32,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Rc::clone(&self.inner),
        }
    }
}

impl<M: Manager> std::fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.status())
            .finish()
    }
}

impl<M: Manager> Pool<M> {
    /// A pool that opens connections through `manager`. Opens nothing yet (see [`Pool::fill`]).
    pub fn new(manager: M, config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            inner: Rc::new(Inner {
                manager,
                expiry: Expiry::from_config(&config),
                connector: Connector::new(&config),
                slots: RefCell::new(Slots::new(config.max_size)),
                config,
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
    pub fn status(&self) -> Status {
        let slots = self.inner.slots.borrow();
        Status {
            max_size: self.inner.config.max_size,
            open: slots.open(),
            idle: slots.idle_len(),
            waiting: slots.waiting(),
            connect_failures: self.inner.connector.failures(),
        }
    }

    /// Checks out a connection for exclusive use.
    ///
    /// Takes the most recently returned idle connection that passes the checks (not broken, not
    /// expired, recycled, health-checked when idle long), else opens a new one when a slot is
    /// free, else waits in FIFO order for a slot. The whole call is bounded by
    /// [`Config::acquire_timeout`]. Cancel-safe: dropping the future at any point releases
    /// whatever slot it held.
    pub async fn get(&self) -> Result<Pooled<M>, PoolError<M::Error>> {
        with_timeout(self.inner.config.acquire_timeout, self.get_inner())
            .await
            .unwrap_or(Err(PoolError::Timeout))
    }

    async fn get_inner(&self) -> Result<Pooled<M>, PoolError<M::Error>> {
        self.reap_now();
        let grant = Acquire {
            inner: &self.inner,
            waiter: None,
        }
        .await;
        let mut candidate = match grant {
            Grant::Closed => return Err(PoolError::Closed),
            Grant::Slot => None,
            Grant::Conn(idle) => Some(idle),
        };
        // From here on `slot` owns one slot and gives it back if this future is dropped.
        let slot = SlotGuard::new(&self.inner);
        while let Some(idle) = candidate {
            if let Some(idle) = self.vet(idle).await {
                return Ok(Pooled::new(slot.into_inner(), idle.conn, idle.created));
            }
            candidate = self.inner.slots.borrow_mut().swap_for_idle();
        }
        let conn = self.inner.connector.connect(&self.inner.manager).await?;
        Ok(Pooled::new(slot.into_inner(), conn, Instant::now()))
    }

    /// Decides whether an idle connection may be handed out; `None` means it was closed.
    async fn vet(&self, mut idle: Idle<M::Conn>) -> Option<Idle<M::Conn>> {
        let manager = &self.inner.manager;
        let now = Instant::now();
        if self
            .inner
            .expiry
            .expired(idle.created, idle.last_used, now)
            .is_some()
            || manager.is_broken(&idle.conn)
            || !manager.check_out(&idle.conn)
        {
            return None;
        }
        if idle.dirty {
            if !matches!(manager.recycle(&mut idle.conn).await, Ok(true)) {
                return None;
            }
            idle.dirty = false;
        }
        if self.inner.expiry.needs_health_check(idle.last_used, now) {
            manager.health_check(&mut idle.conn).await.ok()?;
        }
        Some(idle)
    }

    /// Closes idle connections that are broken or past their lifetime / idle timeout (keeping
    /// [`Config::min_idle`] against the idle timeout); returns how many were closed.
    ///
    /// There is no background reaper: `get` calls this itself, and returns check lifetime and
    /// breakage. Call it from a timer if idle connections must be closed on time even when the
    /// pool is not used.
    pub fn reap_now(&self) -> usize {
        let removed = {
            let inner = &self.inner;
            inner.slots.borrow_mut().reap(
                Instant::now(),
                &inner.expiry,
                inner.config.min_idle,
                |conn| inner.manager.is_broken(conn),
            )
        };
        // Dropped here, outside the borrow: closing a connection never re-enters the pool.
        removed.len()
    }

    /// Opens connections until [`Config::min_idle`] are idle (or `max_size` is reached, or
    /// someone is waiting); returns how many were opened. Stops at the first connect error.
    pub async fn fill(&self) -> Result<usize, PoolError<M::Error>> {
        let mut opened = 0;
        loop {
            let reserved = self
                .inner
                .slots
                .borrow_mut()
                .try_reserve_for_fill(self.inner.config.min_idle);
            if !reserved {
                return Ok(opened);
            }
            let slot = SlotGuard::new(&self.inner);
            let conn = self.inner.connector.connect(&self.inner.manager).await?;
            let now = Instant::now();
            let inner = slot.into_inner();
            let refused = inner
                .slots
                .borrow_mut()
                .put_back(Idle {
                    conn,
                    created: now,
                    last_used: now,
                    dirty: false,
                })
                .err();
            drop(refused);
            opened += 1;
        }
    }

    /// Closes the pool: idle connections are closed, waiting and future `get`s fail with
    /// [`PoolError::Closed`], and connections still checked out are closed when returned.
    pub fn close(&self) {
        let idle = self.inner.slots.borrow_mut().close();
        drop(idle);
    }
}

/// Owns one slot until turned into a permit; releases it on drop (error or cancellation).
struct SlotGuard<M: Manager> {
    inner: Rc<Inner<M>>,
    armed: bool,
}

impl<M: Manager> SlotGuard<M> {
    fn new(inner: &Rc<Inner<M>>) -> Self {
        Self {
            inner: Rc::clone(inner),
            armed: true,
        }
    }

    /// Hands the slot on (to a permit or the idle list) instead of releasing it.
    fn into_inner(mut self) -> Rc<Inner<M>> {
        self.armed = false;
        Rc::clone(&self.inner)
    }
}

impl<M: Manager> Drop for SlotGuard<M> {
    fn drop(&mut self) {
        if self.armed {
            self.inner.slots.borrow_mut().release_slot();
        }
    }
}

/// Waits for a grant; if dropped after enqueueing, leaves the queue and passes any grant on.
struct Acquire<'a, M: Manager> {
    inner: &'a Inner<M>,
    waiter: Option<Rc<Waiter<M::Conn>>>,
}

impl<M: Manager> Future for Acquire<'_, M> {
    type Output = Grant<M::Conn>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match &this.waiter {
            None => {
                let mut slots = this.inner.slots.borrow_mut();
                if let Some(grant) = slots.try_acquire() {
                    return Poll::Ready(grant);
                }
                let waiter = slots.enqueue();
                waiter.register(cx.waker());
                this.waiter = Some(waiter);
                Poll::Pending
            }
            Some(waiter) => match waiter.take_grant() {
                Some(grant) => {
                    this.waiter = None;
                    Poll::Ready(grant)
                }
                None => {
                    waiter.register(cx.waker());
                    Poll::Pending
                }
            },
        }
    }
}

impl<M: Manager> Drop for Acquire<'_, M> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            let refused = self.inner.slots.borrow_mut().cancel(&waiter);
            drop(refused);
        }
    }
}
