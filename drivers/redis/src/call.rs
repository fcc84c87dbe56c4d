//! The future of one call: it picks its path at the first poll.
//!
//! - On one of the client's workers: take a live connection of this worker's pool and run the
//!   request as a batch — direct index when the connection is idle, the bridge queue when
//!   others are in flight. No thread hop, no atomics, no allocation on the warm path.
//! - Anywhere else (a tokio task, a plain thread): hand the request to a worker's mailbox and
//!   wait on a oneshot.
//!
//! The future is `Send` (tokio can spawn it); the worker-local state it holds on the first path
//! lives in a [`ThreadBound`], untouchable from any other thread.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::client::InFlight;
use corelane_runtime::oneshot;
use corelane_runtime::roundtrip::{OwnedRun, Pipe};
use corelane_runtime::task::Sleep;
use corelane_runtime::ThreadBound;

use crate::cache::worker::{PendingRead, WorkerCache};
use crate::classify::{classify, refusal, Class};
use crate::codec::RespCodec;
use crate::connection::Connection;
use crate::handle::Client;
use crate::limits::representable;
use crate::request::Request;
use crate::trace::{self, CallSpan};
use crate::worker_state::{record, WorkerClient};
use crate::{Error, FromValue};

type Acquire = Pin<Box<dyn Future<Output = Result<Connection, Error>>>>;

/// A pending command or pipeline; resolves to its typed reply. Dropping it at any point is safe:
/// the connection stays in step (an unanswered request's reply is read and discarded).
#[must_use = "a call does nothing until awaited"]
pub struct Call<T> {
    client: Client,
    request: Option<Request>,
    state: State,
    /// The command timeout, on the local path.
    deadline: Option<ThreadBound<Sleep>>,
    /// The kind of reply the command gives, checked before conversion.
    reply: Reply,
    /// The call in this worker's counters, on the local path (the remote path is counted by
    /// the worker that runs it).
    in_flight: Option<ThreadBound<InFlight>>,
    /// The call's span (feature `tracing`; nothing without it).
    span: CallSpan,
    /// How it ended, recorded on `span` once the poll that ended it is out of the span.
    ending: trace::Ending,
    /// The client-side cache's part, on the local path when caching is on (`None` costs
    /// nothing).
    cache: Option<ThreadBound<CacheStep>>,
    _out: PhantomData<fn() -> T>,
}

/// Where a cacheable call is with the worker's cache.
enum CacheStep {
    /// Missed: a read sent on a tracking connection will fill it.
    Missed(Rc<WorkerCache>),
    /// Sent on a tracking connection; its reply may fill the cache.
    Pending(PendingRead),
}

enum State {
    Start,
    /// Waiting for this worker's pool to open a connection.
    Acquire(ThreadBound<Acquire>),
    /// The request is in flight on this worker.
    Run(ThreadBound<(Pipe<RespCodec>, OwnedRun<RespCodec>)>),
    /// A worker runs it for us.
    Remote(oneshot::Receiver<Result<Value, Error>>),
    /// A blocking command, on an exclusive connection (see blocking.rs).
    Blocking(Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>),
    /// Answered from the client-side cache.
    Cached(Value),
    /// Refused before anything was sent.
    Failed(Error),
    Done,
}

impl<T> Call<T> {
    pub(crate) fn new(client: Client, request: Request) -> Self {
        let span = trace::call_span(&client, Some(&request));
        Call {
            client,
            request: Some(request),
            state: State::Start,
            deadline: None,
            reply: Reply::Any,
            in_flight: None,
            span,
            ending: Default::default(),
            cache: None,
            _out: PhantomData,
        }
    }
}

/// What kind of reply a command gives, where the conversion alone cannot tell: `GET` answers a
/// bulk string or nil, so a simple string (`+OK`, from a confused server or a proxy out of
/// step) is not its value even though `String` would accept one from `PING` or `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Anything the conversion accepts.
    Any,
    /// A bulk string or nil (or a server error).
    Bulk,
}

impl Reply {
    /// The reply kind of a raw command, by name: the commands whose reply is always a bulk
    /// string or nil.
    fn of(cmd: &Cmd) -> Reply {
        const BULK: &[&str] = &[
            "GET", "GETDEL", "GETEX", "GETSET", "GETRANGE", "HGET", "LINDEX",
        ];
        let name = cmd.iter_args().next().unwrap_or_default();
        if BULK.iter().any(|b| name.eq_ignore_ascii_case(b.as_bytes())) {
            Reply::Bulk
        } else {
            Reply::Any
        }
    }

    pub(crate) fn check(self, value: Value) -> Result<Value, Error> {
        match (self, value) {
            (Reply::Any, value) => Ok(value),
            (
                Reply::Bulk,
                value @ (Value::BulkString(_)
                | Value::Verbatim { .. }
                | Value::Null(_)
                | Value::Error(_)
                | Value::BlobError(_)),
            ) => Ok(value),
            (Reply::Bulk, other) => Err(Error::type_mismatch(format!(
                "expected a bulk string or nil (the command's reply type), got {}",
                other.type_name()
            ))),
        }
    }
}

