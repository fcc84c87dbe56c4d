//! The xitca stack: the same endpoints, rules and data on xitca-web + xitca-postgres +
//! redis-rs, the thread-per-core peer.
//!
//! Set up the way the TechEmpower entry of xitca-web is: xitca-server runs one tokio
//! current-thread runtime per worker thread, and every worker builds its own state (its own
//! xitca-postgres connection with its statements prepared, and its own multiplexed redis-rs
//! connection), so a request and its queries stay on the thread that accepted it. Concurrent
//! queries on a connection are pipelined by xitca-postgres. The handlers are xitca-web's
//! low-level function services (no extractors), as the fastest xitca entries write them.
//!
//! What differs from the TechEmpower entry: it is built from crates.io (xitca-web 0.7,
//! xitca-postgres 0.4) where the entry patches every xitca crate to a git revision, it runs on
//! tokio's epoll driver (not xitca-server's `io-uring` feature) and the system allocator, and
//! `/updates` and `/fortunes` use the same SQL and HTML code as the other stacks.

pub(crate) mod handlers;
mod state;

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use xitca_web::route::get;
use xitca_web::service::fn_service;
use xitca_web::App;

use crate::Config;

/// Why the xitca stack could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XitcaError {
    /// The listener, a runtime, or the server's threads.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// xitca-postgres (the check before serving).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] xitca_postgres::Error),
    /// redis-rs (the check before serving).
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The shared table setup (run with corelane's clients, so every stack serves the same
    /// data).
    #[error("setup: {0}")]
    Setup(#[from] crate::WebError),
}

/// The running xitca stack.
pub struct Xitca {
    addr: SocketAddr,
    handle: xitca_server::ServerHandle,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Xitca {
    /// Creates and fills the tables when missing (as [`Web::start`](crate::Web::start) does),
    /// fills the cache, checks that both servers answer, and serves.
    pub fn start(config: &Config) -> Result<Xitca, XitcaError> {
        crate::peer::setup_tables(config)?;
        // Every worker connects on its own once it runs, and a worker whose state fails to
        // build stops without a word (xitca-server logs it through `tracing` only): connect
        // once here, so a bad URL or a missing server is an error from `start`.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(state::State::connect(config.clone()))?;
        let listener = TcpListener::bind(config.addr)?;
        let addr = listener.local_addr()?;
        let workers = crate::axum_serve::threads(config.workers);
        let shared = config.clone();
        let mut server = App::new()
            .with_async_state(move || state::State::connect(shared.clone()))
            .at("/plaintext", get(fn_service(handlers::plaintext)))
            .at("/json", get(fn_service(handlers::json)))
            .at("/db", get(fn_service(handlers::db)))
            .at("/queries", get(fn_service(handlers::queries)))
            .at("/updates", get(fn_service(handlers::updates)))
            .at("/fortunes", get(fn_service(handlers::fortunes)))
            .at("/cached-queries", get(fn_service(handlers::cached_queries)))
            .serve()
            .worker_threads(workers)
            // The binary handles its signals itself (and tests run several stacks).
            .disable_signal()
            .listen(listener)?
            .run();
        let handle = server.handle()?;
        let server = std::thread::Builder::new()
            .name("xitca-server".into())
            .spawn(move || server.wait())?;
        Ok(Xitca {
            addr,
            handle,
            server: Some(server),
        })
    }

    /// The address the stack listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish, then stops the workers.
    ///
    /// xitca-server drains with its own deadline (30 s), not `deadline`: its `HttpServer`
    /// does not expose the setting. `deadline` bounds how long this call waits for it; a
    /// server still draining then is left to finish on its own thread.
    pub fn shutdown(mut self, deadline: Duration) {
        self.handle.stop(true);
        if let Some(server) = self.server.take() {
            let start = std::time::Instant::now();
            while !server.is_finished() && start.elapsed() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if server.is_finished() {
                let _ = server.join();
            }
        }
    }
}

impl Drop for Xitca {
    fn drop(&mut self) {
        if self.server.is_some() {
            self.handle.stop(false);
        }
    }
}

impl std::fmt::Debug for Xitca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xitca")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
