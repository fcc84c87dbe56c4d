//! The connection task: connect, handshake, resubscribe, serve; on loss, back off and again.
//!
//! It runs on one worker for the subscriber's whole life. Call order of one round:
//!
//! 1. wait out the backoff (`Backoff::wait_at(now)`), unless the subscriber is dropped;
//! 2. connect and handshake within `connect_timeout` — on failure, fail waiting subscribes
//!    (their names stay wanted), record `on_failure(now)` and go to 1;
//! 3. `on_success()`; send `SUBSCRIBE`/`PSUBSCRIBE`/`SSUBSCRIBE` for everything wanted;
//! 4. serve: write queued requests, pause and resume reading for the inbox, until the
//!    connection closes (then `on_failure(now)`: a short jittered pause, go to 1) or the
//!    subscriber is dropped (close the connection, end).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::pool::Backoff;
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::{CloseCause, Limits, ReadLease, Registered};

use super::handler::{Local, Pending, PubSubHandler};
use super::message::{Action, SubKind};
use super::shared::{EndGuard, Op, Shared, Waiter};
use super::SubscriberOptions;
use crate::config::Config;
use crate::connection::{connect_stream, describe, tls_refusal};
use crate::Error;

/// Names per command when resubscribing, so a subscriber with very many channels sends
/// several moderate commands rather than one huge one.
const RESUBSCRIBE_CHUNK: usize = 512;

type Conn = Registered<PubSubHandler>;

/// The connection task's body. `guard` ends the message stream when this returns or is dropped.
/// Each connection goes to the next of `configs` after a failed attempt or a lost connection
/// (one server for a subscriber; the sentinels, in turn, for a Sentinel client's watcher).
pub(crate) async fn run(
    shared: Arc<Shared>,
    configs: Vec<Config>,
    options: SubscriberOptions,
    guard: EndGuard,
) {
    let _guard = guard;
    let mut backoff = Backoff::new(options.backoff_initial, options.backoff_max);
    let mut rng = fastrand::Rng::new();
    // Waiters whose command was in flight when a connection died: the next resubscribe covers
    // them.
    let mut carried: Vec<Waiter> = Vec::new();
    let mut turn = 0usize;
    loop {
        if shared.is_closed() {
            return;
        }
        let Some(config) = configs.get(turn % configs.len().max(1)) else {
            return;
        };
        if let Some(wait) = backoff.wait_at(Instant::now()) {
            if !sleep_unless_closed(&shared, wait).await {
                return;
            }
            continue;
        }
        let session = match Session::open(&shared, config).await {
            Ok(session) => session,
            Err(error) => {
                turn = turn.wrapping_add(1);
                for waiter in carried.drain(..) {
                    waiter.connection_failed(&error);
                }
                for op in shared.take_ops() {
                    op.waiter.connection_failed(&error);
                }
                shared.set_error(error);
                backoff.on_failure(Instant::now(), &mut rng);
                continue;
            }
        };
        backoff.on_success();
        shared.set_connected(true);
        session.resubscribe(std::mem::take(&mut carried));
        let end = session.serve().await;
        shared.set_connected(false);
        match end {
            End::Dropped => return,
            End::Lost(cause, unconfirmed) => {
                turn = turn.wrapping_add(1);
                carried = unconfirmed;
                shared.set_error(closed(cause));
                // Even after a healthy session, wait a jittered moment before reconnecting, so
                // a server that keeps killing us is not hammered.
                backoff.on_failure(Instant::now(), &mut rng);
            }
        }
    }
}

/// How a served connection ended.
enum End {
    /// The subscriber was dropped.
    Dropped,
    /// The connection closed; the waiters of unconfirmed requests.
    Lost(CloseCause, Vec<Waiter>),
}

fn closed(cause: CloseCause) -> Error {
    Error::from(RequestError::Closed(cause))
}

