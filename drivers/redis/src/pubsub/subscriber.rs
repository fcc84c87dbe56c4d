//! The consumer's side: [`Subscriber`] (the stream, owning the connection) and
//! [`SubscriberHandle`] (subscribe and unsubscribe from anywhere).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::message::{Action, Message, SubKind};
use super::shared::{Request, Shared};
use crate::{Client, Error};
use bytes::Bytes;

/// A pub/sub subscriber: a dedicated connection on one worker, and the stream of the messages
/// it receives. Made by [`Client::subscriber`].
///
/// ```no_run
/// # fn main() -> Result<(), corelane_redis::Error> {
/// let client = corelane_redis::Client::open("redis://127.0.0.1:6379")?;
/// let mut sub = client.subscriber()?;
/// futures_lite::future::block_on(async {
///     sub.subscribe(["orders"]).await?;
///     while let Some(msg) = sub.next().await {
///         println!("{:?}: {:?}", msg.channel, msg.payload);
///     }
///     Ok(())
/// })
/// # }
/// ```
///
/// It is `Send + Sync` and works from any thread: a worker task, a tokio task, a plain thread
/// (`futures_lite::future::block_on(sub.next())`). Messages come in the order the server sent
/// them. Only pub/sub commands exist on it — a command on a subscribed connection cannot be
/// written (use the [`Client`] for those; it never shares a connection with a subscriber).
///
/// Dropping it closes the connection and stops reconnecting; [`SubscriberHandle`]s made from
/// it then fail with [`Error::is_closed`].
///
/// Reconnection: when the connection drops, it reconnects with backoff and subscribes again
/// to everything subscribed; messages published meanwhile are lost (pub/sub is at-most-once).
/// Backpressure: at most [`SubscriberOptions::capacity`] messages wait; past that the
/// connection stops reading until the consumer catches up.
///
/// [`SubscriberOptions::capacity`]: crate::SubscriberOptions::capacity
pub struct Subscriber {
    handle: SubscriberHandle,
    /// Keeps the event loop (and so the connection's worker) alive.
    _client: Client,
}

/// Subscribes and unsubscribes on a [`Subscriber`]'s connection from anywhere — e.g. while the
/// subscriber itself is being consumed in another task. Cheap to clone. It does not keep the
/// connection alive: once the [`Subscriber`] is dropped, its requests fail with
/// [`Error::is_closed`].
#[derive(Clone)]
pub struct SubscriberHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SubscriberHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberHandle")
            .field("connected", &self.shared.status().is_connected())
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    pub(crate) fn new(shared: Arc<Shared>, client: Client) -> Self {
        Subscriber {
            handle: SubscriberHandle { shared },
            _client: client,
        }
    }

    /// The next message; `None` only when the subscriber can never receive again (its
    /// worker's event loop shut down). Reconnections do not end the stream.
    pub async fn next(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.handle.shared.poll_next(cx)).await
    }

    /// A handle for subscribing and unsubscribing from elsewhere.
    pub fn handle(&self) -> SubscriberHandle {
        self.handle.clone()
    }

    /// `SUBSCRIBE`: see [`SubscriberHandle::subscribe`].
    pub fn subscribe<I>(&self, channels: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.handle.subscribe(channels)
    }

    /// `PSUBSCRIBE`: see [`SubscriberHandle::psubscribe`].
    pub fn psubscribe<I>(&self, patterns: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.handle.psubscribe(patterns)
    }

    /// `SSUBSCRIBE`: see [`SubscriberHandle::ssubscribe`].
    pub fn ssubscribe<I>(&self, channels: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.handle.ssubscribe(channels)
    }

    /// `UNSUBSCRIBE`: see [`SubscriberHandle::unsubscribe`].
    pub fn unsubscribe<I>(&self, channels: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.handle.unsubscribe(channels)
    }

    /// `PUNSUBSCRIBE`: see [`SubscriberHandle::punsubscribe`].
    pub fn punsubscribe<I>(&self, patterns: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.handle.punsubscribe(patterns)
    }

    /// `SUNSUBSCRIBE`: see [`SubscriberHandle::sunsubscribe`].
    pub fn sunsubscribe<I>(&self, channels: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.handle.sunsubscribe(channels)
    }

    /// True while the connection is up and handshaken (subscriptions may still be in flight).
    pub fn is_connected(&self) -> bool {
        self.handle.shared.status().is_connected()
    }

    /// How many times a connection was established (1 after the first connect; each
    /// reconnection adds one).
    pub fn connects(&self) -> u64 {
        self.handle.shared.status().connects()
    }

    /// The last connection or subscription error (kept after recovery, for diagnostics).
    pub fn last_error(&self) -> Option<Error> {
        self.handle.shared.status().last_error()
    }

    /// The channels subscribed, or to be subscribed again on the next connection.
    pub fn channels(&self) -> Vec<Bytes> {
        self.handle.shared.with_wanted(|w| w.list(SubKind::Channel))
    }

    /// The patterns subscribed, or to be subscribed again on the next connection.
    pub fn patterns(&self) -> Vec<Bytes> {
        self.handle.shared.with_wanted(|w| w.list(SubKind::Pattern))
    }

    /// The shard channels subscribed, or to be subscribed again on the next connection.
    pub fn shard_channels(&self) -> Vec<Bytes> {
        self.handle.shared.with_wanted(|w| w.list(SubKind::Shard))
    }
}

