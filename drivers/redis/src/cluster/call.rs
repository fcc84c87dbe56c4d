//! The future of a cluster call: the routing and redirect loop run on a worker (inline on
//! one of the client's workers, through a worker's mailbox from anywhere else).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use corelane_redis_proto::Value;
use corelane_runtime::Dispatch;

use crate::call::Reply;
use crate::{Error, FromValue};

/// A pending cluster command or pipeline; resolves to its typed reply. `Send`, so any
/// runtime can await it. Dropping it is safe: the node connections stay in step.
#[must_use = "a call does nothing until awaited"]
pub struct ClusterCall<T> {
    state: State,
    reply: Reply,
    _out: PhantomData<fn() -> T>,
}

enum State {
    Run(Dispatch<Result<Value, Error>>),
    Failed(Option<Error>),
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

    /// A call refused before anything was sent.
    pub(crate) fn failed(error: Error) -> Self {
        ClusterCall {
            state: State::Failed(Some(error)),
            reply: Reply::Any,
            _out: PhantomData,
        }
    }
}

impl<T: FromValue> Future for ClusterCall<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let value = match &mut this.state {
            State::Failed(e) => Err(e
                .take()
                .unwrap_or_else(|| Error::runtime("call polled after completion"))),
            State::Run(run) => match Pin::new(run).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(value)) => value,
                Poll::Ready(Err(submit)) => Err(Error::from(submit)),
            },
        };
        let reply = this.reply;
        Poll::Ready(value.and_then(|v| reply.check(v)).and_then(T::from_value))
    }
}
