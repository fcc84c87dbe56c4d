//! LISTEN/NOTIFY: notifications as a stream, on a dedicated connection that listens again
//! after a reconnection.
//!
//! ```
//! # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = corelane_testkit::PgServer::start()?;
//! # let url = server.url();
//! use corelane_postgres::Client;
//!
//! let client = Client::connect(&url)?; // e.g. "postgres://postgres@127.0.0.1:5432/postgres"
//! futures_lite::future::block_on(async {
//!     let mut listener = client.listener()?;
//!     listener.listen("jobs").await?; // confirmed by the server
//!
//!     client.execute("SELECT pg_notify('jobs', 'job 42')", &[]).await?;
//!     if let Some(n) = listener.next().await {
//!         println!("{} on {} from backend {}", n.payload, n.channel, n.process_id);
//!         # assert_eq!((n.channel.as_str(), n.payload.as_str()), ("jobs", "job 42"));
//!     }
//!     Ok::<(), corelane_postgres::Error>(())
//! })?;
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! ```text
//!  any thread                         worker (picked round-robin)
//!  ──────────                         ─────────────────────────────────────────────
//!  Listener ─── request + wanted ───▶ connection task: connect, startup/auth, re-LISTEN,
//!      ▲            (mailbox wake)     write LISTEN/UNLISTEN, pause/resume reading
//!      │                              Registered<ListenHandler>: parse backend messages,
//!      └──── bounded inbox ◀───────── notifications → inbox, ReadyForQuery → waiters
//! ```
//!
//! - **Dedicated connection.** A listener never uses the client's pooled connections (whose
//!   codec drops notifications, and whose sessions are shared or reset). Its connection lives
//!   on one worker, read by the runtime's reader task with its own handler; the connection
//!   task owns it. `LISTEN`/`UNLISTEN` go out as simple `Query` messages, channel names
//!   quoted as identifiers (so they are case-sensitive and may hold any character).
//! - **Backpressure.** Notifications wait in a bounded inbox ([`ListenerOptions::capacity`]).
//!   When it is full the connection stops reading the socket (beyond at most one read burst
//!   already buffered) until the consumer has drained half of it; the server then queues
//!   notifications for us in its notification queue (`max_notify_queue_pages`, 8 GB by
//!   default), and a `NOTIFY` fails on the server once that is full. Memory here never grows
//!   unbounded. While paused, `listen`/`unlisten` confirmations queued behind notifications
//!   wait as well.
//! - **Reconnection.** When the connection closes (`pg_terminate_backend`, a restart, a
//!   network failure), the task reconnects with exponential backoff and full jitter and
//!   listens again to every channel. The stream goes on; [`Listener::connects`] counts the
//!   connections and [`Listener::backend_pid`] names the current backend.
//!   **Notifications sent while disconnected are lost**: NOTIFY is at-most-once for a
//!   listener that is gone. A dead peer that never closes (a half-open TCP connection) is not
//!   detected.
//! - **Shared machinery.** The connection task's loop (backoff, reconnect, resubscribe,
//!   serve), the request queue, the waiters, the status and the inbox are the runtime's
//!   [`corelane_runtime::session`]; this module holds what `LISTEN`/`UNLISTEN` do to the
//!   wanted channels, the startup, host selection and the wire format.
//! - **Drop.** Dropping the [`Listener`] closes the connection and stops reconnecting.

mod handler;
mod listener;
mod notification;
mod session;
mod shared;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use corelane_runtime::WorkerLoop;

pub use self::listener::Listener;
pub use self::notification::Notification;

use corelane_runtime::pool::Backoff;

use self::shared::Shared;
use crate::{Client, Error};

/// Settings of a [`Listener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerOptions {
    /// Notifications received and not yet consumed before the connection stops reading
    /// (default 1024).
    pub capacity: usize,
    /// First reconnect delay ceiling (default 100 ms).
    pub backoff_initial: Duration,
    /// Largest reconnect delay ceiling (default 5 s).
    pub backoff_max: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            capacity: 1024,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl ListenerOptions {
    /// Sets the inbox capacity, in notifications (at least 1).
    pub fn capacity(mut self, notifications: usize) -> Self {
        self.capacity = notifications.max(1);
        self
    }

    /// Sets the reconnect backoff: the delay ceiling starts at `initial` and doubles per
    /// consecutive failure up to `max`; each delay is drawn uniformly below it.
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }
}

impl Client {
    /// A new [`Listener`] with default [`ListenerOptions`]: a dedicated connection on one of
    /// the client's workers. It connects in the background; the first
    /// [`listen`](Listener::listen) waits for it.
    pub fn listener(&self) -> Result<Listener, Error> {
        self.listener_with(ListenerOptions::default())
    }

    /// A new [`Listener`] with `options`.
    pub fn listener_with(&self, options: ListenerOptions) -> Result<Listener, Error> {
        let worker = pick_worker(self)?;
        let shared = Arc::new(Shared::new(worker, options.capacity));
        let connect = session::Connector::new(self.config().clone());
        let backoff = Backoff::new(options.backoff_initial, options.backoff_max);
        corelane_runtime::session::start(&shared, connect, backoff)?;
        Ok(Listener::new(shared, self.clone()))
    }
}

/// The next worker of the client, round-robin.
fn pick_worker(client: &Client) -> Result<WorkerLoop, Error> {
    let inner = &client.inner;
    let workers = inner.states.workers();
    let n = workers.num_workers();
    let i = inner.next_worker.fetch_add(1, Ordering::Relaxed) % n.max(1);
    workers.worker(i).cloned().ok_or_else(Error::worker_closed)
}
