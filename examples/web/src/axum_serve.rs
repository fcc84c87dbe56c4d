//! Serving an axum router on a multi-threaded tokio runtime of its own, with a graceful stop:
//! what the two tokio stacks (the peer and corelane-offloop) share.

use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;

/// A router being served, and the runtime serving it.
pub(crate) struct AxumServing {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Threads for a tokio stack: `workers`, or one per CPU.
pub(crate) fn threads(workers: Option<usize>) -> usize {
    workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

/// A multi-threaded runtime with `threads` workers, named `name`.
pub(crate) fn runtime(threads: usize, name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
}

impl AxumServing {
    /// Binds `addr` and serves `app` on `rt`.
    pub(crate) fn start(
        rt: tokio::runtime::Runtime,
        addr: SocketAddr,
        app: Router,
    ) -> std::io::Result<AxumServing> {
        let listener = rt.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            // As corelane's listener does; a failure only costs latency.
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(AxumServing {
            rt,
            addr,
            stop,
            server,
        })
    }

    /// The address being served.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, gives requests in flight up to `deadline`, then stops the runtime.
    pub(crate) fn shutdown(self, deadline: Duration) {
        let _ = self.stop.send(());
        let server = self.server;
        let _ = self
            .rt
            .block_on(async { tokio::time::timeout(deadline, server).await });
        self.rt.shutdown_timeout(Duration::from_secs(1));
    }
}
