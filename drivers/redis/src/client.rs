//! The client handle: `Clone + Send + Sync`, usable on the loop's workers and off them.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use corelane_redis_proto::Cmd;
use corelane_runtime::client::PerWorker;
use corelane_runtime::{dispatch, resolve, Provider, ServerProvider, WorkerLoop};

use crate::call::{Call, Reply};
use crate::config::Config;
use crate::connection::Connection;
use crate::pipeline::Pipeline;
use crate::request::Request;
use crate::worker_state::WorkerClient;
use crate::{Error, FromValue};

/// A Redis client. Cheap to clone; every clone shares the same per-worker connections.
///
/// On a worker of its event loop, a call uses that worker's own connection (no hop); elsewhere
/// (tokio, plain threads) it goes through a worker's mailbox. Concurrent calls on one worker
/// share a connection: their commands leave in one write per scheduler tick and their replies
/// come back in order (implicit pipelining).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// This client's pools and counters on each worker (forgotten on every worker when the
    /// last handle drops).
    states: PerWorker<WorkerClient>,
    next_worker: AtomicUsize,
    /// With Sentinel: the `+switch-master` watcher (closed when the client is dropped).
    sentinel_watch: std::sync::OnceLock<crate::sentinel::watch::Watch>,
    /// With Sentinel and reads from replicas: the client whose connections go to replicas,
    /// which read-only commands use.
    replicas: Option<Client>,
}

/// A client reference that does not keep it alive (the Sentinel watcher's).
pub(crate) struct WeakClient(std::sync::Weak<Inner>);

impl WeakClient {
    /// The client, unless every handle was dropped.
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|inner| Client { inner })
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("workers", &self.inner.states.workers().num_workers())
            .finish()
    }
}

impl Client {
    /// A client for `url` (see [`Config::from_url`]) on the shared standalone loop. Connections
    /// open lazily, on first use, on each worker: nothing is checked here
    /// ([`check`](Self::check) and [`new_checked`](Self::new_checked) connect now).
    pub fn open(url: &str) -> Result<Client, Error> {
        Client::new(Config::from_url(url)?)
    }

    /// A client on the shared standalone loop (started if needed). Connections open lazily,
    /// on first use on each worker ([`new_checked`](Self::new_checked) connects once now).
    /// Fails when the TLS settings cannot be used (an unreadable CA or key file, nothing
    /// trusted): see [`Error::is_tls`]; or when [`Config::max_connections`] is below two per
    /// worker ([`Error::is_config`]).
    pub fn new(config: Config) -> Result<Client, Error> {
        let workers = resolve(None).map_err(Error::runtime)?;
        Client::with_workers(config, workers)
    }

    /// A client whose connections live on a thread-per-core server's own workers.
    pub fn with_server(config: Config, server: &dyn ServerProvider) -> Result<Client, Error> {
        let workers = resolve(Some(server)).map_err(Error::runtime)?;
        Client::with_workers(config, workers)
    }

    /// A client on `workers` (a cluster client makes one per node on its own workers).
    pub(crate) fn with_provider(config: Config, workers: Provider) -> Result<Client, Error> {
        Client::with_workers(config, workers)
    }

    fn with_workers(mut config: Config, workers: Provider) -> Result<Client, Error> {
        // The TLS configuration (CA files read, client key parsed) is built here, once: every
        // connection of every worker shares it.
        config.prepare()?;
        config.check_budget(workers.num_workers())?;
        let replicas = match &config.sentinel {
            Some(s) if !s.to_replica && s.read_from != crate::cluster::ReadFrom::Master => {
                let mut replica_config = config.clone();
                if let Some(settings) = &mut replica_config.sentinel {
                    settings.to_replica = true;
                }
                Some(Client::with_workers(replica_config, workers.clone())?)
            }
            _ => None,
        };
        let client = Client {
            inner: Arc::new(Inner {
                config,
                states: PerWorker::new(workers),
                next_worker: AtomicUsize::new(0),
                sentinel_watch: std::sync::OnceLock::new(),
                replicas,
            }),
        };
        // (The replica client follows no `+switch-master`: its connections go to replicas.)
        if client
            .inner
            .config
            .sentinel
            .as_ref()
            .is_some_and(|s| !s.to_replica)
        {
            let worker = client.pick_worker()?;
            let weak = WeakClient(Arc::downgrade(&client.inner));
            let watch = crate::sentinel::watch::Watch::start(&client.inner.config, &worker, weak)?;
            if let Some(watch) = watch {
                let _ = client.inner.sentinel_watch.set(watch);
            }
        }
        Ok(client)
    }

    /// With Sentinel: how many `+switch-master` events for this client's master it has acted
    /// on (closing its connections to the old master). 0 without Sentinel.
    pub fn sentinel_switches(&self) -> u64 {
        self.inner
            .config
            .sentinel
            .as_ref()
            .map_or(0, |s| s.switch.switches())
    }

    /// With Sentinel: true while the client's `+switch-master` subscription is confirmed on a
    /// live connection to one of the sentinels (false until then, while it reconnects to
    /// another sentinel, and without Sentinel). Failovers that happen while it is false are
    /// followed only as the old master drops the client's connections.
    pub fn sentinel_subscribed(&self) -> bool {
        self.inner
            .sentinel_watch
            .get()
            .is_some_and(crate::sentinel::watch::Watch::is_subscribed)
    }

