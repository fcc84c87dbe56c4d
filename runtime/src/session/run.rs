//! The connection task: back off, open, resubscribe, serve; on loss, again.
//!
//! It runs on one worker for the session's whole life. One round:
//!
//! 1. wait out the backoff ([`Backoff::wait_at`]), unless the consumer is dropped;
//! 2. [`Connect::open`] (connect and handshake, within the driver's connect timeout) — on
//!    failure, the waiters carried from the lost connection and the queued requests see
//!    [`Waiter::connection_failed`] (subscribed names stay wanted), the error is recorded,
//!    [`Backoff::on_failure`], go to 1;
//! 3. [`Backoff::on_success`]; subscribe everything wanted ([`Wanted::resubscribe`]), the last
//!    request carrying every waiter it covers (carried and queued ones);
//! 4. serve: send queued requests and apply the inbox's flow control until the connection
//!    closes (its unconfirmed waiters are carried; a jittered pause, go to 1) or the consumer
//!    is dropped ([`Connection::close`], end).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{EndGuard, Link, Shared, Spec, Waiter, Wanted};
use crate::pool::Backoff;
use crate::{Handler, ReadLease, Registered, SubmitError};

type Request<S> = <<S as Spec>::Wanted as Wanted>::Request;

/// Opens the session's connections (the driver's connect, handshake and host choice).
// The futures run on the one worker that owns the connection: they never need `Send`.
#[allow(async_fn_in_trait)]
pub trait Connect<S: Spec> {
    /// The connection it opens.
    type Conn: Connection<S>;

    /// Opens a connection, handshaken and ready for requests, or fails. Bounds its own time
    /// (the driver's connect timeout). Called again after every failure or loss: a driver
    /// with several servers turns to the next one here.
    async fn open(&mut self, shared: &Arc<Shared<S>>) -> Result<Self::Conn, S::Error>;
}

/// One open connection of a session, as the connection task drives it. Its handler parses
/// frames, delivers messages into [`Shared::inbox`] (pausing with [`Shared::make_room`]),
/// settles the head of its [`Link`]'s confirmations, and reports the close with
/// [`Link::on_close`].
pub trait Connection<S: Spec> {
    /// The registered connection's handler.
    type Handler: Handler;
    /// What the driver records of a request written and not yet confirmed.
    type Detail;

    /// The registered connection (for the inbox's flow control).
    fn registered(&self) -> &Registered<Self::Handler>;

    /// The server's id for this connection, reported by [`Status::connection_id`]
    /// (0: none).
    ///
    /// [`Status::connection_id`]: super::Status::connection_id
    fn id(&self) -> i64 {
        0
    }

    /// Writes `request`, whose confirmation completes `waiters` (entry before bytes: see
    /// [`Confirmations::push_then_write`](super::Confirmations::push_then_write)). A write
    /// refused for a full outbound buffer fails its waiters, and a refused subscribe is no
    /// longer wanted ([`Shared::with_wanted`]).
    fn send(&self, request: Request<S>, waiters: Vec<Waiter<S::Error>>);

    /// The state its handler shares with the task: pending confirmations, the close.
    fn link(&self) -> &Link<Self::Detail, S::Error>;

    /// Closes the connection for good (the consumer is gone). By default it unregisters it;
    /// a driver that says goodbye first writes that here.
    fn close(self)
    where
        Self: Sized,
    {
        self.registered().unregister();
    }
}

/// How a served connection ended.
enum End<E> {
    /// The consumer was dropped.
    Dropped,
    /// The connection closed; the waiters of unconfirmed requests.
    Lost(E, Vec<Waiter<E>>),
}

/// Starts the connection task of `shared` on its inbox's worker: [`run`] with an
/// [`EndGuard`] made here, so a task that never runs (the worker is shutting down) still ends
/// the stream. Requests made before this are covered by the first connection.
pub fn start<S, C>(shared: &Arc<Shared<S>>, connect: C, backoff: Backoff) -> Result<(), SubmitError>
where
    S: Spec,
    C: Connect<S> + Send + 'static,
{
    let task_shared = shared.clone();
    let guard = EndGuard::new(shared.clone());
    shared.inbox().worker().submit(move || {
        let task = run(task_shared, connect, backoff, guard);
        // Fails only off a worker, and jobs run on one; were it to, the task (and its guard)
        // is dropped and the stream ends.
        let _ = crate::task::spawn_detached(task);
    })
}

