//! The on-worker fast path of one statement: a hand-written future, held by value.
//!
//! [`Client`](crate::Client) runs its operations through `corelane_runtime::dispatch`, which
//! boxes the operation's future when called on a worker (a `!Send` future inside a `Send` one
//! must live behind a pointer that stays put when the outer future moves). A prepared query is
//! the hot path, so when it is issued on one of the client's workers and that worker's shared
//! connection is open and not gated by a cancel, it runs as [`Execute`] instead: the same steps
//! as the general path — a [`Watch`] on the connection, the statement's run, the retry after
//! 26000, the deadline — made of parts that are polled through `&mut` (no pinning), so they sit
//! in a [`ThreadBound`] by value and nothing is allocated. Anything else (no connection yet, a
//! cancel in flight, off the loop) takes the general path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corelane_runtime::client::{InFlight, Outcome, PerWorker};
use corelane_runtime::roundtrip::OwnedRun;
use corelane_runtime::task::Sleep;
use corelane_runtime::ThreadBound;

use crate::cancel::Watch;
use crate::codec::{PgCodec, Response};
use crate::config::Config;
use crate::connection::Sent;
use crate::statement::{Params, Statement};
use crate::worker_state::{self, WorkerPools};
use crate::Error;

/// One statement running on this worker's connection; resolves to its response.
///
/// Dropping it at any point is safe and behaves like dropping the general path's future: the
/// run goes first (its unanswered request becomes a placeholder whose reply is discarded),
/// then the watch, which may start a cancel (see [`crate::cancel`]).
pub(crate) struct Execute {
    state: State,
}

// The running state is large by design: boxing it is the allocation this type exists to avoid.
#[allow(clippy::large_enum_variant)]
enum State {
    Running(ThreadBound<Local>),
    /// Encoding failed before anything was sent: reported at the first poll.
    Failed(Error),
    Done,
}

/// The worker-local part.
struct Local {
    // Fields drop in declaration order: the run before the watch (see `Watch`).
    /// `None` only between two attempts.
    run: Option<OwnedRun<PgCodec>>,
    /// The call in the worker's counters (a drop before the end counts as cancelled).
    in_flight: Option<InFlight>,
    /// The call's deadline, with the limit it reports.
    deadline: Option<(Sleep, Duration)>,
    watch: Watch,
    stmt: Statement,
    params: Params,
    /// What the run sent (see `Connection::retry_execute`).
    sent: Sent,
    attempt: u32,
}

impl Execute {
    /// Starts `stmt` on this worker's shared connection of a client (its config and per-worker
    /// states) when one is ready now.
    /// Call it only on one of the client's workers. Gives the statement and its parameters
    /// back when the fast path does not apply, for the general path.
    pub(crate) fn start(
        config: &Config,
        states: &PerWorker<WorkerPools>,
        stmt: Statement,
        params: Params,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Execute, (Statement, Params)> {
        let Ok(pools) = worker_state::pools(config, states) else {
            return Err((stmt, params));
        };
        let Some(conn) = worker_state::ready_connection(&pools) else {
            return Err((stmt, params));
        };
        if conn.cancel.is_gated() {
            // Gated: the general path waits for the gate.
            return Err((stmt, params));
        }
        // Before the run: dropped after it.
        let watch = Watch::new(&conn);
        let in_flight = pools.counters.begin();
        let (run, sent) = match conn.start_execute(&stmt, &params) {
            Ok(started) => started,
            Err(e) => {
                in_flight.fail(e.outcome(), &e);
                return Ok(Execute {
                    state: State::Failed(e),
                });
            }
        };
        // Off a worker `Sleep::new` is `None`; this runs on one.
        let deadline = deadline.and_then(|(at, limit)| {
            Sleep::new(at.saturating_duration_since(Instant::now())).map(|s| (s, limit))
        });
        Ok(Execute {
            state: State::Running(ThreadBound::new(Local {
                run: Some(run),
                in_flight: Some(in_flight),
                deadline,
                watch,
                stmt,
                params,
                sent,
                attempt: 0,
            })),
        })
    }
}

impl Local {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Response, Error>> {
        let polled = self.poll_run(cx);
        if let Poll::Ready(result) = &polled {
            if let Some(in_flight) = self.in_flight.take() {
                match result {
                    Ok(Response::Failed(e)) => in_flight.fail(Outcome::ServerError, &e.message),
                    Ok(_) => in_flight.end(Outcome::Ok),
                    Err(e) => in_flight.fail(e.outcome(), e),
                }
            }
        }
        polled
    }

    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Result<Response, Error>> {
        loop {
            let Some(run) = &mut self.run else {
                return Poll::Ready(Err(Error::protocol("statement retry loop ended")));
            };
            let outcome = match Pin::new(run).poll(cx) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => {
                    // Polled after the run, so the call wins a tie (as in `cancel::expire`),
                    // and a timer made at the start is registered at the first poll.
                    if let Some((sleep, limit)) = &mut self.deadline {
                        if Pin::new(sleep).poll(cx).is_ready() {
                            let limit = *limit;
                            // The request becomes an orphan; the watch goes with `self`.
                            self.run = None;
                            return Poll::Ready(Err(Error::timeout(limit)));
                        }
                    }
                    return Poll::Pending;
                }
            };
            let conn = self.watch.connection();
            let Some(run) = self.run.take() else {
                return Poll::Ready(Err(Error::protocol("statement run lost")));
            };
            let response = match conn.finish_execute(&self.stmt, &mut self.sent, run, outcome) {
                Ok(response) => response,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if !conn.retry_execute(&self.stmt, &self.sent, &response, self.attempt) {
                return Poll::Ready(Ok(response));
            }
            self.attempt += 1;
            match conn.start_execute(&self.stmt, &self.params) {
                Ok((run, sent)) => {
                    self.run = Some(run);
                    self.sent = sent;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Future for Execute {
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = match &mut this.state {
            State::Running(bound) => match bound.get_mut() {
                Some(local) => match local.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => result,
                },
                None => Err(Error::runtime(
                    "a query started on a worker was polled from another thread",
                )),
            },
            State::Failed(_) | State::Done => {
                return Poll::Ready(match std::mem::replace(&mut this.state, State::Done) {
                    State::Failed(e) => Err(e),
                    _ => Err(Error::runtime("query polled after completion")),
                })
            }
        };
        // The watch leaves the connection (here, on the worker) before the caller sees the
        // result, as on the general path.
        this.state = State::Done;
        Poll::Ready(result)
    }
}