/// Sleeps `wait`; false when the subscriber was dropped meanwhile.
async fn sleep_unless_closed(shared: &Arc<Shared>, wait: Duration) -> bool {
    let sleep = async {
        corelane_runtime::task::sleep(wait).await;
        true
    };
    let dropped = poll_fn(|cx| {
        shared.set_task_waker(cx);
        if shared.is_closed() {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    });
    futures_lite::future::or(sleep, dropped).await
}

struct Session {
    shared: Arc<Shared>,
    local: Rc<Local>,
    conn: Conn,
    /// Held while the inbox is full: the reader task does not read.
    lease: Option<ReadLease<PubSubHandler>>,
}

impl Session {
    async fn open(shared: &Arc<Shared>, config: &Config) -> Result<Session, Error> {
        let limit = config.connect_timeout;
        match corelane_runtime::task::timeout(limit, Self::open_inner(shared, config)).await {
            Some(result) => result,
            None => Err(Error::connect(
                describe(&config.addr),
                format!("timed out after {limit:?} (connect + handshake)"),
            )),
        }
    }

    async fn open_inner(shared: &Arc<Shared>, config: &Config) -> Result<Session, Error> {
        let stream = connect_stream(config).await?;
        let local = Rc::new(Local::default());
        let handler = PubSubHandler::new(shared.clone(), local.clone());
        let conn =
            Registered::register(stream, handler, Limits::default()).map_err(Error::runtime)?;
        let session = Session {
            shared: shared.clone(),
            local,
            conn,
            lease: None,
        };
        // Channels are not per database, but keyspace-notification users expect the
        // connection to look like the client's others (hence `SELECT` too).
        crate::handshake::run(&mut SessionExchange(&session), config)
            .await
            .map_err(|e| tls_refusal(config, e))?;
        session.local.set_handshaken();
        Ok(session)
    }

    // ---- handshake: the same machine and loop as a command connection's

    /// Writes one handshake command and waits for its reply.
    async fn query(&self, command: &[u8]) -> Result<Value, Error> {
        self.conn
            .write(command)
            .map_err(|e| Error::from(RequestError::from(e)))?;
        poll_fn(|cx| {
            self.shared.set_task_waker(cx);
            if let Some(reply) = self.local.next_reply() {
                return Poll::Ready(Ok(reply));
            }
            match self.local.closed() {
                Some(cause) => Poll::Ready(Err(closed(cause))),
                None => Poll::Pending,
            }
        })
        .await
    }

    // ---- subscriptions

    /// Sends one command and records what confirms it. Entry before bytes: the pending entry
    /// is queued before the write, so its confirmations always find it.
    fn send(&self, action: Action, names: Vec<Bytes>, waiters: Vec<Waiter>) {
        let cmd = Cmd::new(action.command()).args(names.iter());
        self.local.push_pending(Pending {
            action,
            remaining: names.len(),
            names,
            waiters,
        });
        if let Err(e) = self
            .conn
            .write_with(cmd.encoded_len(), |buf| cmd.write_to(buf))
        {
            let error = Error::from(RequestError::from(e.clone()));
            if matches!(e, corelane_runtime::WriteError::Closed(_)) {
                // The connection is going: the entry stays and is carried to the next one.
                return;
            }
            // The outbound buffer is full (the server is not reading): refuse this request.
            if let Some(refused) = self.local.pop_newest() {
                if refused.action.subscribe {
                    self.shared.unwant(refused.action.kind, &refused.names);
                }
                for waiter in refused.waiters {
                    let _ = waiter.done.send(Err(error.clone()));
                }
            }
        }
    }

    /// Subscribes everything wanted on a fresh connection. The queued requests are covered by
    /// it (the wanted sets include them), so their waiters — and those carried from the lost
    /// connection — complete when its last confirmation arrives.
    fn resubscribe(&self, carried: Vec<Waiter>) {
        let (plan, ops) = self.shared.resubscribe_plan();
        let mut waiters = carried;
        waiters.extend(ops.into_iter().map(|op| op.waiter));
        let mut commands: Vec<(Action, Vec<Bytes>)> = Vec::new();
        for (kind, names) in SubKind::ALL.into_iter().zip(plan) {
            let action = Action {
                subscribe: true,
                kind,
            };
            let mut names = names.into_iter().peekable();
            while names.peek().is_some() {
                commands.push((action, names.by_ref().take(RESUBSCRIBE_CHUNK).collect()));
            }
        }
        let last = commands.len();
        for (i, (action, names)) in commands.into_iter().enumerate() {
            let waiters = if i + 1 == last {
                std::mem::take(&mut waiters)
            } else {
                Vec::new()
            };
            self.send(action, names, waiters);
        }
        // Nothing wanted: nothing to confirm.
        waiters.into_iter().for_each(Waiter::succeed);
    }

    fn send_ops(&self, ops: VecDeque<Op>) {
        for op in ops {
            self.send(op.action, op.names, vec![op.waiter]);
        }
    }

    async fn serve(mut self) -> End {
        let end = poll_fn(|cx| self.poll_serve(cx)).await;
        self.lease = None;
        if let End::Dropped = end {
            self.conn.unregister();
        }
        end
    }

    fn poll_serve(&mut self, cx: &Context<'_>) -> Poll<End> {
        // The waker first, then the checks: a wake between them is not lost.
        self.shared.set_task_waker(cx);
        if self.shared.is_closed() {
            return Poll::Ready(End::Dropped);
        }
        if let Some(cause) = self.local.closed() {
            let unconfirmed = self
                .local
                .take_pending()
                .into_iter()
                .flat_map(|p| p.waiters)
                .collect();
            return Poll::Ready(End::Lost(cause, unconfirmed));
        }
        self.send_ops(self.shared.take_ops());
        self.shared.hold_reading(&self.conn, &mut self.lease);
        Poll::Pending
    }
}

/// The handshake's commands go straight to the registered connection; their replies come
/// back through the handler's reply queue.
struct SessionExchange<'a>(&'a Session);

impl crate::handshake::Exchange for SessionExchange<'_> {
    async fn exchange(&mut self, command: &[u8]) -> Result<Value, Error> {
        self.0.query(command).await
    }
}
