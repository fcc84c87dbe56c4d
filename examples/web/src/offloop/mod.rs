//! The off-loop stack: the peer's axum + tokio service, with corelane's PostgreSQL and Redis
//! clients (on corelane's standalone loop) in place of tokio-postgres and redis-rs.
//!
//! This is how a tokio application adopts corelane without moving to its workers: every call
//! goes from a tokio task through a worker's mailbox and back through a oneshot. Its numbers
//! beside the thread-per-core service ([`Web`](crate::Web)) show what the thread hop costs;
//! beside the peer, what the clients themselves change.

mod handlers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;

use crate::axum_serve::{self, AxumServing};
use crate::peer::handlers as shared;
use crate::{setup, Config, WebError};

/// Why the off-loop stack could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OffloopError {
    /// The runtime or the listener.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The clients or the table setup.
    #[error("{0}")]
    Setup(#[from] WebError),
}

/// The clients every handler shares (`Send + Sync`; calls from tokio tasks take the mailbox
/// path to the standalone loop's workers).
pub(crate) struct State {
    pub(crate) pg: corelane_postgres::Client,
    pub(crate) redis: corelane_redis::Client,
}

/// The running off-loop service.
pub struct Offloop {
    serving: AxumServing,
}

impl Offloop {
    /// Connects corelane's clients on the standalone loop, creates and fills the tables when
    /// missing, fills the cache, and serves on a tokio runtime.
    pub fn start(config: &Config) -> Result<Offloop, OffloopError> {
        if let Some(n) = config.loop_workers {
            // Before the first client starts the standalone loop; `false` (a loop already
            // running, as in tests) leaves that loop as it is.
            corelane_runtime::configure_standalone(corelane_runtime::Loop::builder().workers(n));
        }
        let pg =
            corelane_postgres::Client::connect(&config.database_url).map_err(WebError::from)?;
        let redis = corelane_redis::Client::open(&config.redis_url).map_err(WebError::from)?;
        futures_lite::future::block_on(async {
            setup::create_tables(&pg).await?;
            setup::fill_cache(&pg, &redis).await
        })?;
        let rt = axum_serve::runtime(axum_serve::threads(config.workers), "offloop")?;
        let app = Router::new()
            .route("/plaintext", get(shared::plaintext))
            .route("/json", get(shared::json))
            .route("/db", get(handlers::db))
            .route("/queries", get(handlers::queries))
            .route("/updates", get(handlers::updates))
            .route("/fortunes", get(handlers::fortunes))
            .route("/cached-queries", get(handlers::cached_queries))
            .fallback(shared::not_found)
            .with_state(Arc::new(State { pg, redis }));
        Ok(Offloop {
            serving: AxumServing::start(rt, config.addr, app)?,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Stops accepting, gives requests in flight up to `deadline`, then stops the runtime
    /// (the clients drop with it, and the standalone loop stops when its last user goes).
    pub fn shutdown(self, deadline: Duration) {
        self.serving.shutdown(deadline);
    }
}

impl std::fmt::Debug for Offloop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offloop")
            .field("addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}
