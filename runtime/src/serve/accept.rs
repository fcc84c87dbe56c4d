//! The worker side of a server: bind, the accept loop, one task per connection, and the
//! worker's half of a shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::or;

use super::local::{AcceptDone, ConnGuard, Drain, Stats, WorkerServe};
use crate::catch::{catch, CatchUnwind};
use crate::{task, Stream, TcpListener};

/// After a failed `accept` (out of descriptors, a connection reset while queued) the loop
/// waits this long before the next one, so a persistent error does not spin the worker.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Connections accepted in a row before the accept loop yields to the worker's other tasks.
/// An accept that finds a connection queued completes without suspending, so under a storm of
/// connects the loop would otherwise run until the backlog is empty while the connections it
/// accepted (and every other task of the worker) wait.
const ACCEPTS_PER_YIELD: usize = 32;

/// On the worker: binds `addr` (with `SO_REUSEPORT`, so every worker can bind the same one),
/// makes this worker's handler and starts the accept loop. Returns the bound address.
pub(crate) fn start_on_worker<F, H, Fut>(
    id: u64,
    addr: SocketAddr,
    make: &F,
    stats: Arc<Stats>,
) -> io::Result<SocketAddr>
where
    F: Fn() -> H,
    H: Fn(Stream, Drain) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    // A panic here reaches `serve`'s caller as a typed error (the job is caught as a whole).
    let handler = Rc::new(make());
    let ws = WorkerServe::register(id, stats);
    task::spawn_detached(accept_loop(ws, listener, handler)).map_err(io::Error::other)?;
    Ok(local)
}

async fn accept_loop<H, Fut>(ws: Rc<WorkerServe>, listener: TcpListener, handler: Rc<H>)
where
    H: Fn(Stream, Drain) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let _done = AcceptDone(ws.clone());
    let mut in_a_row = 0;
    loop {
        if in_a_row == ACCEPTS_PER_YIELD {
            in_a_row = 0;
            task::yield_now().await;
        }
        // `stop` first: once it has fired, no further connection is taken.
        let next = or(
            async {
                ws.stop.wait().await;
                None
            },
            async { Some(listener.accept().await) },
        )
        .await;
        match next {
            None => break,
            Some(Ok(stream)) => {
                in_a_row += 1;
                ws.stats.accepted.fetch_add(1, Ordering::Relaxed);
                let conn = run_connection(ws.clone(), stream, handler.clone());
                // Cannot fail: this runs on a worker.
                let _ = task::spawn_detached(conn);
            }
            Some(Err(_)) => {
                in_a_row = 0;
                ws.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                or(task::sleep(ACCEPT_BACKOFF), ws.stop.wait()).await;
            }
        }
    }
    // The listener stops here, before `_done` fires: when a shutdown sees `accept_done`, new
    // connections are refused.
    listener.stop();
    drop(listener);
}

/// One connection: the handler's future, caught (a panic ends this connection only, and is
/// counted), and dropped at once when the server cuts its connections.
async fn run_connection<H, Fut>(ws: Rc<WorkerServe>, stream: Stream, handler: Rc<H>)
where
    H: Fn(Stream, Drain) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    // Declared first, dropped last: after the handler's future (and with it the socket).
    let _guard = ConnGuard::new(ws.clone());
    let served = async {
        let drain = Drain(ws.clone());
        let outcome = match catch(|| handler(stream, drain)) {
            Ok(fut) => CatchUnwind::new(fut).await,
            Err(panicked) => Err(panicked),
        };
        if outcome.is_err() {
            ws.stats.panics.fetch_add(1, Ordering::Relaxed);
        }
    };
    or(served, ws.cut.wait()).await;
}

/// The worker's half of [`Serving::shutdown`](super::Serving::shutdown): stop accepting,
/// let connections drain until `deadline`, cut the rest. Returns (drained, cut).
pub(crate) async fn shutdown_on_worker(id: u64, deadline: Instant) -> (u64, u64) {
    let Some(ws) = WorkerServe::take(id) else {
        return (0, 0);
    };
    ws.stop.fire();
    ws.accept_done.wait().await;
    ws.draining.fire();
    if ws.live() > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = task::timeout(left, ws.all_closed.wait()).await;
    }
    if ws.live() > 0 {
        ws.cut.fire();
        // Each cut task wakes, drops its future (closing its socket) and counts itself.
        ws.all_closed.wait().await;
    }
    ws.outcome()
}

/// On the worker, at once: no more accepts, every connection dropped (the `Serving` handle was
/// dropped without a shutdown).
pub(crate) fn abort_on_worker(id: u64) {
    if let Some(ws) = WorkerServe::take(id) {
        ws.abort();
    }
}

/// How long a worker that is exiting waits for its servers' tasks to close their sockets.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// Called by a worker that is shutting down, before its executor goes: every server on it
/// stops and cuts its connections, so their sockets are closed (clients see the connection
/// end) instead of being left to the executor's teardown.
pub(crate) async fn close_on_worker_exit() {
    let servers = WorkerServe::take_all();
    for ws in &servers {
        ws.abort();
    }
    for ws in &servers {
        let closed = async {
            ws.accept_done.wait().await;
            ws.all_closed.wait().await;
        };
        let _ = task::timeout(EXIT_GRACE, closed).await;
    }
}
