//! Per-worker connection pools, driver-agnostic.
//!
//! A pool lives on one worker (one glommio `LocalExecutor` thread) and is `!Send`: each worker
//! keeps its own pool per server, with no lock and no atomic. A driver plugs in a [`Manager`]
//! (open, `is_broken`, `check_out`, health check, recycle); the pool owns slots, lifetimes,
//! idle limits, health checks and reconnect backoff.
//!
//! ```
//! use corelane_runtime::pool::{Config, Manager, Pool, SharedPool};
//!
//! /// A driver's connection factory (here connections are just numbers; a real one connects,
//! /// see the memcached example's `pool.rs`).
//! struct Numbers(std::cell::Cell<u32>);
//!
//! impl Manager for Numbers {
//!     type Conn = u32;
//!     type Error = std::io::Error;
//!     async fn connect(&self) -> Result<u32, std::io::Error> {
//!         self.0.set(self.0.get() + 1);
//!         Ok(self.0.get())
//!     }
//!     fn is_broken(&self, _conn: &u32) -> bool {
//!         false
//!     }
//! }
//!
//! // On a worker:
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::new(Numbers(Default::default()), Config::default().with_max_size(8))?;
//! let conn = pool.get().await?; // exclusive: a `Pooled` permit
//! assert_eq!(*conn, 1);
//! drop(conn); // back to the pool (recycled before its next use)
//! assert_eq!(*pool.get().await?, 1); // the same connection again
//!
//! let shared = SharedPool::new(Numbers(Default::default()), Config::shared())?;
//! let conn = shared.get_shared().await?; // a `Shared` handle, multiplexed with other callers
//! assert_eq!(*conn, 1);
//! # Ok(()) }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use corelane_runtime::EventLoopProvider;
//! # let workers = corelane_runtime::resolve(None)?;
//! # let worker = workers.worker(0).ok_or("no worker")?;
//! # futures_lite::future::block_on(worker.spawn(|| async { demo().await.map_err(|e| e.to_string()) }))??;
//! # Ok(()) }
//! ```
//!
//! # Two ways to use connections
//!
//! - [`Pool::get`] checks a connection out for **exclusive** use and returns a [`Pooled`]
//!   permit. Dropping the permit returns the connection, or closes it and frees its slot when
//!   it is broken, past its lifetime, or marked with [`Pooled::discard`];
//!   [`Pooled::detach`] takes it out of the pool for good.
//! - [`SharedPool::get_shared`] returns a [`Shared`] handle to a **pipelined** connection that
//!   many callers use at once; the pool spreads users over up to `max_size` connections.
//!
//! # Behavior
//!
//! - **Slots.** At most [`Config::max_size`] connections exist per pool (idle + checked out +
//!   being opened). A `get` that finds none free waits; waiters are served **FIFO**, and a freed
//!   slot or returned connection goes straight to the oldest waiter.
//! - **Cancellation.** Every `get` / `get_shared` future is cancel-safe: dropped while waiting,
//!   during the backoff, mid-connect, or mid-check, it releases whatever slot it held (or passes
//!   a grant it had received to the next waiter). No error path leaks a permit.
//! - **Timeouts.** [`Config::acquire_timeout`] bounds a whole call ([`PoolError::Timeout`]);
//!   [`Config::connect_timeout`] bounds one connect ([`PoolError::ConnectTimeout`]).
//! - **Reconnect backoff.** After a failed connect, the failure is returned to *that* caller
//!   ([`PoolError::Connect`]) and the next connect of this pool waits a random delay in
//!   `[0, ceiling]`, the ceiling doubling per consecutive failure from
//!   [`Config::backoff_initial`] up to [`Config::backoff_max`]; a success resets it. Each call
//!   makes at most one connect attempt, so with the server down `get` returns the connect error
//!   (after at most the backoff plus the connect timeout), never hangs; waiters retry in turn.
//! - **Recycling** is lazy: a `Drop` cannot await, so a returned connection is marked dirty and
//!   [`Manager::recycle`] runs at its next checkout, before the health check
//!   ([`Config::health_check_after`]). A failed recycle or check closes that connection and the
//!   caller gets a fresh one.
//! - **Expiry** ([`Config::max_lifetime`], [`Config::idle_timeout`]) is checked lazily at
//!   checkout and return; there is no background reaper. Call `reap_now()` from a timer to close
//!   idle connections on time in a quiet pool; [`Pool::fill`] opens [`Config::min_idle`]
//!   connections ahead of demand.
//!
//! # Budget
//!
//! A client that keeps a shared and an exclusive pool on every worker can bound its total
//! with a budget split over the workers once, when each worker's pools are made
//! ([`worker_share`]): nothing is counted across workers on the hot path. [`PoolKind`] names
//! the pool in a driver's pool-timeout error.
//!
//! # Time
//!
//! The decisions live in sans-IO parts that take `now` and report deadlines ([`Backoff`],
//! [`Expiry`]); only the thin glommio shell reads the clock and sleeps.

mod backoff;
mod balance;
mod budget;
mod config;
mod connect;
mod error;
mod exclusive;
mod expiry;
mod inner;
mod manager;
mod permit;
mod shared;
mod slots;

pub use backoff::Backoff;
pub use budget::{check_budget, worker_share, BudgetTooSmall, PoolKind, WorkerShare};
pub use config::{Config, ConfigError};
pub use error::PoolError;
pub use exclusive::{Pool, Status};
pub use expiry::{Expiry, ExpiryReason};
pub use manager::Manager;
pub use permit::Pooled;
pub use shared::{Shared, SharedPool, SharedStatus};
