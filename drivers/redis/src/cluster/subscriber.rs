//! Sharded pub/sub on a cluster: one single-node [`Subscriber`] per master that serves a
//! subscribed shard channel's slot, their streams merged; a watcher task moves channels
//! whose slot moved (resharding, failover) to the new master.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use corelane_runtime::dispatch;

use super::discover::NodeAddr;
use super::map::Node;
use super::redirect::{backoff, next, Next};
use super::slot::key_slot;
use super::state::Shared;
use crate::{Error, Message, Subscriber, SubscriberOptions};

/// How often a [`ClusterSubscriber`] checks, by default, that each channel is still
/// subscribed at its slot's master.
pub const DEFAULT_RESYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A subscriber to shard channels (`SSUBSCRIBE`, Redis 7+) of a cluster: made by
/// [`ClusterClient::sharded_subscriber`](super::ClusterClient::sharded_subscriber).
///
/// Each channel is subscribed at the master serving its slot, on a dedicated connection to
/// that master (a single-node [`Subscriber`], one per master, with its reconnection and
/// backpressure); [`next`](Self::next) gives the messages of all of them, taking from each
/// connection in turn. Messages of one channel come in the order the server sent them.
///
/// When a channel's slot moves to another master (a resharding: the old master drops the
/// subscription; a failover: the old master is gone), a watcher task on one of the client's
/// workers notices it within the resync interval (it reads the slot map again each time)
/// and subscribes the channel at the new master. Messages published between the move and
/// the new subscription are lost, as with any reconnection (pub/sub is at-most-once).
///
/// Dropping it closes every connection and ends the watcher.
pub struct ClusterSubscriber {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSubscriber")
            .field("channels", &self.inner.lock().channels.len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    shared: Arc<Shared>,
    options: SubscriberOptions,
    resync: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// One subscriber per master that serves a subscribed channel.
    nodes: Vec<(NodeAddr, Subscriber)>,
    /// Each subscribed channel and the master it is subscribed at.
    channels: BTreeMap<Bytes, NodeAddr>,
    /// The node polled first by the next `next` (each gets its turn).
    start: usize,
    /// The consumer waiting in `next`, woken when a node subscriber is added.
    waiter: Option<Waker>,
    watcher_started: bool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ClusterSubscriber {
    pub(crate) fn new(shared: Arc<Shared>, options: SubscriberOptions, resync: Duration) -> Self {
        ClusterSubscriber {
            inner: Arc::new(Inner {
                shared,
                options,
                resync: resync.max(Duration::from_millis(10)),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// `SSUBSCRIBE channel...`: each channel at the master of its slot (channels of one slot
    /// in one command). Resolves once every master has confirmed. A `MOVED` answer is
    /// followed (bounded by the client's `max_attempts`). Channels already subscribed are
    /// left as they are.
    pub async fn ssubscribe<I>(&self, channels: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.start_watcher()?;
        let mut by_slot: BTreeMap<u16, Vec<Bytes>> = BTreeMap::new();
        for channel in channels {
            let channel = Bytes::copy_from_slice(channel.as_ref());
            if self.inner.lock().channels.contains_key(&channel) {
                continue;
            }
            by_slot.entry(key_slot(&channel)).or_default().push(channel);
        }
        // On a worker: the retry waits use the worker's timers (and the future stays
        // `Send` for any caller).
        let inner = self.inner.clone();
        let fallback = inner
            .shared
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let workers = inner.shared.workers.as_arc();
        dispatch(&*workers, fallback, move || async move {
            for (slot, group) in by_slot {
                subscribe_slot(&inner, slot, group).await?;
            }
            Ok(())
        })
        .await
        .map_err(Error::from)?
    }

    /// `SUNSUBSCRIBE channel...` at the masters they are subscribed at; resolves once they
    /// confirmed. Channels not subscribed are ignored. Messages already received stay in the
    /// stream.
    pub async fn sunsubscribe<I>(&self, channels: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut calls = Vec::new();
        {
            let mut state = self.inner.lock();
            let mut by_node: BTreeMap<NodeAddr, Vec<Bytes>> = BTreeMap::new();
            for channel in channels {
                if let Some(addr) = state.channels.remove(channel.as_ref()) {
                    by_node
                        .entry(addr)
                        .or_default()
                        .push(Bytes::copy_from_slice(channel.as_ref()));
                }
            }
            for (addr, names) in by_node {
                if let Some((_, sub)) = state.nodes.iter().find(|(a, _)| *a == addr) {
                    calls.push(sub.sunsubscribe(names));
                }
            }
        }
        for call in calls {
            call.await?;
        }
        Ok(())
    }

    /// The shard channels subscribed (or being moved to their new master).
    pub fn shard_channels(&self) -> Vec<Bytes> {
        self.inner.lock().channels.keys().cloned().collect()
    }

    /// The next message of any subscribed channel; `None` only when no node connection can
    /// ever receive again (their workers shut down) — with no channel subscribed yet, it
    /// waits for the first.
    pub async fn next(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    fn poll_message(&self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let mut state = self.inner.lock();
        let count = state.nodes.len();
        let mut ended = 0;
        for i in 0..count {
            let at = (state.start + i) % count;
            let Some((_, sub)) = state.nodes.get_mut(at) else {
                continue;
            };
            match futures_lite::Stream::poll_next(Pin::new(sub), cx) {
                Poll::Ready(Some(message)) => {
                    state.start = at + 1;
                    return Poll::Ready(Some(message));
                }
                Poll::Ready(None) => ended += 1,
                Poll::Pending => {}
            }
        }
        if count > 0 && ended == count {
            return Poll::Ready(None);
        }
        state.waiter = Some(cx.waker().clone());
        Poll::Pending
    }

    fn start_watcher(&self) -> Result<(), Error> {
        let mut state = self.inner.lock();
        if state.watcher_started {
            return Ok(());
        }
        let workers = &self.inner.shared.workers;
        let n = workers.num_workers().max(1);
        let i = self
            .inner
            .shared
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % n;
        let worker = workers
            .worker(i)
            .cloned()
            .ok_or_else(Error::worker_closed)?;
        let weak = Arc::downgrade(&self.inner);
        worker.submit(move || {
            // Fails only off a worker, and jobs run on one.
            let _ = corelane_runtime::task::spawn_detached(watch(weak));
        })?;
        state.watcher_started = true;
        Ok(())
    }
}

impl futures_lite::Stream for ClusterSubscriber {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.poll_message(cx)
    }
}

/// The master serving `slot` now (reading the map first when it is empty), on a worker.
async fn master_of(shared: &Arc<Shared>, slot: u16) -> Result<Node, Error> {
    let shared = shared.clone();
    let fallback = shared
        .next
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let workers = shared.workers.as_arc();
    dispatch(&*workers, fallback, move || async move {
        if shared.map().served() == 0 {
            shared.refresh().await?;
        }
        shared
            .map()
            .node(slot)
            .cloned()
            .ok_or_else(|| Error::cluster(format!("no node serves slot {slot} yet")))
    })
    .await
    .map_err(Error::from)?
}

/// Subscribes `channels` (all of `slot`) at the slot's master, following `MOVED`. Runs on a
/// worker.
async fn subscribe_slot(inner: &Arc<Inner>, slot: u16, channels: Vec<Bytes>) -> Result<(), Error> {
    let options = &inner.shared.options;
    let mut direct: Option<Node> = None;
    let mut last = None;
    for attempt in 0..options.max_attempts {
        let node = match direct.take() {
            Some(node) => node,
            None => match master_of(&inner.shared, slot).await {
                Ok(node) => node,
                Err(e) => {
                    last = Some(e);
                    corelane_runtime::task::sleep(backoff(
                        attempt,
                        options.retry_base,
                        options.retry_max,
                    ))
                    .await;
                    continue;
                }
            },
        };
        let call = {
            let mut state = inner.lock();
            let sub = subscriber_at(inner, &mut state, &node)?;
            sub.ssubscribe(channels.clone())
        };
        let error = match call.await {
            Ok(()) => {
                let mut state = inner.lock();
                for channel in &channels {
                    state.channels.insert(channel.clone(), node.addr.clone());
                }
                return Ok(());
            }
            Err(e) => e,
        };
        match next(&error) {
            Next::Moved(_, addr) => {
                let addr = super::run::known_host(&inner.shared, addr);
                direct = Some(inner.shared.moved(slot, &addr)?);
            }
            Next::Ask(_) | Next::Wait | Next::Unreachable => {
                corelane_runtime::task::sleep(backoff(
                    attempt,
                    options.retry_base,
                    options.retry_max,
                ))
                .await;
            }
            Next::Fail => return Err(error),
        }
        last = Some(error);
    }
    Err(last.unwrap_or_else(|| Error::cluster("no attempt was made (max_attempts is 0)")))
}

/// The subscriber of `node`, made (and the consumer woken, to poll it too) on first use.
fn subscriber_at<'a>(
    inner: &Inner,
    state: &'a mut State,
    node: &Node,
) -> Result<&'a Subscriber, Error> {
    let at = match state.nodes.iter().position(|(a, _)| *a == node.addr) {
        Some(at) => at,
        None => {
            let sub = node.client.subscriber_with(inner.options)?;
            state.nodes.push((node.addr.clone(), sub));
            if let Some(waker) = state.waiter.take() {
                waker.wake();
            }
            state.nodes.len() - 1
        }
    };
    state
        .nodes
        .get(at)
        .map(|(_, sub)| sub)
        .ok_or_else(|| Error::runtime("subscriber list changed under its lock"))
}

/// Every `resync` interval: read the slot map again and subscribe again (at its slot's
/// master now) each channel whose master changed or dropped it; drop the subscribers left
/// with no channel. Ends with the subscriber.
async fn watch(weak: Weak<Inner>) {
    loop {
        let Some(resync) = weak.upgrade().map(|inner| inner.resync) else {
            return;
        };
        corelane_runtime::task::sleep(resync).await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let _ = inner.shared.refresh().await;
        let map = inner.shared.map();
        // Misplaced: the map names another master, or the master it is at dropped it (a
        // slot that moved away — and maybe back — since the last round).
        let moves: Vec<(Bytes, NodeAddr)> = {
            let state = inner.lock();
            let held: Vec<(&NodeAddr, Vec<Bytes>)> = state
                .nodes
                .iter()
                .map(|(addr, sub)| (addr, sub.shard_channels()))
                .collect();
            state
                .channels
                .iter()
                .filter(|(channel, at)| {
                    let elsewhere = map
                        .node(key_slot(channel))
                        .is_some_and(|now| now.addr != **at);
                    let dropped = !held
                        .iter()
                        .any(|(addr, names)| *addr == *at && names.contains(channel));
                    elsewhere || dropped
                })
                .map(|(channel, at)| (channel.clone(), at.clone()))
                .collect()
        };
        for (channel, old) in &moves {
            // Forgotten at the old master at once (not resubscribed if it comes back); the
            // server's answer is not awaited (that master may be gone).
            let state = inner.lock();
            if let Some((_, sub)) = state.nodes.iter().find(|(a, _)| a == old) {
                drop(sub.sunsubscribe([channel.clone()]));
            }
        }
        for (channel, old) in moves {
            inner.lock().channels.remove(&channel);
            // A failure (the new master not reachable yet): the channel stays listed at the
            // old master, so the next round sees it misplaced and tries again.
            if subscribe_slot(&inner, key_slot(&channel), vec![channel.clone()])
                .await
                .is_err()
            {
                inner.lock().channels.insert(channel, old);
            }
        }
        // Masters left with no channel: their connections are closed.
        let mut state = inner.lock();
        let used: Vec<NodeAddr> = state.channels.values().cloned().collect();
        state.nodes.retain(|(addr, _)| used.contains(addr));
    }
}
