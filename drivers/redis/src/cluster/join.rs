//! Awaiting several node calls at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{Call, Error};

/// Polls every call until all are done (the node pipelines run at once).
pub(crate) struct JoinAll<T> {
    calls: Vec<Option<Pin<Box<Call<T>>>>>,
    done: Vec<Option<Result<T, Error>>>,
}

impl<T> JoinAll<T> {
    pub(crate) fn new(calls: Vec<Call<T>>) -> Self {
        let done = calls.iter().map(|_| None).collect();
        JoinAll {
            calls: calls.into_iter().map(|c| Some(Box::pin(c))).collect(),
            done,
        }
    }
}

// Nothing in it is pinned in place: the calls are boxed.
impl<T> Unpin for JoinAll<T> {}

impl<T: crate::FromValue> Future for JoinAll<T> {
    type Output = Vec<Result<T, Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut pending = false;
        for (call, done) in this.calls.iter_mut().zip(this.done.iter_mut()) {
            if let Some(fut) = call {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(result) => {
                        *done = Some(result);
                        *call = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(
            this.done
                .iter_mut()
                .map(|d| {
                    d.take()
                        .unwrap_or_else(|| Err(Error::runtime("pipeline part lost its reply")))
                })
                .collect(),
        )
    }
}
