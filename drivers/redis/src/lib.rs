//! corelane-redis: a pipelined Redis client for thread-per-core services, on corelane-runtime.
//!
//! ```
//! # // Runs against a throwaway redis-server (corelane-testkit, a dev-dependency).
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = corelane_testkit::RedisServer::start()?;
//! # let url = server.url();
//! use corelane_redis::{Client, Pipeline};
//!
//! let client = Client::open(&url)?; // e.g. "redis://127.0.0.1:6379"
//! futures_lite::future::block_on(async {
//!     client.set::<()>("greeting", "hello").await?;
//!     let greeting: Option<String> = client.get("greeting").await?;
//!     assert_eq!(greeting.as_deref(), Some("hello"));
//!
//!     let mut pipe = Pipeline::new();
//!     pipe.incr("hits").incr("hits").get("hits");
//!     let (_, _, hits): (i64, i64, i64) = client.pipeline(&pipe).await?;
//!     println!("{hits} hits");
//!     Ok::<(), corelane_redis::Error>(())
//! })?;
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Per-core connections.** Every worker of the event loop (the standalone loop, or a
//!   thread-per-core server's own workers) keeps its own connection(s) to the server. A call made
//!   on a worker uses that worker's connection: no lock, no atomic, no thread hop. A call made
//!   elsewhere (a tokio task, a plain thread) is handed to a worker through its mailbox. The
//!   same [`Client`] value works in both places.
//! - **Pipelining.** Concurrent calls on one worker share its connection: their commands leave
//!   in one write per scheduler tick and the replies come back in order (implicit pipelining).
//!   A [`Pipeline`] sends many commands in one write; on an idle connection its replies are read
//!   straight into their slots by the calling task.
//! - **Cancellation.** Dropping a call at any point leaves its connection in step: replies of
//!   requests already sent are read and discarded.
//! - **Errors.** A server error reply is an [`Error`] with the server's code
//!   ([`Error::code`]) and leaves the connection usable; a broken connection gives
//!   [`Error::is_closed`] to the calls whose requests were on it, and the next call
//!   reconnects. A call that finds its connection closed before anything of it was sent (the
//!   server or a proxy dropped it while it sat idle) goes to a new connection instead of
//!   failing; a request that was sent is never sent again.
//! - **Protocol.** RESP3 (`HELLO 3`) by default, falling back to RESP2 when the server refuses
//!   HELLO; AUTH with an ACL user or a legacy password; SELECT; CLIENT SETNAME. RESP3 pushes on
//!   command connections go to [`Config::on_push`].
//! - **Shared connections stay clean.** A command that would change a shared connection's
//!   state for everyone on it (`MULTI`, `SELECT`, `CLIENT REPLY`, `SUBSCRIBE`, `HELLO`, …) is
//!   refused with [`Error::is_refused`], naming the API to use; a blocking command (`BLPOP`,
//!   `XREAD … BLOCK`, `WAIT`, …) sent with [`Client::query`] runs on a connection of its own.
//!   A command past its timeout closes its connection (the pool opens a new one).
//! - **Exclusive connections.** `WATCH` transactions ([`Client::transaction`], retried while a
//!   watched key changes), blocking pops ([`Client::blpop`]) and [`Client::with_connection`]
//!   run on a connection of their own, reset (`DISCARD`, `UNWATCH`) before its next user.
//! - **Pub/sub** runs on dedicated connections ([`Client::subscriber`]): a stream of messages
//!   that reconnects with backoff and resubscribes.
//! - **SCAN** family as streams ([`Client::scan`], `hscan`, `sscan`, `zscan`).
//! - **Connection budget.** Each worker opens up to [`Config::connections_per_worker`] shared
//!   and [`Config::exclusive_per_worker`] (8) exclusive connections; [`Config::max_connections`]
//!   bounds the client's total instead, split once over the workers (none by default). A call
//!   that finds its pool full waits its turn ([`ConnectionCounts::waiting`]) for up to
//!   [`Config::acquire_timeout`] (30 s), then fails with [`Error::is_pool_timeout`] naming the
//!   pool ([`PoolKind`]).
//! - **Client-side caching** (opt-in, [`Config::client_side_cache`]): replies of read
//!   commands (`GET`, `HGETALL`, …) kept per worker and invalidated by the server through
//!   `CLIENT TRACKING` (RESP3); bounded, with hit/miss/invalidation counters
//!   ([`Client::cache_stats`]). See [`cache`].
//! - **Failing fast.** Connections open lazily, on first use on each worker;
//!   [`Client::check`] (or [`Client::new_checked`]) opens and authenticates one now, so a
//!   wrong password ([`Error::is_auth`]) or an unreachable server shows at start-up.
//!
//! # Scripts and functions
//!
//! A [`Script`] holds Lua source and its SHA1. Invoking it sends `EVALSHA`; if the server's
//! script cache does not have it (`NOSCRIPT`: flushed, restarted, failed over) it is sent once
//! with `EVAL`, which caches it again. It runs on a [`Client`], an [`Exclusive`] connection
//! (transactions, [`Client::with_connection`]) and a cluster client; in a [`Pipeline`] it is
//! not retried ([`Pipeline::load_script`] first: see [`Script`]). An error raised by the
//! script is an [`Error`] with the server's code.
//!
//! ```
//! # // Runs against a throwaway redis-server (corelane-testkit, a dev-dependency).
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = corelane_testkit::RedisServer::start()?;
//! # let client = corelane_redis::Client::open(&server.url())?;
//! # futures_lite::future::block_on(async {
//! use corelane_redis::Script;
//!
//! let limiter = Script::new(
//!     "local n = redis.call('INCR', KEYS[1])
//!      if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
//!      return n",
//! );
//! let hits: i64 = limiter.key("rate:42").arg(60_000).invoke(&client).await?;
//!
//! // Redis 7 functions: load a library once, call its functions by name.
//! let library = "#!lua name=util\n\
//!                redis.register_function('double', function(keys, args) return args[1] * 2 end)";
//! client.function_load_replace::<String>(library).await?;
//! let four: i64 = client.fcall("double", &[] as &[&str], &[2]).await?;
//! # let _ = (hits, four);
//! # Ok::<(), corelane_redis::Error>(())
//! # })?;
//! # Ok(()) }
//! ```
//!
//! # Streams
//!
//! The stream commands are typed (`xadd`, `xrange`, `xread`, `xreadgroup`, `xack`,
//! `xpending`, `xautoclaim`, `xinfo_stream`, …) and their replies are small structs:
//! [`StreamId`] (an entry), [`StreamReadReply`], [`StreamPendingReply`],
//! [`StreamAutoClaimReply`], [`StreamInfo`], … decoded from RESP3 and RESP2 alike (a reply of
//! another shape is a type error). Blocking reads ([`Client::xread_block`],
//! [`Client::xreadgroup_block`]) run on a connection of their own, like `BLPOP`: the shared
//! connection keeps serving everyone else, and a read dropped while blocked closes its
//! connection.
//!
//! ```
//! # // Runs against a throwaway redis-server (corelane-testkit, a dev-dependency).
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = corelane_testkit::RedisServer::start()?;
//! # let client = corelane_redis::Client::open(&server.url())?;
//! # futures_lite::future::block_on(async {
//! use std::time::Duration;
//! use corelane_redis::{StreamAddOptions, StreamReadOptions, StreamReadReply, StreamTrim};
//!
//! // Producer: append, keeping roughly the last 10 000 entries.
//! let trim = StreamAddOptions::default().trim(StreamTrim::maxlen(10_000).approx());
//! let id: String = client.xadd_options("orders", "*", &[("sku", "A-7"), ("qty", "2")], trim).await?;
//!
//! // Consumer group: read new entries (waiting up to 5 s), handle them, acknowledge them.
//! client.xgroup_create_mkstream::<()>("orders", "billing", "0").await.ok(); // BUSYGROUP if it exists
//! let read: StreamReadReply = client
//!     .xreadgroup_block("billing", "worker-1", &["orders"], &[">"],
//!         StreamReadOptions::default().count(10), Duration::from_secs(5))
//!     .await?;
//! for entry in read.entries("orders") {
//!     let qty: Option<u32> = entry.field("qty")?;
//!     println!("{} -> {qty:?}", entry.id);
//!     client.xack::<u64>("orders", "billing", &[entry.id.as_str()]).await?;
//! }
//! # let _ = id;
//! # Ok::<(), corelane_redis::Error>(())
//! # })?;
//! # Ok(()) }
//! ```
//!
//! The typed commands are defined once for [`Client`], [`Exclusive`] (as `async` methods),
//! [`Pipeline`] (including atomic ones) and the cluster client and pipeline.
//!
//! # TLS
//!
//! A `rediss://` (or `valkeys://`) URL, or [`Config::tls`] and its siblings, runs every
//! connection of the client over TLS (rustls): shared and exclusive ones, pub/sub, blocking
//! pops, transactions. The server's certificate must chain to a trusted root (the operating
//! system's, plus any `ca_file`) and name the host of the URL (an IP literal must be among
//! its IP addresses); that host is also sent in SNI. The handshake counts against the
//! connect timeout. A client certificate (`cert_file` + `key_file`, or
//! [`Config::tls_client_cert_files`]) answers Redis' `tls-auth-clients yes`.
//!
//! ```no_run
//! # fn main() -> Result<(), corelane_redis::Error> {
//! use corelane_redis::Client;
//!
//! let client = Client::open(
//!     "rediss://:secret@cache.internal:6380/0\
//!      ?ca_file=/etc/redis/ca.pem&cert_file=/etc/app/client.crt&key_file=/etc/app/client.key",
//! )?;
//! futures_lite::future::block_on(async {
//!     match client.get::<Option<String>>("greeting").await {
//!         Err(e) if e.is_tls() => eprintln!("TLS failed: {:?}", e.tls_error()),
//!         other => println!("{other:?}"),
//!     }
//! });
//! # Ok(())
//! # }
//! ```
//!
//! Certificate failures are typed ([`Error::is_tls`], [`Error::tls_error`] →
//! [`TlsError::CertificateExpired`], [`TlsError::NameMismatch`], [`TlsError::UnknownIssuer`],
//! [`TlsError::PeerAlert`] when the server refuses the client's certificate, …); TLS settings
//! that cannot be used (an unreadable CA file) fail [`Client::new`]. `insecure=true` /
//! [`Config::danger_accept_invalid_certs`] accepts any certificate: encrypted, but not
//! authenticated, so only for tests. The key and the password never appear in `Debug` or
//! error text.
//!
//! # Replies and arguments of your own types
//!
//! A reply becomes any [`FromValue`] type: scalars, `Option<T>` (nil is `None`), `Vec<T>`,
//! `HashMap`/`BTreeMap` (from a RESP3 map or a RESP2 flat array: `HGETALL`), `HashSet`/
//! `BTreeSet`, and tuples, including `Vec<(member, score)>` from `ZRANGE … WITHSCORES` under
//! either protocol. An argument is any [`ToArg`] type; a `Vec<T>`, `&[T]`, `[T; N]` or tuple
//! sends one argument per element (`Vec<u8>` and `&[u8]` stay one binary argument).
//!
//! Implementing both for a type of your own needs only this crate: [`ArgSink`] receives the
//! arguments, [`Value`] is the reply, and [`Error::type_mismatch`] / [`Error::custom`] report a
//! reply your type cannot be made from.
//!
//! ```
//! use corelane_redis::{ArgSink, Cmd, Error, FromValue, ToArg, Value};
//!
//! /// Stored as `x,y`.
//! #[derive(Debug, PartialEq)]
//! struct Point {
//!     x: i64,
//!     y: i64,
//! }
//!
//! impl ToArg for Point {
//!     fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
//!         sink.push_arg(format!("{},{}", self.x, self.y).as_bytes());
//!     }
//! }
//!
//! impl FromValue for Point {
//!     fn from_value(value: Value) -> Result<Self, Error> {
//!         // `Value::from_value` turns an error reply into `Err` (keeping the server's code).
//!         let text = String::from_value(Value::from_value(value)?)?;
//!         let (x, y) = text
//!             .split_once(',')
//!             .ok_or_else(|| Error::type_mismatch(format!("expected `x,y`, got {text:?}")))?;
//!         Ok(Point {
//!             x: x.parse().map_err(Error::custom)?,
//!             y: y.parse().map_err(Error::custom)?,
//!         })
//!     }
//! }
//!
//! let cmd = Cmd::new("SET").arg("p").arg(Point { x: 1, y: -2 });
//! assert_eq!(cmd.iter_args().nth(2), Some(&b"1,-2"[..]));
//! // A list of them sends one argument each.
//! let cmd = Cmd::new("RPUSH").arg("ps").arg(vec![Point { x: 0, y: 0 }, Point { x: 3, y: 4 }]);
//! assert_eq!(cmd.argc(), 4);
//!
//! assert_eq!(Point::from_value(Value::BulkString("3,4".into()))?, Point { x: 3, y: 4 });
//! let points: Vec<Option<Point>> = FromValue::from_value(Value::Array(vec![
//!     Value::BulkString("5,6".into()),
//!     Value::NULL,
//! ]))?;
//! assert_eq!(points, [Some(Point { x: 5, y: 6 }), None]);
//! assert!(Point::from_value(Value::BulkString("3".into())).unwrap_err().is_type_mismatch());
//! assert!(Point::from_value(Value::BulkString("3,z".into())).unwrap_err().is_type_mismatch());
//! # Ok::<(), Error>(())
//! ```
//!
//! Optional features (off by default): `serde_json` adds `Json<T>`, a value sent and
//! read as JSON text; `uuid` adds `ToArg` (36-character hyphenated text) and `FromValue` for
//! `uuid::Uuid`.
//!
//! # Cluster
//!
//! [`cluster::ClusterClient`] talks to a Redis Cluster: `redis+cluster://host:port,host:port`
//! (seeds), the same typed commands and raw [`Cmd`]s routed by key slot, `MOVED`/`ASK`
//! followed, pipelines split by node and put back in order.
//!
//! - Supported: keyed commands (multi-key ones when every key hashes to one slot — else a
//!   typed [`Error::is_cross_slot`] before sending), `DBSIZE`/`KEYS` fanned out to every
//!   master, pipelines across nodes, optimistic transactions on one slot
//!   ([`cluster::ClusterClient::transaction`]: `WATCH`/`MULTI`/`EXEC` on the slot's master,
//!   restarted whole after `MOVED`), opt-in reads from replicas
//!   ([`cluster::ReadFrom`], `?read_from=replica|prefer-replica|master`), and sharded
//!   pub/sub ([`cluster::ClusterClient::sharded_subscriber`]: `SSUBSCRIBE` at each slot's
//!   master, moved after a resharding or failover).
//! - Not supported (refused with a typed error): blocking commands (`BLPOP`, `XREAD …
//!   BLOCK`, `WAIT`), `with_connection`, classic `SUBSCRIBE`/`PSUBSCRIBE`, atomic
//!   (`MULTI`) cluster pipelines outside `transaction`, and commands about the whole
//!   keyspace or one server other than `DBSIZE`/`KEYS` (`SCAN`, `FLUSHALL`, `CONFIG`, …:
//!   [`Error::is_unroutable`]). Pipelines and transactions read from masters only.
//!
//! ```no_run
//! # fn main() -> Result<(), corelane_redis::Error> {
//! let cluster = corelane_redis::cluster::ClusterClient::open(
//!     "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
//! )?;
//! futures_lite::future::block_on(async {
//!     cluster.set::<()>("{cart:7}.items", 3).await?;
//!     let n: i64 = cluster.get("{cart:7}.items").await?;
//!     println!("{n}");
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Sentinel
//!
//! A `redis+sentinel://host:26379,host:26379/mymaster[/db]` URL (or [`Config::sentinel`])
//! makes each new connection ask the sentinels for the master's address and check it with
//! `ROLE`. The client subscribes to the sentinels' `+switch-master` events: on a failover
//! every worker leaves the old master at once, and the next calls reach the new one. The
//! sentinels may have their own password ([`Config::sentinel_password`]) and TLS
//! ([`Config::sentinel_tls`]); reads may go to replicas ([`Config::sentinel_read_from`]).
//! See [`sentinel`].

mod addr;
mod blocking;
mod budget;
pub mod cache;
mod call;
mod classify;
mod client;
pub mod cluster;
mod codec;
mod commands;
mod config;
mod connect;
mod connection;
mod error;
mod exclusive;
mod from_value;
mod handle;
mod handshake;
#[cfg(feature = "serde_json")]
mod json;
mod limits;
mod local_call;
mod pipeline;
mod pubsub;
mod read_from;
mod report;
mod request;
mod scan;
mod script;
mod secret;
pub mod sentinel;
mod sentinel_settings;
mod streams;
mod switch_hint;
mod tls;
mod trace;
mod url;
mod url_text;
mod worker_state;

pub use addr::Addr;
pub use cache::{CacheConfig, CacheStats};
pub use call::Call;
pub use client::Client;
pub use commands::{SetCondition, SetOptions};
pub use config::{Config, Protocol, PushCallback, DEFAULT_PORT};
pub use corelane_redis_proto::{ArgSink, Cmd, NullKind, ToArg, Value};
/// The reports of [`Client::stats`] and [`Client::health`].
pub use corelane_runtime::client::{ConnectionCounts, Health, Stats, WorkerHealth, WorkerStats};
pub use corelane_runtime::conn::{TlsConfig, TlsError, Verification};
pub use corelane_runtime::pool::PoolKind;
pub use corelane_runtime::roundtrip::PipeStats;
pub use error::{Error, ServerError};
pub use exclusive::{Exclusive, MAX_TRANSACTION_ATTEMPTS};
pub use from_value::FromValue;
#[cfg(feature = "serde_json")]
pub use json::Json;
pub use pipeline::Pipeline;
pub use pubsub::{Message, Subscriber, SubscriberHandle, SubscriberOptions};
pub use scan::Scan;
pub use script::{Script, ScriptInvocation, ScriptTarget};
pub use secret::Secret;
pub use streams::{
    StreamAddOptions, StreamAutoClaimReply, StreamConsumerInfo, StreamGroupInfo, StreamId,
    StreamInfo, StreamKey, StreamPendingEntry, StreamPendingReply, StreamReadOptions,
    StreamReadReply, StreamTrim,
};
