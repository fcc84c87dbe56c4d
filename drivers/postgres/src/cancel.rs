//! Query timeouts and server-side cancellation on pipelined connections.
//!
//! # The problem
//!
//! A `CancelRequest` (sent on a separate connection, with the backend's pid and secret key)
//! interrupts *whatever that backend is running when the signal lands*. On a pipelined
//! connection that need not be the query we gave up on: if it finished just before, the next
//! query — another caller's, pipelined behind it — is running, and would be killed instead.
//! And a signal that lands later still, after new queries were sent, could kill any of them.
//!
//! # The rule
//!
//! Every call on a shared connection ([`Client`](crate::Client)'s `query`, `execute`,
//! `pipeline`, `batch_execute`, `prepare`) runs under a [`Watch`], which counts the calls in
//! progress on that connection. A call that times out (or whose future is dropped) stops
//! waiting at once: the runtime turns its unanswered requests into placeholders whose replies
//! are read and discarded (the connection stays in step by itself), and it reports
//! [`Error::is_timeout`] (or nothing, when dropped). Such requests are *orphans*: nobody waits
//! for their replies.
//!
//! **A `CancelRequest` is sent only when no call is in progress on the connection while
//! requests are still outstanding on it** — i.e. every request the server may be running is
//! an orphan — and from that moment the connection is *gated*: no request of any call is
//! written on it until the cancel is known to have landed and the connection has drained to
//! `ReadyForQuery`. So the only statements a cancel can ever interrupt are orphans.
//!
//! The check runs whenever a call leaves a connection (the count drops to zero): when the call
//! that timed out was alone, at once; when other calls were in flight with it, once they are
//! done — by then the orphan has usually finished too (it was ahead of them), and nothing is
//! cancelled at all. A call queued *behind* a slow orphan waits for it, exactly as it would
//! have without the timeout (under its own timeout, if it has one): cancelling the orphan then
//! could kill that caller's statement, so it is not done.
//!
//! # Why the gate is enough
//!
//! The drain task ([`drain`]) holds the gate while it:
//!
//! 1. opens a side connection to the address the connection reached (over TLS, started the
//!    same way, when the connection uses TLS), sends `CancelRequest`,
//!    and waits (bounded by [`CANCEL_TIMEOUT`]) until the server closes it. The server signals
//!    the backend *before* it closes that connection, so once it is closed the signal is
//!    pending on the backend: it is handled before the backend runs any more of its own code.
//! 2. sends a `Sync` probe and waits (bounded by [`DRAIN_TIMEOUT`]) for its `ReadyForQuery`,
//!    which comes after every orphan's reply (typically SQLSTATE 57014 `query_canceled`, read
//!    and discarded). The probe runs nothing a cancel could hurt.
//!
//! When the probe's reply is in, the backend is idle, and the signal was either consumed by
//! an orphan (it raised 57014) or arrived while the backend was idle — and PostgreSQL discards
//! a cancel that arrives between commands (`PostgresMain` clears it before it runs the next
//! message it reads). No later statement can see it. The gate opens and the connection goes
//! on serving, with the same backend.
//!
//! If anything is not known for sure — the side connection failed or did not close in time,
//! the drain did not finish in time, the connection has no cancel key — the connection is
//! closed instead (the pool opens a new one), never returned out of step. Calls that arrived
//! meanwhile were waiting at the gate, not on the wire: after a close they take another
//! connection.
//!
//! # Caveats
//!
//! - Behind a connection pooler that forwards cancels asynchronously (it closes the side
//!   connection before the real backend is signalled), step 1 proves less; the gate still
//!   keeps the cancel off other callers' statements until the orphans are answered.
//! - Statements of a [`Transaction`](crate::Transaction) run on an exclusive connection and
//!   are not under the query timeout (a transaction's own future can be dropped: it rolls
//!   back, see [`Client::transaction`](crate::Client::transaction)).
//! - Off the loop (tokio, plain threads), a call runs as a task on a worker; dropping the
//!   caller's future drops that task's future on the worker (through its mailbox, before any
//!   call the same thread makes next), so it is handled exactly as a call dropped on the
//!   worker (see `corelane_runtime::WorkerLoop::spawn`).

use std::time::{Duration, Instant};

use bytes::BytesMut;
use corelane_pg_proto::message::backend::BackendKeyData;
use corelane_pg_proto::message::frontend;
use corelane_runtime::client::PerWorker;
use corelane_runtime::{task, CloseCause, Handler, Limits, Registered};

use crate::cancel_gate::GateOpen;
use crate::codec::Expect;
use crate::config::Config;
use crate::connection::Connection;
use crate::transport::{connect_for_cancel, Route};
use crate::worker_state::{self, WorkerPools};
use crate::Error;

/// Bounds connecting to the server for a `CancelRequest`, sending it and seeing the server
/// close that connection.
pub(crate) const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Bounds the drain to `ReadyForQuery` after a cancel; past it the connection is closed.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A shared connection of a client on this worker whose gate is open: a cancel in flight
/// on the pool's choice is waited out (it ends with the connection back in service, or closed
/// and replaced).
/// Takes the client's `config` and per-worker `states` (see [`worker_state::pools`]).
pub(crate) async fn connection(
    config: &Config,
    states: &PerWorker<WorkerPools>,
) -> Result<Connection, Error> {
    connection_of(&*worker_state::pools(config, states)?).await
}

