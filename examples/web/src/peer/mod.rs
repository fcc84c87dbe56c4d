//! The peer stack: the same endpoints, rules and data on axum + tokio + tokio-postgres +
//! redis-rs, for side-by-side benchmarks against the corelane service.
//!
//! Set up the way such services usually are: a multi-threaded tokio runtime with one thread
//! per worker, one tokio-postgres connection per thread taken round-robin (concurrent queries
//! on a connection are pipelined by tokio-postgres), statements prepared once per
//! connection, and one multiplexed redis-rs connection shared by all.

pub(crate) mod handlers;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;

use crate::axum_serve::{self, AxumServing};
use crate::{setup, Config};

/// Why the peer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The runtime or the listener.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// tokio-postgres.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// redis-rs.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The shared table setup (run with corelane's clients, so both stacks serve the same
    /// data).
    #[error("setup: {0}")]
    Setup(#[from] crate::WebError),
}

/// The running peer service.
pub struct Peer {
    serving: AxumServing,
}

impl Peer {
    /// Creates and fills the tables when missing (as [`Web::start`](crate::Web::start) does),
    /// fills the cache, connects, and serves.
    pub fn start(config: &Config) -> Result<Peer, PeerError> {
        setup_tables(config)?;
        let threads = axum_serve::threads(config.workers);
        let rt = axum_serve::runtime(threads, "peer")?;
        let state = rt.block_on(state::State::connect(config, threads))?;
        let app = Router::new()
            .route("/plaintext", get(handlers::plaintext))
            .route("/json", get(handlers::json))
            .route("/db", get(handlers::db))
            .route("/queries", get(handlers::queries))
            .route("/updates", get(handlers::updates))
            .route("/fortunes", get(handlers::fortunes))
            .route("/cached-queries", get(handlers::cached_queries))
            .fallback(handlers::not_found)
            .with_state(Arc::new(state));
        Ok(Peer {
            serving: AxumServing::start(rt, config.addr, app)?,
        })
    }

    /// The address the peer listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Stops accepting, gives requests in flight up to `deadline`, then stops the runtime.
    pub fn shutdown(self, deadline: Duration) {
        self.serving.shutdown(deadline);
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

/// The tables and the cache, by the same code as the corelane service (on corelane's
/// standalone loop, which stops again when these clients drop).
pub(crate) fn setup_tables(config: &Config) -> Result<(), crate::WebError> {
    let pg = corelane_postgres::Client::connect(&config.database_url)?;
    let redis = corelane_redis::Client::open(&config.redis_url)?;
    futures_lite::future::block_on(async {
        setup::create_tables(&pg).await?;
        setup::fill_cache(&pg, &redis).await
    })
}