impl<T> Call<T> {
    /// Checks the reply's kind before converting it.
    pub(crate) fn expecting(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }

    /// The command of a single-command call, taken back once the call has ended: a cluster
    /// call sends it again after a redirect without having copied it for the first attempt.
    /// `None` for a pipeline, once taken, or when the call ran through a worker's mailbox
    /// (the command went with it).
    pub(crate) fn take_cmd(&mut self) -> Option<Cmd> {
        match self.request.take()? {
            Request::One(cmd) => Some(cmd),
            many => {
                self.request = Some(many);
                None
            }
        }
    }

    /// A raw command from the user: refused when it would change the state of the shared
    /// connection, sent on a connection of its own when it blocks (no command timeout: it
    /// waits as long as the server makes it wait, or until dropped), else an ordinary call.
    pub(crate) fn checked(client: Client, cmd: Cmd) -> Self {
        let class = classify(&cmd);
        if client.config().cache.is_some() && crate::cache::changes_tracking(&cmd) {
            return Call::failed(client, crate::cache::tracking_refusal());
        }
        if class == Class::Shared {
            let reply = Reply::of(&cmd);
            let client = client.route(&cmd).clone();
            return Call::new(client, Request::One(cmd)).expecting(reply);
        }
        let span = trace::command_span(&client, &cmd);
        let state = match class {
            // Returned above (its span is made with its request).
            Class::Shared => State::Failed(Error::runtime("a shared command took the wrong path")),
            Class::Blocking => return Call::blocking(client, cmd, None),
            refused => State::Failed(refusal(&cmd, refused)),
        };
        Call {
            client,
            request: None,
            state,
            deadline: None,
            reply: Reply::Any,
            in_flight: None,
            span,
            ending: Default::default(),
            cache: None,
            _out: PhantomData,
        }
    }

    /// A blocking command (`BLPOP`, `XREAD … BLOCK`): on a connection of its own (see
    /// blocking.rs), bounded by `limit` when given; dropping the call closes that connection.
    pub(crate) fn blocking(client: Client, cmd: Cmd, limit: Option<Duration>) -> Self {
        let span = trace::command_span(&client, &cmd);
        let runner = client.clone();
        Call {
            client,
            request: None,
            state: State::Blocking(Box::pin(
                async move { runner.run_blocking(cmd, limit).await },
            )),
            deadline: None,
            reply: Reply::Any,
            in_flight: None,
            span,
            ending: Default::default(),
            cache: None,
            _out: PhantomData,
        }
    }

    /// A call that fails with `error` when polled.
    pub(crate) fn failed(client: Client, error: Error) -> Self {
        let span = trace::call_span(&client, None);
        Call {
            client,
            request: None,
            state: State::Failed(error),
            deadline: None,
            reply: Reply::Any,
            in_flight: None,
            span,
            ending: Default::default(),
            cache: None,
            _out: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}

fn moved_thread() -> Error {
    Error::runtime("a call started on a worker was polled from another thread")
}

impl<T: FromValue> Call<T> {
    fn start(&mut self) -> Result<(), Error> {
        let client = &self.client;
        let timeout = client.config().command_timeout;
        if client.on_own_worker() {
            let state = client.worker_state()?;
            if let Some(size) = self.request.as_ref().and_then(Request::pipeline_size) {
                state.counters.batch(size);
            }
            self.in_flight = Some(ThreadBound::new(state.counters.begin()));
            if let (Some(cache), Some(Request::One(cmd))) = (&state.cache, &self.request) {
                if let Some(value) = cache.lookup(cmd) {
                    self.state = State::Cached(value);
                    return Ok(());
                }
                self.cache = Some(ThreadBound::new(CacheStep::Missed(cache.clone())));
            }
            match state.pool.try_get_shared() {
                Some(shared) => self.run_on(&shared),
                None => {
                    let acquire: Acquire = Box::pin(async move { state.connection().await });
                    self.state = State::Acquire(ThreadBound::new(acquire));
                }
            }
            return Ok(());
        }
        let request = self
            .request
            .take()
            .ok_or_else(|| Error::runtime("call polled after completion"))?;
        let (tx, rx) = oneshot::channel();
        let owner = client.clone();
        client
            .pick_worker()?
            .submit(move || {
                let state: Result<std::rc::Rc<WorkerClient>, Error> = owner.worker_state();
                drop(owner);
                let _ = corelane_runtime::task::spawn_detached(async move {
                    let result = match (state, timeout) {
                        (Ok(state), limit) => state.execute_within(&request, limit).await,
                        (Err(e), _) => Err(e),
                    };
                    let _ = tx.send(result);
                });
            })
            .map_err(Error::from)?;
        self.state = State::Remote(rx);
        Ok(())
    }

    fn run_on(&mut self, conn: &Connection) {
        let pipe = &conn.pipe;
        if let Some(step) = self.cache.as_mut().and_then(ThreadBound::get_mut) {
            if let (CacheStep::Missed(cache), Some(Request::One(cmd)), true) =
                (&*step, &self.request, conn.tracking)
            {
                if let Some(pending) = cache.begin_read(cmd) {
                    *step = CacheStep::Pending(pending);
                }
            }
        }
        // The command timeout starts once there is a connection: opening one is bounded by
        // `connect_timeout`, and a call must not abandon a connect half-way (the next call
        // would start over, and a timeout shorter than a handshake would never connect).
        let timeout = self.client.config().command_timeout;
        self.deadline = timeout
            .and_then(representable)
            .and_then(Sleep::new)
            .map(ThreadBound::new);
        let mut batch = pipe.take_batch();
        if let Some(request) = &self.request {
            request.fill(&mut batch);
        }
        let run = pipe.run_owned(batch);
        self.state = State::Run(ThreadBound::new((pipe.clone(), run)));
    }

    fn finish(&mut self, value: Result<Value, Error>) -> Poll<Result<T, Error>> {
        self.state = State::Done;
        self.deadline = None;
        if let Some(in_flight) = self.in_flight.take().and_then(ThreadBound::into_inner) {
            record(in_flight, &value);
        }
        self.ending = trace::ending(&value);
        let reply = self.reply;
        Poll::Ready(value.and_then(|v| reply.check(v)).and_then(T::from_value))
    }
}

impl<T: FromValue> Future for Call<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Out of `this` while the call polls inside it; its ending is recorded after.
        let span = std::mem::replace(&mut this.span, trace::no_span());
        let polled = trace::within(&span, || this.poll_in_span(cx));
        trace::finish(&span, std::mem::take(&mut this.ending));
        this.span = span;
        polled
    }
}

