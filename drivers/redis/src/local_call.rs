//! The work of one call, on the worker that runs it: the one path every command and pipeline
//! takes, whether its caller is on that worker or not.
//!
//! [`Call`](crate::call::Call) hands a [`LocalCall`] to `corelane_runtime::dispatch`: on one of
//! the client's workers it runs in place, in the caller's task (no thread hop, no atomics, no
//! allocation on the warm path); from anywhere else the dispatch spawns the same future on a
//! worker through its mailbox. Its steps: count the call, answer it from the client-side
//! cache when it can, take a live connection of this worker's pool (opening one when needed),
//! then run the request as a batch — direct index when the connection is idle, the bridge
//! queue when others are in flight — bounded by the command timeout. A request whose
//! connection turns out closed before any of it was sent (the server or a proxy dropped it
//! while it sat idle) goes to the pool's next connection, once: nothing of it reached a server.
//!
//! A hand-written state machine rather than an `async` block: it is `Unpin` (so the dispatch
//! can be [`movable`](corelane_runtime::Dispatch::movable)) and its type can be named in
//! `Call`'s fields without a box.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use corelane_redis_proto::Value;
use corelane_runtime::client::InFlight;
use corelane_runtime::roundtrip::{OwnedRun, Pipe, RequestError};
use corelane_runtime::task::Sleep;

use crate::cache::worker::{PendingRead, WorkerCache};
use crate::codec::RespCodec;
use crate::connection::Connection;
use crate::handle::Client;
use crate::limits::representable;
use crate::request::Request;
use crate::worker_state::{record, WorkerClient};
use crate::Error;

type Acquire = Pin<Box<dyn Future<Output = Result<Connection, Error>>>>;

/// The cold path (no connection ready, or the ready one was closed): boxed, with its own
/// handle on the worker's state.
fn acquire(state: &Rc<WorkerClient>) -> Step {
    let state = state.clone();
    Step::Acquire(Box::pin(async move { state.connection().await }))
}

/// One call's work on a worker; ends with its reply and gives its request back.
///
/// Dropping it at any point is safe: a request in flight becomes a placeholder whose reply is
/// read and discarded, so the connection stays in step.
pub(crate) struct LocalCall {
    /// The command timeout.
    limit: Option<Duration>,
    /// `None` once given back in [`Ended`].
    request: Option<Request>,
    step: Step,
    /// The command timeout, once there is a connection.
    deadline: Option<Sleep>,
    /// The call in this worker's counters (a drop before the end counts as cancelled).
    in_flight: Option<InFlight>,
    /// The client-side cache's part, when caching is on.
    cache: Option<CacheStep>,
    /// This worker's state of the client, to take another connection (`None` when it could not
    /// be made: the call has already ended).
    state: Option<Rc<WorkerClient>>,
    /// The request already went to a second connection after its first was found closed.
    resent: bool,
}

/// How a [`LocalCall`] ended: its reply, and its request given back (a cluster call sends a
/// redirected command again without having copied it).
pub(crate) struct Ended {
    pub(crate) value: Result<Value, Error>,
    pub(crate) request: Option<Request>,
}

/// Where a cacheable call is with the worker's cache.
enum CacheStep {
    /// Missed: a read sent on a tracking connection will fill it.
    Missed(Rc<WorkerCache>),
    /// Sent on a tracking connection; its reply may fill the cache.
    Pending(PendingRead),
}

enum Step {
    /// Ended before anything was sent (answered from the cache, or no worker state): reported
    /// at the first poll.
    Ready(Result<Value, Error>),
    /// Waiting for this worker's pool to open a connection.
    Acquire(Acquire),
    /// The request is in flight.
    Run(Pipe<RespCodec>, OwnedRun<RespCodec>),
    Done,
}

impl LocalCall {
    /// Starts `request` of `client` on this worker (call it on one of the client's workers):
    /// counts it, looks it up in the cache, and sends it when a connection is open.
    pub(crate) fn new(client: &Client, request: Request) -> LocalCall {
        let mut call = LocalCall {
            limit: client.config().command_timeout,
            request: Some(request),
            step: Step::Done,
            deadline: None,
            in_flight: None,
            cache: None,
            state: None,
            resent: false,
        };
        call.step = match client.worker_state() {
            Ok(state) => call.start(state),
            Err(e) => Step::Ready(Err(e)),
        };
        call
    }

    fn start(&mut self, state: Rc<WorkerClient>) -> Step {
        if let Some(size) = self.request.as_ref().and_then(Request::pipeline_size) {
            state.counters.batch(size);
        }
        self.in_flight = Some(state.counters.begin());
        if let (Some(cache), Some(Request::One(cmd))) = (&state.cache, &self.request) {
            if let Some(value) = cache.lookup(cmd) {
                return Step::Ready(Ok(value));
            }
            self.cache = Some(CacheStep::Missed(cache.clone()));
        }
        let step = match state.pool.try_get_shared() {
            Some(shared) => self.run_on(&shared),
            None => acquire(&state),
        };
        self.state = Some(state);
        step
    }

