//! Shared pieces of the memcached client's tests: the loop, a real server, hang guards.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use corelane_memcached::{Client, Config};
use corelane_runtime::{configure_standalone, resolve, Loop, Provider};
use corelane_testkit::MemcachedServer;

/// Hang guard, not a timing assertion.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// The shared standalone loop with two workers (even on a one-CPU machine).
pub fn workers() -> Provider {
    let _ = configure_standalone(Loop::builder().workers(2));
    let workers = resolve(None).unwrap();
    assert!(workers.num_workers() >= 2, "needs 2 workers");
    workers
}

/// A throwaway server and a client of it.
pub fn server_and_client(config: impl FnOnce(Config) -> Config) -> (MemcachedServer, Client) {
    let server = MemcachedServer::start().unwrap();
    let client = Client::new(config(Config::from_addr(server.addr()))).unwrap();
    (server, client)
}

/// Runs `make()`'s future on worker `n` and waits for it (hang-guarded).
pub fn on_worker<T: Send + 'static, Fut: Future<Output = T> + 'static>(
    workers: &Provider,
    n: usize,
    make: impl FnOnce() -> Fut + Send + 'static,
) -> T {
    let task = workers.worker(n).unwrap().spawn(make);
    off_loop(async move { task.await.expect("the worker task failed") })
}

/// Blocks a plain thread on `fut` (hang-guarded).
pub fn off_loop<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    corelane_testkit::guard("off-loop call", HANG_GUARD, move || {
        futures_lite::future::block_on(fut)
    })
}

/// A future that is dropped after `polls_left` polls unless it finished first.
pub struct Cancellable<F> {
    pub fut: F,
    pub polls_left: usize,
}

impl<F: Future + Unpin> Future for Cancellable<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls_left == 0 {
            return Poll::Ready(None);
        }
        self.polls_left -= 1;
        Pin::new(&mut self.fut).poll(cx).map(Some)
    }
}

/// The value stored under key `k{i}` in the tests that check replies against their keys:
/// the key, then 0..2048 bytes of padding, so replies span reads.
pub fn value_of(prefix: &str, i: usize) -> String {
    let pad = (i * 7919) % 2048;
    format!("value-of-{prefix}{i}|{}", "v".repeat(pad))
}
