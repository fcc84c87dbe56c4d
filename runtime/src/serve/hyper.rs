//! hyper 1.x on the workers: I/O, executor and timer adapters, and [`serve_http`].
//!
//! - [`HyperStream`]: hyper's `rt::Read`/`rt::Write` over a [`Stream`].
//! - [`LocalExec`]: hyper's `rt::Executor`, spawning local (`!Send`) tasks on the current
//!   worker. HTTP/1.1 server connections need no executor at all (and `serve_connection`
//!   asks no `Send` of the I/O, the service or its futures); this one is for the hyper
//!   features that do (HTTP/2, upgrades driven in the background).
//! - [`WorkerTimer`]: hyper's `rt::Timer` on the worker's glommio timers (header read timeout).
//! - [`serve_http`], [`serve_http_with`]: [`serve`] with an HTTP/1.1 connection per task and
//!   graceful drain.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::future::or;
use futures_lite::AsyncWrite;
use hyper::body::{Body, Incoming};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};

use super::{serve, Drain, ServeError, Serving};
use crate::{EventLoopProvider, Stream, ThreadBound};

/// The most one read takes from the socket: the size of each worker's scratch buffer (see
/// [`HyperStream`]'s `poll_read`).
const MAX_READ: usize = 64 * 1024;

thread_local! {
    /// Where reads land before hyper's buffer: initialized once per thread, reused by every
    /// connection of the worker (reads never overlap on a thread).
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; MAX_READ].into_boxed_slice());
}

/// A [`Stream`] as hyper's I/O: `rt::Read` and `rt::Write`.
#[derive(Debug)]
pub struct HyperStream(Stream);

impl HyperStream {
    /// Wraps `stream`.
    pub fn new(stream: Stream) -> HyperStream {
        HyperStream(stream)
    }

    /// The stream back.
    pub fn into_inner(self) -> Stream {
        self.0
    }
}

impl Read for HyperStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // hyper offers uninitialized memory and cannot say which of it is initialized; the
        // socket read wants `&mut [u8]`. Zeroing what hyper offers (8 KiB and up) before every
        // read cost more than the request itself, and hyper also reads mid-request just to see
        // an EOF: read into initialized scratch instead and copy only what arrived.
        let room = buf.remaining().min(MAX_READ);
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        let stream = &mut self.get_mut().0;
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                // Only a read inside a read could get here; no stream does that.
                return Poll::Ready(Err(io::Error::other("HyperStream: nested read")));
            };
            // `room` is at most `MAX_READ`, the scratch's length; an empty read here would
            // tell hyper the peer closed, so the impossible case is an error, not `Ok`.
            let Some(scratch) = scratch.get_mut(..room) else {
                return Poll::Ready(Err(io::Error::other("HyperStream: scratch too small")));
            };
            match stream.poll_read(cx, scratch) {
                Poll::Ready(Ok(n)) => {
                    buf.put_slice(scratch.get(..n).unwrap_or(&[]));
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    }
}

impl Write for HyperStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().0.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }
}

/// hyper's `rt::Executor`: runs each future as a local task of the current worker.
///
/// Off a worker there is nowhere to run it and the future is dropped unrun: use it only in
/// connections served on a worker (as [`serve_http`] does).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        let _ = crate::task::spawn_detached(async move {
            fut.await;
        });
    }
}

/// hyper's `rt::Timer` on the current worker's timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerTimer;

impl hyper::rt::Timer for WorkerTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(WorkerSleep::new(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(WorkerSleep::new(
            deadline.saturating_duration_since(Instant::now()),
        ))
    }

    /// hyper re-arms its header read timer for every request: reuse the timer (no allocation,
    /// no new registration) when it is ours and on its own thread.
    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        let dur = new_deadline.saturating_duration_since(Instant::now());
        let reused = sleep
            .as_mut()
            .downcast_mut_pin::<WorkerSleep>()
            .and_then(|ours| ours.get_mut().0.as_mut().and_then(ThreadBound::get_mut))
            .map(|timer| timer.reset(dur))
            .is_some();
        if !reused {
            *sleep = Box::pin(WorkerSleep::new(dur));
        }
    }
}