/// [`connection`] from this worker's pools of a client. The pool probes the connection it
/// chose (`PgManager::check_out`): one the server (or a proxy) closed while it sat idle is not
/// handed to the call that would have been the first to find it closed.
pub(crate) async fn connection_of(pools: &WorkerPools) -> Result<Connection, Error> {
    loop {
        let conn = worker_state::shared_connection(pools).await?;
        if !conn.cancel.draining.get() {
            return Ok(conn);
        }
        GateOpen(&conn.cancel).await;
        // Ask the pool again: the connection may have been closed (and replaced), or gated
        // again by the time this task runs.
    }
}

/// Marks one call in progress on a connection, from before its first request until it has
/// its last reply or is dropped. When the last call leaves a connection that still has
/// requests outstanding — orphans — it starts a cancel (see the module docs).
///
/// Declare it *before* awaiting the call's future in the same async block, so that when the
/// block is dropped the call's future (and with it its requests' handoff to placeholders)
/// goes first.
pub(crate) struct Watch {
    conn: Connection,
}

impl Watch {
    pub(crate) fn new(conn: &Connection) -> Watch {
        let state = &conn.cancel;
        state.active.set(state.active.get().saturating_add(1));
        Watch { conn: conn.clone() }
    }

    /// The connection watched.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let conn = &self.conn;
        let state = &conn.cancel;
        state.active.set(state.active.get().saturating_sub(1));
        if state.active.get() > 0 || state.draining.get() {
            return;
        }
        // No call is in progress: anything still outstanding is an orphan.
        if conn.pipe.is_idle() || conn.pipe.is_closed() {
            return;
        }
        let (Some(key), Some(route)) = (conn.key, conn.route.clone()) else {
            // No way to cancel: the orphans run to their end, their replies are discarded.
            return;
        };
        state.draining.set(true);
        if task::spawn_detached(drain(conn.clone(), key, route)).is_err() {
            // Not on a worker (cannot happen: connections live on workers). Nothing was sent.
            state.open_gate();
        }
    }
}

/// Fails with [`Error::is_timeout`] at the call's deadline, or never (`None`). Raced against
/// the call (which wins a tie): when this wins, the call's future is dropped and its requests
/// become orphans (see [`Watch`]).
pub(crate) async fn expire<T>(deadline: Option<(Instant, Duration)>) -> Result<T, Error> {
    let Some((at, limit)) = deadline else {
        return std::future::pending().await;
    };
    task::sleep(at.saturating_duration_since(Instant::now())).await;
    Err(Error::timeout(limit))
}

/// Cancels the orphans of a gated connection, drains it to `ReadyForQuery`, and opens the
/// gate again — or closes the connection when any step fails or runs out of time.
async fn drain(conn: Connection, key: BackendKeyData, route: Route) {
    let delivered = matches!(
        task::timeout(CANCEL_TIMEOUT, send_cancel(&route, key)).await,
        Some(Ok(()))
    );
    let drained = delivered
        && matches!(
            task::timeout(DRAIN_TIMEOUT, conn.pipe.call(Expect::Sync, frontend::sync)).await,
            Some(Ok(_))
        );
    if !drained {
        // Whether the signal landed, or when, is not known: this connection must not carry
        // another statement.
        conn.pipe.close();
    }
    conn.cancel.open_gate();
}

/// Sends `CancelRequest` for `key` to the server of `route` on a connection of its own (over
/// TLS when the cancelled connection uses TLS, started the same way) and waits until the
/// server closes it (it signals the backend first). `Err` when that is not sure.
async fn send_cancel(route: &Route, key: BackendKeyData) -> Result<(), Error> {
    let server = &route.server;
    let stream = connect_for_cancel(route, CANCEL_TIMEOUT).await?;
    let (closed_tx, closed_rx) = corelane_runtime::oneshot::channel();
    let side = Registered::register(
        stream,
        SideConnection {
            closed: Some(closed_tx),
        },
        Limits::default(),
    )
    .map_err(Error::runtime)?;
    let mut out = BytesMut::with_capacity(16);
    frontend::cancel_request(key.process_id, key.secret_key, &mut out);
    side.write(&out)
        .map_err(|e| Error::connect(server, e.to_string()))?;
    let cause = closed_rx
        .await
        .map_err(|_| Error::protocol("cancel connection ended without a cause"))?;
    drop(side);
    match cause {
        CloseCause::PeerClosed => Ok(()),
        other => Err(Error::connect(server, other)),
    }
}

/// The side connection of a `CancelRequest`: the server answers nothing and closes it.
struct SideConnection {
    closed: Option<corelane_runtime::oneshot::Sender<CloseCause>>,
}

impl Handler for SideConnection {
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        // Nothing is expected; whatever comes is dropped (never buffered).
        input.clear();
        Ok(())
    }

    fn on_close(&mut self, cause: &CloseCause) {
        if let Some(tx) = self.closed.take() {
            let _ = tx.send(cause.clone());
        }
    }
}