    fn run_on(&mut self, conn: &Connection) -> Step {
        if let (Some(step), Some(Request::One(cmd)), true) =
            (&mut self.cache, &self.request, conn.tracking)
        {
            if let CacheStep::Missed(cache) = &*step {
                if let Some(pending) = cache.begin_read(cmd) {
                    *step = CacheStep::Pending(pending);
                }
            }
        }
        // The command timeout starts once there is a connection: opening one is bounded by
        // `connect_timeout`, and a call must not abandon a connect half-way (the next call
        // would start over, and a timeout shorter than a handshake would never connect).
        self.deadline = self.limit.and_then(representable).and_then(Sleep::new);
        let pipe = &conn.pipe;
        let mut batch = pipe.take_batch();
        if let Some(request) = &self.request {
            request.fill(&mut batch);
        }
        let run = pipe.run_owned(batch);
        Step::Run(pipe.clone(), run)
    }

    fn finish(&mut self, value: Result<Value, Error>) -> Poll<Ended> {
        self.step = Step::Done;
        self.deadline = None;
        if let Some(in_flight) = self.in_flight.take() {
            record(in_flight, &value);
        }
        Poll::Ready(Ended {
            value,
            request: self.request.take(),
        })
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Ended> {
        loop {
            match &mut self.step {
                Step::Ready(_) => {
                    let Step::Ready(ended) = std::mem::replace(&mut self.step, Step::Done) else {
                        return self.finish(Err(Error::runtime("call state changed")));
                    };
                    return self.finish(ended);
                }
                Step::Acquire(acquire) => match acquire.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return self.finish(Err(e)),
                    Poll::Ready(Ok(conn)) => self.step = self.run_on(&conn),
                },
                Step::Run(_, run) => {
                    let outcome = match Pin::new(run).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(outcome) => outcome,
                    };
                    let Step::Run(pipe, run) = std::mem::replace(&mut self.step, Step::Done) else {
                        return self.finish(Err(Error::runtime("call state changed")));
                    };
                    // A run fails as a whole only when nothing of it was written (see `Run`).
                    if let (Err(RequestError::Closed(_)), Some(state), false) =
                        (&outcome, &self.state, self.resent)
                    {
                        // The connection was found closed before the request went out: the
                        // pool's next one (probed, or opened) gets it. A cache read begun on the
                        // closed connection is given up: the new one did not see its tracking.
                        self.resent = true;
                        if matches!(self.cache, Some(CacheStep::Pending(_))) {
                            self.cache = None;
                        }
                        self.deadline = None;
                        pipe.recycle_batch(run.into_batch());
                        self.step = acquire(state);
                        continue;
                    }
                    let mut batch = run.into_batch();
                    let value = match (outcome, &self.request) {
                        (Ok(()), Some(request)) => request.assemble(&mut batch),
                        (Ok(()), None) => Err(Error::runtime("call lost its request")),
                        (Err(e), _) => Err(e.into()),
                    };
                    pipe.recycle_batch(batch);
                    if let (Some(CacheStep::Pending(pending)), Ok(value), Some(Request::One(cmd))) =
                        (self.cache.take(), &value, &self.request)
                    {
                        pending.complete(cmd, value);
                    }
                    return self.finish(value);
                }
                Step::Done => {
                    return self.finish(Err(Error::runtime("call polled after completion")))
                }
            }
        }
    }
}

impl Future for LocalCall {
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let this = self.get_mut();
        let polled = this.poll_step(cx);
        if polled.is_pending() {
            // Polled after the steps, so a timer created during this poll is registered with
            // the executor right away.
            if let Some(deadline) = &mut this.deadline {
                if Pin::new(deadline).poll(cx).is_ready() {
                    // The reply is overdue: the server (or the path to it) stopped answering,
                    // and every later request on this connection would wait behind it. Close
                    // it (its other requests fail as closed) so the pool opens a new one.
                    if let Step::Run(pipe, _) = &this.step {
                        pipe.close();
                    }
                    let limit = this.limit.unwrap_or_default();
                    return this.finish(Err(Error::timeout(limit)));
                }
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::LocalCall;

    /// A call made off the loop spawns its `LocalCall` by value on a worker, and a call on a
    /// worker holds it inside its own future: it must stay small. (Opening a connection is
    /// boxed by the pool, so the connect path never makes it large.)
    #[test]
    fn the_per_call_future_stays_small() {
        let size = std::mem::size_of::<LocalCall>();
        assert!(size < 512, "LocalCall is {size} bytes");
    }
}
