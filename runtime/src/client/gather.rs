//! Asking every worker the same question, with a deadline that works on and off the loop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::provider::Provider;
use crate::{oneshot, ThreadBound, WorkerLoop};

/// One worker's answer to [`PerWorker::gather`](super::PerWorker::gather).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// The worker ran the read and answered.
    Replied(T),
    /// The worker did not answer in time: busy with a task that does not yield, or stuck.
    NoReply,
    /// The worker has shut down (or the read panicked there).
    Closed,
}

impl<T> Answer<T> {
    /// The answer, if the worker gave one.
    pub fn replied(self) -> Option<T> {
        match self {
            Answer::Replied(value) => Some(value),
            Answer::NoReply | Answer::Closed => None,
        }
    }
}

/// Runs the future `make(n)()` makes on every worker `n` and collects the answers in worker order,
/// waiting at most `deadline` in all. A worker that has not answered by then has its future
/// dropped (on that worker).
pub(crate) async fn gather<T, Make, Read, Fut>(
    workers: &Provider,
    deadline: Duration,
    make: Make,
) -> Vec<Answer<T>>
where
    T: Send + 'static,
    Make: Fn(usize) -> Read,
    Read: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let tasks: Vec<_> = (0..workers.num_workers())
        .map(|n| workers.worker(n).map(|worker| worker.spawn(make(n))))
        .collect();
    let mut timer = Timer::new(deadline);
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        let Some(mut task) = task else {
            answers.push(Answer::Closed);
            continue;
        };
        let answer = futures_lite::future::or(
            async {
                match (&mut task).await {
                    Ok(value) => Answer::Replied(value),
                    Err(_) => Answer::Closed,
                }
            },
            async {
                (&mut timer).await;
                Answer::NoReply
            },
        )
        .await;
        answers.push(answer);
    }
    answers
}

/// A timer usable on a worker (the worker's own timer) and off the loop (a sleeping helper
/// thread, started only when the deadline is first waited on: a report is rare, and an
/// off-loop caller has no timer of ours to use).
enum Timer {
    Start(Option<Instant>),
    /// The worker's timer; `ThreadBound` keeps `gather`'s future `Send` (a tokio task can
    /// await a report) while this `!Send` timer stays on the worker that made it.
    OnWorker(ThreadBound<Pin<Box<dyn Future<Output = ()>>>>),
    Thread(oneshot::Receiver<()>),
    Never,
}

impl Timer {
    fn new(deadline: Duration) -> Timer {
        Timer::Start(crate::deadline::after(Instant::now(), deadline))
    }
}

impl Future for &mut Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut **self {
                Timer::Start(None) => **self = Timer::Never,
                Timer::Start(Some(at)) => {
                    let left = at.saturating_duration_since(Instant::now());
                    **self = if WorkerLoop::current().is_some() {
                        Timer::OnWorker(ThreadBound::new(Box::pin(crate::task::sleep(left))))
                    } else {
                        let (tx, rx) = oneshot::channel();
                        let spawned = std::thread::Builder::new()
                            .name("corelane-deadline".into())
                            .spawn(move || {
                                std::thread::sleep(left);
                                let _ = tx.send(());
                            });
                        match spawned {
                            Ok(_) => Timer::Thread(rx),
                            // No thread to time it: answer "no reply" at once rather than
                            // wait without bound.
                            Err(_) => return Poll::Ready(()),
                        }
                    };
                }
                Timer::OnWorker(sleep) => match sleep.get_mut() {
                    Some(sleep) => return sleep.as_mut().poll(cx),
                    // Moved to another thread mid-wait: the deadline counts as passed.
                    None => return Poll::Ready(()),
                },
                Timer::Thread(rx) => return Pin::new(rx).poll(cx).map(|_| ()),
                Timer::Never => return Poll::Pending,
            }
        }
    }
}
