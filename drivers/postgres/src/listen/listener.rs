//! The consumer's side: [`Listener`], the stream of notifications that owns the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::shared::{Action, Shared};
use super::Notification;
use crate::{Client, Error};

/// The longest channel name PostgreSQL keeps (`NAMEDATALEN - 1` bytes); longer identifiers
/// are truncated by the server, so notifications would name a different channel.
const MAX_CHANNEL_LEN: usize = 63;

/// A LISTEN/NOTIFY listener: a dedicated connection on one worker, and the stream of the
/// notifications it receives. Made by [`Client::listener`].
///
/// ```no_run
/// # fn main() -> Result<(), corelane_postgres::Error> {
/// let client = corelane_postgres::Client::connect("postgres://postgres@127.0.0.1/postgres")?;
/// let mut listener = client.listener()?;
/// futures_lite::future::block_on(async {
///     listener.listen("orders").await?;
///     while let Some(n) = listener.next().await {
///         println!("{}: {}", n.channel, n.payload);
///     }
///     Ok(())
/// })
/// # }
/// ```
///
/// It is `Send + Sync` and works from any thread: a worker task, a tokio task, a plain thread
/// (`futures_lite::future::block_on(listener.next())`). Notifications come in the order the
/// server sent them. It is also a [`futures_lite::Stream`].
///
/// Reconnection: when the connection drops, it reconnects with backoff and listens again to
/// every channel; notifications sent meanwhile are lost (NOTIFY is at-most-once).
/// Backpressure: at most [`ListenerOptions::capacity`] notifications wait; past that the
/// connection stops reading until the consumer catches up (the server queues them).
/// Dropping it closes the connection and stops reconnecting.
///
/// [`ListenerOptions::capacity`]: crate::ListenerOptions::capacity
pub struct Listener {
    shared: Arc<Shared>,
    /// Keeps the event loop (and so the connection's worker) alive.
    _client: Client,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("connected", &self.is_connected())
            .field("channels", &self.channels())
            .finish_non_exhaustive()
    }
}

impl Listener {
    pub(crate) fn new(shared: Arc<Shared>, client: Client) -> Self {
        Listener {
            shared,
            _client: client,
        }
    }

    /// The next notification; `None` only when the listener can never receive again (its
    /// worker's event loop shut down). Reconnections do not end the stream.
    pub async fn next(&mut self) -> Option<Notification> {
        std::future::poll_fn(|cx| self.shared.poll_next(cx)).await
    }

    fn request(&self, action: Action) -> impl Future<Output = Result<(), Error>> + Send {
        self.shared.request(action)
    }

    /// `LISTEN "channel"`. The request is made when this is called; the future resolves once
    /// the server has confirmed it (from then on, notifications to the channel are received).
    ///
    /// `channel` is used as is — quoted, so case-sensitive, any characters but NUL, at most
    /// 63 bytes (longer names are refused: the server would truncate them). `NOTIFY Jobs`
    /// (unquoted) notifies `jobs`; `pg_notify('Jobs', …)` notifies `Jobs`.
    ///
    /// The channel is remembered: after a reconnection it is listened to again. If the
    /// connection is down and the next connect attempt fails, the future fails with that
    /// error, yet the channel stays wanted and is listened to as soon as a connection is up
    /// (call [`unlisten`](Self::unlisten) to drop it). A `LISTEN` the server refuses fails
    /// with the server's error and is forgotten.
    pub fn listen(&self, channel: &str) -> impl Future<Output = Result<(), Error>> + Send {
        let request =
            check_channel(channel).map(|()| self.request(Action::Listen(channel.to_owned())));
        async move { request?.await }
    }

    /// `UNLISTEN "channel"`. The channel is forgotten at once (not listened to again after a
    /// reconnection); the future resolves when the server has confirmed. Notifications
    /// already received stay in the stream.
    pub fn unlisten(&self, channel: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.request(Action::Unlisten(channel.to_owned()))
    }

    /// `UNLISTEN *`: forgets every channel; as [`unlisten`](Self::unlisten).
    pub fn unlisten_all(&self) -> impl Future<Output = Result<(), Error>> + Send {
        self.request(Action::UnlistenAll)
    }

    /// The channels listened to, or to be listened to again on the next connection.
    pub fn channels(&self) -> Vec<String> {
        self.shared
            .with_wanted(|wanted| wanted.0.iter().cloned().collect())
    }

    /// True while the connection is up and started (`LISTEN`s may still be in flight).
    pub fn is_connected(&self) -> bool {
        self.shared.status().is_connected()
    }

    /// The process id of the server backend serving the current connection (what
    /// `pg_backend_pid()` says on it, and what `pg_terminate_backend` takes); `None` while
    /// disconnected.
    pub fn backend_pid(&self) -> Option<i32> {
        self.shared
            .status()
            .connection_id()
            .and_then(|pid| i32::try_from(pid).ok())
    }

    /// How many times a connection was established (1 after the first connect; each
    /// reconnection adds one).
    pub fn connects(&self) -> u64 {
        self.shared.status().connects()
    }

    /// The last connection or `LISTEN` error (kept after recovery, for diagnostics).
    pub fn last_error(&self) -> Option<Error> {
        self.shared.status().last_error()
    }
}

fn check_channel(channel: &str) -> Result<(), Error> {
    if channel.is_empty() {
        return Err(Error::config("a channel name cannot be empty"));
    }
    if channel.contains('\0') {
        return Err(Error::config("a channel name cannot contain NUL"));
    }
    if channel.len() > MAX_CHANNEL_LEN {
        return Err(Error::config(format!(
            "channel name of {} bytes: PostgreSQL keeps at most {MAX_CHANNEL_LEN}",
            channel.len()
        )));
    }
    Ok(())
}

impl futures_lite::Stream for Listener {
    type Item = Notification;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        self.shared.poll_next(cx)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.close();
    }
}
