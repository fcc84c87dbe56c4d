//! Pub/sub: `SUBSCRIBE`, `PSUBSCRIBE` and `SSUBSCRIBE` on a dedicated connection, as a stream
//! of messages that survives reconnections.
//!
//! ```no_run
//! # fn main() -> Result<(), corelane_redis::Error> {
//! use corelane_redis::Client;
//!
//! let client = Client::open("redis://127.0.0.1:6379")?;
//! futures_lite::future::block_on(async {
//!     let mut sub = client.subscriber()?;
//!     sub.subscribe(["news", "alerts"]).await?; // confirmed by the server
//!     sub.psubscribe(["metrics.*"]).await?;
//!
//!     client.publish::<i64>("news", "hello").await?;
//!     while let Some(msg) = sub.next().await {
//!         println!("{:?} on {:?} (pattern {:?})", msg.payload, msg.channel, msg.pattern);
//!         break;
//!     }
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Design
//!
//! ```text
//!  any thread                         worker (picked round-robin)
//!  ──────────                         ─────────────────────────────────────────────
//!  Subscriber ── request + wanted ──▶ connection task: connect, HELLO/AUTH, resubscribe,
//!      ▲            (mailbox wake)     write requests, pause/resume reading
//!      │                              Registered<PubSubHandler>: decode RESP2/RESP3,
//!      └──── bounded inbox ◀───────── messages → inbox, confirmations → waiters
//! ```
//!
//! - **Dedicated connection.** A subscriber never uses the client's pooled command
//!   connections. Its connection lives on one worker, read by the runtime's reader task with
//!   [`PubSubHandler`](handler::PubSubHandler); the connection task owns it.
//! - **Typestate.** A [`Subscriber`] has only pub/sub methods, so "a command on a subscribed
//!   connection" cannot be written.
//! - **Backpressure.** Messages wait in a bounded inbox ([`SubscriberOptions::capacity`]). When
//!   it is full the connection stops reading the socket (beyond at most one read burst already
//!   buffered) until the consumer has drained half of it; the server then buffers for us, up to
//!   its `client-output-buffer-limit pubsub`, past which it drops the connection — we reconnect
//!   and resubscribe, and the messages in between are lost. Memory never grows unbounded.
//! - **Reconnection.** When the connection closes (`CLIENT KILL`, a restart, a network
//!   failure), the task reconnects with exponential backoff and full jitter
//!   ([`Backoff`](corelane_runtime::pool::Backoff)) and subscribes again to everything
//!   subscribed. The stream goes on; [`Subscriber::connects`] counts the connections.
//!   **Messages published while disconnected are lost**: Redis pub/sub is at-most-once.
//!   A dead peer that never closes (a half-open TCP connection) is not detected.
//! - **Shared machinery.** The connection task's loop (backoff, reconnect, resubscribe,
//!   serve), the request queue, the waiters, the status and the inbox are the runtime's
//!   [`corelane_runtime::session`]; this module holds what a (un)subscribe does to the
//!   wanted names, the handshake and the wire format.
//! - **Drop.** Dropping the [`Subscriber`] closes the connection and stops reconnecting.

mod handler;
pub(crate) mod internal;
mod message;
mod options;
mod session;
mod shared;
mod subscriber;

use std::sync::Arc;

pub use self::message::Message;
pub use self::options::SubscriberOptions;
pub use self::subscriber::{Subscriber, SubscriberHandle};

use corelane_runtime::pool::Backoff;

use self::shared::Shared;
use crate::{Client, Error};

impl Client {
    /// A new [`Subscriber`] with default [`SubscriberOptions`]: a dedicated connection on one
    /// of the client's workers. It connects in the background; the first
    /// [`subscribe`](Subscriber::subscribe) waits for it.
    pub fn subscriber(&self) -> Result<Subscriber, Error> {
        self.subscriber_with(SubscriberOptions::default())
    }

    /// A new [`Subscriber`] with `options`.
    pub fn subscriber_with(&self, options: SubscriberOptions) -> Result<Subscriber, Error> {
        let worker = self.pick_worker()?;
        let shared = Arc::new(Shared::new(worker, options.capacity));
        let connect = session::Connector::new(vec![self.config().clone()]);
        let backoff = Backoff::new(options.backoff_initial, options.backoff_max);
        corelane_runtime::session::start(&shared, connect, backoff)?;
        Ok(Subscriber::new(shared, self.clone()))
    }
}
