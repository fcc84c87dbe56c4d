//! Redis Cluster: a client that routes each command to the master serving its key's slot.
//!
//! - [`ClusterClient`] (`redis+cluster://` URL or [`ClusterBuilder`]) and its calls
//!   ([`ClusterCall`]); [`ClusterPipeline`] for pipelines across nodes.
//! - [`key_slot`]: the slot of a key (CRC16, hash tags), as the server computes it.
//! - [`ClusterClient::transaction`]: `WATCH`/`MULTI`/`EXEC` on the master of one slot.
//! - [`ReadFrom`]: opt-in reads from replicas.
//! - [`ClusterSubscriber`]: shard channels (`SSUBSCRIBE`) at each slot's master.
//!
//! Inside: `route` finds a command's keys and slot, `discover` reads the layout, `map` holds
//! it, `state` shares and refreshes it, `run` follows redirects for one command, `fanout`
//! sends `DBSIZE`/`KEYS` to every master, `pipeline` splits and reassembles pipelines (`join`
//! awaits node calls together), `call` is the future (on a worker a single command's first
//! attempt is the node's own call; `run` takes over on a redirect), `transaction` runs
//! optimistic transactions, `read_from` says which commands a replica may serve,
//! `subscriber` merges the shard-channel subscribers of the masters.

mod call;
mod client;
mod discover;
mod fanout;
mod join;
mod map;
mod pipeline;
pub(crate) use crate::read_from;
mod redirect;
mod route;
mod run;
mod slot;
mod state;
mod subscriber;
mod transaction;
mod url;

pub use call::ClusterCall;
pub use client::{ClusterBuilder, ClusterClient};
pub use pipeline::ClusterPipeline;
pub use read_from::ReadFrom;
pub use slot::{key_slot, SLOTS};
pub use subscriber::{ClusterSubscriber, DEFAULT_RESYNC_INTERVAL};