/// A glommio timer as hyper's `rt::Sleep`, which must be `Send + Sync`.
///
/// glommio's timer is neither: it belongs to the executor of the thread that made it. So it
/// travels in a [`ThreadBound`], which is `Send` because it never touches its value off the
/// thread that made it (there the value is unreachable, and leaked if dropped). `Sync` holds
/// for the same reason and more simply: nothing here can be reached through `&WorkerSleep`
/// (polling takes `Pin<&mut Self>`).
///
/// hyper polls it inside the connection future, which (with our `!Send` stream) never leaves
/// its worker; so in practice it is always polled on its own thread. Were it polled on another
/// one, or made off a worker (no timer to arm), it completes at once: a timeout that fires
/// early is seen (the connection ends with a timeout), one that never fires would hang.
struct WorkerSleep(Option<ThreadBound<crate::task::Sleep>>);

// SAFETY: no method of `WorkerSleep` takes `&self` and reaches the timer: shared references
// give access to nothing, so sharing them across threads cannot race. (`Send` comes from
// `ThreadBound`.)
unsafe impl Sync for WorkerSleep {}

impl WorkerSleep {
    fn new(duration: Duration) -> WorkerSleep {
        WorkerSleep(crate::task::Sleep::new(duration).map(ThreadBound::new))
    }
}

impl Future for WorkerSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut().0.as_mut().and_then(ThreadBound::get_mut) {
            Some(sleep) => Pin::new(sleep).poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl hyper::rt::Sleep for WorkerSleep {}

/// [`serve`]s HTTP/1.1 with hyper on every worker of `workers`, with hyper's default
/// connection settings (see [`serve_http_with`] to change them).
///
/// `make_handler` runs once per worker and returns that worker's request handler; each request
/// is answered by it, in the connection's task, on the worker that accepted the connection.
/// Keep-alive and pipelined requests are served in order; hyper sets `Date` and
/// `Content-Length` (for bodies of known length). A header read timeout of hyper's default
/// (30 s) runs on [`WorkerTimer`].
///
/// On [`Serving::shutdown`], a connection answers its request in flight and then closes (no
/// further keep-alive request is read); an idle one, or one that has not sent a whole first
/// request yet, closes at once. A panic in the handler ends its connection (no response; the
/// worker serves on, [`ServeStats::panics`](super::ServeStats::panics) counts it).
pub async fn serve_http<P, F, H, Fut, B, E>(
    workers: &P,
    addr: SocketAddr,
    make_handler: F,
) -> Result<Serving, ServeError>
where
    P: EventLoopProvider + ?Sized,
    F: Fn() -> H + Send + Sync + 'static,
    H: Fn(Request<Incoming>) -> Fut + 'static,
    Fut: Future<Output = Result<Response<B>, E>> + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    serve_http_with(workers, addr, http1::Builder::new(), make_handler).await
}

/// [`serve_http`] with the connection settings of `settings` (keep-alive, header read timeout,
/// buffer sizes, `pipeline_flush`, ...). Its timer is replaced by [`WorkerTimer`]: a timer
/// must run on the connection's worker.
pub async fn serve_http_with<P, F, H, Fut, B, E>(
    workers: &P,
    addr: SocketAddr,
    settings: http1::Builder,
    make_handler: F,
) -> Result<Serving, ServeError>
where
    P: EventLoopProvider + ?Sized,
    F: Fn() -> H + Send + Sync + 'static,
    H: Fn(Request<Incoming>) -> Fut + 'static,
    Fut: Future<Output = Result<Response<B>, E>> + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let mut settings = settings;
    settings.timer(WorkerTimer);
    serve(workers, addr, move || {
        let handler = Rc::new(make_handler());
        let settings = Rc::new(settings.clone());
        move |stream, drain| serve_connection(stream, drain, settings.clone(), handler.clone())
    })
    .await
}

/// One HTTP/1.1 connection, drained when the server shuts down.
async fn serve_connection<H, Fut, B, E>(
    stream: Stream,
    drain: Drain,
    settings: Rc<http1::Builder>,
    handler: Rc<H>,
) where
    H: Fn(Request<Incoming>) -> Fut + 'static,
    Fut: Future<Output = Result<Response<B>, E>> + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let requests = Rc::new(Cell::new(0u64));
    let counted = requests.clone();
    let service = service_fn(move |req| {
        counted.set(counted.get() + 1);
        handler(req)
    });
    let mut conn = pin!(settings.serve_connection(HyperStream::new(stream), service));
    let finished = or(
        async {
            let _ = conn.as_mut().await;
            true
        },
        async {
            drain.draining().await;
            false
        },
    )
    .await;
    if finished {
        return;
    }
    // hyper's graceful shutdown closes an idle keep-alive connection at once, but one that has
    // not sent its first request yet would wait for it (up to the header read timeout): close
    // that one now, as any idle one. Its client sees the close before sending, or a reset
    // after, as with any keep-alive connection closing under it.
    if requests.get() == 0 {
        return;
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
