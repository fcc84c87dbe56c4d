//! Task and time helpers for code running on a worker, so drivers never name glommio.

use std::future::Future;
use std::time::Duration;

use crate::catch::CatchUnwind;
use crate::{Error, Panicked};

/// Spawns `fut` on the current worker and lets it run on its own (its output is dropped).
///
/// Must be called on a worker thread (inside a job or a task of a worker). glommio starts a
/// spawned task at once, before this returns. A panic inside `fut` ends that task only: it is
/// caught and counted ([`WorkerLoop::panics`](crate::WorkerLoop::panics)); the worker lives on.
pub fn spawn_detached(fut: impl Future<Output = ()> + 'static) -> Result<(), Error> {
    if crate::WorkerLoop::current().is_none() {
        return Err(Error::NotOnWorker);
    }
    glommio::spawn_local(CatchUnwind::new(fut)).detach();
    Ok(())
}

/// A task spawned on the current worker; await it for its output, drop it to cancel it.
///
/// A panic of the task is caught on the worker (the worker lives on). Awaiting the handle
/// then panics in the awaiter with the same message, as joining a panicked thread would;
/// [`LocalTask::join`] returns it as a [`Panicked`] error instead.
pub struct LocalTask<T>(glommio::Task<Result<T, Panicked>>);

impl<T> LocalTask<T> {
    /// Waits for the task's output, or the [`Panicked`] error of a task that panicked.
    pub async fn join(self) -> Result<T, Panicked> {
        self.0.await
    }
}

impl<T> std::fmt::Debug for LocalTask<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTask").finish_non_exhaustive()
    }
}

impl<T> Future for LocalTask<T> {
    type Output = T;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|out| match out {
                Ok(v) => v,
                // Re-raised in the awaiter, whose own task catches it in turn.
                Err(panicked) => std::panic::resume_unwind(Box::new(panicked.message().to_owned())),
            })
    }
}

/// Spawns `fut` on the current worker; dropping the returned handle cancels it. A panic in
/// `fut` ends that task only (see [`LocalTask`]).
pub fn spawn<T: 'static>(fut: impl Future<Output = T> + 'static) -> Result<LocalTask<T>, Error> {
    if crate::WorkerLoop::current().is_none() {
        return Err(Error::NotOnWorker);
    }
    Ok(LocalTask(glommio::spawn_local(CatchUnwind::new(fut))))
}

/// Waits for `dur` on the current worker. A `dur` past
/// [`NEVER_AFTER`](crate::deadline::NEVER_AFTER) (e.g. `Duration::MAX`) never ends.
pub async fn sleep(dur: Duration) {
    match crate::deadline::timer_length(dur) {
        Some(dur) => glommio::timer::sleep(dur).await,
        None => std::future::pending().await,
    }
}

/// Lets the worker's other tasks run before this one continues.
pub async fn yield_now() {
    futures_lite::future::yield_now().await;
}

/// Runs `fut` with a deadline; `None` when it did not finish in time (it is then dropped).
/// A `dur` past [`NEVER_AFTER`](crate::deadline::NEVER_AFTER) is no deadline at all.
pub async fn timeout<T>(dur: Duration, fut: impl Future<Output = T>) -> Option<T> {
    let Some(dur) = crate::deadline::timer_length(dur) else {
        return Some(fut.await);
    };
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::sleep(dur).await;
        None
    })
    .await
}

/// Runs a blocking or CPU-heavy function (a DNS lookup, a file read, PBKDF2) on the worker's
/// helper thread and waits for it without blocking the worker: the worker's other tasks and
/// connections run meanwhile, and the helper's completion wakes a sleeping worker at once.
///
/// Off a worker there is no helper thread to hand it to (and glommio would panic): it runs
/// on the calling thread, which is what that caller would have done without us. A panic in
/// `f` is caught on the helper thread (which would otherwise die, and every later blocking
/// call of the worker hang) and re-raised here, in the calling task, whose own task catches it.
pub async fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if crate::WorkerLoop::current().is_none() {
        return f();
    }
    let caught = glommio::executor()
        .spawn_blocking(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)))
        .await;
    match caught {
        Ok(out) => out,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Resolves `host:port` to socket addresses without blocking the worker (IP literals are
/// parsed in place; names go through the system resolver on the helper thread).
pub async fn resolve_host(host: &str, port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<std::net::IpAddr>() {
        return Ok(vec![std::net::SocketAddr::new(ip, port)]);
    }
    let host = host.to_owned();
    blocking(move || {
        use std::net::ToSocketAddrs;
        (host.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect)
    })
    .await
}

/// A timer on the current worker: a nameable future (for drivers' own future types) that
/// completes once `dur` has passed.
pub struct Sleep(Option<glommio::timer::Timer>);

impl Sleep {
    /// A timer of `dur`; `None` off a worker thread. A `dur` past
    /// [`NEVER_AFTER`](crate::deadline::NEVER_AFTER) never completes.
    pub fn new(dur: Duration) -> Option<Sleep> {
        crate::WorkerLoop::current()?;
        Some(Sleep(
            crate::deadline::timer_length(dur).map(glommio::timer::Timer::new),
        ))
    }
}

impl Sleep {
    /// Re-arms the timer to complete `dur` from now, reusing its registration (cheaper than a
    /// new one). A `dur` past [`NEVER_AFTER`](crate::deadline::NEVER_AFTER) never completes.
    pub fn reset(&mut self, dur: Duration) {
        match (crate::deadline::timer_length(dur), &mut self.0) {
            (Some(dur), Some(timer)) => timer.reset(dur),
            // A `Sleep` lives on the worker that made it (it is `!Send`), so this is a worker.
            (Some(dur), None) => self.0 = Some(glommio::timer::Timer::new(dur)),
            (None, _) => self.0 = None,
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep").finish_non_exhaustive()
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        match &mut self.0 {
            Some(timer) => std::pin::Pin::new(timer).poll(cx).map(|_| ()),
            None => std::task::Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocking_off_a_worker_runs_on_the_calling_thread_instead_of_panicking() {
        let caller = std::thread::current().id();
        let ran_on =
            futures_lite::future::block_on(super::blocking(move || std::thread::current().id()));
        assert_eq!(ran_on, caller);
    }
}
