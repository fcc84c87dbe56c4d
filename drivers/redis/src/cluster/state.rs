//! The cluster client's shared state: seeds, node clients, the current slot map and its
//! refresh (one in flight at a time).

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::client::{PerWorker, WorkerState};
use corelane_runtime::Provider;

use super::discover::{parse_shards, parse_slots, Layout, NodeAddr};
use super::map::{Node, SlotMap};
use super::read_from::ReadFrom;
use crate::addr::Addr;
use crate::config::Config;
use crate::{Client, Error};

/// Tuning of a cluster client (see [`ClusterBuilder`](super::ClusterBuilder)).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) max_attempts: usize,
    pub(crate) refresh_interval: Option<Duration>,
    pub(crate) retry_base: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) read_from: ReadFrom,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_attempts: 16,
            refresh_interval: Some(Duration::from_secs(30)),
            retry_base: Duration::from_millis(10),
            retry_max: Duration::from_millis(500),
            read_from: ReadFrom::Master,
        }
    }
}

/// A worker's copy of the current map, and the epoch it was read at: a call compares one
/// atomic load with its epoch and takes the lock only after a refresh.
#[derive(Default)]
pub(crate) struct LocalMap {
    cached: RefCell<Option<(u64, Arc<SlotMap>)>>,
}

impl WorkerState for LocalMap {
    fn close(&self) {
        self.cached.borrow_mut().take();
    }
}

/// Everything the handles of one cluster client share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) seeds: Vec<NodeAddr>,
    pub(crate) workers: Provider,
    pub(crate) options: Options,
    map: RwLock<Arc<SlotMap>>,
    epoch: AtomicU64,
    refreshing: AtomicBool,
    /// Every node client made so far, by address (kept across refreshes so a node's pools
    /// survive a layout change).
    clients: Mutex<HashMap<NodeAddr, Client>>,
    local: PerWorker<LocalMap>,
    pub(crate) next: AtomicUsize,
}

/// Clears the in-flight flag on every exit path of a refresh (done, failed, dropped).
struct RefreshSlot<'a>(&'a AtomicBool);