impl<T: FromValue> Call<T> {
    fn poll_in_span(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = self;
        let polled = this.poll_state(cx);
        if polled.is_pending() {
            if let Some(deadline) = &mut this.deadline {
                // Polled after the state machine, so a timer created during this poll is
                // registered with the executor right away.
                if deadline
                    .get_mut()
                    .is_some_and(|sleep| Pin::new(sleep).poll(cx).is_ready())
                {
                    // The reply is overdue: the server (or the path to it) stopped answering,
                    // and every later request on this connection would wait behind it. Close
                    // it (its other requests fail as closed) so the pool opens a new one.
                    if let State::Run(bound) = &mut this.state {
                        if let Some((pipe, _)) = bound.get_mut() {
                            pipe.close();
                        }
                    }
                    let limit = this.client.config().command_timeout.unwrap_or_default();
                    return this.finish(Err(Error::timeout(limit)));
                }
            }
        }
        polled
    }
}

impl<T: FromValue> Call<T> {
    fn poll_state(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = self;
        loop {
            match &mut this.state {
                State::Start => {
                    if let Err(e) = this.start() {
                        return this.finish(Err(e));
                    }
                }
                State::Acquire(acquire) => {
                    let Some(acquire) = acquire.get_mut() else {
                        return this.finish(Err(moved_thread()));
                    };
                    match acquire.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return this.finish(Err(e)),
                        Poll::Ready(Ok(conn)) => this.run_on(&conn),
                    }
                }
                State::Run(bound) => {
                    let Some((_, run)) = bound.get_mut() else {
                        return this.finish(Err(moved_thread()));
                    };
                    let outcome = match Pin::new(run).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(outcome) => outcome,
                    };
                    let State::Run(bound) = std::mem::replace(&mut this.state, State::Done) else {
                        return this.finish(Err(moved_thread()));
                    };
                    let Some((pipe, run)) = bound.into_inner() else {
                        return this.finish(Err(moved_thread()));
                    };
                    let mut batch = run.into_batch();
                    let value = match (outcome, &this.request) {
                        (Ok(()), Some(request)) => request.assemble(&mut batch),
                        (Ok(()), None) => Err(Error::runtime("call lost its request")),
                        (Err(e), _) => Err(e.into()),
                    };
                    pipe.recycle_batch(batch);
                    if let (Some(step), Ok(value), Some(Request::One(cmd))) =
                        (this.cache.take(), &value, &this.request)
                    {
                        if let Some(CacheStep::Pending(pending)) = step.into_inner() {
                            pending.complete(cmd, value);
                        }
                    }
                    return this.finish(value);
                }
                State::Remote(rx) => {
                    return match Pin::new(rx).poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(value)) => this.finish(value),
                        Poll::Ready(Err(_)) => this.finish(Err(Error::worker_closed())),
                    };
                }
                State::Blocking(fut) => {
                    return match fut.as_mut().poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(value) => this.finish(value),
                    };
                }
                State::Cached(_) => {
                    let State::Cached(value) = std::mem::replace(&mut this.state, State::Done)
                    else {
                        return this.finish(Err(Error::runtime("call state changed")));
                    };
                    return this.finish(Ok(value));
                }
                State::Failed(_) => {
                    let State::Failed(e) = std::mem::replace(&mut this.state, State::Done) else {
                        return this.finish(Err(Error::runtime("call state changed")));
                    };
                    return this.finish(Err(e));
                }
                State::Done => {
                    return Poll::Ready(Err(Error::runtime("call polled after completion")))
                }
            }
        }
    }
}
