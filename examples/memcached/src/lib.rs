//! A memcached client on `corelane-runtime` alone: the proof that a third-party driver gets
//! the runtime's round trip (bridge queue, direct index, handoff), per-worker pools and the
//! on/off-loop dispatch by writing a codec and a little glue.
//!
//! ```no_run
//! use corelane_memcached::{Client, Config, Stored};
//!
//! # fn main() -> Result<(), corelane_memcached::Error> {
//! let client = Client::new(Config::new("127.0.0.1", 11211))?;
//! futures_lite::future::block_on(async {
//!     assert_eq!(client.set("greeting", "hello").await?, Stored::Stored);
//!     let item = client.get("greeting").await?;
//!     assert_eq!(item.map(|i| i.value), Some("hello".into()));
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Behavior
//!
//! - **Where calls run.** On one of the client's workers, a call uses that worker's own
//!   connection; anywhere else it is handed to a worker's mailbox ([`corelane_runtime::dispatch`]).
//!   The [`Client`] is `Send + Sync` and picks the path itself.
//! - **Pipelining.** Concurrent calls on a worker share its connection: their requests leave
//!   in one write per tick and their replies come back in order (the bridge queue). A
//!   [`Pipeline`] sends many requests at once; on an idle connection it reads its own replies
//!   by direct index.
//! - **Cancellation.** Dropping a call at any point is safe: a request already sent becomes a
//!   placeholder whose reply is read and dropped, so the connection stays in step.
//! - **Errors.** `NOT_STORED`, `EXISTS`, `NOT_FOUND` are values ([`Stored`], `bool`, `Option`);
//!   `ERROR`/`CLIENT_ERROR`/`SERVER_ERROR` are [`Error::Server`]; bytes that break the
//!   protocol (or a value for a key that was not asked for) close only that connection.
//! - **`noreply`.** [`Client::store_no_reply`] and [`Pipeline::store_no_reply`] queue no reply
//!   entry (the runtime's `send_no_reply`), so they never stall the requests behind them;
//!   later requests on the same connection see their effect.
//!   Memcached still answers a request it cannot parse or store even with `noreply`; that
//!   answer would be taken for the next request's. Keys and value sizes are therefore checked
//!   before sending; keep [`Config::with_max_value`] within the server's item size.
//!
//! ```text
//!  callers:  get a   set b noreply   get c        wire:  [get a][set b noreply][get c]
//!  queue:    [a          c]                       replies: VALUE a…END, END (c missed)
//! ```
//!
//! [`proto`] is the sans-IO protocol: no runtime, usable on its own.

mod client;
mod config;
mod conn;
mod error;
mod outcome;
mod pipeline;
pub mod proto;

pub use client::Client;
pub use config::Config;
pub use error::Error;
pub use outcome::{Options, Stored};
pub use pipeline::Pipeline;
pub use proto::encode::{InvalidRequest, Store};
pub use proto::{Item, Reply, ServerError};
