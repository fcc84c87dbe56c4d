//! One prepared statement's run on the worker that serves it: the one path every statement of
//! the shared connections takes, whether its caller is on that worker or not.
//!
//! [`Client`](crate::Client) hands an [`Execute`] to `corelane_runtime::dispatch_from`: on one
//! of the client's workers it runs in place, in the caller's task (no box, no thread hop);
//! from anywhere else the dispatch spawns the same future on a worker through its mailbox.
//! Its steps: count the call, take this worker's shared connection (waiting while a cancel
//! drains it, or for the pool to open one), hold a [`Watch`] on it, run the statement (and
//! once more after a 26000: [`Attempts`]), all bounded by the query deadline. A statement whose
//! connection turns out closed before any of it was sent (the server or a proxy dropped it
//! while it sat idle) goes to the pool's next connection, once: nothing of it reached a server.
//! A hand-written state machine, polled through `&mut`: it is `Unpin` and its type can be
//! named, so a caller holds it by value.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corelane_runtime::client::{InFlight, Outcome, PerWorker};
use corelane_runtime::task::Sleep;

use crate::attempts::Attempts;
use crate::cancel::{self, Watch};
use crate::codec::Response;
use crate::config::Config;
use crate::connection::Connection;
use crate::statement::{Params, Statement};
use crate::worker_state::{self, WorkerPools};
use crate::Error;

/// Waits for a connection that is open and not being drained (see `cancel::connection`).
type Acquire = Pin<Box<dyn Future<Output = Result<Connection, Error>>>>;

/// The cold path (no connection ready, or the ready one was closed): boxed, with its own
/// handle on the pools.
fn acquire(pools: &Rc<WorkerPools>) -> Step {
    let pools = pools.clone();
    Step::Acquire(Box::pin(async move { cancel::connection_of(&pools).await }))
}

/// One statement on this worker's shared connection; resolves to its response.
///
/// Dropping it at any point is safe: the run goes first (its unanswered request becomes a
/// placeholder whose reply is discarded), then the watch, which may start a cancel (see
/// [`crate::cancel`]).
pub(crate) struct Execute {
    step: Step,
    /// The call in the worker's counters (a drop before the end counts as cancelled).
    in_flight: Option<InFlight>,
    /// The call's deadline, with the limit it reports. It covers the wait for a connection.
    deadline: Option<(Sleep, Duration)>,
    stmt: Statement,
    params: Params,
    /// This worker's pools of the client, to wait for a connection (`None` when they could
    /// not be made: the call has already ended).
    pools: Option<Rc<WorkerPools>>,
    /// The statement already went to a second connection after its first was found closed.
    resent: bool,
}

// The running state is large by design: boxing it is the allocation this type exists to avoid.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// Ended before anything was sent: reported at the first poll.
    Ready(Result<Response, Error>),
    /// Waiting for a connection.
    Acquire(Acquire),
    Run(Running),
    Done,
}

/// The statement in flight on a connection.
struct Running {
    // Fields drop in declaration order: the run before the watch (see `Watch`).
    attempts: Attempts,
    watch: Watch,
}

impl Execute {
    /// Starts `stmt` on this worker's shared connection of a client (its config and per-worker
    /// states); call it on one of the client's workers.
    pub(crate) fn new(
        config: &Config,
        states: &PerWorker<WorkerPools>,
        stmt: Statement,
        params: Params,
        deadline: Option<(Instant, Duration)>,
    ) -> Execute {
        let mut execute = Execute {
            step: Step::Done,
            in_flight: None,
            // Off a worker `Sleep::new` is `None`; this runs on one.
            deadline: deadline.and_then(|(at, limit)| {
                Sleep::new(at.saturating_duration_since(Instant::now())).map(|s| (s, limit))
            }),
            stmt,
            params,
            pools: None,
            resent: false,
        };
        let pools = match worker_state::pools(config, states) {
            Ok(pools) => pools,
            Err(e) => {
                execute.step = Step::Ready(Err(e));
                return execute;
            }
        };
        execute.in_flight = Some(pools.counters.begin());
        execute.step = match worker_state::ready_connection(&pools) {
            // Gated: wait for the gate, as for a connection.
            Some(conn) if !conn.cancel.is_gated() => execute.start(&conn),
            _ => acquire(&pools),
        };
        execute.pools = Some(pools);
        execute
    }

    /// Sends the statement on `conn`.
    fn start(&self, conn: &Connection) -> Step {
        // Before the run: dropped after it.
        let watch = Watch::new(conn);
        match Attempts::start(conn, &self.stmt, &self.params) {
            Ok(attempts) => Step::Run(Running { attempts, watch }),
            Err(e) => Step::Ready(Err(e)),
        }
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Response, Error>> {
        loop {
            match &mut self.step {
                Step::Ready(_) => {
                    let Step::Ready(result) = std::mem::replace(&mut self.step, Step::Done) else {
                        return Poll::Ready(Err(Error::protocol("statement state changed")));
                    };
                    return Poll::Ready(result);
                }
                Step::Acquire(acquire) => match acquire.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(conn)) => self.step = self.start(&conn),
                },
                Step::Run(running) => {
                    let conn = running.watch.connection();
                    let polled = running.attempts.poll(conn, &self.stmt, &self.params, cx);
                    match (&polled, &self.pools) {
                        (Poll::Ready(Err(_)), Some(pools))
                            if running.attempts.unsent() && !self.resent =>
                        {
                            // The connection was found closed before the statement went out:
                            // the pool's next one (probed, or opened) gets it. The closed
                            // one's run and watch drop here.
                            self.resent = true;
                            self.step = acquire(pools);
                        }
                        _ => return polled,
                    }
                }
                Step::Done => {
                    return Poll::Ready(Err(Error::runtime("query polled after completion")))
                }
            }
        }
    }
}

impl Future for Execute {
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut polled = this.poll_step(cx);
        if polled.is_pending() {
            // Polled after the run, so the call wins a tie (as in `cancel::expire`), and a
            // timer made at the start is registered at the first poll.
            if let Some((sleep, limit)) = &mut this.deadline {
                if Pin::new(sleep).poll(cx).is_ready() {
                    polled = Poll::Ready(Err(Error::timeout(*limit)));
                }
            }
        }
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        // The run, then the watch, leave the connection (here, on the worker) before the
        // caller sees the result; an unanswered request becomes an orphan.
        this.step = Step::Done;
        this.deadline = None;
        if let Some(in_flight) = this.in_flight.take() {
            match &result {
                Ok(Response::Failed(e)) => in_flight.fail(Outcome::ServerError, &e.message),
                Ok(_) => in_flight.end(Outcome::Ok),
                Err(e) => in_flight.fail(e.outcome(), e),
            }
        }
        Poll::Ready(result)
    }
}
