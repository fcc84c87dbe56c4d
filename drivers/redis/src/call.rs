//! The future of one call: a [`LocalCall`] run through `corelane_runtime::dispatch_from`.
//!
//! - On one of the client's workers the dispatch runs the [`LocalCall`] in place, in the
//!   caller's task: no thread hop, no atomics, no allocation on the warm path.
//! - Anywhere else (a tokio task, a plain thread) it spawns the same [`LocalCall`] on a worker
//!   through its mailbox and waits for its answer.
//!
//! Both paths take the same steps (local_call.rs); this file adds what the caller sees: the
//! reply's kind and its conversion, the span, and the calls that are not a pooled round trip
//! (refused, blocking). The future is `Send` (tokio can spawn it) and created lazily: nothing
//! is sent before its first poll.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::{dispatch_from, Dispatch};

use crate::classify::{classify, refusal, Class};
use crate::handle::Client;
use crate::local_call::{Ended, LocalCall};
use crate::request::Request;
use crate::trace::{self, CallSpan};
use crate::{Error, FromValue};

/// A pending command or pipeline; resolves to its typed reply. Dropping it at any point is safe:
/// the connection stays in step (an unanswered request's reply is read and discarded).
#[must_use = "a call does nothing until awaited"]
pub struct Call<T> {
    state: State,
    /// The request, before the call starts and once it has ended (see [`Call::take_cmd`]).
    request: Option<Request>,
    /// The kind of reply the command gives, checked before conversion.
    reply: Reply,
    /// The call's span (feature `tracing`; nothing without it).
    span: CallSpan,
    /// How it ended, recorded on `span` once the poll that ended it is out of the span.
    ending: trace::Ending,
    _out: PhantomData<fn() -> T>,
}

// The running call is held in place, unboxed: a box would be the allocation per call this
// future exists to avoid.
#[allow(clippy::large_enum_variant)]
enum State {
    /// Not polled yet.
    Start(Client),
    /// Running, here or on a worker.
    Run(Dispatch<Ended, LocalCall>),
    /// A blocking command, on an exclusive connection (see blocking.rs).
    Blocking(Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>),
    /// Refused before anything was sent.
    Failed(Error),
    Done,
}

impl<T> Call<T> {
    pub(crate) fn new(client: Client, request: Request) -> Self {
        let span = trace::call_span(&client, Some(&request));
        Call {
            state: State::Start(client),
            request: Some(request),
            reply: Reply::Any,
            span,
            ending: Default::default(),
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
    /// `None` for a pipeline, once taken, or before the call has ended (the request is with
    /// its [`LocalCall`], here or on a worker, until it comes back with the reply).
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
            request: None,
            state,
            reply: Reply::Any,
            span,
            ending: Default::default(),
            _out: PhantomData,
        }
    }

    /// A blocking command (`BLPOP`, `XREAD … BLOCK`): on a connection of its own (see
    /// blocking.rs), bounded by `limit` when given; dropping the call closes that connection.
    pub(crate) fn blocking(client: Client, cmd: Cmd, limit: Option<Duration>) -> Self {
        let span = trace::command_span(&client, &cmd);
        let runner = client;
        Call {
            request: None,
            state: State::Blocking(Box::pin(
                async move { runner.run_blocking(cmd, limit).await },
            )),
            reply: Reply::Any,
            span,
            ending: Default::default(),
            _out: PhantomData,
        }
    }

    /// A call that fails with `error` when polled.
    pub(crate) fn failed(client: Client, error: Error) -> Self {
        let span = trace::call_span(&client, None);
        Call {
            request: None,
            state: State::Failed(error),
            reply: Reply::Any,
            span,
            ending: Default::default(),
            _out: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}

impl<T: FromValue> Call<T> {
    fn finish(&mut self, value: Result<Value, Error>) -> Poll<Result<T, Error>> {
        self.state = State::Done;
        self.ending = trace::ending(&value);
        let reply = self.reply;
        Poll::Ready(value.and_then(|v| reply.check(v)).and_then(T::from_value))
    }

    fn poll_state(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        loop {
            match &mut self.state {
                State::Start(client) => {
                    let Some(request) = self.request.take() else {
                        return self.finish(Err(Error::runtime("call lost its request")));
                    };
                    let run = dispatch_from(client, move |client| LocalCall::new(client, request));
                    // `LocalCall` is `Unpin`: a call moved to another thread after it started
                    // ends with an error there instead of aborting the process.
                    self.state = State::Run(run.movable());
                }
                State::Run(run) => {
                    return match Pin::new(run).poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(ended)) => {
                            self.request = ended.request;
                            self.finish(ended.value)
                        }
                        Poll::Ready(Err(submit)) => self.finish(Err(Error::from(submit))),
                    };
                }
                State::Blocking(fut) => {
                    return match fut.as_mut().poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(value) => self.finish(value),
                    };
                }
                State::Failed(_) => {
                    let State::Failed(e) = std::mem::replace(&mut self.state, State::Done) else {
                        return self.finish(Err(Error::runtime("call state changed")));
                    };
                    return self.finish(Err(e));
                }
                State::Done => {
                    return Poll::Ready(Err(Error::runtime("call polled after completion")))
                }
            }
        }
    }
}

impl<T: FromValue> Future for Call<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Out of `this` while the call polls inside it; its ending is recorded after.
        let span = std::mem::replace(&mut this.span, trace::no_span());
        let polled = trace::within(&span, || this.poll_state(cx));
        trace::finish(&span, std::mem::take(&mut this.ending));
        this.span = span;
        polled
    }
}
