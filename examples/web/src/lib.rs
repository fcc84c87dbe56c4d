//! An HTTP service on corelane's workers: hyper serves on every worker (`SO_REUSEPORT`), and
//! the PostgreSQL and Redis clients keep their connections on the same workers, so a request,
//! its queries and its reply never leave the core that accepted the connection.
//!
//! The endpoints follow the TechEmpower Framework Benchmarks rules:
//!
//! | path | answer |
//! |---|---|
//! | `/plaintext` | `Hello, World!` as `text/plain` |
//! | `/json` | `{"message":"Hello, World!"}` |
//! | `/db` | one random `World` row, `{"id":…,"randomNumber":…}` |
//! | `/queries?q=N` | N random rows, each its own query (N clamped to 1..=500; missing or not a number is 1) |
//! | `/updates?q=N` | N random rows read one by one, given new random numbers, written back |
//! | `/fortunes` | the `Fortune` table plus one row added per request, sorted by message, as escaped HTML |
//! | `/cached-queries?q=N` | N random rows from Redis (filled from PostgreSQL on a miss) |
//!
//! Every answer carries `Server`, `Date`, `Content-Type` and `Content-Length`.
//!
//! [`setup::create_tables`] creates and fills `World` (10,000 rows) and `Fortune` (the 12
//! standard rows) when they are missing; [`Web::start`] runs it, then serves.

mod axum_serve;
pub mod env;
mod fortunes;
pub mod metrics;
pub mod offloop;
pub mod peer;
mod redis_rs;
mod reply;
mod routes;
pub mod rules;
pub mod setup;
mod world;
pub mod xitca;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use corelane_runtime::serve::{serve_http_with, ServeError, Serving, ShutdownReport};
use corelane_runtime::{Loop, Placement};

pub use rules::World;

/// Where the service listens and what it talks to.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address every worker listens on (port 0 picks a free one).
    pub addr: SocketAddr,
    /// A PostgreSQL URL or key=value string.
    pub database_url: String,
    /// A Redis URL.
    pub redis_url: String,
    /// Worker threads (default: one per CPU).
    pub workers: Option<usize>,
    /// Where the worker threads run: pinned one per CPU (the default when there are enough
    /// CPUs) or left to the OS scheduler, which can be faster when the load generator and the
    /// databases share the same few CPUs.
    pub placement: Placement,
    /// How long an idle worker spins before it sleeps (`None`: it sleeps at once). Spinning
    /// saves a wake-up per request when requests come one at a time, and takes CPU the
    /// databases and the clients could use when they share the machine.
    pub spin_before_park: Option<Duration>,
    /// The off-loop stack only: workers of corelane's standalone loop, where its clients'
    /// connections live (default: one per CPU). `workers` counts its tokio threads.
    pub loop_workers: Option<usize>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The worker loop could not start.
    #[error("the worker loop: {0}")]
    Loop(#[from] corelane_runtime::Error),
    /// PostgreSQL: a bad URL, an unreachable server, or the table setup failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] corelane_postgres::Error),
    /// Redis: a bad URL, an unreachable server, or filling the cache failed.
    #[error("Redis: {0}")]
    Redis(#[from] corelane_redis::Error),
    /// The HTTP server could not start.
    #[error("serving: {0}")]
    Serve(#[from] ServeError),
}

/// The running service: its workers, its HTTP server and its database clients.
pub struct Web {
    server: Serving,
    lp: Loop,
}

/// What each worker's handler holds: clones of the `Send + Sync` clients (which pick the
/// calling worker's own connections).
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) pg: corelane_postgres::Client,
    pub(crate) redis: corelane_redis::Client,
}

impl Web {
    /// Starts the workers, connects the clients on them, creates and fills the tables when
    /// missing, fills the cache, and serves.
    pub fn start(config: &Config) -> Result<Web, WebError> {
        let mut builder = Loop::builder().name("web").placement(config.placement);
        if let Some(n) = config.workers {
            builder = builder.workers(n);
        }
        if let Some(spin) = config.spin_before_park {
            builder = builder.spin_before_park(spin);
        }
        let lp = builder.start()?;
        // The clients' connections live on the server's workers; the set does not keep the
        // loop alive, so `shutdown` can stop it while clones of the clients are still around.
        let workers = lp.worker_set();
        let pg = corelane_postgres::Client::with_server(
            corelane_postgres::Config::parse(&config.database_url)?,
            &workers,
        )?;
        let redis = corelane_redis::Client::with_server(
            corelane_redis::Config::from_url(&config.redis_url)?,
            &workers,
        )?;
        futures_lite::future::block_on(async {
            setup::create_tables(&pg).await?;
            setup::fill_cache(&pg, &redis).await?;
            Ok::<(), WebError>(())
        })?;
        let app = App { pg, redis };
        let mut settings = hyper::server::conn::http1::Builder::new();
        // Pipelined requests (the plaintext benchmark sends 16 at a time) get their responses
        // in one write instead of one each.
        settings.pipeline_flush(true);
        let server = futures_lite::future::block_on(serve_http_with(
            &lp,
            config.addr,
            settings,
            move || {
                let app = Rc::new(app.clone());
                move |req| routes::handle(req, app.clone())
            },
        ))?;
        Ok(Web { server, lp })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Drains the HTTP server (requests in flight get up to `deadline`), then stops the
    /// workers.
    pub fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let report = futures_lite::future::block_on(self.server.shutdown(deadline));
        self.lp.shutdown();
        report
    }
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}
