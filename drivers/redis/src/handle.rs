//! The client handle: `Clone + Send + Sync`, usable on the loop's workers and off them. It
//! holds what every call needs (the configuration, the per-worker state, the worker
//! rotation); the operations are in `client`, so a call can hold a `Client` without
//! depending on the module that makes calls.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corelane_runtime::client::PerWorker;
use corelane_runtime::{Provider, WorkerLoop};

use crate::config::Config;
use crate::sentinel::watch::SwitchTarget;
use crate::worker_state::WorkerClient;
use crate::Error;

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

impl SwitchTarget for WeakClient {
    async fn master_switched(&self, deadline: Duration) -> bool {
        let Some(client) = self.upgrade() else {
            return false;
        };
        let _ = client
            .states()
            .gather(deadline, |_, state| async move {
                if let Some(state) = state {
                    state.master_switched();
                }
            })
            .await;
        true
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
    /// A handle for `config` on `workers`: the TLS settings prepared and the connection
    /// budget checked.
    pub(crate) fn from_parts(mut config: Config, workers: Provider) -> Result<Client, Error> {
        // The TLS configuration (CA files read, client key parsed) is built here, once: every
        // connection of every worker shares it.
        config.prepare()?;
        config.check_budget(workers.num_workers())?;
        let replicas = match &config.sentinel {
            Some(s) if !s.to_replica && s.read_from != crate::read_from::ReadFrom::Master => {
                let mut replica_config = config.clone();
                if let Some(settings) = &mut replica_config.sentinel {
                    settings.to_replica = true;
                }
                Some(Client::from_parts(replica_config, workers.clone())?)
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

    /// The client to run `cmd` on: the replica client for a read-only command when reads go
    /// to replicas (Sentinel), else this one.
    pub(crate) fn route(&self, cmd: &corelane_redis_proto::Cmd) -> &Client {
        match &self.inner.replicas {
            Some(replicas) if crate::read_from::is_read_only(cmd) => replicas,
            _ => self,
        }
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
}

/// Calls run through `corelane_runtime::dispatch_from` (see call.rs).
impl corelane_runtime::ClientHandle for Client {
    fn workers(&self) -> &dyn corelane_runtime::EventLoopProvider {
        &**self.inner.states.workers()
    }

    fn fallback(&self) -> usize {
        self.next_fallback()
    }
}
