//! Servers on the workers: the HTTP (or any TCP) side of a thread-per-core service, sharing
//! executors and rings with its database connections.
//!
//! - [`serve`] binds the same address on every worker (`SO_REUSEPORT`: the kernel spreads new
//!   connections over the workers' listeners), runs an accept loop per worker and one local
//!   task per connection, on the worker that accepted it.
//! - [`Serving::shutdown`] drains: listeners close, connections are told through their
//!   [`Drain`] to finish the request in flight, and those still open at the deadline are cut.
//!   It reports how many drained and how many were cut.
//! - A panic in a handler ends its connection's task only (caught and counted in
//!   [`ServeStats::panics`]); the worker serves on.
//! - [`Serving`] and [`WorkerSet`](crate::WorkerSet) are [`ServerProvider`](crate::ServerProvider)s:
//!   drivers given one put their connections on the same workers as the handlers.
//!
//! With the `hyper` feature, `serve::hyper` adapts a [`Stream`](crate::Stream) to hyper 1.x
//! and `serve_http` serves an HTTP/1.1 handler with graceful drain built in.
//!
//! ```no_run
//! use corelane_runtime::{serve::serve, Loop};
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//!
//! let lp = Loop::start()?;
//! let addr = "127.0.0.1:0".parse()?;
//! let server = futures_lite::future::block_on(serve(&lp, addr, || {
//!     |mut stream: corelane_runtime::Stream, _drain| async move {
//!         let mut buf = [0u8; 1024];
//!         while let Ok(n @ 1..) = stream.read(&mut buf).await {
//!             if stream.write_all(&buf[..n]).await.is_err() {
//!                 break;
//!             }
//!         }
//!     }
//! }))?;
//! println!("echo on {}", server.local_addr());
//! let report = futures_lite::future::block_on(server.shutdown(std::time::Duration::from_secs(5)));
//! println!("{} drained, {} cut", report.drained, report.cut);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accept;
mod event;
#[cfg(feature = "hyper")]
pub mod hyper;
mod local;
mod server;

#[cfg(feature = "hyper")]
pub use self::hyper::{serve_http, serve_http_with};
pub(crate) use accept::close_on_worker_exit;
pub use local::Drain;
pub use server::{serve, ServeError, ServeStats, Serving, ShutdownReport};