impl Drop for RefreshSlot<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        seeds: Vec<NodeAddr>,
        workers: Provider,
        options: Options,
    ) -> Shared {
        Shared {
            local: PerWorker::new(workers.clone()),
            config,
            seeds,
            workers,
            options,
            map: RwLock::new(Arc::new(SlotMap::empty())),
            epoch: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            clients: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(0),
        }
    }

    /// The current map. On a worker its cached copy, unless a refresh happened since.
    pub(crate) fn map(&self) -> Arc<SlotMap> {
        self.with_map(Arc::clone)
    }

    /// Runs `f` with the current map, borrowed from this worker's cached copy: the hot path
    /// reads it without touching the `Arc`'s count, which every worker shares (one atomic
    /// increment and decrement per call, on a cache line that bounced between cores). `f`
    /// may call `map()` again; it must not await.
    pub(crate) fn with_map<R>(&self, f: impl FnOnce(&Arc<SlotMap>) -> R) -> R {
        let epoch = self.epoch.load(Ordering::Acquire);
        let local = self
            .local
            .local(|| Ok::<_, Infallible>(LocalMap::default()));
        let Ok(local) = local;
        if let Ok(cached) = local.cached.try_borrow() {
            if let Some((seen, map)) = &*cached {
                if *seen == epoch {
                    return f(map);
                }
            }
        }
        let map = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Busy only when `f` of an outer `with_map` asks again: that one keeps its copy.
        if let Ok(mut cached) = local.cached.try_borrow_mut() {
            *cached = Some((epoch, map.clone()));
        }
        f(&map)
    }

    fn install(&self, map: SlotMap) {
        *self.map.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(map);
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The client of the node at `addr`, made on first use with the client's options.
    pub(crate) fn client(&self, addr: &NodeAddr) -> Result<Client, Error> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(addr) {
            return Ok(client.clone());
        }
        let mut config = self.config.clone().addr(Addr::Tcp {
            host: addr.0.clone(),
            port: addr.1,
        });
        config.reconnect_backoff = Some((self.options.retry_base, self.options.retry_max));
        // Every node's connections, masters' too: a master may become a replica at a
        // failover, and `READONLY` changes nothing on a master.
        config.readonly = self.options.read_from != ReadFrom::Master;
        // Client-side caching is not offered on a cluster (see the `cache` module docs).
        config.cache = None;
        let client = Client::with_provider(config, self.workers.clone())?;
        clients.insert(addr.clone(), client.clone());
        Ok(client)
    }

    /// Records what a `MOVED` reply said: `slot` is now at `addr`.
    pub(crate) fn moved(&self, slot: u16, addr: &NodeAddr) -> Result<Node, Error> {
        let node = Node {
            addr: addr.clone(),
            client: self.client(addr)?,
        };
        let current = self.map();
        if current.node(slot).map(|n| &n.addr) != Some(addr) {
            self.install(current.with_moved(slot, node.clone()));
        }
        Ok(node)
    }

    /// Whether the map is due for its periodic refresh.
    pub(crate) fn stale(&self, map: &SlotMap) -> bool {
        self.options
            .refresh_interval
            .is_some_and(|every| map.made.elapsed() >= every)
    }

    /// Reads the layout again, unless a refresh is already in flight (then returns at once:
    /// the caller goes on with the map it has, or what a redirect told it).
    pub(crate) async fn refresh(&self) -> Result<(), Error> {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _slot = RefreshSlot(&self.refreshing);
        let layout = self.discover().await?;
        let map = SlotMap::build(
            &layout,
            self.options.read_from != ReadFrom::Master,
            |addr| self.client(addr),
        )?;
        self.install(map);
        Ok(())
    }

    /// Starts a refresh on this worker in the background.
    pub(crate) fn refresh_later(self: &Arc<Self>) {
        if self.refreshing.load(Ordering::Acquire) {
            return;
        }
        let shared = self.clone();
        let _ = corelane_runtime::task::spawn_detached(async move {
            let _ = shared.refresh().await;
        });
    }

    /// Asks the known masters, then the seeds, for the layout: `CLUSTER SHARDS`, falling
    /// back to `CLUSTER SLOTS` on a server without it (Redis < 7).
    async fn discover(&self) -> Result<Layout, Error> {
        let mut candidates: Vec<NodeAddr> =
            self.map().nodes().iter().map(|n| n.addr.clone()).collect();
        for seed in &self.seeds {
            if !candidates.contains(seed) {
                candidates.push(seed.clone());
            }
        }
        let mut last = None;
        // Each node gets a bounded time: a node that accepts but never answers must not hold
        // the one refresh in flight (and so every later refresh) forever.
        let limit = self
            .config
            .command_timeout
            .unwrap_or(self.config.connect_timeout);
        for addr in candidates {
            let answer = corelane_runtime::task::timeout(limit, self.layout_from(&addr)).await;
            let answer = answer.unwrap_or_else(|| {
                Err(Error::cluster(format!(
                    "{}:{} did not answer discovery within {limit:?}",
                    addr.0, addr.1
                )))
            });
            match answer {
                Ok(layout) if !layout.ranges.is_empty() => return Ok(layout),
                Ok(_) => {
                    last = Some(Error::cluster(format!(
                        "{}:{} serves no slot",
                        addr.0, addr.1
                    )))
                }
                Err(e) => last = Some(e),
            }
        }
        Err(Error::cluster(format!(
            "no node answered discovery (last error: {})",
            last.map_or_else(|| "no seed".to_owned(), |e| e.to_string())
        )))
    }

    async fn layout_from(&self, addr: &NodeAddr) -> Result<Layout, Error> {
        let client = self.client(addr)?;
        let shards = client
            .query::<Value>(Cmd::new("CLUSTER").arg("SHARDS"))
            .await;
        match shards {
            Ok(reply) => parse_shards(&reply, &addr.0),
            // An unknown subcommand (Redis 6): the older command.
            Err(e) if e.code() == Some("ERR") => {
                let reply = client
                    .query::<Value>(Cmd::new("CLUSTER").arg("SLOTS"))
                    .await?;
                parse_slots(&reply, &addr.0)
            }
            Err(e) => Err(e),
        }
    }
}
