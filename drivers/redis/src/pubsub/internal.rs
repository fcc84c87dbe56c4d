//! A subscription the crate runs for itself (the Sentinel client's `+switch-master` watcher):
//! the subscriber's connection task and inbox, without the public [`Subscriber`] (which
//! would keep its client alive).
//!
//! [`Subscriber`]: super::Subscriber

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use corelane_runtime::pool::Backoff;
use corelane_runtime::{oneshot, WorkerLoop};

use super::message::{Action, Message, SubKind};
use super::shared::{subscriber_closed, Request, Shared, Waiter};
use super::{session, SubscriberOptions};
use crate::config::Config;
use crate::Error;

/// A channel subscription on one worker, connecting to each of `configs` in turn. Cheap to
/// clone; [`close`](Self::close) stops it (nothing else does).
#[derive(Clone)]
pub(crate) struct InternalSubscription {
    shared: Arc<Shared>,
}

impl InternalSubscription {
    /// Starts the connection task on `worker`, subscribed to `channel`.
    pub(crate) fn start(
        worker: &WorkerLoop,
        configs: Vec<Config>,
        options: SubscriberOptions,
        channel: &[u8],
    ) -> Result<Self, Error> {
        let shared = Arc::new(Shared::new(worker.clone(), options.capacity));
        let this = InternalSubscription { shared };
        // Wanted before the task starts: its first connection subscribes.
        drop(this.request_subscribe(channel));
        let connect = session::Connector::new(configs);
        let backoff = Backoff::new(options.backoff_initial, options.backoff_max);
        corelane_runtime::session::start(&this.shared, connect, backoff)?;
        Ok(this)
    }

    /// Asks for `SUBSCRIBE channel` (again: the server confirms a repeat too); the receiver
    /// resolves once the server confirmed, or with the error of the next connect attempt.
    pub(crate) fn request_subscribe(&self, channel: &[u8]) -> oneshot::Receiver<Result<(), Error>> {
        let (waiter, rx) = Waiter::new(true);
        let action = Action {
            subscribe: true,
            kind: SubKind::Channel,
        };
        let names = vec![Bytes::copy_from_slice(channel)];
        self.shared.enqueue(Request { action, names }, waiter);
        rx
    }

    /// [`request_subscribe`](Self::request_subscribe), awaited.
    pub(crate) async fn subscribe(&self, channel: &[u8]) -> Result<(), Error> {
        self.request_subscribe(channel)
            .await
            .unwrap_or_else(|_| Err(subscriber_closed()))
    }

    /// The next message; `None` once closed (or the worker's loop shut down).
    pub(crate) async fn next(&self) -> Option<Message> {
        poll_fn(|cx| self.shared.poll_next(cx)).await
    }

    /// True while a connection is up.
    pub(crate) fn is_connected(&self) -> bool {
        self.shared.status().is_connected()
    }

    /// True once [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Closes the connection and stops reconnecting; [`next`](Self::next) then ends.
    pub(crate) fn close(&self) {
        self.shared.close();
    }
}
