//! Registered connections: a connected socket owned by one worker, read by a loop task that
//! hands bytes to a [`Handler`], written through a coalescing, bounded outbound buffer.
//!
//! # Call order
//!
//! 1. Connect a [`Stream`] on the worker ([`Stream::connect_tcp`], [`Stream::connect_unix`]).
//! 2. [`Registered::register`] it with a handler. From then on the worker's reader task calls
//!    [`Handler::on_recv`] whenever bytes arrive, unless a [`ReadLease`] holder reads instead.
//! 3. [`Registered::write`] queues bytes; every write issued in one scheduler tick goes out in one
//!    `send`. Past [`Limits::max_outbound`] unsent bytes a write fails with
//!    [`WriteError::QueueFull`] and queues nothing.
//! 4. To answer the server from the read path (a `PONG` for its `PING`), note what is owed
//!    in `on_recv` and write it in [`Handler::write_back`], called right after each
//!    `on_recv`: it goes out after whatever is queued, under the same limits (see
//!    [`WriteBack`]).
//! 5. [`Handler::on_close`] is called exactly once, whatever ends the connection: the peer,
//!    an I/O error, a protocol error from the handler, [`Registered::unregister`], the last
//!    handle dropped, or the loop shutting down.

mod append;
mod cause;
mod core;
mod keepalive;
mod lease;
mod plain;
pub(crate) mod registry;
mod stream;
mod tcp_listener;
pub mod tls;
mod write_back;

pub(crate) use self::append::append_whole;
pub use self::cause::{CloseCause, WriteError};
pub(crate) use self::core::READS_PER_WAKE;
pub use self::core::{Handler, Limits, Registered};
pub use self::keepalive::TcpKeepalive;
pub use self::lease::ReadLease;
pub use self::plain::Transport;
pub use self::stream::Stream;
pub use self::tcp_listener::TcpListener;
pub use self::tls::{TlsConfig, TlsConfigBuilder, TlsError, TlsInfo, Verification};
pub use self::write_back::WriteBack;