/// The connection task's body: see the module docs. `guard` ends the stream when this
/// returns or is dropped.
pub async fn run<S: Spec, C: Connect<S>>(
    shared: Arc<Shared<S>>,
    mut connect: C,
    mut backoff: Backoff,
    guard: EndGuard<S>,
) {
    let _guard = guard;
    let mut rng = fastrand::Rng::new();
    // Waiters whose request was in flight when a connection died: the next resubscribe covers
    // them.
    let mut carried: Vec<Waiter<S::Error>> = Vec::new();
    loop {
        if shared.is_closed() {
            return;
        }
        if let Some(wait) = backoff.wait_at(Instant::now()) {
            if !sleep_unless_closed(&shared, wait).await {
                return;
            }
            continue;
        }
        let conn = match connect.open(&shared).await {
            Ok(conn) => conn,
            Err(error) => {
                for waiter in carried.drain(..) {
                    waiter.connection_failed(&error);
                }
                for op in shared.take_ops() {
                    op.waiter.connection_failed(&error);
                }
                shared.status().set_error(error);
                backoff.on_failure(Instant::now(), &mut rng);
                continue;
            }
        };
        backoff.on_success();
        shared.status().set_connected(Some(conn.id()));
        resubscribe(&shared, &conn, std::mem::take(&mut carried));
        let end = serve(&shared, &conn).await;
        shared.status().set_connected(None);
        match end {
            End::Dropped => {
                conn.close();
                return;
            }
            End::Lost(error, unconfirmed) => {
                carried = unconfirmed;
                shared.status().set_error(error);
                // Even after a healthy session, wait a jittered moment before reconnecting,
                // so a server that keeps killing us is not hammered.
                backoff.on_failure(Instant::now(), &mut rng);
            }
        }
    }
}

/// Subscribes everything wanted on a fresh connection. The queued requests are covered by it
/// (the wanted set includes them), so their waiters — and those carried from the lost
/// connection — complete when its last request is confirmed.
fn resubscribe<S: Spec, C: Connection<S>>(
    shared: &Shared<S>,
    conn: &C,
    carried: Vec<Waiter<S::Error>>,
) {
    let (wanted, ops) = shared.resubscribe_plan();
    let mut waiters = carried;
    waiters.extend(ops.into_iter().map(|op| op.waiter));
    let requests = wanted.resubscribe();
    let last = requests.len();
    for (i, request) in requests.into_iter().enumerate() {
        let waiters = if i + 1 == last {
            std::mem::take(&mut waiters)
        } else {
            Vec::new()
        };
        conn.send(request, waiters);
    }
    // Nothing wanted: nothing to confirm.
    waiters.into_iter().for_each(Waiter::succeed);
}

async fn serve<S: Spec, C: Connection<S>>(shared: &Shared<S>, conn: &C) -> End<S::Error> {
    // Held while the inbox is full: the reader task does not read.
    let mut lease: Option<ReadLease<C::Handler>> = None;
    poll_fn(|cx| poll_serve(shared, conn, &mut lease, cx)).await
}

fn poll_serve<S: Spec, C: Connection<S>>(
    shared: &Shared<S>,
    conn: &C,
    lease: &mut Option<ReadLease<C::Handler>>,
    cx: &Context<'_>,
) -> Poll<End<S::Error>> {
    // The waker first, then the checks: a wake between them is not lost.
    shared.set_task_waker(cx);
    if shared.is_closed() {
        return Poll::Ready(End::Dropped);
    }
    if let Some(cause) = conn.link().closed() {
        let unconfirmed = conn.link().pending().take_waiters();
        return Poll::Ready(End::Lost(S::closed_error(cause), unconfirmed));
    }
    for op in shared.take_ops() {
        conn.send(op.request, vec![op.waiter]);
    }
    shared.hold_reading(conn.registered(), lease);
    Poll::Pending
}

/// Sleeps `wait`; false when the consumer was dropped meanwhile.
pub async fn sleep_unless_closed<S: Spec>(shared: &Shared<S>, wait: Duration) -> bool {
    let sleep = async {
        crate::task::sleep(wait).await;
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
