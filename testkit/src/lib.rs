//! Throwaway servers and a fault proxy for tests.
//!
//! - [`RedisServer`]: a `redis-server` child process on a free loopback port, persistence off,
//!   in its own temp dir; optionally also on a TLS port ([`RedisBuilder::tls`], with
//!   [`TestCerts`]).
//! - [`PgServer`]: a PostgreSQL cluster made by `initdb` in its own temp dir, with users, a
//!   `test` database and a chosen [`PgAuth`] method for TCP connections.
//! - [`PgReplicaPair`]: a PostgreSQL primary and a streaming hot standby of it, with the
//!   standby's promotion and the primary's stop for failover tests.
//! - [`RedisCluster`]: three masters with a replica each (`redis-cli --cluster create`), with
//!   node kills and slot moves (`CLUSTER SETSLOT`, `MIGRATE`) for resharding tests.
//! - [`SentinelTrio`]: a master, a replica and three sentinels (quorum 2) for failover tests.
//! - [`MemcachedServer`]: a `memcached` child process on a free loopback port (TCP only).
//! - [`FaultProxy`]: a TCP proxy whose [`Mode`] (delay, stall, cut, corrupt, fragment) can be
//!   switched while a client is connected.
//!
//! ```no_run
//! use corelane_testkit::{FaultProxy, Mode, PgAuth, PgServer, RedisServer};
//!
//! # fn main() -> Result<(), corelane_testkit::Error> {
//! let redis = RedisServer::start()?;
//! let proxy = FaultProxy::start(redis.addr())?;
//! proxy.set_mode(Mode::Fragment(1));
//! // connect a client to `proxy.addr()`: every reply arrives one byte at a time.
//!
//! let pg = PgServer::builder()
//!     .auth(PgAuth::ScramSha256)
//!     .user("alice", "secret")
//!     .start()?;
//! let url = pg.url_for("alice", "secret"); // postgres://alice:secret@127.0.0.1:PORT/test
//! # let _ = url;
//! # Ok(())
//! # }
//! ```
//!
//! # Behavior
//!
//! - Every server picks its own port and directory, so parallel tests can each start many.
//!   Startup retries with a fresh port when the picked one was taken in the meantime.
//! - Dropping a server stops it and removes its directory; `kill()` stops it early (as a crash
//!   would) and `restart()` brings it back on the same port.
//! - [`redis_url`] and [`database_url`] honour `REDIS_URL` / `DATABASE_URL` and start nothing
//!   when those are set; keep the returned target alive while you use its URL.
//! - Running as root, PostgreSQL runs as the `postgres` OS user (initdb refuses root).
//! - Nothing panics: failures are [`Error`] values; a missing executable names the package to
//!   install.

pub mod alloc_count;
mod error;
mod guard;
mod memcached;
mod metrics_snapshot;
mod pg_replica;
mod poll;
mod port;
mod postgres;
mod process;
mod proxy;
mod redis;
mod redis_cluster;
mod redis_sentinel;
pub mod resp;
mod scripted;
mod tempdir;
mod tls;
mod trace_recorder;

pub use error::{Error, Result};
pub use guard::guard;
pub use memcached::MemcachedServer;
pub use metrics_snapshot::{install_metrics_recorder, MetricsReader, MetricsSnapshot};
pub use pg_replica::PgReplicaPair;
pub use poll::poll_once_then_drop;
pub use port::free_port;
pub use postgres::{database_url, PgAuth, PgBuilder, PgHbaTls, PgServer, PgTarget, PgUser};
pub use proxy::{Direction, FaultProxy, Mode};
pub use redis::{redis_url, RedisBuilder, RedisServer, RedisTarget, TlsAuthClients};
pub use redis_cluster::{NodeInfo, RedisCluster, Role};
pub use redis_sentinel::{SentinelTrio, SENTINEL_MASTER};
pub use scripted::{rss_kib, wait_for_close, ScriptedServer};
pub use tempdir::TempDir;
pub use tls::{CertFiles, TestCerts};
pub use trace_recorder::{Fields, RecordedEvent, RecordedSpan, TraceRecorder};