impl futures_lite::Stream for Subscriber {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.handle.shared.poll_next(cx)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.handle.shared.close();
    }
}

impl SubscriberHandle {
    fn request<I>(&self, action: Action, names: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut list: Vec<Bytes> = Vec::new();
        for name in names {
            let name = name.as_ref();
            if !list.iter().any(|n| n.as_ref() == name) {
                list.push(Bytes::copy_from_slice(name));
            }
        }
        self.shared.request(Request {
            action,
            names: list,
        })
    }

    /// `SUBSCRIBE channel...`. The request is made when this is called; the future resolves
    /// once the server has confirmed every channel (from then on, messages published to them
    /// are received).
    ///
    /// The subscriptions are remembered: after a reconnection they are subscribed again. If
    /// the connection is down and the next connect attempt fails, the future fails with that
    /// error, yet the channels stay wanted and are subscribed as soon as a connection is up
    /// (call [`unsubscribe`](Self::unsubscribe) to drop them). A subscribe the server refuses
    /// (e.g. an ACL `NOPERM`) fails with the server's error and is forgotten.
    pub fn subscribe<I>(&self, channels: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.request(action(true, SubKind::Channel), channels)
    }

    /// `PSUBSCRIBE pattern...` (glob-style patterns, e.g. `news.*`); as
    /// [`subscribe`](Self::subscribe). Matching messages carry [`Message::pattern`].
    pub fn psubscribe<I>(&self, patterns: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.request(action(true, SubKind::Pattern), patterns)
    }

    /// `SSUBSCRIBE channel...` (shard channels, Redis 7+; `SPUBLISH` publishes to them); as
    /// [`subscribe`](Self::subscribe).
    pub fn ssubscribe<I>(&self, channels: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.request(action(true, SubKind::Shard), channels)
    }

    /// `UNSUBSCRIBE channel...`; no channels means all of them. The channels are forgotten at
    /// once (not resubscribed after a reconnection); the future resolves when the server has
    /// confirmed. Messages already received stay in the stream.
    pub fn unsubscribe<I>(&self, channels: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.request(action(false, SubKind::Channel), channels)
    }

    /// `PUNSUBSCRIBE pattern...`; no patterns means all of them. As
    /// [`unsubscribe`](Self::unsubscribe).
    pub fn punsubscribe<I>(&self, patterns: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.request(action(false, SubKind::Pattern), patterns)
    }

    /// `SUNSUBSCRIBE channel...`; no channels means all of them. As
    /// [`unsubscribe`](Self::unsubscribe).
    pub fn sunsubscribe<I>(&self, channels: I) -> impl Future<Output = Result<(), Error>> + Send
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.request(action(false, SubKind::Shard), channels)
    }
}

fn action(subscribe: bool, kind: SubKind) -> Action {
    Action { subscribe, kind }
}