    /// [`new`](Self::new), then [`check`](Self::check): a client whose server was reached and
    /// accepted its credentials, or the error saying why not. For start-up code that should
    /// fail fast on a wrong password or an unreachable server.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), corelane_redis::Error> {
    /// use corelane_redis::{Client, Config};
    ///
    /// let client = Client::new_checked(Config::from_url("redis://:secret@cache.internal/0")?).await?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub async fn new_checked(config: Config) -> Result<Client, Error> {
        let client = Client::new(config)?;
        client.check().await?;
        Ok(client)
    }

    /// Opens one connection to the server on a worker, runs the handshake (`HELLO`/`AUTH`,
    /// `SELECT`, `CLIENT SETNAME`, the Sentinel lookup), sends a `PING` and closes it: `Ok`
    /// when the client can connect, else the reason — [`Error::is_connect`] (unreachable
    /// host, refused port, timeout after the connect timeout, a TLS failure),
    /// [`Error::is_auth`] (wrong or missing password, unknown user), or the server's error.
    /// The client's pooled connections still open lazily, as usual; this connection is not
    /// one of them (nor counted in [`Config::max_connections`]). Works on a worker of the
    /// loop and off it.
    pub async fn check(&self) -> Result<(), Error> {
        let config = self.inner.config.clone();
        dispatch(
            &**self.workers(),
            self.next_fallback(),
            move || async move {
                let conn = Connection::open(&config, None).await?;
                let pong = conn.query::<String>(&Cmd::new("PING")).await.map(drop);
                conn.pipe.close();
                pong
            },
        )
        .await
        .map_err(Error::from)?
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// This worker's pools and counters for this client, made on first use. Call it on one of
    /// the client's workers.
    pub(crate) fn worker_state(&self) -> Result<Rc<WorkerClient>, Error> {
        let config = &self.inner.config;
        let workers = self.inner.states.workers();
        // A thread that is not one of the client's workers (calls never make state there:
        // they run on a worker) gets the last worker's share.
        self.inner.states.local(|| {
            let index = workers.current_index().unwrap_or(usize::MAX);
            WorkerClient::new(config, workers.num_workers(), index)
        })
    }

    pub(crate) fn states(&self) -> &PerWorker<WorkerClient> {
        &self.inner.states
    }

    /// True when the calling thread is one of this client's workers.
    pub(crate) fn on_own_worker(&self) -> bool {
        self.inner.states.workers().current_worker().is_some()
    }

    pub(crate) fn workers(&self) -> &Provider {
        self.inner.states.workers()
    }

    pub(crate) fn next_fallback(&self) -> usize {
        self.inner.next_worker.fetch_add(1, Ordering::Relaxed)
    }

    /// The worker for the next off-loop call, round-robin.
    pub(crate) fn pick_worker(&self) -> Result<WorkerLoop, Error> {
        let workers = self.inner.states.workers();
        let n = workers.num_workers();
        let i = self.inner.next_worker.fetch_add(1, Ordering::Relaxed) % n.max(1);
        workers.worker(i).cloned().ok_or_else(Error::worker_closed)
    }

    /// Sends any command and converts its reply: `client.query::<String>(Cmd::new("GET").arg("k"))`.
    ///
    /// Calls share connections, so a command that would change the connection's state for
    /// everyone on it is not sent: `MULTI`/`EXEC`/`WATCH` (use [`transaction`](Self::transaction)
    /// or [`Pipeline::atomic`]), the `SUBSCRIBE` family (use [`subscriber`](Self::subscriber)),
    /// `SELECT` (use [`Config::db`](crate::Config::db)), `CLIENT REPLY`, `HELLO`, `AUTH`,
    /// `RESET`, `QUIT`, `MONITOR` and the like fail with [`Error::is_refused`]. Blocking
    /// commands (`BLPOP`, `BLMOVE`, `BZPOPMIN`, `XREAD … BLOCK`, `WAIT`, …) run on a connection
    /// of their own, without the command timeout; dropping the call closes that connection.
    pub fn query<T: FromValue>(&self, cmd: Cmd) -> Call<T> {
        Call::checked(self.clone(), cmd)
    }

    /// A typed command (known to leave no state behind, its reply kind known): no check.
    pub(crate) fn typed<T: FromValue>(&self, cmd: Cmd, reply: Reply) -> Call<T> {
        Call::new(self.route(&cmd).clone(), Request::One(cmd)).expecting(reply)
    }

    /// The client to run `cmd` on: the replica client for a read-only command when reads go
    /// to replicas (Sentinel), else this one.
    pub(crate) fn route(&self, cmd: &Cmd) -> &Client {
        match &self.inner.replicas {
            Some(replicas) if crate::cluster::read_from::is_read_only(cmd) => replicas,
            _ => self,
        }
    }

    /// Sends a pipeline: all its commands in one write, the replies as one value (an array, or
    /// for an atomic pipeline the `EXEC` reply), converted to `T` — e.g. a tuple.
    ///
    /// A pipeline runs on a shared connection: one holding a command that [`query`](Self::query)
    /// refuses, or a blocking command, fails with [`Error::is_refused`] and nothing is sent.
    pub fn pipeline<T: FromValue>(&self, pipeline: &Pipeline) -> Call<T> {
        if let Some(e) = pipeline.refusal(false) {
            return Call::failed(self.clone(), e);
        }
        if pipeline.changes_tracking && self.inner.config.cache.is_some() {
            return Call::failed(self.clone(), crate::cache::tracking_refusal());
        }
        Call::new(self.clone(), pipeline.request())
    }
}
