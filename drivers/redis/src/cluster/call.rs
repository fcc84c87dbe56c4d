//! The future of a cluster call.
//!
//! - A single command made on one of the client's workers is routed at its first poll: the
//!   worker's cached slot map names the node, and the node client's own [`Call`] carries the
//!   command there (no box, no copy of the command, no routing future). Only when that first
//!   attempt fails does the redirect and retry loop (run.rs) take over, boxed, with the
//!   command taken back from the node call.
//! - Anything else (a call made off the loop, a pipeline, a fan-out, no map yet): the routing
//!   loop runs on a worker (inline on one of the client's workers, through a worker's mailbox
//!   from anywhere else).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::{dispatch, Dispatch};

use super::read_from::{is_read_only, ReadFrom};
use super::route::Target;
use super::run::{pick, replica, run, First};
use super::state::Shared;
use crate::call::{Call, Reply};
use crate::{Error, FromValue};

/// A pending cluster command or pipeline; resolves to its typed reply. `Send`, so any
/// runtime can await it. Dropping it is safe: the node connections stay in step.
#[must_use = "a call does nothing until awaited"]
pub struct ClusterCall<T> {
    state: State,
    reply: Reply,
    _out: PhantomData<fn() -> T>,
}

// The node's call is held in place, unboxed: a box would be the very allocation per call
// this path exists to avoid (the future is as large as its largest state either way).
#[allow(clippy::large_enum_variant)]
enum State {
    /// A single command made on a worker, not yet polled: routed at the first poll.
    Start(Start),
    /// Its first attempt, on the node's own call.
    Direct(Direct),
    /// The routing loop (or a pipeline, a fan-out, a refresh).
    Run(Dispatch<Result<Value, Error>>),
    Failed(Option<Error>),
}

struct Start {
    shared: Arc<Shared>,
    cmd: Cmd,
    target: Target,
}

struct Direct {
    call: Call<Value>,
    shared: Arc<Shared>,
    target: Target,
    /// Sent to a replica (see [`First::on_replica`]).
    on_replica: bool,
}

impl<T> std::fmt::Debug for ClusterCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCall").finish_non_exhaustive()
    }
}

impl<T> ClusterCall<T> {
    pub(crate) fn new<F>(run: Dispatch<Result<Value, Error>, F>, reply: Reply) -> Self
    where
        F: std::future::Future<Output = Result<Value, Error>> + 'static,
    {
        ClusterCall {
            // Boxed: a cluster call's type does not name the routing future.
            state: State::Run(run.boxed()),
            reply,
            _out: PhantomData,
        }
    }

    /// One command to `target` (not a fan-out): routed at the first poll when made on one of
    /// the client's workers, else run through a worker's mailbox at once.
    pub(crate) fn command(shared: &Arc<Shared>, cmd: Cmd, target: Target, reply: Reply) -> Self {
        let state = if matches!(target, Target::All(_)) || shared.workers.current_worker().is_none()
        {
            State::Run(routed(shared.clone(), cmd, target, None))
        } else {
            State::Start(Start {
                shared: shared.clone(),
                cmd,
                target,
            })
        };
        ClusterCall {
            state,
            reply,
            _out: PhantomData,
        }
    }

    /// A call refused before anything was sent.
    pub(crate) fn failed(error: Error) -> Self {
        ClusterCall {
            state: State::Failed(Some(error)),
            reply: Reply::Any,
            _out: PhantomData,
        }
    }
}

/// The routing loop for `cmd`, on this worker or through a worker's mailbox.
fn routed(
    shared: Arc<Shared>,
    cmd: Cmd,
    target: Target,
    first: Option<First>,
) -> Dispatch<Result<Value, Error>> {
    let fallback = shared
        .next
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let workers = shared.workers.as_arc().clone();
    dispatch(&*workers, fallback, move || async move {
        run(&shared, &cmd, target, first).await
    })
    .boxed()
}

/// The first attempt of `start`, straight on the node's call, when this is one of the
/// client's workers and the map names a node; else the routing loop from the start.
fn begin(start: Start) -> State {
    let Start {
        shared,
        cmd,
        target,
    } = start;
    if shared.workers.current_worker().is_none() {
        // Made on a worker, first polled elsewhere.
        return State::Run(routed(shared, cmd, target, None));
    }
    let options = &shared.options;
    let from_replica = options.read_from != ReadFrom::Master && is_read_only(&cmd);
    // As the loop's first attempt would do: the map, its staleness, the node.
    let chosen = shared.with_map(|map| {
        if map.served() == 0 {
            return Err(cmd);
        }
        let node = match target {
            Target::Slot(slot) if from_replica => replica(&shared, map, slot),
            _ => pick(&shared, map, target).map(|node| (node, false)),
        };
        match node {
            Some((node, on_replica)) => Ok((
                node.client.typed::<Value>(cmd, Reply::Any),
                on_replica,
                shared.stale(map),
            )),
            None => Err(cmd),
        }
    });
    match chosen {
        Ok((call, on_replica, stale)) => {
            if stale {
                shared.refresh_later();
            }
            State::Direct(Direct {
                call,
                shared,
                target,
                on_replica,
            })
        }
        // No map yet, or no node for the slot: the loop discovers, waits and retries.
        Err(cmd) => State::Run(routed(shared, cmd, target, None)),
    }
}

impl<T: FromValue> Future for ClusterCall<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let value = loop {
            match &mut this.state {
                State::Start(_) => {
                    let done = State::Failed(None);
                    if let State::Start(start) = std::mem::replace(&mut this.state, done) {
                        this.state = begin(start);
                    }
                }
                State::Direct(direct) => match Pin::new(&mut direct.call).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(value)) => break Ok(value),
                    Poll::Ready(Err(error)) => {
                        // The command comes back from the node's call (it ran on this
                        // worker, so it still holds it); the loop decides what follows.
                        let Some(cmd) = direct.call.take_cmd() else {
                            break Err(error);
                        };
                        let first = First {
                            error,
                            on_replica: direct.on_replica,
                        };
                        let run = routed(direct.shared.clone(), cmd, direct.target, Some(first));
                        this.state = State::Run(run);
                    }
                },
                State::Failed(e) => {
                    break Err(e
                        .take()
                        .unwrap_or_else(|| Error::runtime("call polled after completion")))
                }
                State::Run(run) => match Pin::new(run).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(value)) => break value,
                    Poll::Ready(Err(submit)) => break Err(Error::from(submit)),
                },
            }
        };
        // Polled again after this: an error, not a second reply.
        this.state = State::Failed(None);
        let reply = this.reply;
        Poll::Ready(value.and_then(|v| reply.check(v)).and_then(T::from_value))
    }
}
